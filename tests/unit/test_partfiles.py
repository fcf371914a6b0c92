"""A unit's parts in files of their own (reconciler.partfiles, `[apps.NAME.images.PART]
overlay`): which file pins which parts, the unit's pin made one from its files' pins and
split back, the key refused or checked against the tree at load with its LINE:COL, and
several files' histories merged in commit order."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest

from reconciler import units
from reconciler.errors import PolicyError
from reconciler.gitrepo.port import CommitInfo, Signature
from reconciler.model import EntryKind
from reconciler.overlays.imageref import ImagePin
from reconciler.overlays.kustomize import includes
from reconciler.overlays.pins import read_pin, write_pin
from reconciler.partfiles import (
    combine,
    groups,
    layout,
    part_path,
    regroup,
    share,
    unreached,
)
from reconciler.pinfacts import merged_histories
from reconciler.policy import load_policy
from reconciler.policy.model import App, HelmKeys, ImagePart

A, B, C = ("sha256:" + c * 64 for c in "abc")


def unit(**overlays: str) -> App:
    """api, migrate and worker; ``overlays`` gives some of them a file of their own."""
    parts = {
        name: ImagePart(
            name=name,
            image=f"reg.io/team/{name}",
            helm=HelmKeys(repository=f"{name}.repository", tag=f"{name}.tag"),
            overlay=overlays.get(name),
        )
        for name in ("api", "migrate", "worker")
    }
    return App(name="ledger", images=MappingProxyType(parts))


FOLDERS = {
    "overlays/prod/jobs": ("job.yaml", "kustomization.yaml"),
    "overlays/prod/ledger-work": ("Kustomization",),
    "overlays/prod/empty": ("job.yaml",),
}


def names(folder: str) -> tuple[str, ...]:
    return FOLDERS.get(folder, ())


K = "overlays/prod/kustomization.yaml"
H = "values/prod/ledger.yaml"
GROUPS = [
    ("every part in the overlay", "kustomize", K, {}, [(K, ["api", "migrate", "worker"])]),
    (
        "one part in a sub-kustomization",
        "kustomize",
        K,
        {"migrate": "jobs"},
        [(K, ["api", "worker"]), ("overlays/prod/jobs/kustomization.yaml", ["migrate"])],
    ),
    (
        "two parts in one folder, its file's other name, {app} filled",
        "kustomize",
        K,
        {"migrate": "{app}-work", "worker": "ledger-work"},
        [(K, ["api"]), ("overlays/prod/ledger-work/Kustomization", ["migrate", "worker"])],
    ),
    (
        "no part left in the overlay file",
        "kustomize",
        K,
        {"api": "jobs", "migrate": "jobs", "worker": "jobs"},
        [("overlays/prod/jobs/kustomization.yaml", ["api", "migrate", "worker"])],
    ),
    (
        "helm: a values file beside the environment's",
        "helm",
        H,
        {"worker": "ledger-jobs.yaml", "migrate": "jobs/{app}.yaml"},
        [
            (H, ["api"]),
            ("values/prod/jobs/ledger.yaml", ["migrate"]),
            ("values/prod/ledger-jobs.yaml", ["worker"]),
        ],
    ),
]


@pytest.mark.parametrize(
    ("fmt", "main", "overlays", "wanted"), [g[1:] for g in GROUPS], ids=[g[0] for g in GROUPS]
)
def test_each_file_pins_the_parts_the_policy_puts_there(
    fmt: str, main: str, overlays: dict[str, str], wanted: list[tuple[str, list[str]]]
) -> None:
    app = unit(**overlays)
    found = groups(fmt, main, app, names)
    assert [(path, sorted(part.images)) for path, part in found] == wanted
    # What a snapshot keeps of them gives the same groups back.
    kept = layout(found, main)
    if wanted == [(main, ["api", "migrate", "worker"])]:
        assert kept == ()  # the environment's own file pins them all: nothing to keep
    else:
        assert regroup(app, kept) == found


def test_a_single_image_app_is_its_one_file() -> None:
    app = App(name="web", image="reg.io/team/web")
    assert groups("kustomize", K, app, names) == ((K, app),)


def test_a_part_folder_without_a_kustomization_says_which() -> None:
    with pytest.raises(PolicyError, match=re.escape("overlays/prod/empty has no kustomization")):
        part_path("kustomize", K, "empty", "ledger", names)


def test_a_units_pin_is_made_of_its_files_pins_and_split_back() -> None:
    app = unit(migrate="jobs")
    (main, top), (jobs, job) = groups("kustomize", K, app, names)
    top_pin = read_pin("kustomize", _kustomization({"api": A, "worker": B}), main, top)
    job_pin = read_pin("kustomize", _kustomization({"migrate": C}), jobs, job)
    whole = combine(app, [top_pin, job_pin])
    assert whole is not None
    assert whole.digest == units.key({"api": A, "migrate": C, "worker": B})
    assert [name for name, _ in whole.parts] == ["api", "migrate", "worker"]
    # One file's share is its own parts; written there, it reads back as that share.
    share_of_jobs = share(whole, job)
    assert share_of_jobs.parts == (("migrate", ImagePin("reg.io/team/migrate", "", C)),)
    written = write_pin("kustomize", _kustomization({"migrate": A}), jobs, job, share_of_jobs)
    assert read_pin("kustomize", written, jobs, job) == job_pin
    # A file that pins none of its parts leaves the set incomplete: no key.
    partial = combine(app, [top_pin, None])
    assert partial is not None
    assert (partial.digest, [n for n, _ in partial.parts]) == ("", ["api", "worker"])
    assert combine(app, [None, None]) is None


def _kustomization(digests: dict[str, str]) -> bytes:
    lines = ["images:"]
    for name, digest in digests.items():
        lines += [f"- name: {name}", f"  newName: reg.io/team/{name}", f"  digest: {digest}"]
    return ("\n".join(lines) + "\n").encode()


POLICY = """\
version = 1

