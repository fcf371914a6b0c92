"""Docker config credentials and the token flow's decisions, with no network.

The token service here is a function answering ``HttpResponse`` values: the flow's
decisions (cache, expiry, refusals, what never leaks) are what is tested; the real
exchange with a real registry and token service is in tests/integration.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.errors import PermanentError, PolicyError
from reconciler.httpclient.messages import HttpRequest, HttpResponse
from reconciler.registry.dockerconfig import BasicCredentials, DockerCredentials, parse_auths
from reconciler.registry.headers import parse_challenge
from reconciler.registry.ociauth import Authenticator

SECRET = "s3cr3t-Value"


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("auths", "expected"),
    [
        ({"reg.example:5000": {"auth": _auth("ci", SECRET)}}, {"reg.example:5000": ("ci", SECRET)}),
        ({"https://Reg.Example/v1/": {"auth": _auth("ci", "a:b")}}, {"reg.example": ("ci", "a:b")}),
        ({"reg.example": {"username": "ci", "password": SECRET}}, {"reg.example": ("ci", SECRET)}),
        ({"reg.example/some/path": {"auth": _auth("ci", "")}}, {"reg.example": ("ci", "")}),
        ({"reg.example": {"identitytoken": "x"}}, {}),  # OAuth refresh tokens: not used
        ({"reg.example": {}}, {}),
    ],
)
def test_auths(auths: dict[str, object], expected: dict[str, tuple[str, str]]) -> None:
    found = parse_auths(json.dumps({"auths": auths}), "config.json")
    assert {host: (c.username, c.password.reveal()) for host, c in found.items()} == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "config.json:1:2: the docker config is not valid JSON"),
        ('{"auths": []}', "'auths' must be an object"),
        ('{"auths": {"r": "x"}}', "auths['r'] must be an object"),
        ('{"auths": {"r": {"auth": "%%%"}}}', "auths['r'].auth is not base64"),
        (
            '{"auths": {"r": {"auth": "' + base64.b64encode(b"nocolon").decode() + '"}}}',
            "is not base64 of 'user:password'",
        ),
    ],
)
def test_bad_configs_are_named_without_their_content(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_auths(text, "config.json")
    assert message in str(caught.value)
    assert "nocolon" not in str(caught.value)


def test_docker_hub_is_found_under_dockers_own_key() -> None:
    creds = DockerCredentials(
        "c",
        parse_auths(
            json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": _auth("u", "p")}}}), "c"
        ),
    )
    assert creds.for_host("docker.io") == BasicCredentials("u", "p")
    assert creds.for_host("ghcr.io") is None


def test_load_order(tmp_path: Path) -> None:
    explicit = tmp_path / "explicit.json"
    explicit.write_text(json.dumps({"auths": {"a.example": {"auth": _auth("x", "1")}}}))
    folder = tmp_path / "dockerconfig"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"auths": {"b.example": {"auth": _auth("y", "2")}}})
    )
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker/config.json").write_text(
        json.dumps({"auths": {"c.example": {"auth": _auth("z", "3")}}})
    )

    env = {"DOCKER_CONFIG": str(folder), "HOME": str(home)}
    assert set(DockerCredentials.load(explicit, env).by_host) == {"a.example"}
    assert set(DockerCredentials.load(None, env).by_host) == {"b.example"}
    assert set(DockerCredentials.load(None, {"HOME": str(home)}).by_host) == {"c.example"}
    assert DockerCredentials.load(None, {"HOME": str(tmp_path / "nobody")}).by_host == {}
    with pytest.raises(PolicyError, match="cannot read the docker config"):
        DockerCredentials.load(tmp_path / "missing.json", env)


def test_secrets_stay_out_of_reprs() -> None:
    creds = DockerCredentials("cfg", {"r.example": BasicCredentials("ci", SECRET)})
    assert SECRET not in repr(creds)
    assert SECRET not in repr(creds.by_host["r.example"])
    assert creds.by_host["r.example"].header() == "Basic " + _auth("ci", SECRET)


# -- the token flow ------------------------------------------------------------------------

HOST = "reg.example"
CHALLENGE = parse_challenge('Bearer realm="https://auth.example/token",service="reg"')
SCOPE = "repository:app:pull"
REPO = "reg.example/app"


class TokenService:
    """Answers token requests as told; keeps what it was asked."""

    def __init__(self, *answers: HttpResponse) -> None:
        self.answers = list(answers)
        self.asked: list[HttpRequest] = []

    def send(self, host: str, request: HttpRequest) -> HttpResponse:
        self.asked.append(request)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def _token(value: str, expires_in: int | None = None) -> HttpResponse:
    document: dict[str, object] = {"token": value}
    if expires_in is not None:
        document["expires_in"] = expires_in
    return HttpResponse(
        200, "https://auth.example/token", timedelta(0), (), json.dumps(document).encode()
    )


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _authenticator(clock: Clock, creds: DockerCredentials | None = None) -> Authenticator:
    return Authenticator(creds, clock, allow_http_realm=False, timeout=timedelta(seconds=5))


def test_a_token_is_fetched_once_and_reused_until_it_expires() -> None:
    clock, service = Clock(), TokenService(_token("t1", 300), _token("t2", 300))
    auth = _authenticator(clock)
    assert auth.header(HOST, REPO, SCOPE, service.send) is None  # no challenge seen yet
    assert service.asked == []
    assert auth.answer(HOST, REPO, CHALLENGE, SCOPE, service.send) == "Bearer t1"
    assert auth.header(HOST, REPO, SCOPE, service.send) == "Bearer t1"
    clock.now += timedelta(seconds=290)
    assert auth.header(HOST, REPO, SCOPE, service.send) == "Bearer t1"
    assert len(service.asked) == 1
    clock.now += timedelta(seconds=10)  # within the renewal margin: a new token
    assert auth.header(HOST, REPO, SCOPE, service.send) == "Bearer t2"
    assert len(service.asked) == 2


def test_tokens_are_cached_per_scope() -> None:
    clock, service = Clock(), TokenService(_token("pull"), _token("push"))
    auth = _authenticator(clock)
    auth.answer(HOST, REPO, CHALLENGE, SCOPE, service.send)
    push = "repository:app:pull,push"
    assert auth.header(HOST, REPO, push, service.send) == "Bearer push"
    assert auth.header(HOST, REPO, SCOPE, service.send) == "Bearer pull"
    assert auth.header(HOST, REPO, push, service.send) == "Bearer push"
    assert [r.url for r in service.asked] == [
        "https://auth.example/token?scope=repository%3Aapp%3Apull&service=reg",
        "https://auth.example/token?scope=repository%3Aapp%3Apull%2Cpush&service=reg",
    ]


def test_a_challenge_names_the_scope_to_ask_for() -> None:
    service = TokenService(_token("t"))
    challenge = parse_challenge(
        'Bearer realm="https://auth.example/token",scope="repository:app:pull,delete"'
    )
    _authenticator(Clock()).answer(HOST, REPO, challenge, SCOPE, service.send)
    assert service.asked[0].url == (
        "https://auth.example/token?scope=repository%3Aapp%3Apull%2Cdelete"
    )


def test_the_token_request_carries_the_registrys_basic_credentials() -> None:
    creds = DockerCredentials("cfg", {HOST: BasicCredentials("ci", SECRET)})
    service = TokenService(_token("t"))
    _authenticator(Clock(), creds).answer(HOST, REPO, CHALLENGE, SCOPE, service.send)
    assert service.asked[0].headers["Authorization"] == "Basic " + _auth("ci", SECRET)


def test_a_refusing_token_service_names_the_config_not_the_secret() -> None:
    creds = DockerCredentials(
        "/home/ci/.docker/config.json", {HOST: BasicCredentials("ci", SECRET)}
    )
    service = TokenService(HttpResponse(401, "https://auth.example/token", timedelta(0)))
    with pytest.raises(PermanentError) as caught:
        _authenticator(Clock(), creds).answer(HOST, REPO, CHALLENGE, SCOPE, service.send)
    message = str(caught.value)
    assert "refused the credentials" in message
    assert "/home/ci/.docker/config.json" in message
    assert SECRET not in message
    assert _auth("ci", SECRET) not in message


@pytest.mark.parametrize(
    ("challenge", "message"),
    [
        (
            'Bearer realm="http://auth.example/token"',
            "not an https URL (http://auth.example/token)",
        ),
        ('Bearer service="reg"', "not an https URL (none)"),
        ('Negotiate realm="x"', "'negotiate' authentication"),
        ("", "without saying how"),
    ],
)
def test_challenges_that_cannot_be_answered(challenge: str, message: str) -> None:
    service = TokenService(_token("t"))
    with pytest.raises(PermanentError) as caught:
        _authenticator(Clock()).answer(HOST, REPO, parse_challenge(challenge), SCOPE, service.send)
    assert message in str(caught.value)
    assert service.asked == []  # nothing was sent, least of all credentials in clear


def test_basic_challenge_without_credentials_says_how_to_log_in() -> None:
    with pytest.raises(PermanentError, match=r"run `docker login reg.example`"):
        _authenticator(Clock()).answer(
            HOST, REPO, parse_challenge('Basic realm="r"'), SCOPE, TokenService().send
        )


def test_a_token_answer_without_a_token_is_refused() -> None:
    service = TokenService(
        HttpResponse(200, "https://auth.example/token", timedelta(0), (), b'{"expires_in": 60}')
    )
    with pytest.raises(PermanentError, match="answered without a token"):
        _authenticator(Clock()).answer(HOST, REPO, CHALLENGE, SCOPE, service.send)


def test_access_token_field_and_default_lifetime() -> None:
    clock = Clock()
    body = json.dumps({"access_token": "a"}).encode()
    service = TokenService(HttpResponse(200, "https://auth.example/token", timedelta(0), (), body))
    auth = _authenticator(clock)
    assert auth.answer(HOST, REPO, CHALLENGE, SCOPE, service.send) == "Bearer a"
    clock.now += timedelta(seconds=50)
    auth.header(HOST, REPO, SCOPE, service.send)
    assert len(service.asked) == 1
    clock.now += timedelta(seconds=10)  # the spec's default lifetime is 60 s
    auth.header(HOST, REPO, SCOPE, service.send)
    assert len(service.asked) == 2


def test_basic_credentials_are_sent_once_the_registry_asked_for_them() -> None:
    creds = DockerCredentials("cfg", {HOST: BasicCredentials("ci", SECRET)})
    auth = _authenticator(Clock(), creds)
    send = TokenService().send
    assert auth.header(HOST, REPO, SCOPE, send) is None
    basic = auth.answer(HOST, REPO, parse_challenge('Basic realm="r"'), SCOPE, send)
    assert basic == "Basic " + _auth("ci", SECRET)
    assert auth.header(HOST, REPO, SCOPE, send) == basic
    assert auth.header("other.example", REPO, SCOPE, send) is None
