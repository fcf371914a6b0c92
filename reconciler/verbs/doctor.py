"""`reconciler doctor`: a preflight of everything a promotion needs, with a fix for each failure."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from reconciler import ownership
from reconciler.errors import ReconcilerError
from reconciler.forge.port import TeamUnreadable
from reconciler.gitrepo.signing import open_signer, probe
from reconciler.notify.delivery import unreadable
from reconciler.observing import Observation
from reconciler.policy import Policy
from reconciler.policy.model import App, Environment
from reconciler.settings import Settings, from_args, has_repo
from reconciler.verbs import EXIT_USAGE, fail, renders
from reconciler.verbs.checklist import Check, print_checks
from reconciler.wiring import Wired, build, repo_url


def doctor(args: argparse.Namespace) -> int:
    """Run every check and print the checklist; exit 1 when a required check failed."""
    if not has_repo(args):
        return fail("doctor", "--repo is required (or RECONCILER_REPO)", EXIT_USAGE)
    settings = from_args(args)
    checks: list[Check] = []
    signing = _can_sign(settings)
    try:
        # The key is judged by the signing checks below, never a reason not to read the repo.
        wired = build(replace(settings, signing_key=None))
        observation = wired.runner.observer.observe(one_shot=False)
    except ReconcilerError as exc:
        checks.append(
            Check(
                "config repo can be read", ok=False, detail=str(exc), fix=_read_fix(settings.forge)
            )
        )
        return print_checks(checks, args.output)
    checks.append(Check("config repo can be read", ok=True, detail=repo_url(settings)))
    checks.append(_push(repo_url(settings), wired))
    checks += _signatures(observation.snapshot.base_branch, wired, signing)
    checks.append(_policy(observation))
    policy = observation.policy
    if policy is not None:
        checks += _codeowners(policy, observation, wired, github=settings.forge == "github")
        checks += _registry(policy, wired)
        checks += renders.charts(policy, observation, wired)
        checks += renders.part_folders(policy, observation, wired)
        checks += _live(policy, observation)
        checks += _notify(policy)
    return print_checks(checks, args.output)


def _read_fix(forge: str) -> str:
    if forge == "github":
        return (
            "check --github-repo and the token (--github-token-file, else GH_TOKEN or "
            "GITHUB_TOKEN; it needs contents: read)"
        )
    return "check --repo and the git credentials (--git-token-file, --ssh-key)"


def _push(url: str, wired: Wired) -> Check:
    can_push = getattr(wired.forge, "can_push", None)
    if callable(can_push):
        allowed = bool(can_push())
        return Check(
            "the daemon's identity can push",
            allowed,
            "the forge grants push" if allowed else "the forge denies push",
            "give the token or App contents: write (and pull requests: write)",
        )
    local = Path(url[len("file://") :] if url.startswith("file://") else url)
    if local.exists():
        writable = os.access(local / "refs", os.W_OK) or os.access(local / ".git", os.W_OK)
        return Check(
            "the daemon's identity can push",
            writable,
            f"{local} is {'writable' if writable else 'not writable'} by this user",
            f"let this user write {local}",
        )
    return Check(
        "the daemon's identity can push",
        ok=True,
        detail="not checked for this remote without pushing; the first promotion will tell",
        required=False,
    )


def _can_sign(settings: Settings) -> Check | None:
    """Whether the daemon can sign with ``--signing-key``: the key opened and one test
    signature made; None without a key."""
    name = "the daemon can sign its commits"
    fix = (
        "see docs/operations.md#signed-commits: an SSH key file without a passphrase, mode "
        "0600 (or 0400), or an OpenPGP key id in the keyring GNUPGHOME names"
    )
    try:
        signer = open_signer(settings.signing_key, settings.signing_format)
        if signer is None:
            return None
        probe(signer)
    except ReconcilerError as exc:
        return Check(name, ok=False, detail=str(exc), fix=fix)
    return Check(name, ok=True, detail=f"{signer.describe()}: a test signature works")


def _signatures(base_branch: str, wired: Wired, signing: Check | None) -> list[Check]:
    """Whether the base branch requires signed commits (GitHub: its rulesets and
    protection; the local forge: never), and whether the daemon can give them."""
    requirement = getattr(wired.forge, "signature_requirement", None)
    required: bool | None = False
    why = "the local forge requires no signatures"
    if callable(requirement):
        try:
            required, why = requirement(base_branch)
        except ReconcilerError as exc:
            required, why = None, str(exc)
    told = {True: "yes", False: "no", None: "cannot tell"}[required]
    checks = [
        Check(
            f"{base_branch} requires signed commits",
            ok=True,
            detail=f"{told}: {why}",
            required=False,
        )
    ]
    if signing is not None:
        checks.append(signing)
    elif required is not False:
        checks.append(
            Check(
                "the daemon can sign its commits",
                ok=required is None,
                detail="no --signing-key: the daemon's commits are not signed",
                fix="set --signing-key and --signing-format (RECONCILER_SIGNING_KEY) to a key "
                "registered on the daemon's GitHub account, or the forge refuses its commits",
                required=required is True,
            )
        )
    return checks


def _policy(observation: Observation) -> Check:
    errors = observation.snapshot.policy_errors
    if not errors:
        return Check("promotions.toml on the base branch is valid", ok=True, detail="valid")
    return Check(
        "promotions.toml on the base branch is valid",
        ok=False,
        detail=f"{len(errors)} error(s), first: {errors[0]}",
        fix="run `reconciler validate` on the config repo and fix what it reports",
    )


def _codeowners(
    policy: Policy, observation: Observation, wired: Wired, *, github: bool
) -> list[Check]:
    snap = observation.snapshot
    checks: list[Check] = []
    guarded = [e for e in policy.environments.values() if e.require_codeowners]
    enforcement = snap.enforcement
    if guarded and enforcement is not None:
        # The plan's own words: the reason names the setting or permission to change.
        checks.append(
            Check(
                f"{snap.base_branch} enforces code-owner review on the daemon",
                enforcement.enforced,
                enforcement.reason,
            )
        )
    if enforcement is not None and enforcement.note:
        checks.append(
            Check(
                "the forge shows all its rules", ok=False, detail=enforcement.note, required=False
            )
        )
    for env in guarded:
        for app in policy.apps_in(env.name):
            overlay = snap.overlays.get((app.name, env.name))
            if overlay is None or overlay.error:
                why = overlay.error if overlay else "no overlay"
                checks.append(
                    Check(f"{env.name}/{app.name} overlay readable", ok=False, detail=str(why))
                )
                continue
            for path in overlay.files:  # one file, or each of a unit's part files
                owners = snap.codeowners.owners_of(path)
                checks.append(
                    Check(
                        f"CODEOWNERS covers {path}",
                        bool(owners),
                        " ".join(owners) if owners else f"no owner ({snap.codeowners.source})",
                        f"add /{path.rsplit('/', 1)[0]}/ @your-team to .github/CODEOWNERS",
                    )
                )
    path_of = _overlay_paths(observation)
    checks += [
        _team(team, paths, wired, github=github)
        for team, paths in ownership.owning_teams(policy, snap.codeowners, path_of).items()
    ]
    if enforcement is not None and enforcement.enforced:
        for owned in ownership.owned_auto_merges(policy, snap.codeowners, path_of):
            checks.append(
                Check(
                    f"{owned.env} (auto_merge) can merge {owned.app} by itself",
                    ok=False,
                    detail=f"{owned.owned()}, and {enforcement.reason}",
                    fix=owned.fix(),
                    required=False,
                )
            )
    errors: Callable[[str], tuple[str, ...]] | None = getattr(
        wired.forge, "codeowners_errors", None
    )
    if errors is not None and guarded:
        found = errors(snap.base_branch)
        checks.append(
            Check(
                "the forge reports no CODEOWNERS errors",
                not found,
                "; ".join(found[:3]) or "none",
                "fix the listed CODEOWNERS lines (unknown owners, bad patterns)",
            )
        )
    return checks


def _overlay_paths(observation: Observation) -> ownership.PathOf:
    overlays = observation.snapshot.overlays

    def path_of(env: Environment, app: App) -> tuple[str, ...]:
        found = overlays.get((app.name, env.name))
        return found.files if found is not None and not found.error else ()

    return path_of


def _team(team: str, paths: list[str], wired: Wired, *, github: bool) -> Check:
    """An owning team can be read and has members: else nobody's approval counts for it."""
    name = f"team {team} (owns {paths[0]}{' ...' if len(paths) > 1 else ''}) can be read"
    try:
        members = wired.forge.members(team)
    except TeamUnreadable as refused:
        return Check(name, ok=False, detail=str(refused))
    if members is None:
        where = (
            "GitHub has no such team (or it is secret and the daemon cannot see it)"
            if github
            else ".reconciler/teams.toml on the base branch does not list it"
        )
        return Check(
            name,
            ok=False,
            detail=f"{where}: no approval counts for {team}",
            fix=f"create {team} and give it write access, or list its members in "
            ".reconciler/teams.toml (local forge)",
        )
    if not members:
        return Check(
            name,
            ok=False,
            detail=f"{team} has no members: nobody can approve for it",
            fix=f"add the people who approve these promotions to {team}",
        )
    return Check(name, ok=True, detail=f"{len(members)} member(s)")


