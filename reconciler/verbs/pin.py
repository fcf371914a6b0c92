"""`reconciler pin`: pin an app's image in one environment's overlay, whatever its kind.

In a work tree (``--repo DIR``, default the current folder) the overlay file is rewritten
in place, atomically; CI commits and pushes it. With ``--push`` the same edit is committed
on the config repo's base branch and pushed through the daemon's own update path, in a
clone in the cache folder. The edit itself is ``reconciler.pinning``'s.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from reconciler import pinning
from reconciler.clock import utc_now
from reconciler.errors import PolicyError
from reconciler.gitrepo.port import Signature, check_writable
from reconciler.gitrepo.remote import parse_remote
from reconciler.policy import POLICY_FILE
from reconciler.settings import env_repo, git_settings
from reconciler.verbs import EXIT_OK, EXIT_USAGE, display_path, fail, unified_diff
from reconciler.wiring import REAL, Factories
from reconciler.worktree import DiskTree, write_atomic

VERB = "pin"
# Who a pushed pin is committed as when git's variables do not say.
DEFAULT_NAME, DEFAULT_EMAIL = "reconciler pin", "reconciler@localhost"


def pin(args: argparse.Namespace, factories: Factories = REAL) -> int:
    """Pin ``args.image`` for ``--app`` in ``--env``: in a work tree, or ``--push``ed."""
    try:
        if args.push:
            return _push(args, factories)
        return _in_work_tree(args)
    except pinning.InvalidPolicy as invalid:
        for diagnostic in invalid.diagnostics:
            print(diagnostic, file=sys.stderr)
        return fail(VERB, str(invalid))


def _in_work_tree(args: argparse.Namespace) -> int:
    root = Path(args.repo or ".")
    if not root.is_dir():
        return fail(VERB, f"{display_path(root)} is not a folder (--repo)", EXIT_USAGE)
    tree = DiskTree(root)

    def shown(path: str) -> str:
        return display_path(root / path)

    if tree.kind(POLICY_FILE) != "file":
        return fail(VERB, f"cannot read {shown(POLICY_FILE)}: no such file", EXIT_USAGE)
    policy = pinning.load(tree, shown(POLICY_FILE))
    made = pinning.prepare(policy, tree, _request(args), shown=shown)
    if args.dry_run:
        return _show(made, shown(made.path), written=False)
    if made.changed:
        target = tree.real_file(made.path)
        if target is None:  # gone since it was read
            return fail(VERB, f"{shown(made.path)} changed while it was edited; run again")
        write_atomic(target, made.after)
    return _show(made, shown(made.path), written=True)


def _push(args: argparse.Namespace, factories: Factories) -> int:
    repo_text = args.repo or env_repo()
    if not repo_text:
        return fail(
            VERB,
            "--push needs --repo, the config repo's remote (a URL or a bare repo's path), "
            "or RECONCILER_REPO",
            EXIT_USAGE,
        )
    remote = parse_remote(repo_text)
    if remote.local_path is not None and (remote.local_path / ".git").exists():
        return fail(
            VERB,
            f"{repo_text} is a work tree: --push writes the remote's base branch, and would "
            "leave this checkout behind it; give --repo the remote (a URL or a bare repo's "
            "path), or leave out --push and commit the edit yourself",
            EXIT_USAGE,
        )
    signature = _signature()
    settings = git_settings(args, repo_text)
    repo = factories.open_repo(settings, None)
    branch = settings.base_branch
    tip = repo.tip(branch)
    if tip is None:
        return fail(VERB, f"the config repo has no branch {branch!r} (--base-branch)")
    policy = pinning.load(repo.tree(tip))
    # The policy's settings.base_branch wins, as in the daemon, once that branch exists.
    wanted = policy.settings.base_branch
    if wanted != branch and repo.tip(wanted) is not None:
        branch, tip = wanted, repo.tip(wanted)
        assert tip is not None
        policy = pinning.load(repo.tree(tip))
    view = repo.tree(tip)
    made = pinning.prepare(policy, view, _request(args))
    if made.env.require_codeowners:
        return fail(
            VERB,
            f"{made.env.name} requires a code owner's review (require_codeowners): its "
            "overlay changes through a reviewed request, not a push to "
            f"{branch}; leave out --push and open one with the edit",
        )
    if args.dry_run:
        return _show(made, made.path, written=False)
    made, outcome = pinning.push(repo, branch, _request(args), signature)
    if not outcome.changed:
        return _show(made, made.path, written=True)
    print(made.summary(made.path))
    retried = f" (attempt {outcome.attempts}: the branch had moved)" if outcome.attempts > 1 else ""
    print(f"pushed {(outcome.commit or '')[:12]} to {branch} of {remote.display}{retried}")
    return EXIT_OK


def _request(args: argparse.Namespace) -> pinning.Request:
    return pinning.Request(app=args.app, env=args.env, reference=args.image)


def _show(made: pinning.Pin, shown: str, *, written: bool) -> int:
    if not made.changed:
        print(f"{shown}: {made.app.name} in {made.env.name} already pins {made.new.reference()}")
        return EXIT_OK
    if written:
        print(made.summary(shown))
        return EXIT_OK
    sys.stdout.write(unified_diff(made.before, made.after, made.path))
    print(f"{made.summary(shown)} (dry run: nothing written)")
    return EXIT_OK


def _signature() -> Signature:
    """Who commits a pushed pin: git's author variables, else ``reconciler pin``."""
    name = os.environ.get("GIT_AUTHOR_NAME") or DEFAULT_NAME
    email = os.environ.get("GIT_AUTHOR_EMAIL") or DEFAULT_EMAIL
    signature = Signature(name, email, utc_now().replace(microsecond=0))
    try:
        check_writable(signature)
    except ValueError as exc:
        raise PolicyError(f"GIT_AUTHOR_NAME, GIT_AUTHOR_EMAIL: {exc}") from None
    return signature
