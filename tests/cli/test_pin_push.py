"""`reconciler pin --push` against a bare config repo on disk, through the daemon's own
update path; and the daemon's tag-only hint, whose command, run as printed, pins the overlay."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.cli import _parser
from reconciler.forge.github.app import InstallationTokens
from reconciler.gitrepo.port import Edit, PushOutcome, ReadView, Signature
from reconciler.gitrepo.pygit2_adapter import Pygit2ConfigRepo, create_repository
from reconciler.gitrepo.trailers import Trailer
from reconciler.overlays import pins
from reconciler.policy.model import App, HelmKeys
from reconciler.settings import Settings
from reconciler.verbs.pin import pin
from reconciler.wiring import Factories, credentials, repo_url
from tests.cli.test_pin import DEV, ECR, EXAMPLES, HELM_VALUES, OLD, D

POLICY = f"""\
version = 1

[apps.order-gateway]
image = "{ECR}"

[environments.dev]
overlay = "overlays/dev"

[environments.staging]
follows = "dev"
overlay = "overlays/staging"

[environments.prod]
follows = "staging"
overlay = "overlays/prod"
require_codeowners = true
"""
HELM_POLICY = """\
version = 1

[apps.api]
image = "registry.example.com/team/api"

[environments.dev]
format = "helm"
overlay = "values/dev/{app}.yaml"

