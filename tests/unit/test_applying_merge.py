"""A merge is proven again right before it happens, not only when the cycle began.

Between a cycle's reads and its merge, someone may switch off code-owner enforcement, put
the hold label on the request, or push another head. The applier asks the forge again,
proves the head is the daemon's own edit, and does not merge otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.actions import Close, Merge, Plan
from reconciler.applying import Applier
from reconciler.forge.port import Enforcement
from tests.fakes.forge import FakeForge
from tests.fakes.gitrepo import FakeConfigRepo, FakeRemote
from tests.unit.test_provenance import BASE, GOOD_MESSAGE, GW, NEW, ROGUE, edited, pin

HEAD = "promote/prod/app"
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def world(digest: str = NEW) -> tuple[FakeRemote, str]:
    """main with the overlay, and a head pinning ``digest`` (NEW: the daemon's edit)."""
    remote = FakeRemote()
    main = remote.commit(BASE)
    remote.set_branch("main", main)
    head = remote.commit(edited(BASE, GW, digest), parents=(main,), message=GOOD_MESSAGE)
    remote.set_branch(HEAD, head)
    return remote, head


def merge_action(number: int, head: str, *, owners_required: bool, hold_label: str) -> Merge:
    return Merge(
        app="gw",
        env="prod",
        number=number,
        expected_head=head,
        message="Promote gw (#1)",
        approvers=("@asha",),
        owners_required=owners_required,
        hold_label=hold_label,
        edit=pin(GW, NEW),
    )


@pytest.mark.parametrize(
    ("owners_required", "enforced", "labels", "merged", "why"),
    [
        (True, True, ("promotion",), True, ""),
        (True, False, ("promotion",), False, "protection is off"),
        (True, True, ("promotion", "promotion-hold"), False, '"promotion-hold" label was added'),
        (False, False, ("promotion",), True, ""),  # staging: no review was relied on
        (False, True, ("promotion-hold",), False, '"promotion-hold" label was added'),
    ],
)
def test_what_changed_since_the_plan_stops_the_merge(
    owners_required: bool, enforced: bool, labels: tuple[str, ...], merged: bool, why: str
) -> None:
    remote, head = world()
    forge = FakeForge()
    forge.set_head(HEAD, head)
    number = forge.open(HEAD, "main", "Promote app", "body", ("promotion",)).number
    # What happens after the cycle read the forge and planned the merge:
    forge.enforcement = Enforcement(enforced, "protection is off" if not enforced else "on")
    forge.add_labels(number, labels)
    applier = Applier(FakeConfigRepo(remote), forge, lambda: NOW)

    [outcome] = applier.apply(
        Plan(
            actions=(
                merge_action(
                    number, head, owners_required=owners_required, hold_label="promotion-hold"
                ),
            )
        ),
        "main",
    )

    assert outcome.ok is merged
    assert (f"merge #{number}" in forge.writes) is merged
    assert why in outcome.detail


def test_a_head_pushed_by_a_person_is_not_merged_even_when_planned() -> None:
    """Someone replaced the head with a rogue digest and the plan merged that head: the
    applier proves it again and refuses (GitHub would merge exactly that sha)."""
    remote, head = world(ROGUE)
    forge = FakeForge()
    forge.set_head(HEAD, head)
    number = forge.open(HEAD, "main", "Promote gw", "body", ("promotion",)).number
    applier = Applier(FakeConfigRepo(remote), forge, lambda: NOW)

    [outcome] = applier.apply(
        Plan(actions=(merge_action(number, head, owners_required=False, hold_label=""),)), "main"
    )

    assert not outcome.ok
    assert f"merge #{number}" not in forge.writes
    assert "other than by pinning" in outcome.detail


def test_a_stop_asked_during_a_cycle_leaves_the_actions_not_begun_for_the_next_start() -> None:
    """A first cycle at 10,000 apps may hold thousands of actions: asked to stop, the
    applier finishes the action in hand and begins no other (each is whole or not begun)."""
    remote, head = world()
    forge = FakeForge()
    for n in range(3):
        forge.set_head(f"promote/prod/app{n}", head)
    numbers = [
        forge.open(f"promote/prod/app{n}", "main", "Promote", "body", ("promotion",)).number
        for n in range(3)
    ]
    asked = iter([False, True, True])
    applier = Applier(FakeConfigRepo(remote), forge, lambda: NOW, stopping=lambda: next(asked))

    outcomes = applier.apply(
        Plan(
            actions=tuple(Close(f"app{n}", "prod", number, "c") for n, number in enumerate(numbers))
        ),
        "main",
    )

    assert [o.action for o in outcomes] == [Close("app0", "prod", numbers[0], "c")]
    assert [forge.stored[n].state for n in numbers] == ["closed", "open", "open"]
