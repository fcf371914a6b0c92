"""`reconciler doctor` on the `[notify.NAME]` sinks: each one's URL (and a webhook's key)
can be read, said without showing it; a sink that cannot is a warning with its fix, and
nothing is sent."""

from __future__ import annotations

from pathlib import Path

from reconciler.clock import utc_now
from reconciler.demo.flow import QUICK, seed_files
from reconciler.gitrepo.port import Signature
from reconciler.gitrepo.pygit2_adapter import create_repository
from tests.cli.test_validate import run

ME = Signature("platform", "platform@example.com", utc_now().replace(microsecond=0))
TOKEN = "T0001/B0001/doctorSecretToken"


def test_each_sink_is_checked_without_showing_its_url(tmp_path: Path) -> None:
    (tmp_path / "slack-url").write_text(f"https://hooks.slack.com/services/{TOKEN}\n")
    (tmp_path / "not-a-url").write_text("hooks.slack.com/services/x\n")
    tables = f"""
[notify.ops]
kind = "slack"
url_from = "file:{tmp_path / "slack-url"}"

[notify.teams]
kind = "teams"
url_from = "file:{tmp_path / "missing"}"

[notify.audit]
kind = "webhook"
url_from = "file:{tmp_path / "slack-url"}"
secret_from = "env:RECONCILER_TEST_UNSET_HMAC_KEY"

[notify.typo]
kind = "slack"
url_from = "file:{tmp_path / "not-a-url"}"
"""
    files = seed_files("http://127.0.0.1:9", QUICK)
    files["promotions.toml"] += tables.encode()
    create_repository(tmp_path / "config.git", files, branch="main", message="seed", author=ME)

    result = run(
        "doctor", "--repo", str(tmp_path / "config.git"), "--cache-dir", str(tmp_path / "c")
    )

    assert result.returncode == 0, result.stdout  # warnings: promotions go on without them
    lines = result.stdout.splitlines()
    assert (
        f"[ok  ] notify.ops (slack) can be sent to: the URL is read from "
        f"file:{tmp_path / 'slack-url'} (not shown)"
    ) in lines
    assert (
        "[warn] notify.teams (teams) can be sent to: cannot read "
        f"file:{tmp_path / 'missing'}: No such file or directory" in lines
    )
    assert (
        "[warn] notify.audit (webhook) can be sent to: env:RECONCILER_TEST_UNSET_HMAC_KEY is "
        "empty or unset"
    ) in lines
    assert (
        f"[warn] notify.typo (slack) can be sent to: file:{tmp_path / 'not-a-url'} does not "
        "hold an http(s) URL" in lines
    )
    assert (
        "fix: give the daemon what [notify.audit]'s url_from and secret_from names" in result.stdout
    )
    assert "doctorSecretToken" not in result.stdout + result.stderr