[environments.prod]
follows = "dev"
format = "helm"
overlay = "values/prod/{app}.yaml"
"""
WHO = Signature("platform-team", "platform@example.com", datetime(2026, 12, 1, tzinfo=UTC))


def example_files(policy: str = POLICY) -> dict[str, bytes]:
    """The order-gateway example with a policy that needs no live services."""
    folder = EXAMPLES / "order-gateway"
    files = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    files["promotions.toml"] = policy.encode()
    return files


def helm_files() -> dict[str, bytes]:
    return {
        "promotions.toml": HELM_POLICY.encode(),
        "values/dev/api.yaml": HELM_VALUES.encode(),
        "values/prod/api.yaml": HELM_VALUES.encode(),
    }


def bare(path: Path, files: Mapping[str, bytes]) -> Path:
    create_repository(path, files, branch="main", message="seed", author=WHO)
    return path


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECONCILER_", "GIT_"))}
    env.update(
        RECONCILER_CACHE_DIR=str(tmp_path / "cache"),
        GIT_AUTHOR_NAME="CI Bot",
        GIT_AUTHOR_EMAIL="ci@example.com",
    )
    return env


def run(
    args: Sequence[str], tmp_path: Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("reconciler")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        cwd=cwd or tmp_path,
        env=environment(tmp_path),
        check=False,
        timeout=120,
    )


def reader(remote: Path, tmp_path: Path) -> Pygit2ConfigRepo:
    """A fresh clone of ``remote``: what is on the remote now."""
    return Pygit2ConfigRepo.open(str(remote), tmp_path / f"reader-{len(list(tmp_path.iterdir()))}")


def test_push_commits_the_pin_on_the_base_branch(tmp_path: Path) -> None:
    remote = bare(tmp_path / "config.git", example_files())
    seed = reader(remote, tmp_path).tip("main")
    ref = f"{ECR}:b7e2f90@{D}"
    result = run(
        ["pin", "--push", "--repo", str(remote), "--app", "order-gateway", "--env", "dev", ref],
        tmp_path,
    )

    assert (result.returncode, result.stderr) == (0, "")
    repo = reader(remote, tmp_path)
    tip = repo.tip("main")
    assert tip is not None
    summary, pushed = result.stdout.splitlines()
    assert summary == f"{DEV}: order-gateway in dev: {ECR}:a3f8c12@{OLD} -> {ref}"
    assert pushed == f"pushed {tip[:12]} to main of {remote}"
    info = repo.commit_info(tip)
    assert info.parents == (seed,)
    assert (info.author.name, info.author.email) == ("CI Bot", "ci@example.com")
    assert info.title == "dev: pin order-gateway to sha256:b7e2f90c"
    assert "order-gateway in dev now pins " + ref in info.message
    assert [c.path for c in repo.changed_paths(seed, tip)] == [DEV]
    assert seed is not None
    before = repo.read(seed, DEV)
    assert before is not None
    assert repo.read(tip, DEV) == before.replace(b'"a3f8c12"', b'"b7e2f90"').replace(
        OLD.encode(), D.encode()
    )

    again = run(
        ["pin", "--push", "--repo", str(remote), "--app", "order-gateway", "--env", "dev", ref],
        tmp_path,
    )
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout == f"{DEV}: order-gateway in dev already pins {ref}\n"
    assert reader(remote, tmp_path).tip("main") == tip


def test_push_pins_helm_values(tmp_path: Path) -> None:
    remote = bare(tmp_path / "helm.git", helm_files())
    ref = f"registry.example.com/team/api:1.1.0@{D}"
    result = run(
        ["pin", "--push", "--repo", f"file://{remote}", "--app", "api", "--env", "dev", ref],
        tmp_path,
    )
    assert (result.returncode, result.stderr) == (0, "")
    repo = reader(remote, tmp_path)
    tip = repo.tip("main")
    assert tip is not None
    data = repo.read(tip, "values/dev/api.yaml")
    assert data is not None
    app = App(name="api", image="registry.example.com/team/api", helm=HelmKeys())
    pinned = pins.read_pin("helm", data, "values/dev/api.yaml", app)
    assert pinned is not None
    assert pinned.digest == D
    assert repo.read(tip, "values/prod/api.yaml") == HELM_VALUES.encode()


def test_push_dry_run_pushes_nothing(tmp_path: Path) -> None:
    remote = bare(tmp_path / "config.git", example_files())
    seed = reader(remote, tmp_path).tip("main")
    result = run(
        [
            "pin",
            "--push",
            "--dry-run",
            "--repo",
            str(remote),
            "--app",
            "order-gateway",
            "--env",
            "dev",
            f"{ECR}:b7e2f90@{D}",
        ],
        tmp_path,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert f"+    digest: {D}" in result.stdout.splitlines()
    assert reader(remote, tmp_path).tip("main") == seed


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("--env", "prod", f"{ECR}:b7e2f90@{D}"),
            1,
            "prod requires a code owner's review (require_codeowners)",
        ),
        (("--env", "dev", f"{ECR}:b7e2f90@sha256:abc"), 1, "invalid digest 'sha256:abc'"),
        (("--env", "dev", "--base-branch", "trunk", f"{ECR}:v1@{D}"), 1, "no branch 'trunk'"),
    ],
)
def test_push_refusals_push_nothing(
    tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    remote = bare(tmp_path / "config.git", example_files())
    seed = reader(remote, tmp_path).tip("main")
    result = run(
        ["pin", "--push", "--repo", str(remote), "--app", "order-gateway", *args], tmp_path
    )
    assert result.returncode == code
    assert message in result.stderr
    assert reader(remote, tmp_path).tip("main") == seed


def test_push_refuses_a_work_tree_as_the_remote(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    result = run(
        [
            "pin",
            "--push",
            "--repo",
            str(checkout),
            "--app",
            "a",
            "--env",
            "dev",
            f"r.example/a:1@{D}",
        ],
        tmp_path,
    )
    assert result.returncode == 2
    assert "is a work tree: --push writes the remote's base branch" in result.stderr


def test_push_needs_a_repo(tmp_path: Path) -> None:
    result = run(["pin", "--push", "--app", "a", "--env", "dev", f"r.example/a:1@{D}"], tmp_path)
    assert result.returncode == 2
    assert "--push needs --repo" in result.stderr


class RacingRepo(Pygit2ConfigRepo):
    """The daemon's adapter, with another writer pushing while the first edit is made."""

    race: Callable[[], None] | None = None

    def update_branch(
        self,
        branch: str,
        edit: Edit,
        *,
        message: str,
        author: Signature,
        committer: Signature,
        trailers: Sequence[Trailer] = (),
    ) -> PushOutcome:
        def racing(view: ReadView) -> Mapping[str, bytes | None] | None:
            race, RacingRepo.race = RacingRepo.race, None
            if race is not None:
                race()
            return edit(view)

        return super().update_branch(
            branch, racing, message=message, author=author, committer=committer, trailers=trailers
        )


