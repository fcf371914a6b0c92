"""GitHub App authentication against the GitHub simulator: JWTs, installation tokens, refresh.

The simulator verifies each JWT (RS256) against the public key the test registers, mints
``ghs_`` tokens valid one hour by its clock, and refuses them once expired; the test shares
that clock with the token provider so that an hour can pass without waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from reconciler.errors import PermanentError, PolicyError, ReconcilerError, TransientError
from reconciler.forge.github.app import (
    AccessTokens,
    AppCredentials,
    InstallationTokens,
    app_jwt,
)
from reconciler.forge.github.client import AppTokenEndpoint
from reconciler.forge.github.forge import GitHubForge
from reconciler.gitrepo.credentials import Secret
from tests.servers.github_sim import GitHubSim, serve_github

APP_ID = 4242
MINT = "POST /app/installations/{installation_id}/access_tokens"
HEAD = "promote/prod/app"
PROD = "overlays/prod/app/kustomization.yaml"

_: AccessTokens = AppTokenEndpoint()  # the forge's endpoint fits the port (checked by mypy)


@dataclass
class Clock:
    """A clock the test moves; the simulator and the provider both read it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _rsa_pem(password: bytes | None = None) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class App:
    """The simulator with one App installed, its key on disk, and a token provider for it."""

    def __init__(self, sim: GitHubSim, clock: Clock, tmp_path: Path) -> None:
        self.sim, self.clock = sim, clock
        self.private, public = _rsa_pem()
        self.installation = sim.add_app(APP_ID, "reconciler", public)
        self.key_file = tmp_path / "app.pem"
        self.key_file.write_text(self.private)
        sim.commit("main", {PROD: b"digest: sha256:aa\n"})
        self.tokens = self.provider()

    def provider(
        self, installation: int | None = None, key_file: Path | None = None
    ) -> InstallationTokens:
        credentials = AppCredentials(
            APP_ID, key_file or self.key_file, installation or self.installation
        )
        return InstallationTokens(credentials, AppTokenEndpoint(self.sim.url), clock=self.clock)

    def forge(self, token: str | None = None) -> GitHubForge:
        return GitHubForge(
            "acme/config",
            base_url=self.sim.url,
            token=token or self.tokens.installation_token,
            sleep=lambda _: None,
        )

    @property
    def mints(self) -> int:
        return self.sim.counts[MINT]


@pytest.fixture
def clock() -> Clock:
    # The simulator's timestamps have whole seconds; JWTs are dated by the real clock,
    # which the simulator checks them against, so this one starts at the real time.
    return Clock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def sim(tmp_path: Path, clock: Clock) -> Iterator[GitHubSim]:
    with serve_github(tmp_path / "config.git", clock=clock) as running:
        yield running


@pytest.fixture
def app(sim: GitHubSim, clock: Clock, tmp_path: Path) -> App:
    return App(sim, clock, tmp_path)


def _assert_secret_free(error: ReconcilerError, *secrets: str) -> None:
    text = str(error)
    for secret in secrets:
        for line in secret.splitlines():
            if line and not line.startswith("-----"):
                assert line not in text
    assert "ghs_" not in text
    assert "eyJ" not in text  # the start of every JWT


# -- acting as the App --------------------------------------------------------------------


def test_the_app_opens_a_promotion_as_its_bot(app: App) -> None:
    app.sim.commit(HEAD, {PROD: b"digest: sha256:cc\n"}, parent=app.sim.tip("main"))

    opened = app.forge().open(HEAD, "main", "prod: promote app", "body", ("promotion",))

    assert opened.author == "@reconciler[bot]"
    assert opened.labels == ("promotion",)
    assert app.sim.pull(opened.number).user == "reconciler[bot]"
    assert app.mints == 1  # every request of the cycle rode on one installation token


@pytest.mark.parametrize(
    ("later", "mints"),
    [
        (timedelta(0), 1),
        (timedelta(minutes=54, seconds=59), 1),  # still more than 5 minutes to go
        (timedelta(minutes=55), 2),  # 5 minutes before expiry: a new one
        (timedelta(hours=3), 2),  # long expired: a new one
    ],
)
def test_the_token_is_kept_until_five_minutes_before_it_expires(
    app: App, later: timedelta, mints: int
) -> None:
    first = app.tokens.installation_token()
    app.clock.now += later

    second = app.tokens.installation_token()

    assert app.mints == mints
    assert (second != first) == (mints == 2)
    assert second.startswith("ghs_")


def test_the_forge_keeps_working_after_the_first_token_expired(app: App) -> None:
    first = app.tokens.installation_token()
    forge = app.forge()
    app.clock.now += timedelta(hours=1, minutes=1)

    assert forge.requests() == ()
    with pytest.raises(PermanentError, match="rejected the token"):
        app.forge(token=first).requests()
    assert app.mints == 2


