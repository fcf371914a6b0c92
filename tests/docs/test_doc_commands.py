"""Every command the docs show is run here, or listed below with why it cannot run here.

Fenced ``sh`` and ``console`` blocks of README.md and docs/*.md are split into command lines
(``\\`` continuations joined, ``# comments`` dropped; in ``console`` blocks only ``$ `` lines).
Each document's commands run in order in a folder of their own, which holds a link to
``promotion-policies/`` (the docs copy examples from it), with the installed ``reconciler``
first on PATH. A fenced block whose info string carries ``file=PATH`` (a policy, a
CODEOWNERS) is written to PATH there when the walk reaches it, as the reader would.
A command's expected exit code is 0, or the one its comment documents (``# exits 1 ...``).
A command that is neither runnable here nor listed in NOT_RUNNABLE fails the test.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

# Verbs that work here against a config repo on disk, without GitHub, a cluster or a registry.
RUNNABLE_VERBS = frozenset(
    {
        "--version",
        "validate",
        "schema",
        "codeowners",
        "set-image",
        "pin",
        "plan",
        "once",
        "status",
        "history",
        "review",
        "rollback",
        "doctor",
        "demo",
        "completion",
    }
)
# Plain tools the walkthroughs use to make a config repo on disk.
RUNNABLE_TOOLS = frozenset({"git", "cp", "mkdir"})

_SYNOPSIS = "a usage synopsis with placeholders; each verb runs for real in docs/getting-started.md"
_GITHUB = (
    "needs a real GitHub repository and credentials; tests/contract and tests/e2e run the "
    "GitHub forge against the GitHub API simulator"
)
NOT_RUNNABLE: dict[str, str] = {
    # README.md
    "scripts/demo": "bootstraps .venv first; its steps (validate the examples, "
    "`reconciler demo`) run in tests/e2e/test_demo.py and as `reconciler demo --quick` here",
    "scripts/test": "runs the whole CI suite, this test included",
    "reconciler validate [PATH] [-o text|json|yaml|github]": _SYNOPSIS,
    "reconciler plan --repo PATH_OR_URL [-o json|yaml]": _SYNOPSIS,
    "reconciler once --repo PATH_OR_URL [--dry-run]": _SYNOPSIS,
    "reconciler run --repo PATH_OR_URL": _SYNOPSIS,
    "reconciler status --repo PATH_OR_URL [-o json|yaml]": _SYNOPSIS,
    "reconciler history --repo PATH_OR_URL [--env prod] [--app APP]": _SYNOPSIS,
    "reconciler review approve --repo R --app APP --env prod --as @you [--dry-run]": _SYNOPSIS,
    "reconciler review list --repo R [-o json|yaml]": _SYNOPSIS,
    "reconciler pin --app APP --env ENV [--repo DIR] [--push] [--dry-run] IMAGE[:TAG]@DIGEST": (
        _SYNOPSIS
    ),
    "reconciler set-image [--dir D] [--dry-run] NAME=NEWNAME:TAG@DIGEST ...": _SYNOPSIS,
    "reconciler pin --push --repo https://github.com/your-org/config-repo.git --git-token-env "
    'GITHUB_TOKEN --app order-gateway --env dev "$IMAGE@$DIGEST"': "needs a real GitHub "
    "repository and a token; tests/cli/test_pin.py pushes to a bare repo on disk, a "
    "concurrent push included",
    "reconciler codeowners [--file F | --repo D] [-o json|yaml] PATH...": _SYNOPSIS,
    "reconciler rollback --repo R --app APP --env ENV [--to DIGEST|--previous] "
    "[--reason TEXT] [--as @you] [--dry-run]": _SYNOPSIS,
    "reconciler doctor --repo R [--forge github ...] [-o json|yaml]": _SYNOPSIS,
    "reconciler registry resolve IMAGE:TAG": _SYNOPSIS,
    "reconciler registry tag [--dry-run] IMAGE@DIGEST TAG": _SYNOPSIS,
    "reconciler schema [--format markdown]": _SYNOPSIS,
    "reconciler completion bash|zsh|fish": _SYNOPSIS,
    "reconciler demo [--serve] [--dir D]": _SYNOPSIS,
    # docs/operations.md
    "promtool check rules deploy/prometheus/rules.yaml": "needs promtool; "
    "tests/integration/test_prometheus_rules.py runs it",
    "promtool test rules deploy/prometheus/tests/*.yaml": "needs promtool; "
    "tests/integration/test_prometheus_rules.py runs it",
    "curl -s http://127.0.0.1:9464/metrics | promtool check metrics": "needs a running "
    "daemon; tests/e2e/test_prometheus_scrape.py checks its /metrics with promtool",
    "docker build -t reconciler .": "no registry to pull the base from; "
    "scripts/check-image-run (CI) builds the Dockerfile with podman from a local base",
    "docker run --read-only -v reconciler-cache:/var/cache/reconciler -p 9464:9464 "
    "reconciler --repo https://github.com/OWNER/CONFIG-REPO ...": "needs the image; "
    "scripts/check-image-run (CI) runs it this way against a local config repo",
    # docs/getting-started.md
    "reconciler run --repo ./config-repo": "a daemon that runs until stopped; "
    "tests/integration runs it as a process and stops it with SIGTERM",
    "reconciler doctor --forge github --github-repo your-org/config-repo "
    "--github-token-file ./github-token": _GITHUB,
    "reconciler doctor --forge github --github-repo your-org/config-repo "
    "--github-app-id 123456 --github-app-key-file ./app-key.pem "
    "--github-installation-id 7890123": _GITHUB,
    "reconciler plan --forge github --github-repo your-org/config-repo "
    "--github-token-file ./github-token": _GITHUB,
    "reconciler once --forge github --github-repo your-org/config-repo "
    "--github-token-file ./github-token": _GITHUB,
    "reconciler run --forge github --github-repo your-org/config-repo "
    "--github-token-file ./github-token --webhook-secret-file ./webhook-secret "
    "--listen 0.0.0.0:9464": _GITHUB,
    "git clone https://github.com/your-org/config-repo config": "needs your GitHub "
    "repository; the local walkthrough on the same page builds ./config instead",
}


@dataclass(frozen=True)
class Step:
    """One thing the reader does: run a command, or write a file a block shows."""

    doc: str
    line: int
    command: str = ""
    expected: int = 0
    file: str = ""
    content: str = ""


_FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_FILE = re.compile(r"\bfile=(\S+)")
_EXIT = re.compile(r"\bexits? (\d+)\b")


def _commands(lang: str, body: str) -> list[tuple[int, str, str]]:
    """(offset line, command, comment) for each command line of a block."""
    out: list[tuple[int, str, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(body.splitlines()):
        line = raw.rstrip()
        if lang == "console" and not pending:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if not pending:
            start = number
            if not line.strip() or line.lstrip().startswith("#"):
                continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        text = pending + line.strip()
        pending = ""
        command, _, comment = text.partition(" # ")
        out.append((start, " ".join(command.split()), comment))
    return out


def steps(path: Path) -> list[Step]:
    """The steps of one document, in reading order."""
    text = path.read_text(encoding="utf-8")
    found: list[Step] = []
    for match in _FENCE.finditer(text):
        lang, info, body = match.group(1), match.group(2), match.group(3)
        first = text.count("\n", 0, match.start()) + 2
        target = _FILE.search(info)
        if target:
            found.append(Step(path.name, first, file=target.group(1), content=body))
        elif lang in ("sh", "console"):
            for offset, command, comment in _commands(lang, body):
                code = _EXIT.search(comment)
                expected = int(code.group(1)) if code else 0
                found.append(Step(path.name, first + offset, command, expected))
    return found


def runnable(command: str) -> bool:
    """Whether the command can run here, against a config repo on disk."""
    if command in NOT_RUNNABLE:
        return False
    words = shlex.split(command)
    if not words:
        return False
    if words[0] in RUNNABLE_TOOLS:
        return True
    return (
        words[0] == "reconciler"
        and len(words) > 1
        and words[1] in RUNNABLE_VERBS
        and not any("github" in w for w in words)
        and "--serve" not in words
    )


ALL = [s for doc in DOCS for s in steps(doc)]
COMMANDS = [s for s in ALL if s.command]


def test_the_docs_show_commands() -> None:
    assert any(s.doc == "getting-started.md" and runnable(s.command) for s in COMMANDS)
    assert any(s.doc == "README.md" for s in COMMANDS)


@pytest.mark.parametrize("step", COMMANDS, ids=lambda s: f"{s.doc}:{s.line}")
def test_every_doc_command_runs_here_or_says_why_not(step: Step) -> None:
    assert runnable(step.command) or step.command in NOT_RUNNABLE, (
        f"{step.doc}:{step.line}: `{step.command}` is new: make it runnable here, or add it "
        "to NOT_RUNNABLE in tests/docs/test_doc_commands.py with the reason"
    )


def test_no_stale_entries_in_not_runnable() -> None:
    shown = {s.command for s in COMMANDS}
    assert sorted(set(NOT_RUNNABLE) - shown) == []


def _environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "GIT_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        RECONCILER_CACHE_DIR=str(folder / ".cache"),
        GIT_AUTHOR_NAME="Doc Reader",
        GIT_AUTHOR_EMAIL="reader@example.com",
        GIT_COMMITTER_NAME="Doc Reader",
        GIT_COMMITTER_EMAIL="reader@example.com",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
    )
    return env


DOCS_WITH_RUNNABLE = sorted({s.doc for s in COMMANDS if runnable(s.command)})


@pytest.mark.parametrize("doc", DOCS_WITH_RUNNABLE)
def test_doc_commands_run_in_order_with_their_documented_exit_codes(
    doc: str, tmp_path: Path
) -> None:
    (tmp_path / "promotion-policies").symlink_to(ROOT / "promotion-policies")
    env = _environment(tmp_path)
    for step in (s for s in ALL if s.doc == doc):
        if step.file:
            target = tmp_path / step.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.content, encoding="utf-8")
            continue
        if not runnable(step.command):
            continue
        done = subprocess.run(
            ["bash", "-c", step.command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == step.expected, (
            f"{doc}:{step.line}: `{step.command}` exited {done.returncode}, the doc says "
            f"{step.expected}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
