from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (ROOT / "promotion-policies/examples").iterdir() if p.is_dir())


@pytest.fixture
def root() -> Path:
    """The project's checkout."""
    return ROOT
