"""`reconciler demo --quick`, run as users run it, so the demo cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from reconciler import promotions, units
from reconciler.demo import images, ledger
from reconciler.demo.flow import NEW_DIGEST, OUTSIDER
from reconciler.forge.local import LocalForge
from reconciler.forge.records import REVIEWED_BY
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from reconciler.model import short
from reconciler.overlays import pins
from tests.e2e.world import OWNER, TEAM, overlay, pin_of


def test_the_quick_demo_blocks_a_non_owner_and_merges_after_the_owner(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("reconciler")
    done = subprocess.run(
        [str(exe), "demo", "--quick", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    opened = re.search(r"prod request #(\d+) is open; review requested from .*" + TEAM, done.stdout)
    assert opened is not None, done.stdout
    number = opened[1]

    def first(pattern: str) -> int:
        found = [i for i, line in enumerate(lines) if re.search(pattern, line)]
        assert found, f"no line matches {pattern!r} in:\n{done.stdout}"
        return found[0]

    # The request says what the promotion changes, from the images' labels.
    opened_at = first(rf"prod request #{number} is open")
    assert first(r"^    - version: `1\.4\.0` -> `1\.5\.0`$") == opened_at + 2
    waiting = first(
        rf"blocked: \[awaiting-review\] request #{number} waits for approval from a code owner"
    )
    outsider = first(rf"{OUTSIDER} approves #{number} on head")
    refused = first(
        rf"still blocked: \[awaiting-review\] request #{number} .*"
        rf"\(approvals from {OUTSIDER} do not count: not code owners\)"
    )
    owner = first(rf"{OWNER} approves #{number} on head")
    merged = first(rf"daemon: merged #{number} as [0-9a-f]{{12}}")
    running = first(rf"prod now runs {NEW_DIGEST[:15]}")
    assert waiting < outsider < refused < owner < merged < running
    assert first(r"^reconciler_policy_valid 1\.0$") > running
    assert first(r'^reconciler_drift\{app="order-gateway",env="prod"\} 0\.0$') > running

    # One message per event to each local receiver: Slack, Teams and the signed webhook
    # got the same events (opened, merged and live for staging and prod, and prod's wait for
    # review), none twice.
    told = first(r"^7\. notifications, one message per event")
    blocks: dict[str, list[str]] = {}
    for line in lines[told + 1 :]:
        if re.match(r"^    \w+: \d+ messages$", line):
            blocks[line.split(":")[0].strip()] = []
        elif line.startswith("      ") and blocks:
            blocks[list(blocks)[-1]].append(line.strip())
        else:
            break
    assert list(blocks) == ["slack", "teams", "webhook"], done.stdout
    assert blocks["slack"] == blocks["teams"] == blocks["webhook"]
    assert len(set(blocks["slack"])) == len(blocks["slack"]) == 7, blocks["slack"]
    assert any(
        h.startswith("Live: order-gateway runs") and h.endswith("in prod") for h in blocks["slack"]
    )

    # The ledger, two images as one unit: CI rebuilt the api only, and the set dev pinned
    # (the new api, the same migrations) went to staging and prod whole, in one request each.
    moved = units.key({**ledger.RUNNING, "api": images.LEDGER_API_BUILT.digest})
    unit_step = first(r"^8\. ledger ships two images as one unit")
    listed = first(r"^    - images, promoted together as one unit:$")
    parts = units.parts(moved)
    assert parts is not None
    for part, digest in parts.items():
        assert first(rf"^      - {part}: `{ledger.IMAGES[part]}@{digest}`$") > listed
    assert unit_step < listed < first(rf"prod now runs ledger {re.escape(short(moved))}$")
    assert [
        line
        for line in lines
        if re.search(r"now runs ledger (?!" + re.escape(short(moved)) + ")", line)
    ] == []

    # The config repo the demo leaves behind tells the same story.
    repo = Pygit2ConfigRepo.open(str(tmp_path / "demo/config-repo.git"), tmp_path / "reader")
    tip = repo.tip("main")
    assert tip is not None
    assert pin_of(repo.read(tip, overlay("prod")), overlay("prod")) == NEW_DIGEST
    record = next(r for r in LocalForge(repo, "main").records() if r.number == int(number))
    assert record.state == "merged"
    assert record.merged_commit is not None
    merge = repo.commit_info(record.merged_commit)
    assert merge.trailer(promotions.IMAGE_DIGEST) == NEW_DIGEST
    assert [t.value for t in merge.trailers if t.key == REVIEWED_BY] == [OWNER]
    for env in ("dev", "staging", "prod"):
        data = repo.read(tip, overlay(env))
        assert data is not None
        pinned = pins.read_pin("kustomize", data, overlay(env), ledger.app())
        assert pinned is not None
        assert pinned.digest == moved
