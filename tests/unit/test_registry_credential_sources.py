"""Which credentials a registry gets from docker's config.json, in docker's order.

docker/cli's ``ConfigFile.GetAuthConfig(key)``: the helper ``credHelpers[key]`` names, else
the ``credsStore`` helper, else the file's ``auths``; the key is ``host[:port]``, or
``https://index.docker.io/v1/`` for Docker Hub (docker/cli ``registry.IndexServer``). With
a helper (``credentials.nativeStore.Get``): "not found" leaves no credentials, the
``auths`` entry unused; any other error is ignored by ``command.ResolveAuthConfig``
(``a, _ := cfg.GetAuthConfig(configKey)``), which so falls back to the ``auths`` entry.
Helpers here are functions; real helper programs run in
tests/integration/test_registry_credhelpers.py.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from reconciler.errors import PermanentError, PolicyError
from reconciler.gitrepo.credentials import Secret
from reconciler.httpclient.messages import HttpRequest, HttpResponse
from reconciler.registry.credhelpers import HelperCredentials, HelperError
from reconciler.registry.dockerconfig import (
    HELPER_TTL,
    HUB_SERVER,
    BasicCredentials,
    DockerCredentials,
    parse_auths,
    parse_helpers,
)
from reconciler.registry.headers import parse_challenge
from reconciler.registry.ociauth import Authenticator
from tests.unit.test_registry_credentials import Clock

SECRET = "helper-s3cret-Value-9f2c"
HOST = "reg.example:5000"
FILE = "/home/ci/.docker/config.json"


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Helpers:
    """Helpers by name: what each answers (credentials, None for "not found", or an error),
    and every (helper, server URL) asked."""

    answers: dict[str, HelperCredentials | HelperError | None] = field(default_factory=dict)
    asked: list[tuple[str, str]] = field(default_factory=list)

    def ask(self, name: str, server_url: str) -> HelperCredentials | None:
        self.asked.append((name, server_url))
        if name not in self.answers:
            raise HelperError(f"docker-credential-{name} is not on PATH")
        answer = self.answers[name]
        if isinstance(answer, HelperError):
            raise answer
        return answer


def _user(name: str) -> HelperCredentials:
    return HelperCredentials(name, Secret(SECRET))


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _credentials(
    config: dict[str, object], helpers: Helpers, clock: Ticks | None = None
) -> DockerCredentials:
    text = json.dumps(config)
    found, store = parse_helpers(text, FILE)
    return DockerCredentials(
        FILE,
        parse_auths(text, FILE),
        helpers=found,
        store=store,
        ask=helpers.ask,
        clock=clock or Ticks(),
    )


AUTHS: dict[str, object] = {"auths": {HOST: {"auth": _auth("from-auths", SECRET)}}}
HUB_AUTHS: dict[str, object] = {"auths": {HUB_SERVER: {"auth": _auth("from-auths", SECRET)}}}
ECR = "docker-credential-ecr-login"


@dataclass(frozen=True)
class Case:
    name: str
    config: dict[str, object]
    answers: dict[str, HelperCredentials | HelperError | None]
    user: str | None  # the user name of the credentials used; None: anonymous
    detail: str  # the start of what is logged and shown by doctor
    asked: list[tuple[str, str]]
    host: str = HOST
    failed: bool = False


CASES = [
    Case(
        "auths alone",
        AUTHS,
        {},
        "from-auths",
        f"credentials from auths in {FILE}",
        [],
    ),
    Case(
        "credsStore",
        {"credsStore": "pass"},
        {"pass": _user("from-store")},
        "from-store",
        f"credentials from docker-credential-pass (credsStore in {FILE})",
        [("pass", HOST)],
    ),
    Case(
        "credHelpers before credsStore and auths",
        {"credHelpers": {HOST: "ecr-login"}, "credsStore": "pass", **AUTHS},
        {"ecr-login": _user("AWS"), "pass": _user("from-store")},
        "AWS",
        f"credentials from {ECR} (credHelpers in {FILE})",
        [("ecr-login", HOST)],
    ),
    Case(
        "another registry's credHelpers entry: credsStore",
        {"credHelpers": {"other.example": "ecr-login"}, "credsStore": "pass"},
        {"ecr-login": _user("AWS"), "pass": _user("from-store")},
        "from-store",
        f"credentials from docker-credential-pass (credsStore in {FILE})",
        [("pass", HOST)],
    ),
    Case(
        "credHelpers keys are matched without regard to case",
        {"credHelpers": {"REG.example:5000": "ecr-login"}},
        {"ecr-login": _user("AWS")},
        "AWS",
        f"credentials from {ECR} (credHelpers in {FILE})",
        [("ecr-login", HOST)],
    ),
    Case(
        "not found: anonymous, the auths entry unused (docker's nativeStore.Get)",
        {"credHelpers": {HOST: "ecr-login"}, **AUTHS},
        {"ecr-login": None},
        None,
        f"no credentials (anonymous): {ECR} (credHelpers in {FILE}) has none for {HOST}; "
        "its auths entry is not used while a helper is set for it, as docker does",
        [("ecr-login", HOST)],
    ),
    Case(
        "credsStore not found does not fall through to auths either",
        {"credsStore": "desktop", **AUTHS},
        {"desktop": None},
        None,
        f"no credentials (anonymous): docker-credential-desktop (credsStore in {FILE}) has none",
        [("desktop", HOST)],
    ),
    Case(
        "a failing helper: the auths entry, as docker's ResolveAuthConfig ignores the error",
        {"credHelpers": {HOST: "ecr-login"}, **AUTHS},
        {"ecr-login": HelperError("exited with status 1: no AWS credentials")},
        "from-auths",
        f"{ECR} (credHelpers in {FILE}) failed for {HOST}: exited with status 1: no AWS "
        f"credentials; as docker does, falling back to the auths entry: credentials from "
        f"auths in {FILE}",
        [("ecr-login", HOST)],
        failed=True,
    ),
    Case(
        "a helper not on PATH and no auths entry: anonymous, said as a failure",
        {"credsStore": "secretservice"},
        {},
        None,
        f"docker-credential-secretservice (credsStore in {FILE}) failed for {HOST}: "
        "docker-credential-secretservice is not on PATH; as docker does, falling back to the "
        "auths entry: no credentials (anonymous)",
        [("secretservice", HOST)],
        failed=True,
    ),
    Case(
        "an identity token cannot be used: a failure",
        {"credsStore": "pass", **AUTHS},
        {"pass": _user("<token>")},
        "from-auths",
        f"docker-credential-pass (credsStore in {FILE}) answered an identity token for {HOST}",
        [("pass", HOST)],
        failed=True,
    ),
    Case(
        "Docker Hub: credHelpers under docker's key, which the helper is asked for",
        {"credHelpers": {HUB_SERVER: "hub"}, **HUB_AUTHS},
        {"hub": _user("from-hub-helper")},
        "from-hub-helper",
        f"credentials from docker-credential-hub (credHelpers in {FILE})",
        [("hub", HUB_SERVER)],
        host="docker.io",
    ),
    Case(
        "Docker Hub: a credHelpers entry 'docker.io' is not docker's key, so unused",
        {"credHelpers": {"docker.io": "hub"}, **HUB_AUTHS},
        {"hub": _user("from-hub-helper")},
        "from-auths",
        f"credentials from auths in {FILE}",
        [],
        host="docker.io",
    ),
    Case(
        "an empty credsStore is none",
        {"credsStore": "", **AUTHS},
        {},
        "from-auths",
        f"credentials from auths in {FILE}",
        [],
    ),
    Case(
        "nothing for the registry",
        {"auths": {"other.example": {"auth": _auth("u", "p")}}},
        {},
        None,
        f"no credentials (anonymous): {FILE} has no entry for {HOST}",
        [],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_order_docker_resolves_credentials_in(case: Case) -> None:
    helpers = Helpers(dict(case.answers))
    found = _credentials(case.config, helpers).resolve(case.host)
    assert (found.credentials.username if found.credentials else None) == case.user
    assert found.detail.startswith(case.detail), found.detail
    assert found.failed == case.failed
    assert helpers.asked == case.asked
    if found.credentials is not None:
        assert found.credentials.password.reveal() == SECRET
    assert SECRET not in found.detail + found.fix + found.source + repr(found)


def test_no_config_file_at_all_is_anonymous_and_says_where_it_looked() -> None:
    found = DockerCredentials("/home/ci/.docker/config.json", exists=False).resolve(HOST)
    assert found.credentials is None
    assert found.detail == (
        "no credentials (anonymous): there is no docker config (/home/ci/.docker/config.json)"
    )
    assert found.fix.startswith(f"run `docker login {HOST}`")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"credHelpers": ["ecr-login"]}, "'credHelpers' must be an object"),
        ({"credHelpers": {HOST: 3}}, f"credHelpers['{HOST}'] must name a helper"),
        ({"credHelpers": {HOST: "../../bin/sh"}}, f"credHelpers['{HOST}'] must name a helper"),
        ({"credHelpers": {HOST: ""}}, f"credHelpers['{HOST}'] must name a helper"),
        ({"credsStore": {"name": "pass"}}, "'credsStore' must name a helper"),
        ({"credsStore": "/usr/bin/pass"}, "'credsStore' must name a helper"),
    ],
)
def test_helper_settings_that_name_no_helper_are_refused(
    config: dict[str, object], message: str
) -> None:
    with pytest.raises(PolicyError, match=re.escape(message)):
        parse_helpers(json.dumps(config), FILE)


def test_an_answer_is_kept_for_a_while_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock, helpers = Ticks(), Helpers({"ecr-login": _user("AWS")})
    creds = _credentials({"credHelpers": {HOST: "ecr-login"}}, helpers, clock)
    for _ in range(3):
        assert creds.for_host(HOST) == BasicCredentials("AWS", SECRET)
    assert len(helpers.asked) == 1
    clock.now += HELPER_TTL.total_seconds()
    creds.for_host(HOST)
    assert len(helpers.asked) == 2  # asked again: helpers' credentials expire (ECR: 12 h)
    records = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert records == [
        (
            "reconciler.registry",
            logging.INFO,
            f"registry {HOST}: credentials from {ECR} (credHelpers in {FILE})",
        )
    ]  # the same source is not logged again
    helpers.answers["ecr-login"] = HelperError("did not answer within 30s and was stopped")
    clock.now += HELPER_TTL.total_seconds()
    assert creds.for_host(HOST) is None
    assert caplog.records[-1].levelno == logging.WARNING
    assert "did not answer within 30s" in caplog.records[-1].getMessage()
    assert SECRET not in caplog.text


def test_refused_credentials_are_asked_for_again_once_per_answer() -> None:
    helpers = Helpers({"ecr-login": _user("AWS")})
    creds = _credentials({"credHelpers": {HOST: "ecr-login"}}, helpers)
    creds.for_host(HOST)
    creds.forget(HOST)  # the registry refused them: perhaps an expired token
    creds.for_host(HOST)
    assert len(helpers.asked) == 2
    creds.forget(HOST)  # the same credentials again: the helper is not run per request
    creds.for_host(HOST)
    assert len(helpers.asked) == 2
    helpers.answers["ecr-login"] = HelperCredentials("AWS", Secret("rotated"))
    creds.forget(HOST)
    assert len(helpers.asked) == 2


@pytest.mark.parametrize(
    "answer",
    [HelperError("did not answer within 30s and was stopped"), None],
    ids=["failing", "has none"],
)
def test_no_credentials_are_kept_too_so_a_hanging_helper_is_not_run_per_request(
    answer: HelperError | None,
) -> None:
    helpers = Helpers({"ecr-login": answer})
    creds = _credentials({"credHelpers": {HOST: "ecr-login"}}, helpers)
    for _ in range(5):
        assert creds.for_host(HOST) is None
        creds.forget(HOST)  # what a refusal does
    assert len(helpers.asked) == 1


# -- what the registry's refusals say ---------------------------------------------------------

REPO = f"{HOST}/app"
SCOPE = "repository:app:pull"


def _refusing(host: str, request: HttpRequest) -> HttpResponse:
    return HttpResponse(401, request.url, timedelta(0))


def _authenticator(creds: DockerCredentials) -> Authenticator:
    return Authenticator(creds, Clock(), allow_http_realm=False, timeout=timedelta(seconds=5))


def test_refused_helper_credentials_name_the_helper_and_are_asked_again() -> None:
    helpers = Helpers({"ecr-login": _user("AWS")})
    auth = _authenticator(_credentials({"credHelpers": {HOST: "ecr-login"}}, helpers))
    challenge = parse_challenge('Bearer realm="https://auth.example/token",service="reg"')
    with pytest.raises(PermanentError) as caught:
        auth.answer(HOST, REPO, challenge, SCOPE, _refusing)
    message = str(caught.value)
    assert message == (
        f"registry {HOST} refused the credentials for {HOST} from {ECR} (credHelpers in {FILE}) "
        f"for {REPO}: check what {ECR} holds for {HOST} and its permissions on the repository"
    )
    assert len(helpers.asked) == 1
    assert auth.source(HOST).credentials is not None
    assert len(helpers.asked) == 2  # forgotten on refusal: a rotated token is picked up


@pytest.mark.parametrize(
    ("config", "answers", "said"),
    [
        (
            {"credHelpers": {HOST: "ecr-login"}},
            {"ecr-login": None},
            f"the daemon has none: no credentials (anonymous): {ECR} (credHelpers in {FILE}) "
            f"has none for {HOST}; run `docker login {HOST}` to store them with {ECR}",
        ),
        (
            {"credHelpers": {HOST: "ecr-login"}},
            {},
            f"the daemon has none: {ECR} (credHelpers in {FILE}) failed for {HOST}: {ECR} is not "
            "on PATH; as docker does, falling back to the auths entry: no credentials "
            f"(anonymous); make {ECR} answer for the daemon's user (`printf %s {HOST} | {ECR} "
            "get` shows its error)",
        ),
        (
            {},
            {},
            f"the daemon has none: no credentials (anonymous): {FILE} has no entry for {HOST}; "
            f"run `docker login {HOST}`, or add an 'auths' or 'credHelpers' entry for {HOST}",
        ),
    ],
    ids=["helper has none", "helper missing", "nothing configured"],
)
def test_a_registry_asking_for_credentials_is_told_why_there_are_none(
    config: dict[str, object], answers: dict[str, HelperCredentials | HelperError | None], said: str
) -> None:
    auth = _authenticator(_credentials(config, Helpers(answers)))
    with pytest.raises(PermanentError) as caught:
        auth.answer(HOST, REPO, parse_challenge('Basic realm="r"'), SCOPE, _refusing)
    assert f"registry {HOST} requires credentials for {REPO} and {said}" in str(caught.value)