def _registry(policy: Policy, wired: Wired) -> list[Check]:
    from reconciler.registry import parse_repository  # noqa: PLC0415 - doctor's alone
    from reconciler.registry.oci import OciRegistry  # noqa: PLC0415

    if policy.registry is None:
        return []
    try:
        registry = wired.runner.observer.registry_for(policy)
    except ReconcilerError as exc:  # e.g. a docker config.json that cannot be read
        return [Check("the registry can be opened", ok=False, detail=str(exc))]
    if registry is None:
        return [Check("the registry answers", ok=False, detail="no adapter for the [registry]")]
    checks = []
    images = sorted({part.image for app in policy.apps.values() for _, part in app.parts()})
    hosts = sorted({parse_repository(image).host for image in images})
    for host in hosts:
        # Where the credentials come from, as the daemon logs it (a helper is run to know).
        if isinstance(registry, OciRegistry):
            found = registry.auth.source(host)
            detail, fix, ok = found.detail, found.fix, not found.failed
        else:
            detail, fix, ok = "AWS's default credential chain (ECR)", "", True
        checks.append(Check(f"registry {host}", ok=ok, detail=detail, fix=fix, required=False))
    for image in images:
        try:
            tags = registry.tags(image)
        except ReconcilerError as exc:
            checks.append(
                Check(
                    f"the registry answers for {image}",
                    ok=False,
                    detail=str(exc),
                    fix="check [registry] and the registry credentials (AWS chain, or docker "
                    "config.json: credHelpers, credsStore, auths)",
                )
            )
            continue
        checks.append(
            Check(f"the registry answers for {image}", ok=True, detail=f"{len(tags)} tags")
        )
    return checks


def _live(policy: Policy, observation: Observation) -> list[Check]:
    checks = []
    for key, state in sorted(observation.snapshot.live.items()):
        if state.error:
            checks.append(
                Check(
                    f"live source answers for {key[0]} in {key[1]}",
                    ok=False,
                    detail=state.error,
                    fix=f"check [live.{key[1]}] in promotions.toml and its credentials",
                    required=False,
                )
            )
    if policy.live and not checks:
        checks.append(
            Check("live sources answer", ok=True, detail=f"{len(observation.snapshot.live)} read")
        )
    return checks


def _notify(policy: Policy) -> list[Check]:
    """Each `[notify.NAME]` sink's URL (and key) can be read; nothing is sent."""
    checks = []
    for name, sink in sorted(policy.notify.items()):
        problem = unreadable(sink)
        keys = "url_from" + (" and secret_from" if sink.kind == "webhook" else "")
        checks.append(
            Check(
                f"notify.{name} ({sink.kind}) can be sent to",
                ok=problem is None,
                detail=problem or f"the URL is read from {sink.url_from} (not shown)",
                fix=f"give the daemon what [notify.{name}]'s {keys} names (the variable, or "
                "the mounted file)",
                required=False,
            )
        )
    return checks
