"""A merge is proven again right before it happens, not only when the cycle began.

Between a cycle's reads and its merge, someone may switch off code-owner enforcement or
put the hold label on the request. The applier asks the forge again and does not merge.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.applying import Applier
from reconciler.forge.port import Enforcement
from reconciler.planning import Merge, Plan
from tests.fakes.forge import FakeForge
from tests.fakes.gitrepo import FakeConfigRepo, FakeRemote

HEAD = "promote/prod/app"
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def merge_action(number: int, owners_required: bool, hold_label: str) -> Merge:
    return Merge(
        "app", "prod", number, "c1", "Promote app (#1)", ("@asha",),
        owners_required=owners_required, hold_label=hold_label,
    )  # fmt: skip


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
    forge = FakeForge()
    forge.set_head(HEAD, "c1")
    number = forge.open(HEAD, "main", "Promote app", "body", ("promotion",)).number
    # What happens after the cycle read the forge and planned the merge:
    forge.enforcement = Enforcement(enforced, "protection is off" if not enforced else "on")
    forge.add_labels(number, labels)
    applier = Applier(FakeConfigRepo(FakeRemote()), forge, lambda: NOW)

    [outcome] = applier.apply(
        Plan(actions=(merge_action(number, owners_required, "promotion-hold"),)), "main"
    )

    assert outcome.ok is merged
    assert (f"merge #{number}" in forge.writes) is merged
    assert why in outcome.detail