def test_threads_due_for_a_new_token_mint_it_once(app: App) -> None:
    app.tokens.installation_token()
    app.clock.now += timedelta(minutes=58)
    start = threading.Barrier(8)
    got: list[str] = []

    def take() -> None:
        start.wait()
        got.append(app.tokens.installation_token())

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert app.mints == 2
    assert len(got) == 8
    assert len(set(got)) == 1


def test_the_token_and_key_stay_out_of_the_repr(app: App) -> None:
    token = app.tokens.installation_token()

    shown = repr(app.tokens) + repr(app.tokens.credentials)

    assert token not in shown
    assert "PRIVATE KEY" not in shown
    assert str(APP_ID) in shown


# -- failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda: "not a key\n", id="not-pem"),
        pytest.param(lambda: "", id="empty"),
        pytest.param(lambda: _rsa_pem()[1], id="public-key"),
        pytest.param(_ec_pem, id="ec-key"),
        pytest.param(lambda: _rsa_pem(b"hunter2")[0], id="encrypted"),
    ],
)
def test_a_file_without_a_usable_rsa_key_is_refused_before_asking_github(
    app: App, tmp_path: Path, content: Callable[[], str]
) -> None:
    text = content()
    bad = tmp_path / "bad.pem"
    bad.write_text(text)

    with pytest.raises(PolicyError) as raised:
        app.provider(key_file=bad).installation_token()

    message = str(raised.value)
    assert f"GitHub App {APP_ID}" in message
    assert str(bad) in message
    assert "RSA private key in PEM format" in message
    _assert_secret_free(raised.value, text)
    assert app.mints == 0


def test_another_apps_key_is_rejected_by_github_with_a_clear_error(
    app: App, tmp_path: Path
) -> None:
    other, _ = _rsa_pem()
    wrong = tmp_path / "other.pem"
    wrong.write_text(other)

    with pytest.raises(PermanentError) as raised:
        app.provider(key_file=wrong).installation_token()

    message = str(raised.value)
    assert f"rejected the JWT of GitHub App {APP_ID}" in message
    assert str(wrong) in message
    _assert_secret_free(raised.value, other, app.private)


def test_a_missing_key_file_names_the_file(app: App, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"

    with pytest.raises(PermanentError, match=f"cannot read the private key file {missing}"):
        app.provider(key_file=missing).installation_token()


def test_an_unknown_installation_is_a_clear_error_through_the_forge(app: App) -> None:
    unknown = app.installation + 1000
    tokens = app.provider(installation=unknown)
    forge = GitHubForge("acme/config", base_url=app.sim.url, token=tokens.installation_token)

    with pytest.raises(PermanentError) as raised:
        forge.requests()

    assert f"GitHub App {APP_ID} has no installation {unknown}" in str(raised.value)
    _assert_secret_free(raised.value, app.private)


def test_a_server_error_while_minting_is_transient(app: App) -> None:
    app.sim.faults.fail_next(1, status=502)

    with pytest.raises(TransientError, match=f"GitHub App {APP_ID}.*answered 502"):
        app.tokens.installation_token()
    assert app.tokens.installation_token().startswith("ghs_")  # the next try mints


def test_no_answer_while_minting_is_transient(app: App) -> None:
    credentials = AppCredentials(APP_ID, app.key_file, app.installation)
    # Port 9 (discard) is not served on loopback here: the connection is refused.
    tokens = InstallationTokens(credentials, AppTokenEndpoint("http://127.0.0.1:9", timeout=5))

    with pytest.raises(TransientError, match=f"GitHub App {APP_ID}.*no answer from GitHub"):
        tokens.installation_token()


# -- pure parts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app_id", "installation_id", "problem"),
    [
        (0, 1, "GitHub App id 0 is not valid"),
        (-3, 1, "GitHub App id -3 is not valid"),
        (7, 0, "installation id 0 of GitHub App 7 is not valid"),
    ],
)
def test_app_credentials_refuse_ids_that_cannot_exist(
    app_id: int, installation_id: int, problem: str
) -> None:
    with pytest.raises(PolicyError, match=problem):
        AppCredentials(app_id, Path("key.pem"), installation_id)


@pytest.mark.parametrize(
    "now",
    [
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2031, 6, 30, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_the_jwt_is_backdated_a_minute_and_lives_ten(now: datetime) -> None:
    private, public = _rsa_pem()
    credentials = AppCredentials(APP_ID, Path("app.pem"), 1)

    signed = app_jwt(credentials, Secret(private), now)

    claims = jwt.decode(
        signed.reveal(),
        public,
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    issued = int(now.timestamp()) - 60
    assert claims == {"iss": str(APP_ID), "iat": issued, "exp": issued + 600}
