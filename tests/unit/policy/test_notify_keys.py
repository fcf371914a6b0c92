"""`[notify.NAME]` mistakes, each reported at its FILE:LINE:COL with what to do; a URL in
place of where to read it is refused (the URL is a credential)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler.policy import load_policy
from reconciler.policy.notify import SecretRef, SlackSink, WebhookSink

HEAD = """\
version = 1
[apps.shop]
image = "registry.example.com/shop"
[environments.staging]
overlay = "overlays/staging"
[environments.prod]
follows = "staging"
overlay = "overlays/prod"
"""  # 8 lines: the sink's table starts at line 9


def problems(table: str) -> list[str]:
    return [str(d) for d in load_policy((HEAD + table).encode()).diagnostics]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            '[notify.ops]\nkind = "slack"\nurl_from = "https://hooks.slack.com/services/T/B/x"\n',
            "promotions.toml:11:12: notify.ops.url_from: the URL is a credential and must not "
            "be in the policy: put it in an environment variable or a mounted file and write "
            '"env:VARIABLE" or "file:/path"',
        ),
        (
            '[notify.ops]\nkind = "slack"\nurl_from = "file:relative/path"\n',
            'promotions.toml:11:12: notify.ops.url_from: expected "env:VARIABLE" (letters, '
            'digits, "_") or "file:/absolute/path", got "file:relative/path"',
        ),
        (
            '[notify.ops]\nkind = "slak"\nurl_from = "env:URL"\n',
            'promotions.toml:10:8: notify.ops.kind: expected one of "slack", "teams", '
            '"webhook", got string "slak"; did you mean "slack"?',
        ),
        (
            '[notify.ops]\nkind = "slack"\nurl_from = "env:URL"\nevents = ["merged", "lvie"]\n',
            'promotions.toml:12:21: notify.ops.events: no event "lvie"; did you mean "live"?',
        ),
        (
            '[notify.ops]\nkind = "slack"\nurl_from = "env:URL"\nenvironments = ["prd"]\n',
            'promotions.toml:12:17: notify.ops.environments: no environment "prd"; did you '
            'mean "prod"?',
        ),
        (
            '[notify.ops]\nkind = "slack"\nurl_from = "env:URL"\napps = ["shoop"]\n',
            'promotions.toml:12:9: notify.ops.apps: no app "shoop"; did you mean "shop"?',
        ),
        (
            '[notify.hook]\nkind = "webhook"\nurl_from = "env:URL"\n',
            'promotions.toml:9:1: [notify.hook] is missing the required key "secret_from"',
        ),
        (
            '[notify.ops]\nkind = "teams"\nurl_from = "env:URL"\ntimeout = "1m"\n',
            'promotions.toml:12:11: notify.ops.timeout: "1m" is too long; the maximum is 30s',
        ),
    ],
)
def test_a_mistake_is_reported_at_its_place(table: str, expected: str) -> None:
    assert problems(table) == [expected]


def test_a_valid_sink_is_typed() -> None:
    loaded = load_policy(
        (
            HEAD
            + '[notify.ops]\nkind = "slack"\nurl_from = "env:SLACK_URL"\nenvironments = ["prod"]\n'
            + '[notify.hook]\nkind = "webhook"\nurl_from = "file:/run/url"\n'
            + 'secret_from = "file:/run/key"\nblocked_after = "30m"\n'
        ).encode()
    )
    assert loaded.policy is not None, loaded.diagnostics
    ops, hook = loaded.policy.notify["ops"], loaded.policy.notify["hook"]
    assert isinstance(ops, SlackSink)
    assert (ops.url_from, ops.environments, ops.events[0]) == (
        SecretRef("env", "SLACK_URL"),
        ("prod",),
        "opened",
    )
    assert isinstance(hook, WebhookSink)
    assert (hook.secret_from, hook.blocked_after) == (
        SecretRef("file", "/run/key"),
        timedelta(minutes=30),
    )
