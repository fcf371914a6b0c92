"""Secrets with distinctive values, a registry that needs them, and a scan of every place.

``needles`` lists each secret and the forms it could leak in: itself, a prefix long enough
to identify it, the base64 of the basic-auth pair it travels in (``x-access-token:TOKEN``
for git over HTTPS, ``user:password`` in docker's config.json), and for a PEM key each line
of its body. ``Places`` gathers text from everywhere a user or a log shipper could see it;
``found`` says which needle is where.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.cycle import CycleReport
from reconciler.demo.flow import APP
from reconciler.errors import ReconcilerError
from tests.conftest import need
from tests.e2e.closedworld import Image
from tests.servers.docker_registry import DOCKER_REGISTRY, TokenAuth, run_registry
from tests.servers.endpoints import serve
from tests.servers.github_sim import GitHubSim
from tests.servers.oci_images import SKOPEO, push, write_policy
from tests.servers.oci_images import build as build_image

REGISTRY_USER = "ci-bot"
REGISTRY_PASSWORD = "regpass-SECRET-7c1f9e2a5b8d"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def needles(
    tokens: list[str],
    pems: list[str],
    passwords: list[str],
    webhook: str,
    bearers: Sequence[str] = (),
) -> dict[str, str]:
    """name -> a string that must appear nowhere."""
    found: dict[str, str] = {}
    for index, token in enumerate(tokens):
        found[f"token{index}"] = token
        found[f"token{index}[:10]"] = token[:10]
        found[f"token{index} tail"] = token[-12:]
        found[f"token{index} basic"] = _b64(f"x-access-token:{token}")
        found[f"token{index} basic (bare)"] = _b64(token)
    for index, pem in enumerate(pems):
        body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        for number, line in enumerate(body):
            found[f"key{index} line {number}"] = line[:40]
    for index, password in enumerate(passwords):
        found[f"password{index}"] = password
        found[f"password{index} basic"] = _b64(f"{REGISTRY_USER}:{password}")
    for index, bearer in enumerate(bearers):
        found[f"registry bearer{index}"] = bearer.rsplit(".", 1)[-1]  # its signature
    found["webhook secret"] = webhook
    found["webhook secret[:10]"] = webhook[:10]
    return found


@dataclass
class Places:
    """Every text a person or a log shipper sees, by where it came from."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, text: str | bytes | None) -> None:
        if text is None:
            return
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        self.texts[where] = text

    def failure(self, where: str, attempt: Callable[[], CycleReport]) -> str:
        """Run a cycle expected to fail; keep what it said (message and traceback)."""
        try:
            result = attempt()
        except ReconcilerError as failed:
            said = f"{failed}\n{''.join(traceback.format_exception(failed))}"
        else:
            said = "\n".join([*result.errors, *(o.detail for o in result.outcomes)])
        self.add(where, said)
        return said

    def found(self, secrets: dict[str, str]) -> list[tuple[str, str]]:
        """(place, secret name) for every secret seen somewhere."""
        return [
            (where, name)
            for where, text in self.texts.items()
            for name, value in secrets.items()
            if value in text
        ]

    def add_simulator(self, sim: GitHubSim) -> None:
        """Every pull request's title, body, labels, comments and reviews; deployments."""
        with sim.world.lock:
            for pull in sim.world.pulls.values():
                where = f"pull #{pull.number}"
                self.add(f"{where} title", pull.title)
                self.add(f"{where} body", pull.body)
                self.add(f"{where} labels", " ".join(pull.labels))
                for comment in pull.comments:
                    self.add(f"{where} comment {comment.id}", comment.body)
                for review in pull.reviews:
                    self.add(f"{where} review {review.id}", review.body)
            for deployment in sim.world.deployments.values():
                where = f"deployment {deployment.id}"
                self.add(where, f"{deployment.description} {json.dumps(deployment.payload)}")
                for status in deployment.statuses:
                    self.add(f"{where} status {status.id}", status.description)

    def add_git(self, repo: Path, name: str) -> None:
        """Every ref, every commit message and every blob reachable from any ref."""
        self.add(f"{name} refs", _git(repo, "for-each-ref"))
        listing = _git(repo, "rev-list", "--all", "--objects").decode().split()
        objects = [o for o in listing if len(o) == 40]
        if not objects:
            return
        batch = subprocess.run(
            ["git", "-C", str(repo), "cat-file", "--batch"],
            input="\n".join(objects).encode() + b"\n",
            capture_output=True,
            check=True,
        ).stdout
        while batch:  # "<id> <type> <size>\n<content>\n", once per object
            header, _, rest = batch.partition(b"\n")
            oid, kind, size = header.decode().split()
            self.add(f"{name} {kind} {oid}", rest[: int(size)])
            batch = rest[int(size) + 1 :]

    def add_files(self, folder: Path, name: str) -> None:
        """Every file under ``folder`` but git's compressed objects (read by add_git)."""
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "objects" not in path.relative_to(folder).parts:
                self.add(f"{name}/{path.relative_to(folder)}", path.read_bytes())


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout


@dataclass(frozen=True)
class AuthRegistry:
    """A registry that needs a password, the candidate in it, and a docker config for it."""

    image: Image
    docker_config: Path  # a folder with config.json, for $DOCKER_CONFIG
    issued: list[str]  # the bearer tokens the token service handed out: secrets too

    def config_with(self, password: str, folder: Path) -> Path:
        """Another $DOCKER_CONFIG folder whose config.json holds ``password``."""
        folder.mkdir(parents=True, exist_ok=True)
        assert self.image.registry_host is not None
        entry = _b64(f"{REGISTRY_USER}:{password}")
        auths = {"auths": {self.image.registry_host: {"auth": entry}}}
        (folder / "config.json").write_text(json.dumps(auths))
        return folder


@contextmanager
def auth_registry(root: Path) -> Iterator[AuthRegistry]:
    """Debian's docker-registry behind token authentication with one user and password."""
    need(DOCKER_REGISTRY.exists(), "Debian's docker-registry (/usr/bin/docker-registry)")
    need(Path(SKOPEO).exists(), "Debian's skopeo (/usr/bin/skopeo)")
    need(importlib.util.find_spec("cryptography") is not None, "the cryptography package")
    from tests.servers.registry_auth import Signer, TokenService

    root.mkdir(parents=True, exist_ok=True)
    signer = Signer.create(root / "tokens.pem")
    issued: list[str] = []
    sign = signer.token

    def recorded(claims: dict[str, object]) -> str:
        issued.append(sign(claims))
        return issued[-1]

    signer.token = recorded  # type: ignore[method-assign]
    service = TokenService(signer, "tests", "tests-issuer", {REGISTRY_USER: REGISTRY_PASSWORD})
    with serve() as tokens:
        tokens.routes["/token"] = service.route()
        auth = TokenAuth(tokens.url("/token"), service.service, service.issuer, signer.path)
        with run_registry(root / "registry", auth=auth) as registry:
            name = f"team/{APP}"
            pushed = build_image(root / "image", name, "b7e2f90", ())
            push(
                pushed,
                f"{registry.host}/{name}:b7e2f90",
                write_policy(root / "policy.json"),
                creds=f"{REGISTRY_USER}:{REGISTRY_PASSWORD}",
            )
            image = Image(f"{registry.host}/{name}", pushed.digest, registry.host)
            found = AuthRegistry(image, root / "docker", issued)
            found.config_with(REGISTRY_PASSWORD, found.docker_config)
            yield found
