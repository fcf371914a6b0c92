"""Fail closed on prod: every way prod could be reached without a code owner's review, tried.

One table; each row runs on the GitHub forge (the simulator over HTTP, the daemon as
`reconciler run --forge github` builds it) and, where the way exists there, on the local
forge. Every world starts with the prod pull request open and the daemon allowed to merge
it (``merge_when_approved = true``, no merge delay). For the rows that break something
after approval, a code owner approves the current head first; then the row's attack; then
the daemon cycles until it reports the expected ``Blocked`` code, and some more. None
merges: no cycle plans a merge, prod's overlay on main keeps its old digest, and on GitHub
the daemon sends no merge request at all. The control row (no attack) merges on the next
cycle, so the table cannot pass because nothing could ever merge.

For GitHub rows the table also says what GitHub alone would do with that pull request
now (the simulator's rules): where it "would merge", the daemon is the only guard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from reconciler.actions import Merge
from reconciler.cycle import CycleReport
from reconciler.forge.records import REVIEWED_BY
from tests.e2e.closedworld import (
    OUTSIDER,
    OWNERS_FILE,
    PROD_OWNERS_LINE,
    Flavour,
    GitHubFlavour,
    Image,
    LocalFlavour,
    Protection,
    registry_image,
    tag_only,
)
from tests.e2e.world import NEW, OWNER, cycle_until, internal_errors, overlay

ROGUE = "sha256:" + "e" * 64  # a digest no gate ever saw
OTHER = "sha256:" + "f" * 64  # a digest a person pins by hand
EXTRA = 3  # cycles after the block first shows: each would have merged an approval that counted
Vanish = Callable[[], None] | None
Attack = Callable[[Flavour, int, Vanish], None]


def _github(flavour: Flavour) -> GitHubFlavour:
    assert isinstance(flavour, GitHubFlavour)
    return flavour


# -- the attacks, each after the prod request is open ------------------------------------


def outsider_too(flavour: Flavour, number: int, vanish: Vanish) -> None:
    """The control: the owner's approval of the current head stands (a non-owner's too)."""
    flavour.approve(number, OUTSIDER)


def delete_ruleset(flavour: Flavour, number: int, vanish: Vanish) -> None:
    github = _github(flavour)
    github.sim.set_ruleset(github.ruleset, None)


def ruleset_to_evaluate(flavour: Flavour, number: int, vanish: Vanish) -> None:
    github = _github(flavour)
    github.sim.set_ruleset(github.ruleset, "evaluate")  # "evaluate" only reports, never blocks


def delete_protection(flavour: Flavour, number: int, vanish: Vanish) -> None:
    _github(flavour).sim.unprotect("main")


def drop_code_owner_reviews(flavour: Flavour, number: int, vanish: Vanish) -> None:
    # Still protected, still one approval required, but no longer from a code owner.
    _github(flavour).sim.protect("main", require_code_owner_reviews=False, enforce_admins=True)


def unown_prod(flavour: Flavour, number: int, vanish: Vanish) -> None:
    def edit(data: bytes) -> bytes:
        assert PROD_OWNERS_LINE.encode() in data
        return data.replace(PROD_OWNERS_LINE.encode(), b"")

    flavour.push(OWNERS_FILE, edit, "CODEOWNERS: nobody owns prod")


def move_the_base(flavour: Flavour, number: int, vanish: Vanish) -> None:
    # main changes another line of prod's overlay: the reviewed edit still merges cleanly
    # and gives exactly the pin on the new base (as GitHub merges it), so the approval
    # stands and nothing is rebuilt.
    flavour.push(
        overlay("prod"), lambda d: d.replace(b"value: 10", b"value: 12"), "prod: 12 replicas"
    )


def repin_by_hand(flavour: Flavour, number: int, vanish: Vanish) -> None:
    # main changes prod's own image line: merging the head would no longer give the
    # daemon's edit, so it rebuilds the request on a new head, and the owner's approval is
    # now on an older head (GitHub, without "dismiss stale", still counts it).
    pinned = flavour.prod_pin()
    assert pinned is not None
    flavour.push(
        overlay("prod"), lambda d: d.replace(pinned.encode(), OTHER.encode()), "prod: by hand"
    )


def rewrite_head(flavour: Flavour, number: int, vanish: Vanish) -> None:
    """Mallory force-pushes the head as one commit on main's tip (a digest no gate saw, 50
    replicas, an edit under base/, the daemon's trailers copied); the owner approves it."""
    prod, deployment, pinned = (
        flavour.on_main(overlay("prod")),
        flavour.on_main("base/deployment.yaml"),
        flavour.prod_pin(),
    )
    assert prod is not None
    assert deployment is not None
    assert pinned is not None
    rogue = prod.replace(pinned.encode(), ROGUE.encode()).replace(b"value: 10", b"value: 50")
    message = f"Promote\n\nPromoted-From: staging\nImage-Digest: {NEW}\n"
    files = {overlay("prod"): rogue, "base/deployment.yaml": deployment + b"# mallory\n"}
    flavour.rewrite_request(files, message)
    flavour.approve(number, OWNER)


