"""Real credential helper programs, written into a folder put on PATH, run as docker runs them.

Each helper is a shell script named ``docker-credential-NAME`` following the protocol of
docker/docker-credential-helpers (``client.Get``): ``get`` as its one argument, the server
URL on stdin, the credentials as JSON on stdout, ``credentials not found in native
keychain`` on stdout with a non-zero exit when it has none. The ones here also answer,
fail, hang, and print secrets where they must not be shown.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path

import pytest

from reconciler.registry.credhelpers import HelperError, get
from reconciler.registry.dockerconfig import HUB_SERVER, DockerCredentials

SECRET = "helper-SECRET-5d1e9b3a7c"
HOST = "reg.example:5000"


def helper(folder: Path, name: str, body: str) -> Path:
    """Write ``docker-credential-NAME`` (a /bin/sh script) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def environ(folder: Path, **extra: str) -> dict[str, str]:
    return {"PATH": f"{folder}:/usr/bin:/bin", **extra}


ANSWER = f"""\
[ "$1" = get ] || exit 2
read -r url || true
printf '%s' "$url" > "$0.asked"
printf '{{"ServerURL":"%s","Username":"%s","Secret":"{SECRET}"}}\\n' "$url" "$HELPER_USER"
"""


def test_a_helper_is_asked_for_the_server_url_on_stdin(tmp_path: Path) -> None:
    bin_ = tmp_path / "bin"
    script = helper(bin_, "test", ANSWER)
    found = get("test", HOST, timeout=10, environ=environ(bin_, HELPER_USER="ci-bot"))
    assert found is not None
    assert (found.username, found.secret.reveal()) == ("ci-bot", SECRET)
    assert SECRET not in repr(found)
    # the URL alone, no newline, as docker writes it; the daemon's environment is passed
    assert Path(f"{script}.asked").read_text() == HOST


def test_not_found_is_no_credentials(tmp_path: Path) -> None:
    bin_ = tmp_path / "bin"
    helper(bin_, "test", "echo 'credentials not found in native keychain'\nexit 1\n")
    assert get("test", HOST, timeout=10, environ=environ(bin_)) is None


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            "echo 'error getting credentials: no AWS profile'\nexit 1\n",
            "docker-credential-test get exited with status 1: error getting credentials: no AWS "
            "profile",
        ),
        ("exit 3\n", "docker-credential-test get exited with status 3"),
        ("kill -9 $$\n", "docker-credential-test get was killed by signal 9"),
        ("echo not json\n", "docker-credential-test get answered something that is not JSON"),
        (
            'echo \'{"Username": "u"}\'\n',
            "docker-credential-test get answered JSON without the string fields Username and "
            "Secret",
        ),
    ],
    ids=["fails, saying why", "fails silently", "killed", "not JSON", "no Secret"],
)
def test_a_failing_helper_says_why(tmp_path: Path, body: str, said: str) -> None:
    bin_ = tmp_path / "bin"
    helper(bin_, "test", body)
    with pytest.raises(HelperError) as caught:
        get("test", HOST, timeout=10, environ=environ(bin_))
    assert str(caught.value) == said


def test_a_missing_helper_is_named(tmp_path: Path) -> None:
    with pytest.raises(HelperError, match=r"^docker-credential-absent is not on PATH$"):
        get("absent", HOST, timeout=10, environ=environ(tmp_path / "empty"))


def test_a_helper_that_hangs_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    bin_ = tmp_path / "bin"
    # A child holding stdout open would keep a reader of the pipe waiting: both are stopped.
    helper(bin_, "test", "sleep 300 &\nsleep 300\n")
    started = time.monotonic()
    with pytest.raises(HelperError) as caught:
        get("test", HOST, timeout=0.5, environ=environ(bin_))
    assert time.monotonic() - started < 10
    assert str(caught.value) == "docker-credential-test did not answer within 0.5s and was stopped"


@pytest.mark.parametrize(
    "body",
    [
        f"echo '{SECRET}' >&2\necho 'credentials not found in native keychain'\nexit 1\n",
        f"echo 'password={SECRET}' >&2\necho 'bad password' \nexit 1\n",
        f'echo \'{{"Username": "u", "Secret": "{SECRET}"}}\'\nexit 1\n',  # JSON, yet failing
        f"echo 'unlocked with secret {SECRET}'\nexit 1\n",
        f"echo '{SECRET}' >&2\n" + ANSWER,
    ],
    ids=["stderr, not found", "stderr, failing", "credentials JSON, failing", "says secret", "ok"],
)
def test_what_a_helper_prints_never_shows_its_secret(
    tmp_path: Path, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bin_ = tmp_path / "bin"
    helper(bin_, "test", body)
    folder = tmp_path / "docker"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"credHelpers": {HOST: "test"}}))
    creds = DockerCredentials.load(None, environ(bin_, DOCKER_CONFIG=str(folder), HELPER_USER="u"))
    found = creds.resolve(HOST)
    shown = found.detail + found.fix + found.source + repr(found) + repr(creds) + caplog.text
    assert SECRET not in shown
    if found.credentials is not None:
        assert found.credentials.password.reveal() == SECRET
        assert SECRET not in repr(found.credentials)


def test_docker_config_with_a_helper_for_one_registry_and_a_store_for_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.registry")
    bin_ = tmp_path / "bin"
    helper(bin_, "ecr", ANSWER.replace('"$HELPER_USER"', '"AWS"'))
    helper(bin_, "store", ANSWER)
    folder = tmp_path / "docker"
    folder.mkdir()
    config = folder / "config.json"
    config.write_text(
        json.dumps({"credHelpers": {HOST: "ecr"}, "credsStore": "store", "auths": {HOST: {}}})
    )
    env = environ(bin_, DOCKER_CONFIG=str(folder), HELPER_USER="hub-user", HOME=str(tmp_path))
    creds = DockerCredentials.load(None, env)
    ecr, hub = creds.for_host(HOST), creds.for_host("docker.io")
    assert ecr is not None
    assert hub is not None
    assert (ecr.username, hub.username) == ("AWS", "hub-user")
    assert (bin_ / "docker-credential-store.asked").read_text() == HUB_SERVER
    assert [r.getMessage() for r in caplog.records] == [
        f"registry {HOST}: credentials from docker-credential-ecr (credHelpers in {config})",
        f"registry docker.io: credentials from docker-credential-store (credsStore in {config})",
    ]


def test_the_helper_gets_the_daemons_environment_and_path(tmp_path: Path) -> None:
    bin_ = tmp_path / "bin"
    helper(bin_, "test", ANSWER)
    folder = tmp_path / "docker"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"credsStore": "test"}))
    env = {**os.environ, "PATH": f"{bin_}:{os.environ.get('PATH', '')}", "HELPER_USER": "svc"}
    found = DockerCredentials.load(folder / "config.json", env).for_host(HOST)
    assert found is not None
    assert found.username == "svc"