[apps.ledger.images.api]
image = "reg.io/team/api"

[apps.ledger.images.migrate]
image = "reg.io/team/migrate"
overlay = {overlay}

[environments.dev]
overlay = "overlays/dev"

[environments.prod]
follows = "dev"
overlay = "overlays/prod"
"""
KEYS = [
    ("absolute", '"/jobs"', '"/jobs" is absolute; write it relative to the environment\'s'),
    ("leaving the overlay", '"../jobs"', '"../jobs" contains ".."; a part\'s overlay lies'),
    ("the overlay itself", '"./"', '"./" names the environment\'s own overlay; remove the key'),
    ("a backslash", '"jobs\\\\db"', 'uses a backslash; write paths with "/"'),
    ("an unknown placeholder", '"{env}"', "{env}"),
    ("not a string", "3", "apps.ledger.images.migrate.overlay"),
]


@pytest.mark.parametrize(("value", "message"), [k[1:] for k in KEYS], ids=[k[0] for k in KEYS])
def test_a_bad_part_overlay_is_refused_at_its_line(value: str, message: str) -> None:
    result = load_policy(POLICY.format(overlay=value).encode(), "promotions.toml")
    assert result.policy is None
    (problem,) = result.diagnostics
    assert (problem.line, problem.column) == (8, 11)
    assert message in problem.message


class Tree:
    """A repo's files by path, for the checks against the tree."""

    def __init__(self, files: set[str]) -> None:
        self.files = files

    def kind(self, path: str) -> EntryKind:
        if path in self.files:
            return "file"
        if any(f.startswith(path + "/") for f in self.files):
            return "dir"
        return "missing"


TREES = [
    ("both folders there", {"dev", "prod"}, None),
    ("prod's jobs folder missing", {"dev"}, 'in environment prod, "overlays/prod/jobs" does not'),
]


@pytest.mark.parametrize(("envs", "message"), [t[1:] for t in TREES], ids=[t[0] for t in TREES])
def test_a_parts_own_overlay_must_exist_in_every_environment(
    envs: set[str], message: str | None
) -> None:
    files = {f"overlays/{env}/kustomization.yaml" for env in ("dev", "prod")}
    files |= {f"overlays/{env}/jobs/kustomization.yaml" for env in envs}
    result = load_policy(POLICY.format(overlay='"jobs"').encode(), "promotions.toml", Tree(files))
    shown = [f"{d.line}:{d.column}: {d.message}" for d in result.diagnostics]
    assert shown == (
        []
        if message is None
        else [f"8:11: apps.ledger.images.migrate.overlay: {message} exist in the repo"]
    )


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def commit(n: int) -> CommitInfo:
    at = Signature("a", "a@x", T0 + timedelta(minutes=n))
    return CommitInfo(f"c{n}", (), at, at, "m", ())


def test_histories_of_several_files_merge_in_commit_order() -> None:
    one = [commit(n) for n in (9, 7, 4, 1)]
    two = [commit(n) for n in (8, 7, 3)]
    assert [c.id for c in merged_histories([one, two])] == ["c9", "c8", "c7", "c4", "c3", "c1"]
    # A history cut at the limit may miss the other file's older commits: the merge stops
    # where it was cut.
    assert [c.id for c in merged_histories([one, two], 3)] == ["c9", "c8", "c7", "c4", "c3"]
    assert merged_histories([one]) == tuple(one)


# folder -> its kustomization's resources and components (None: no kustomization there)
KUSTOMIZATIONS: dict[str, tuple[str, ...]] = {
    "overlays/prod": ("../../base", "jobs", "extra/"),
    "overlays/prod/jobs": ("job.yaml",),
    "overlays/prod/extra": ("./nested",),
    "overlays/prod/extra/nested": (),
    "overlays/prod/lost": (),
    "base": ("deploy.yaml",),
}
REACH = [
    ("listed in resources", ["overlays/prod/jobs/kustomization.yaml"], []),
    ("through a nested kustomization", ["overlays/prod/extra/nested/Kustomization"], []),
    ("not listed", ["overlays/prod/lost/kustomization.yaml"], ["lost"]),
]


@pytest.mark.parametrize(("parts", "missed"), [r[1:] for r in REACH], ids=[r[0] for r in REACH])
def test_a_part_folder_the_overlay_does_not_take_in_is_named(
    parts: list[str], missed: list[str]
) -> None:
    found = unreached(K, parts, KUSTOMIZATIONS.get)
    assert [p.split("/")[2] for p in found] == missed


def test_what_a_kustomization_takes_in() -> None:
    text = b"resources:\n  - ../../base\n  - jobs\ncomponents:\n  - ../components/x\nimages: []\n"
    assert includes(text, K) == ("../../base", "jobs", "../components/x")
    assert includes(b"images: []\n", K) == ()
    with pytest.raises(PolicyError, match=K):
        includes(b"resources: [\n", K)