def author_approves(flavour: Flavour, number: int, vanish: Vanish) -> None:
    said = flavour.author_approves(number)
    # The forge's own front door refuses; the record slipped in behind it must not count.
    assert "Can not approve your own pull request" in said or "themselves" in said, said


def outsider_approves(flavour: Flavour, number: int, vanish: Vanish) -> None:
    flavour.approve(number, OUTSIDER)


def hold(flavour: Flavour, number: int, vanish: Vanish) -> None:
    flavour.hold(number)


def digest_vanishes(flavour: Flavour, number: int, vanish: Vanish) -> None:
    assert vanish is not None
    vanish()


def pin_by_tag(flavour: Flavour, number: int, vanish: Vanish) -> None:
    # Both dev and staging, or the daemon would re-pin staging's digest from dev.
    for env in ("dev", "staging"):
        path = overlay(env)

        def edit(data: bytes, path: str = path) -> bytes:
            return tag_only(data, path, flavour.image)

        flavour.push(path, edit, f"{env}: tag only")


# -- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    attack: Attack
    blocked: str | None  # the code every cycle reports at the end; None: it merges
    github_alone: Literal["would merge", "refuses", ""]  # what GitHub does without the daemon
    forges: tuple[str, ...] = ("github", "local")
    owner_first: bool = True  # a code owner approves the current head before the attack
    protection: Protection = "ruleset"
    registry: bool = False


CASES = (
    Case("control: an owner approves the current head", outsider_too, None, ""),
    Case(
        "protection removed: ruleset deleted",
        delete_ruleset,
        "codeowners-not-enforced",
        "would merge",
        ("github",),
    ),
    Case(
        "protection removed: ruleset set to evaluate",
        ruleset_to_evaluate,
        "codeowners-not-enforced",
        "would merge",
        ("github",),
    ),
    Case(
        "protection removed: branch protection deleted",
        delete_protection,
        "codeowners-not-enforced",
        "would merge",
        ("github",),
        protection="classic",
    ),
    Case(
        "protection removed: code-owner review turned off",
        drop_code_owner_reviews,
        "codeowners-not-enforced",
        "would merge",
        ("github",),
        protection="classic",
    ),
    Case("CODEOWNERS edited to drop prod", unown_prod, "codeowners-gap", "would merge"),
    Case("main changes another line of prod's overlay", move_the_base, None, ""),
    Case("approval on an older head", repin_by_hand, "awaiting-review", "would merge"),
    Case(
        "head rewritten by a person, then approved",
        rewrite_head,
        "awaiting-review",
        "would merge",
        owner_first=False,
    ),
    Case(
        "approval by the request's author",
        author_approves,
        "awaiting-review",
        "refuses",
        owner_first=False,
    ),
    Case(
        "approval by a non-owner",
        outsider_approves,
        "awaiting-review",
        "refuses",
        owner_first=False,
    ),
    Case("hold label added after approval", hold, "hold", "would merge"),
    Case(
        "digest vanished from the registry",
        digest_vanishes,
        "unknown-digest",
        "would merge",
        registry=True,
    ),
    Case("source re-pinned by tag only", pin_by_tag, "tag-only", "would merge"),
)


def prod_blocks(result: CycleReport) -> list[str]:
    return [b.code for b in result.plan.blocked if b.env == "prod"]


def merges(results: list[CycleReport]) -> list[Merge]:
    return [a for r in results for a in r.plan.actions if isinstance(a, Merge)]


