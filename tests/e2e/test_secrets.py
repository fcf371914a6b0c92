"""Secrets stay secret: whole flows with distinctive secrets, then every place scanned for them.

Two flows, each to a merged prod promotion on the GitHub simulator, with the candidate in
a registry that needs a password (docker config.json, basic auth to its token service):

- in process, as `reconciler once` builds the daemon, with a token file; error paths forced
  on the way (a wrong token: 401; GitHub answering 502; a wrong registry password; a GitHub
  App key GitHub does not know), every log record captured at DEBUG from every logger, then
  `status`, `plan`, `history` and `doctor` run as commands;
- the `reconciler run` process as a GitHub App, with `--log-format json`, signed, forged
  and replayed webhook deliveries, GitHub answering 502 for a while, and its /metrics,
  /healthz, /readyz and /webhook answers.

Then every log line, error, plan reason, metric, HTTP answer, command output, pull request
(title, body, labels, comments, reviews), deployment, commit, blob and ref of the config
repo, and every file of the daemon's clone but git's compressed objects is searched for
each secret and its derived forms (secretworld.needles).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from functools import partial
from pathlib import Path

import github
import pytest
from github import Auth

from reconciler import wiring
from reconciler.clock import utc_now
from reconciler.cycle import CycleReport
from reconciler.demo.flow import APP, TEAM, seed_files
from reconciler.demo.services import SampleServices
from reconciler.forge.github.forge import GitHubForge
from reconciler.logs import JsonFormatter, configure_logging
from reconciler.wiring import build
from tests.e2e.closedworld import AUTHOR, LOGIN, ORG, TIMING, GitHubFlavour, prepare
from tests.e2e.secretworld import (
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    Places,
    auth_registry,
    needles,
)
from tests.e2e.world import OWNER, cycle_until, overlay, pin_of
from tests.integration.test_github_app import _rsa_pem
from tests.ports import free_port
from tests.servers.git_http import serve_git
from tests.servers.github_sim import serve_github, webhooks

TOKEN = "ghp_SECRETSECRETa1b2c3d4e5f6g7h8i9j0k1l2m3"
WRONG_TOKEN = "ghp_SECRETWRONGz9y8x7w6v5u4t3s2r1q0p9o8"
WEBHOOK_SECRET = "whsec-SECRET-3f9a1c7e5b2d8f4a6c0e"
WRONG_PASSWORD = "regpass-SECRET-WRONG-4e8a2c6b"
DEADLINE = 60.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> str:
    """Status line, headers and body of one answer, as a client sees them."""
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with _DIRECT.open(request, timeout=10) as answer:
            return f"{answer.status}\n{answer.headers}\n{answer.read().decode()}"
    except urllib.error.HTTPError as refused:
        return f"{refused.code}\n{refused.headers}\n{refused.read().decode()}"


def report(places: Places, secrets: dict[str, str], holders: dict[str, str]) -> None:
    """No secret anywhere; ``holders`` (where the secrets are kept) prove the scan sees them."""
    probe = Places(dict(holders))
    assert {name for _, name in probe.found(secrets)} == set(secrets), "the scan misses one"
    found = places.found(secrets)
    size = sum(len(text) for text in places.texts.values())
    print(
        f"secrets scanned={len(places.texts)} places ({size} characters) "
        f"needles={len(secrets)} secrets_found={len(found)}"
    )
    assert found == [], found[:20]  # (place, secret name): never the secret itself


def test_in_process_flow_with_a_token_and_its_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every record of every logger, libraries included: PyGithub's too, which keeps itself at
    # INFO unless told (at DEBUG it logs whole response bodies, minted tokens among them).
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")
    printed = io.StringIO()  # what the daemon's own handler would print, at DEBUG
    handler = configure_logging("text", "DEBUG", stream=printed)
    places = Places()
    wrong_private, _ = _rsa_pem()
    app_private, app_public = _rsa_pem()
    with ExitStack() as stack:
        registry = stack.enter_context(auth_registry(tmp_path / "oci"))
        monkeypatch.setenv("DOCKER_CONFIG", str(registry.docker_config))
        # The forge's retries wait on a recorder, not the clock: a cycle failing on 502s
        # would otherwise spend the whole backoff (about 15 s) asleep.
        slept: list[float] = []
        factories = replace(wiring.REAL, github_forge=partial(GitHubForge, sleep=slept.append))
        # git over smart HTTP with the same token (basic auth), as github.com is reached
        git = stack.enter_context(serve_git(tmp_path / "gh", token=TOKEN))
        world = GitHubFlavour(
            tmp_path / "gh",
            registry.image,
            token=TOKEN,
            repo=git.url("config.git"),
            factories=factories,
        )
        try:
            results = [world.step()]
            number = world.prod_request()

            # 1. The token file now holds a token GitHub rejects (401), then the right one.
            token_file = tmp_path / "gh" / "token"
            token_file.write_text(WRONG_TOKEN + "\n")
            said = places.failure("cycle with a wrong token", world.step)
            assert "the remote refused the token in file" in said, said  # git, first
            # The same wrong token for the API alone (the repo read from disk).
            api_only = replace(
                world.settings, repo=str(world.sim.git_path), cache_dir=tmp_path / "api"
            )
            said = places.failure("API with a wrong token", build(api_only).runner.cycle)
            assert "rejected the token" in said, said
            token_file.write_text(TOKEN + "\n")
            # 2. GitHub answers 502 past the retries.
            world.sim.faults.fail_next(50, status=502)
            said = places.failure("cycle while GitHub answers 502", world.step)
            assert "GitHub answered 502" in said, said
            assert slept  # it did back off, between retries
            world.sim.faults.fail_next(0)
            # 3. A daemon whose docker config has a wrong registry password.
            wrong = registry.config_with(WRONG_PASSWORD, tmp_path / "wrong-docker")
            monkeypatch.setenv("DOCKER_CONFIG", str(wrong))
            other = build(replace(world.settings, cache_dir=tmp_path / "other"), utc_now)
            results += cycle_until(
                other.runner.cycle,
                lambda r: any(b.code == "registry-unreachable" for b in r.plan.blocked),
                "the registry's refusal",
            )
            reasons = [b.reason for b in results[-1].plan.blocked]
            assert any("refused the credentials" in r for r in reasons), reasons
            places.add("metrics of the daemon with the wrong password", other.metrics.exposition())
            monkeypatch.setenv("DOCKER_CONFIG", str(registry.docker_config))
            # 4. A GitHub App key GitHub does not know.
            (tmp_path / "wrong.pem").write_text(wrong_private)
            app = replace(
                world.settings,
                cache_dir=tmp_path / "app",
                github_token_file=None,
                github_app_id=777,
                github_app_key_file=tmp_path / "wrong.pem",
                github_installation_id=1,
            )

            def as_unknown_app() -> CycleReport:
                return build(app).runner.cycle()  # building it may fail too

            said = places.failure("cycle as an unknown App", as_unknown_app)
            assert "401" in said or "rejected" in said, said
            # 5. A GitHub App GitHub knows: it mints installation tokens (secrets too).
            (tmp_path / "app.pem").write_text(app_private)
            installation = world.sim.add_app(4242, "reconciler-app", app_public)
            known = replace(
                app,
                repo=str(world.sim.git_path),
                cache_dir=tmp_path / "known-app",
                github_app_id=4242,
                github_app_key_file=tmp_path / "app.pem",
                github_installation_id=installation,
            )
            results.append(build(known).runner.cycle())
            minted = [t for t, held in world.sim.world.tokens.items() if held.installation]
            assert minted

            # The flow goes on: the owner approves, the daemon merges.
            world.approve(number, OWNER)
            results += cycle_until(
                world.step, lambda _: world.prod_pin() == world.image.digest, "merge"
            )
            places.add("metrics", world.wired.metrics.exposition())
            # The token did travel, as basic auth on every git request (so it could leak).
            sent = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
            assert sent in git.log.authorizations
            assert any(
                line.startswith("POST /config.git/git-receive-pack") for line in git.log.lines
            )
            verbs = run_verbs(world, tmp_path)
        finally:
            world.stop()
        places.add_simulator(world.sim)
        places.add_git(world.sim.git_path, "config repo")
        places.add_files(tmp_path / "gh" / "daemon", "daemon clone")
    for index, result in enumerate(results):
        lines = [*result.errors, *(o.detail for o in result.outcomes), result.summary()]
        lines += [f"{b.code}: {b.reason}" for b in result.plan.blocked]
        places.add(f"cycle {index}", "\n".join(lines))
    logging.getLogger().removeHandler(handler)
    for index, line in enumerate(printed.getvalue().splitlines()):
        places.add(f"printed log line {index}", line)
    # Our own records in full, as any handler would show them (message, extras, traceback);
    # library records only as the daemon's handler shows them (above): withheld below WARNING.
    plain, json_lines = logging.Formatter(), JsonFormatter()
    ours = [r for r in caplog.records if r.name.split(".")[0] == "reconciler"]
    for index, record in enumerate(ours):
        shown = plain.formatException(record.exc_info) if record.exc_info else ""
        places.add(f"record {index} {record.name}", f"{json_lines.format(record)}\n{shown}")
        places.add(f"record {index} {record.name} raw", f"{record.getMessage()} {record.args}")
    for name, output in verbs.items():
        places.add(name, output)
    assert registry.issued
    tokens, pems = [TOKEN, WRONG_TOKEN, *minted], [wrong_private, app_private]
    passwords = [REGISTRY_PASSWORD, WRONG_PASSWORD]
    secrets = needles(tokens, pems, passwords, WEBHOOK_SECRET, registry.issued)
    report(places, secrets, holders(tokens, pems, registry.issued))
    assert len(ours) > 5  # there was much to scan
    assert printed.getvalue().count("\n") >= 5
    withheld = Places({f"{r.name} {i}": r.getMessage() for i, r in enumerate(caplog.records)})
    print(
        f"library records holding a secret, withheld by the log handler: "
        f"{len({w for w, _ in withheld.found(secrets)})} of {len(caplog.records)} records"
    )


def holders(tokens: list[str], pems: list[str], bearers: list[str]) -> dict[str, str]:
    """Texts that do hold each secret, in the forms it is sent or kept in."""
    pairs = [f"x-access-token:{t}" for t in tokens] + [
        f"{REGISTRY_USER}:{p}" for p in (REGISTRY_PASSWORD, WRONG_PASSWORD)
    ]
    sent = [base64.b64encode(text.encode()).decode() for text in (*pairs, *tokens)]
    kept = [*tokens, *pems, *bearers, REGISTRY_PASSWORD, WRONG_PASSWORD, WEBHOOK_SECRET]
    return {"as sent": " ".join(sent), "as kept": "\n".join(kept)}


def run_verbs(world: GitHubFlavour, root: Path) -> dict[str, str]:
    """`status`, `plan`, `history` and `doctor` as commands, with the same identity."""
    settings = world.settings
    options = [
        "--forge", "github",
        "--github-repo", str(settings.github_repo),
        "--github-url", settings.github_url,
        "--github-token-file", str(settings.github_token_file),
        "--repo", settings.repo,
        "--cache-dir", str(root / "verbs"),
    ]  # fmt: skip
    (root / "wrong-token").write_text(WRONG_TOKEN + "\n")
    wrong = [*options[:6], "--github-token-file", str(root / "wrong-token"), *options[8:]]
    exe = Path(sys.executable).with_name("reconciler")
    outputs: dict[str, str] = {}
    for verb, given in (
        (["status"], options),
        (["status", "--json"], options),
        (["plan", "--json"], options),
        (["history"], options),
        (["doctor"], options),
        (["doctor"], [*wrong[:-1], str(root / "verbs-wrong")]),  # it fails, and says why
    ):
        done = subprocess.run(
            [str(exe), *verb, *given], capture_output=True, timeout=120, check=False
        )
        said = f"{done.returncode}\n{done.stdout.decode()}\n{done.stderr.decode()}"
        outputs[f"{' '.join(verb)} ({len(outputs)})"] = said
        assert done.returncode in (0, 1), said
    assert "refused the token" in said, said
    return outputs


def test_the_daemon_process_as_a_github_app_with_webhooks(tmp_path: Path) -> None:
    private, public = _rsa_pem()
    (tmp_path / "app.pem").write_text(private)
    (tmp_path / "webhook-secret").write_text(WEBHOOK_SECRET + "\n")
    places = Places()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "daemon.log"
    services = SampleServices(utc_now).start()
    with (
        auth_registry(tmp_path / "oci") as registry,
        serve_github(tmp_path / "config.git", owner=ORG, name="config") as sim,
    ):
        installation = sim.add_app(4242, AUTHOR, public)
        owner_token = sim.add_user(LOGIN)
        sim.add_team(TEAM.split("/")[1], (LOGIN,))
        sim.add_team("platform", ())
        sim.add_ruleset("prod reviews", require_code_owner_review=True)
        sim.commit("main", prepare(seed_files(services.base_url, TIMING), registry.image))

        def sync() -> None:
            """Deploy what main pins, as Argo CD would."""
            tip = sim.tip("main")
            assert tip is not None
            for env in ("dev", "staging", "prod"):
                services.deploy(env, APP, pin_of(sim.read(tip, overlay(env)), overlay(env)))

        def wait(what: str, done: Callable[[], bool]) -> None:
            """Keep the environments deployed until ``done``; fail after a generous bound."""
            deadline = time.monotonic() + DEADLINE
            while not done():
                assert daemon.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"{what}:\n{log.read_text()[-3000:]}"
                sync()
                threading.Event().wait(0.1)  # pacing of the poll, not a wait for an event

        sync()
        exe = Path(sys.executable).with_name("reconciler")
        command = [
            str(exe), "run", "--log-format", "json", "--listen", f"127.0.0.1:{port}",
            "--forge", "github", "--github-repo", f"{ORG}/config", "--github-url", sim.url,
            "--github-app-id", "4242", "--github-app-key-file", str(tmp_path / "app.pem"),
            "--github-installation-id", str(installation),
            "--webhook-secret-file", str(tmp_path / "webhook-secret"),
            "--repo", str(sim.git_path), "--cache-dir", str(tmp_path / "daemon"),
        ]  # fmt: skip
        environ = {**os.environ, "DOCKER_CONFIG": str(registry.docker_config)}
        with log.open("wb") as out:
            daemon = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environ)
        try:
            wait(
                "the prod pull request",
                lambda: any(p.head.startswith("promote/prod/") for p in sim.world.pulls.values()),
            )
            (number,) = [
                p.number for p in sim.world.pulls.values() if p.head.startswith("promote/prod/")
            ]
            # Two 502s, retried (a cycle failing on 502s is the in-process test's: it costs
            # the retries' whole backoff); the metrics below show they were served.
            sim.faults.fail_next(2, status=502)
            wait("the 502s served", lambda: sim.faults.server_errors == 0)
            # A secondary rate limit: PyGithub logs its retry (at INFO, through its own logger).
            sim.faults.secondary_limit(1, retry_after=1)
            wait("the rate limit served", lambda: sim.faults.secondary_limits == 0)
            github.Github(base_url=sim.url, auth=Auth.Token(owner_token)).get_repo(
                f"{ORG}/config"
            ).get_pull(number).create_review(event="APPROVE", body="lgtm")
            secret = WEBHOOK_SECRET.encode()
            body = webhooks.example("pull_request_review", "submitted")
            signed = webhooks.delivery("pull_request_review", body, secret, "delivery-1")
            answers = {
                "webhook signed": http(f"{base}/webhook", body, signed),
                "webhook replayed": http(f"{base}/webhook", body, signed),
                "webhook forged": http(
                    f"{base}/webhook", body, webhooks.delivery("push", body, b"not the secret")
                ),
                "webhook unsigned": http(f"{base}/webhook", body, {"X-GitHub-Event": "push"}),
                "webhook GET": http(f"{base}/webhook"),
            }
            assert answers["webhook signed"].startswith("202"), answers
            assert answers["webhook forged"].startswith("401"), answers
            wait("the prod merge", lambda: sim.pull(number).merged)
            for path in ("/metrics", "/healthz", "/readyz"):
                answers[path] = http(base + path)
            # Which request met the 502s depends on where the daemon's cycle was: a poll
            # (GET) or the label write right after opening the pull (POST, not retried).
            assert re.search(
                r'reconciler_forge_requests_total\{method="[A-Z]+",status="502"\} [1-9]',
                answers["/metrics"],
            ), answers["/metrics"]
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
            services.stop()
        minted = [t for t, held in sim.world.tokens.items() if held.installation is not None]
        places.add_simulator(sim)
        places.add_git(sim.git_path, "config repo")
    output = log.read_text()
    assert daemon.returncode == 0, output[-3000:]
    for index, line in enumerate(output.splitlines()):
        places.add(f"daemon output line {index}", line)
        # Every line is the daemon's own JSON: no library prints past its log handler.
        assert json.loads(line)["logger"].startswith("reconciler"), line
    for name, answer in answers.items():
        places.add(name, answer)
    places.add_files(tmp_path / "daemon", "daemon clone")
    assert minted  # the App's installation tokens are secrets too
    secrets = needles(minted, [private], [REGISTRY_PASSWORD], WEBHOOK_SECRET, registry.issued)
    report(places, secrets, holders(minted, [private], registry.issued))


def test_pygithub_has_no_handler_of_its_own_past_the_daemons() -> None:
    """Regression: PyGithub's import-time StreamHandler printed its records raw on stderr."""
    import reconciler.forge.github.client  # noqa: F401 - importing it is the point

    assert [
        h for h in logging.getLogger("github").handlers if type(h) is logging.StreamHandler
    ] == []
