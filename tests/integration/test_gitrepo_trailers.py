"""Our trailer parser agrees with ``git interpret-trailers --parse`` on the messages we meet."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.gitrepo.trailers import Trailer, parse_trailers, with_trailers
from tests.contract.gitcli import GitCli

DIGEST = "sha256:" + "ab" * 32
MESSAGES = [
    "Title only\n",
    "Title\n\nPromoted-From: staging\n",
    f"Promote app\n\nBody.\n\nPromoted-From: staging\nImage-Digest: {DIGEST}\n",
    "Title\n\nKey : spaced   \n",
    "Title\n\nKey: first\n  continued here\n",
    "Title\n\nA: 1\nA: 2\n",
    "Title\n\nA: 1\nnot a trailer\n",
    "Title\n\nA: 1\n\nJust prose at the end.\n",
    "Title\n\nA: 1\n\n\n\n",
    "Title\n\nKey with space: x\n",
    "Title\n\nA: 1\n---\nB: 2\n",
    with_trailers("Merge\n\nBody", [Trailer("Source-Commit", "a" * 40), Trailer("X", "y z")]),
]


@pytest.mark.parametrize("message", MESSAGES)
def test_parse_agrees_with_git(tmp_path: Path, message: str) -> None:
    git = GitCli(tmp_path)

    parsed = git("interpret-trailers", "--parse", stdin=message)

    expected = [line.split(": ", 1) for line in parsed.splitlines() if line]
    assert [[t.key, t.value] for t in parse_trailers(message)] == expected
