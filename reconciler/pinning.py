"""`reconciler pin`: the pin a CI job asks for, checked against the policy, made as the
daemon's own edit of the environment's overlay file (Kustomize or Helm values).

``prepare`` reads the policy and the overlay from a tree (a work tree on disk or a commit's
files), checks the reference with the one image grammar (``reconciler.imagerefs``: a
digest is required, and the repository must be the app's ``image`` in the normalised form),
and returns the file's bytes before and after ``overlays.pins.write_pin``, the same edit a
promotion makes (for a part of an app of several images pinned in a file of its own,
that file: ``reconciler.partfiles``). ``push`` makes it on the base branch through
``ConfigRepo.update_branch``, which runs it again on the new tip when another writer pushed
first. No I/O of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from reconciler import partfiles
from reconciler.desired import overlay_path
from reconciler.errors import PolicyError
from reconciler.gitrepo.port import ConfigRepo, PushOutcome, ReadView, Signature
from reconciler.imagerefs import DIGEST_FORMS, parse_image, parse_repository, same_repository
from reconciler.model import EntryKind
from reconciler.model import short as short_digest
from reconciler.overlays import pins
from reconciler.overlays.imageref import ImagePin
from reconciler.policy import POLICY_FILE, Diagnostic, Policy, load_policy
from reconciler.policy.diagnostics import suggest
from reconciler.policy.model import App, Environment


class Tree(Protocol):
    """The files ``prepare`` reads: ``worktree.DiskTree`` or a commit's ``ReadView``."""

    def kind(self, path: str) -> EntryKind:
        """What ``path`` is; "escapes" when a symlink leads out of the repo."""
        ...

    def read(self, path: str) -> bytes | None:
        """The bytes of the file at ``path``, or None."""
        ...

    def names(self, path: str) -> tuple[str, ...]:
        """The entry names of the folder at ``path``; empty when it is no folder."""
        ...


class InvalidPolicy(PolicyError):
    """The policy has problems: nothing is pinned under a policy the daemon would not run."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...]) -> None:
        self.diagnostics = diagnostics
        super().__init__(
            f"{diagnostics[0].file} is invalid ({len(diagnostics)} problem"
            f"{'s' if len(diagnostics) != 1 else ''}); fix it first (reconciler validate)"
        )


@dataclass(frozen=True)
class Request:
    """What the command line asks: pin ``reference`` for ``app`` in ``env``."""

    app: str
    env: str
    reference: str

    def commit_message(self) -> str:
        """The pin's commit message: the environment, the app and the digest."""
        digest = self.reference.partition("@")[2]
        return (
            f"{self.env}: pin {self.app} to {short_digest(digest)}\n\n"
            f"{self.app} in {self.env} now pins {self.reference} (written by reconciler pin)\n"
        )


@dataclass(frozen=True)
class Pin:
    """One overlay file pinning ``app`` in ``env``: what it pinned, what it will pin, and
    its bytes before and after the edit."""

    path: str  # in the repo
    app: App
    env: Environment
    old: ImagePin | None
    new: ImagePin
    before: bytes
    after: bytes

    @property
    def changed(self) -> bool:
        """Whether the edit changes the file (False: it pins the reference already)."""
        return self.after != self.before

    def summary(self, shown: str) -> str:
        """``FILE: APP in ENV: OLD -> NEW``, with ``shown`` as the file's name."""
        old = self.old.reference() if self.old is not None else "(no pin)"
        return f"{shown}: {self.app.name} in {self.env.name}: {old} -> {self.new.reference()}"


def load(tree: Tree, shown: str = POLICY_FILE) -> Policy:
    """The policy at the tree's root, checked with its overlay paths (``InvalidPolicy``)."""
    data = tree.read(POLICY_FILE)
    if data is None:
        raise PolicyError(f"{shown}: no such file: the config repo's policy is missing")
    result = load_policy(data, shown, tree)
    if result.policy is None:
        raise InvalidPolicy(result.diagnostics)
    return result.policy