@pytest.fixture(
    params=[(forge, case) for case in CASES for forge in case.forges],
    ids=lambda p: f"{p[0]}: {p[1].name}",
)
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Case, Flavour, Vanish]]:
    forge, case = request.param
    with ExitStack() as stack:
        image, vanish = Image(), None
        if case.registry:
            image, vanish = stack.enter_context(registry_image(tmp_path))
        flavour: GitHubFlavour | LocalFlavour = (
            GitHubFlavour(tmp_path / "github", image, case.protection)
            if forge == "github"
            else LocalFlavour(tmp_path / "local", image)
        )
        stack.callback(flavour.stop)
        yield case, flavour, vanish


def test_prod_is_not_reached_without_a_code_owner_review(
    run: tuple[Case, Flavour, Vanish],
) -> None:
    case, flavour, vanish = run
    number = flavour.prod_request()
    before = flavour.prod_pin()
    assert before not in (None, flavour.image.digest)
    if case.owner_first:
        flavour.approve(number, OWNER)
    case.attack(flavour, number, vanish)
    attacked = flavour.prod_pin()  # a row may pin prod by hand: the daemon must not move it

    if case.blocked is None:
        results = cycle_until(
            flavour.step, lambda _: flavour.prod_pin() == flavour.image.digest, "the merge"
        )
        (merge,) = merges(results)
        assert merge.approvers == (OWNER,)  # the non-owner is not counted, not even in the audit
        if isinstance(flavour, LocalFlavour):
            (commit,) = flavour.world.promotion_commits("prod")
            assert [t.value for t in commit.trailers if t.key == REVIEWED_BY] == [OWNER]
        assert flavour.merge_calls() == (1 if flavour.name == "github" else 0)
        print(f"fail-closed forge={flavour.name} case={case.name!r} merged=yes")
        return

    results = cycle_until(
        flavour.step, lambda r: case.blocked in prod_blocks(r), f"the {case.blocked} block"
    )
    results += [flavour.step() for _ in range(EXTRA)]
    for result in results[-EXTRA - 1 :]:
        assert prod_blocks(result) == [case.blocked], result.plan.blocked
    assert merges(results) == []
    assert internal_errors(results) == []
    assert flavour.prod_pin() == attacked
    assert attacked != flavour.image.digest
    assert flavour.merge_calls() == 0  # on GitHub: not even tried
    alone = flavour.forge_alone(number)
    if flavour.name == "github":
        assert alone.startswith(case.github_alone), alone
    reason = next(b.reason for b in results[-1].plan.blocked if b.env == "prod")
    print(
        f"fail-closed forge={flavour.name} case={case.name!r} merged=no "
        f"blocked={case.blocked} cycles={len(results)} forge-alone={alone!r} reason={reason!r}"
    )


@pytest.mark.parametrize("forge", ["github", "local"])
def test_a_commit_pushed_onto_an_approved_request_never_reaches_prod(
    forge: str, tmp_path: Path
) -> None:
    """Not a row of the table: the outcome is one of two, both safe.

    The daemon restores its own one-file head over the intruder's commit. When the restored
    commit is byte-identical to the approved one (same base, same second), the approval is
    on the current head and the reviewed commit may merge; otherwise it waits for a new
    review. Either way the intruder's change never reaches main.
    """
    flavour: GitHubFlavour | LocalFlavour = (
        GitHubFlavour(tmp_path, Image()) if forge == "github" else LocalFlavour(tmp_path, Image())
    )
    try:
        number = flavour.prod_request()
        approved = flavour.request_head(number)
        flavour.approve(number, OWNER)
        flavour.push_to_request(overlay("prod"), lambda d: d.replace(b"value: 10", b"value: 50"))

        def settled(result: CycleReport) -> bool:
            return flavour.prod_pin() == NEW or "awaiting-review" in prod_blocks(result)

        results = cycle_until(flavour.step, settled, "a merge or a wait for review")
        results += [flavour.step() for _ in range(EXTRA)]
        prod = flavour.on_main(overlay("prod"))
        assert prod is not None
        assert b"value: 50" not in prod
        assert b"value: 10" in prod
        assert internal_errors(results) == []
        merged = flavour.prod_pin() == NEW
        if merged:
            assert flavour.request_head(number) == approved  # exactly what the owner reviewed
        outcome = "merged the approved commit" if merged else "waits for a new review"
        print(f"fail-closed forge={forge} case='commit pushed onto the request' {outcome}")
    finally:
        flavour.stop()
