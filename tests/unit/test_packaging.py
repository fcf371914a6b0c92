"""The lock files cover what pyproject.toml asks for, so installs from them are complete."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.conftest import ROOT


def _locked(name: str) -> set[str]:
    text = (ROOT / "requirements" / name).read_text()
    return {
        m.lower().replace("_", "-").replace(".", "-")
        for m in re.findall(r"^([A-Za-z0-9_.-]+)==", text, re.M)
    }


def _names(requirements: list[str]) -> set[str]:
    out = set()
    for requirement in requirements:
        name = re.match(r"^[A-Za-z0-9_.-]+", requirement)
        assert name is not None
        if name[0] != "reconciler":
            out.add(name[0].lower().replace("_", "-").replace(".", "-"))
    return out


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("runtime.lock", ["dependencies"]), ("dev.lock", ["dependencies", "test", "dev"])],
)
def test_lock_covers_pyproject(lock: str, groups: list[str]) -> None:
    wanted: set[str] = set()
    for group in groups:
        deps = (
            PROJECT[group] if group == "dependencies" else PROJECT["optional-dependencies"][group]
        )
        wanted |= _names(deps)
    missing = wanted - _locked(lock)
    assert not missing, f"requirements/{lock} lacks {sorted(missing)}; run scripts/lock"


def test_every_locked_requirement_is_hashed() -> None:
    for lock in ("runtime.lock", "dev.lock"):
        text = (ROOT / "requirements" / lock).read_text()
        for block in re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text):
            if "==" in block.split("\n", 1)[0]:
                assert "--hash=sha256:" in block, block.split("\n", 1)[0]