def test_a_concurrent_push_is_retried_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another writer changes the same overlay between the pin's read and its push: the
    push is refused as a non-fast-forward, the edit is made again on the new tip, and both
    changes are on the branch."""
    remote = bare(tmp_path / "config.git", example_files())
    other = Pygit2ConfigRepo.open(str(remote), tmp_path / "other")

    def other_writer() -> None:
        def edit(view: ReadView) -> dict[str, bytes | None]:
            data = view.read(DEV)
            assert data is not None
            return {DEV: data.replace(b"value: 1", b"value: 2")}

        other.update_branch("main", edit, message="dev: two replicas", author=WHO, committer=WHO)

    def open_racing(settings: Settings, app: InstallationTokens | None) -> Pygit2ConfigRepo:
        url, creds = repo_url(settings), credentials(settings, app)
        return RacingRepo.open(url, settings.cache_dir, credentials=creds)

    RacingRepo.race = other_writer
    ref = f"{ECR}:b7e2f90@{D}"
    args = _parser().parse_args(
        [
            "pin",
            "--push",
            "--repo",
            str(remote),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--app",
            "order-gateway",
            "--env",
            "dev",
            ref,
        ]
    )
    code = pin(args, Factories(open_repo=open_racing))

    out = capsys.readouterr()
    assert (code, out.err) == (0, "")
    assert RacingRepo.race is None  # the other writer did push
    repo = reader(remote, tmp_path)
    tip = repo.tip("main")
    assert tip is not None
    assert out.out.splitlines()[-1] == (
        f"pushed {tip[:12]} to main of {remote} (attempt 2: the branch had moved)"
    )
    info = repo.commit_info(tip)
    assert repo.commit_info(info.parents[0]).title == "dev: two replicas"
    data = repo.read(tip, DEV)
    assert data is not None
    assert b"value: 2" in data
    assert f"digest: {D}".encode() in data


def hint_command(remote: Path, tmp_path: Path) -> str:
    """The command the tag-only block of `reconciler plan` names."""
    result = run(["plan", "--repo", str(remote)], tmp_path)
    assert result.returncode == 0, result.stderr
    found = re.findall(r"\[tag-only\].*\((reconciler pin [^)]*)\)", result.stdout)
    assert len(found) == 1, result.stdout
    return str(found[0])


def test_the_tag_only_hint_pins_a_kustomize_overlay_as_printed(tmp_path: Path) -> None:
    files = example_files()
    files[DEV] = files[DEV].replace(f"    digest: {OLD}\n".encode(), b"")
    remote = bare(tmp_path / "config.git", files)
    command = hint_command(remote, tmp_path)
    assert command == f"reconciler pin --app order-gateway --env dev {ECR}:a3f8c12@sha256:..."

    checkout = tmp_path / "checkout"
    for name, data in files.items():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes(data)
    words = shlex.split(command.replace("sha256:...", D))
    result = run(words[1:], tmp_path, cwd=checkout)
    assert (result.returncode, result.stderr) == (0, "")
    text = (checkout / DEV).read_text()
    assert f"newName: {ECR}" in text  # kept: the overlay still renders the app's image
    assert f'newTag: "a3f8c12" # the commit SHA CI built\n    digest: {D}\n' in text


def test_the_tag_only_hint_pins_helm_values_as_printed(tmp_path: Path) -> None:
    remote = bare(tmp_path / "helm.git", helm_files())
    command = hint_command(remote, tmp_path)
    assert (
        command
        == "reconciler pin --app api --env dev registry.example.com/team/api:1.0.0@sha256:..."
    )

    checkout = tmp_path / "checkout"
    for name, data in helm_files().items():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes(data)
    result = run(shlex.split(command.replace("sha256:...", D))[1:], tmp_path, cwd=checkout)
    assert (result.returncode, result.stderr) == (0, "")
    app = App(name="api", image="registry.example.com/team/api", helm=HelmKeys())
    pinned = pins.read_pin("helm", (checkout / "values/dev/api.yaml").read_bytes(), "v", app)
    assert pinned is not None
    assert (pinned.repository, pinned.tag, pinned.digest) == (
        "registry.example.com/team/api",
        "1.0.0",
        D,
    )
