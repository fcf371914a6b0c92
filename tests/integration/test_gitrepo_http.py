"""The pygit2 adapter over smart HTTP (git http-backend on loopback): tokens, shallow, lease."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pygit2
import pytest

from reconciler.errors import PermanentError, PolicyError, TransientError
from reconciler.gitrepo.credentials import HttpsToken
from reconciler.gitrepo.port import ConfigRepo, LeaseRejected, Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo
from tests.contract import test_gitrepo_contract as contract
from tests.contract.gitcli import GitCli
from tests.contract.gitworld import EPOCH, GitWorld, World
from tests.contract.races import race_two_writers
from tests.servers.git_http import GitHttp, serve_git

TOKEN = "ghs_S3cretTokenValue_0123456789"
BOT = Signature("Reconciler", "bot@example.com", datetime(2024, 6, 1, 12, 0, tzinfo=UTC))
BASE = {
    "promotions.toml": b"version = 1\n",
    "overlays/prod/app/kustomization.yaml": b"digest: sha256:aa\n",
}
PROD = "overlays/prod/app/kustomization.yaml"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitHttp]:
    with serve_git(tmp_path, token=TOKEN) as running:
        yield running


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "git-token"
    path.parent.mkdir()
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def world(tmp_path: Path, server: GitHttp, token_file: Path) -> GitWorld:
    world = GitWorld(tmp_path, credentials=HttpsToken(file=token_file))
    world.url = server.url("remote.git")
    world.seed(BASE)
    return world


def update(repo: ConfigRepo, changes: dict[str, bytes | None], branch: str = "main") -> str:
    outcome = repo.update_branch(
        branch, lambda _view: changes, message="edit", author=BOT, committer=BOT
    )
    assert outcome.commit is not None
    return outcome.commit


def all_bytes_under(folder: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def install_hook(world: GitWorld, name: str, script: str) -> None:
    hook = world.path / "hooks" / name
    hook.write_text("#!/bin/sh\n" + script)
    hook.chmod(0o755)


def test_clone_and_push_with_a_token_that_is_never_stored(
    tmp_path: Path, world: GitWorld, server: GitHttp, token_file: Path
) -> None:
    cache = tmp_path / "cache"
    repo = Pygit2ConfigRepo.open(world.url, cache, credentials=HttpsToken(file=token_file))

    commit = update(repo, {PROD: b"digest: sha256:cc\n"})

    assert world.remote_tip("main") == commit
    assert world.remote_files(commit)[PROD] == b"digest: sha256:cc\n"
    sent = {a for a in server.log.authorizations if a}
    basic = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert sent == {basic}  # the token travelled only in the Authorization header
    stored = all_bytes_under(cache)
    assert TOKEN.encode() not in stored
    assert basic.split()[1].encode() not in stored
    (clone,) = cache.iterdir()
    assert pygit2.Repository(str(clone)).remotes["origin"].url == server.url("remote.git")


def test_a_wrong_token_fails_naming_its_file_not_its_value(
    tmp_path: Path, world: GitWorld, token_file: Path
) -> None:
    wrong = tmp_path / "secrets" / "wrong-token"
    wrong.write_text("wrong-token-value-42")

    with pytest.raises(TransientError) as failed:
        Pygit2ConfigRepo.open(world.url, tmp_path / "cache", credentials=HttpsToken(file=wrong))

    message = str(failed.value)
    assert f"the remote refused the token in file {wrong}" in message
    assert "wrong-token-value-42" not in message
    assert TOKEN not in message
    assert failed.value.__cause__ is None
    assert failed.value.__context__ is None or TOKEN not in str(failed.value.__context__)


def test_a_rotated_token_file_is_read_at_each_connection(
    tmp_path: Path, world: GitWorld, token_file: Path
) -> None:
    repo = Pygit2ConfigRepo.open(
        world.url, tmp_path / "cache", credentials=HttpsToken(file=token_file)
    )
    token_file.write_text("revoked-value\n")

    with pytest.raises(TransientError, match="refused the token in file") as failed:
        update(repo, {PROD: b"x\n"})
    assert "revoked-value" not in str(failed.value)

    token_file.write_text(TOKEN)
    update(repo, {PROD: b"x\n"})


def test_reading_one_remote_branch_with_a_revoked_token_names_the_file_only(
    tmp_path: Path, world: GitWorld, token_file: Path
) -> None:
    repo = Pygit2ConfigRepo.open(
        world.url, tmp_path / "cache", credentials=HttpsToken(file=token_file)
    )
    assert repo.remote_tip("main") == world.remote_tip("main")
    token_file.write_text("revoked-value\n")

    with pytest.raises(TransientError) as failed:
        repo.remote_tip("main")

    message = str(failed.value)
    assert message.startswith(f"reading a branch of {world.url}: the remote refused the token")
    assert "revoked-value" not in message
    assert TOKEN not in message


def test_a_token_from_an_environment_variable(tmp_path: Path, world: GitWorld) -> None:
    token = HttpsToken(env="RECONCILER_GIT_TOKEN")

    repo = Pygit2ConfigRepo.open(
        world.url, tmp_path / "cache", credentials=token, environ={"RECONCILER_GIT_TOKEN": TOKEN}
    )
    assert repo.tip("main") == world.remote_tip("main")

    with pytest.raises(PermanentError, match="environment variable RECONCILER_GIT_TOKEN"):
        Pygit2ConfigRepo.open(world.url, tmp_path / "cache2", credentials=token, environ={})


def test_a_protected_remote_without_credentials_says_what_to_configure(
    tmp_path: Path, world: GitWorld
) -> None:
    with pytest.raises(TransientError, match="asks for an HTTPS token, and none is configured"):
        Pygit2ConfigRepo.open(world.url, tmp_path / "cache")


def test_a_url_carrying_a_token_is_refused_without_echoing_it(
    tmp_path: Path, server: GitHttp
) -> None:
    url = server.url("remote.git").replace("http://", f"http://user:{TOKEN}@")

    with pytest.raises(PolicyError, match="carries credentials") as refused:
        Pygit2ConfigRepo.open(url, tmp_path / "cache")
    assert TOKEN not in str(refused.value)


def test_a_shallow_clone_deepens_when_history_needs_it(
    tmp_path: Path, world: GitWorld, token_file: Path
) -> None:
    first = world.remote_tip("main")
    assert first is not None
    for step in range(30):
        world.seed({**BASE, "docs/changelog.md": f"entry {step}\n".encode()})
    cache = tmp_path / "cache"
    repo = Pygit2ConfigRepo.open(world.url, cache, credentials=HttpsToken(file=token_file), depth=2)
    (clone,) = cache.iterdir()
    assert pygit2.Repository(str(clone)).is_shallow

    pinned = update(repo, {"overlays/staging/app/kustomization.yaml": b"new\n"})
    GitCli(tmp_path / "home")("--git-dir", str(world.path), "fsck", "--strict")
    # A walk handed to another process cannot fetch: it gives up, and this one deepens.
    task = repo.file_histories_task(pinned, [PROD], 5)
    assert task is not None
    assert task() is None
    found = repo.history(pinned, PROD, limit=5)

    assert [c.id for c in found] == [first]  # 31 commits back, past the first boundary
    assert found[0].time == EPOCH  # the overlay commit time, read from the deepened clone


def test_the_server_side_compare_and_swap_keeps_a_concurrent_update(
    tmp_path: Path, world: GitWorld
) -> None:
    base = world.remote_tip("main")
    assert base is not None
    repo = world.client()
    branch = "promote/prod/app"
    mine = repo.replace_branch(
        branch, lambda _v: {PROD: b"one\n"}, base=base, expected_old=None,
        message="promote", author=BOT, committer=BOT,
    )  # fmt: skip
    theirs = world.seed({**BASE, PROD: b"theirs\n"}, branch="elsewhere")
    # Another writer moves the branch after our push checked the lease but before the
    # server updates the ref: only the server's compare-and-swap can stop us now.
    install_hook(
        world,
        "update",
        f'[ "$1" = refs/heads/{branch} ] && git update-ref refs/heads/{branch} {theirs}\nexit 0\n',
    )

    with pytest.raises(LeaseRejected) as refused:
        repo.replace_branch(
            branch, lambda _v: {PROD: b"two\n"}, base=base, expected_old=mine.commit,
            message="promote", author=BOT, committer=BOT,
        )  # fmt: skip

    assert world.remote_tip(branch) == theirs
    assert refused.value.actual == theirs


def test_a_fast_forward_that_loses_at_the_server_is_reapplied(
    tmp_path: Path, world: GitWorld
) -> None:
    repo = world.client()
    theirs = world.seed({**BASE, "other.txt": b"theirs\n"}, branch="elsewhere")
    marker = tmp_path / "hook-ran"
    install_hook(
        world,
        "update",
        f"[ -e {marker} ] && exit 0\ntouch {marker}\ngit update-ref refs/heads/main {theirs}\n",
    )

    outcome = repo.update_branch(
        "main", lambda _v: {PROD: b"mine\n"}, message="m", author=BOT, committer=BOT
    )

    assert outcome.attempts == 2
    assert outcome.commit == world.remote_tip("main")
    assert outcome.commit is not None
    files = world.remote_files(outcome.commit)
    assert files["other.txt"] == b"theirs\n"
    assert files[PROD] == b"mine\n"


def test_a_push_the_server_refuses_is_permanent_and_quotes_the_server(
    world: GitWorld,
) -> None:
    repo = world.client()
    tip = world.remote_tip("main")
    install_hook(world, "update", 'echo "main is protected" >&2\nexit 1\n')

    with pytest.raises(PermanentError, match="refused the update of branch 'main'"):
        update(repo, {PROD: b"x\n"})
    assert world.remote_tip("main") == tip


def test_two_writers_racing_over_http_both_land(tmp_path: Path) -> None:
    world = GitWorld(tmp_path / "race")
    with serve_git(tmp_path / "race", token=None) as open_server:
        world.url = open_server.url("remote.git")
        race_two_writers(world)


@pytest.mark.parametrize(
    "case",
    [
        contract.test_the_loser_of_a_race_reapplies_its_edit_on_the_new_tip,
        contract.test_the_retry_budget_is_bounded,
        contract.test_replace_branch_forces_a_rolling_branch_under_a_lease,
        contract.test_replace_branch_with_a_stale_lease_is_refused,
        contract.test_a_force_pushed_branch_is_followed,
        contract.test_fetch_follows_new_and_deleted_branches,
        contract.test_remote_tip_reads_one_branch_now_and_leaves_the_clone_as_fetched,
    ],
    ids=lambda case: case.__name__.removeprefix("test_"),
)
def test_write_contract_over_http(tmp_path: Path, case: Callable[[World], None]) -> None:
    world = GitWorld(tmp_path)
    with serve_git(tmp_path, token=None) as open_server:
        world.url = open_server.url("remote.git")
        case(world)
