from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "promotion-policies/examples").iterdir() if p.is_dir())


@pytest.fixture
def root() -> Path:
    """The project's checkout."""
    return ROOT


def need(available: bool, what: str) -> None:
    """Skip a test whose real service is missing locally; fail it loudly in CI."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: .ci/run must install it", pytrace=False)
    pytest.skip(f"{what} is not installed here")
