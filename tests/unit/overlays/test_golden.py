"""Golden files: real-world-shaped overlays, edited, compared byte for byte.

Each folder under golden/ holds input.yaml, the edit (`args` for kustomize `set image`
arguments, `spec` for a Helm pin) and expected.yaml, written and reviewed by hand.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from reconciler.overlays import helm, kustomize
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import HelmKeys

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())


def _edit(case: Path, data: bytes) -> bytes:
    if (case / "args").exists():
        args = (case / "args").read_text().split()
        return kustomize.set_images(data, case.name, [kustomize.parse_argument(a) for a in args])
    spec = dict(line.split("=", 1) for line in (case / "spec").read_text().splitlines())
    keys = spec["keys"].split()
    # Three keys: the "digest" layout (repository, tag and digest keys), as these were written.
    helm_keys = (
        HelmKeys(image=keys[0])
        if len(keys) == 1
        else HelmKeys(layout="digest", repository=keys[0], tag=keys[1], digest=keys[2])
    )
    repository, tag, digest = shlex.split(spec["pin"])
    return helm.write_pin(data, case.name, helm_keys, ImagePin(repository, tag, digest))


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    case = GOLDEN / name
    edited = _edit(case, (case / "input.yaml").read_bytes())
    assert edited == (case / "expected.yaml").read_bytes()


@pytest.mark.parametrize("name", CASES)
def test_editing_again_changes_nothing(name: str) -> None:
    case = GOLDEN / name
    expected = (case / "expected.yaml").read_bytes()
    assert _edit(case, expected) == expected


@pytest.mark.parametrize("name", CASES)
def test_untouched_lines_keep_their_bytes(name: str) -> None:
    """Every input line that does not hold a value being set survives byte for byte.

    (A list item's dash may move to the next key when the item's first key is removed.)
    """
    case = GOLDEN / name
    before = (case / "input.yaml").read_bytes().splitlines(keepends=True)
    after = (case / "expected.yaml").read_bytes().splitlines(keepends=True)
    gone = [line for line in before if line not in after]
    edited_keys = (b"newName", b"newTag", b"digest", b"tag", b"image", b"repository")
    moved = {line.lstrip(b"- ") for line in after}
    for line in gone:
        assert any(key in line for key in edited_keys) or line.lstrip(b" ") in moved, line
