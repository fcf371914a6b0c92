"""The daemon signs in to a real registry with what a docker credential helper gives it.

Debian's docker-registry behind token authentication (secretworld.auth_registry) serves the
candidate; the docker config has no password, only ``credHelpers`` naming
``docker-credential-test``, a script on PATH. While the helper has no credentials the
daemon cannot prove the candidate and says why, naming the helper; once it has them, the
daemon authenticates, proves the digest and opens the prod request, logging where the
credentials came from once and the password never. ``reconciler doctor`` shows the source.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e.closedworld import LocalFlavour
from tests.e2e.secretworld import REGISTRY_PASSWORD, REGISTRY_USER, auth_registry
from tests.e2e.world import cycle_until

ANSWERS = f"""#!/bin/sh
[ "$1" = get ] || exit 2
read -r url || true
printf '%s\\n' "$url" >> "$0.asked"
echo "{REGISTRY_PASSWORD} (on stderr: never shown)" >&2
printf '{{"ServerURL":"%s","Username":"{REGISTRY_USER}","Secret":"{REGISTRY_PASSWORD}"}}\\n' "$url"
"""
HAS_NONE = """#!/bin/sh
read -r url || true
printf '%s\\n' "$url" >> "$0.asked"
echo 'credentials not found in native keychain'
exit 1
"""


def _helper(folder: Path, script: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "docker-credential-test"
    path.write_text(script)
    path.chmod(0o755)
    return path


def test_the_daemon_authenticates_with_a_credential_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ExitStack() as stack:
        registry = stack.enter_context(auth_registry(tmp_path / "oci"))
        host = registry.image.registry_host
        assert host is not None
        bin_ = tmp_path / "bin"
        helper = _helper(bin_, HAS_NONE)
        docker = tmp_path / "docker"
        docker.mkdir()
        config = docker / "config.json"
        # what `docker login` leaves with a helper: an empty auths entry, credentials elsewhere
        config.write_text(json.dumps({"auths": {host: {}}, "credHelpers": {host: "test"}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(docker))
        monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}")
        flavour = LocalFlavour(tmp_path / "local", registry.image)
        stack.callback(flavour.stop)
        source = f"docker-credential-test (credHelpers in {config})"

        # 1. The helper has nothing: the candidate cannot be proven, and the reason says why.
        results = cycle_until(
            flavour.step,
            lambda r: any(b.code == "registry-unreachable" for b in r.plan.blocked),
            "the registry's refusal",
        )
        reasons = [b.reason for b in results[-1].plan.blocked if b.code == "registry-unreachable"]
        assert any(f"{source} has none for {host}" in r for r in reasons), reasons
        assert flavour.world.open_request("prod") is None

        # 2. The helper has the credentials: a new daemon signs in and the prod request opens.
        _helper(bin_, ANSWERS)
        flavour.wired = flavour.world.daemon("two")
        flavour.prod_request()
        asked = helper.with_name(helper.name + ".asked").read_text().splitlines()
        assert set(asked) == {host}  # docker's key for the registry, on stdin
        assert registry.issued  # the token service gave the daemon tokens for its user

        messages = [r.getMessage() for r in caplog.records if r.name == "reconciler.registry"]
        said = f"registry {host}: credentials from {source}"
        assert messages.count(said) == 1, messages  # once, though asked on every cycle
        assert REGISTRY_PASSWORD not in caplog.text
        assert all(REGISTRY_PASSWORD not in r for r in reasons)

        # 3. doctor shows where each registry's credentials come from.
        exe = Path(sys.executable).with_name("reconciler")
        doctor = subprocess.run(
            [
                str(exe),
                "doctor",
                "--repo",
                str(flavour.world.remote),
                "--cache-dir",
                str(tmp_path / "doctor"),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env=dict(os.environ),
        )
        assert f"[ok  ] registry {host}: credentials from {source}" in doctor.stdout, doctor.stdout
        assert f"[ok  ] the registry answers for {registry.image.repository}" in doctor.stdout
        assert REGISTRY_PASSWORD not in doctor.stdout + doctor.stderr