def prepare(
    policy: Policy, tree: Tree, request: Request, *, shown: Callable[[str], str] = str
) -> Pin:
    """The edit making ``request``; PolicyError (with the file and line where one applies)
    when it cannot be made, or not safely. ``shown`` names a repo path in messages."""
    app, env = _choose(policy, tree, request.app, request.env, shown(POLICY_FILE))
    reference = request.reference
    name = parse_image(reference)
    own: str | None = None  # a part pinned in a file of its own: that file's path
    if app.is_unit:
        # One part of an image unit: the one whose repository the reference names. The
        # daemon promotes the set the overlay then pins, whole.
        part_name, part = _part(app, name.repository, reference, tree, shown(POLICY_FILE))
        own = app.images[part_name].overlay
        app = part
    if name.digest is None:
        raise PolicyError(
            f"{reference!r} has no digest: pin IMAGE[:TAG]@DIGEST ({DIGEST_FORMS}), such as "
            f"{app.image}:{name.tag or 'TAG'}@sha256:...; `reconciler registry resolve "
            "IMAGE:TAG` prints a tag's digest"
        )
    wanted = parse_repository(app.image)
    if name.repository != wanted.repository:
        written = reference.partition("@")[0]
        if name.tag is not None:
            written = written[: -len(name.tag) - 1]
        normal = f" (normalised: {name.repository})" if name.repository != written else ""
        at = _app_line(tree, app.name)
        theirs = f" ({wanted.repository})" if wanted.repository != app.image else ""
        raise PolicyError(
            f"{reference!r}: the repository {written}{normal} is not the image of app "
            f'{app.name}: {shown(POLICY_FILE)}{at} says image = "{app.image}"{theirs}; '
            f"pin {app.image}[:TAG]@DIGEST"
        )
    path = overlay_path(env, app, tree)
    if own:
        path = partfiles.part_path(env.format, path, own, app.name, tree.names)
    where = shown(path)
    kind = tree.kind(path)
    if kind == "escapes":
        raise PolicyError(f"{where}: the overlay leads out of the config repo (a symlink)")
    data = tree.read(path) if kind == "file" else None
    if data is None:
        raise PolicyError(f"{where} does not exist: no overlay pins {app.name} in {env.name}")
    old = pins.read_pin(env.format, data, where, app)
    # The repository as this repo spells it: the overlay's own text when it names the same
    # repository (no change of spelling in the diff), else the policy's.
    spelled = old.repository if old and same_repository(old.repository, app.image) else app.image
    new = ImagePin(spelled, name.tag or "", name.digest)
    after = pins.write_pin(env.format, data, where, app, new)
    got = pins.read_pin(env.format, after, where, app)
    if got is None or got.digest != new.digest or not same_repository(got.repository, app.image):
        shown_got = got.reference() if got is not None else "nothing"
        raise PolicyError(
            f"{where}: the edit would pin {shown_got} rather than {new.reference()}; "
            "nothing was written: edit it by hand"
        )
    return Pin(path, app, env, old, new, data, after)


def push(
    repo: ConfigRepo, branch: str, request: Request, signature: Signature
) -> tuple[Pin, PushOutcome]:
    """Commit the pin on ``branch`` and push it, as the daemon commits a promotion: the
    policy and overlay are read at the branch's tip, and again on the new tip when another
    writer pushed first (``ConfigRepo.update_branch``). The pin as last made, and the push."""
    made: list[Pin] = []

    def edit(view: ReadView) -> dict[str, bytes | None] | None:
        pin = prepare(load(view), view, request)
        made.append(pin)
        return {pin.path: pin.after} if pin.changed else None

    outcome = repo.update_branch(
        branch,
        edit,
        message=request.commit_message(),
        author=signature,
        committer=signature,
    )
    return made[-1], outcome


def _choose(
    policy: Policy, tree: Tree, app_name: str, env_name: str, policy_file: str
) -> tuple[App, Environment]:
    app = policy.apps.get(app_name)
    if app is None:
        hint = suggest(app_name, policy.apps)
        raise PolicyError(f'{policy_file}: no app "{app_name}"{hint}')
    env = policy.environments.get(env_name)
    if env is None:
        hint = suggest(env_name, policy.environments)
        raise PolicyError(f'{policy_file}: no environment "{env_name}"{hint}')
    if not policy.has_app_in(app.name, env.name):
        listed = ", ".join(app.environments or ())
        raise PolicyError(
            f"{policy_file}{_app_line(tree, app.name)}: app {app.name} is not promoted through "
            f"{env.name} (its environments: {listed})"
        )
    return app, env


def _part(
    app: App, repository: str, reference: str, tree: Tree, policy_file: str
) -> tuple[str, App]:
    """The part of the image unit ``app`` whose image is ``repository``, and its name."""
    for part_name, part in app.parts():
        if parse_repository(part.image).repository == repository:
            return part_name, part
    images = ", ".join(f"{name} = {part.image}" for name, part in app.parts())
    raise PolicyError(
        f"{reference!r}: the repository {repository} is no part of app {app.name}: "
        f"{policy_file}{_app_line(tree, app.name)} names its images ({images}); pin one of them"
    )


def _app_line(tree: Tree, app: str) -> str:
    """``:LINE`` of the app's ``image`` key (or its table) in the policy; "" if not found."""
    data = tree.read(POLICY_FILE)
    text = data.decode("utf-8", "replace") if data is not None else ""
    header = re.compile(rf"""^\s*\[\s*apps\s*\.\s*(["']?){re.escape(app)}\1\s*\]""")
    found = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not found:
            found = number if header.match(line) else 0
        elif re.match(r"\s*\[", line):
            break
        elif re.match(r"\s*image\s*=", line):
            return f":{number}"
    return f":{found}" if found else ""
