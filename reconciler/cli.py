"""The `reconciler` command (the README lists its verbs): argument parsing, then the verb."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
from collections.abc import Callable, Sequence
from typing import TypeAlias

from reconciler import __version__
from reconciler.errors import ReconcilerError, one_shot
from reconciler.settings import DEFAULT_LISTEN, add_git_options, add_repo_options
from reconciler.verbs import EXIT_INVALID, EXIT_OK, EXIT_USAGE, yaml_of_json

Handler = Callable[[argparse.Namespace], int]

# -o/--output: every verb that reads prints text for people, or one JSON or YAML document.
OUTPUTS = ("text", "json", "yaml")
# `once --dry-run` is `plan`: the same observation and plan, nothing applied.
PLAN_HANDLER = "reconciler.verbs.reconcile:plan"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    dry_once = args.verb == "once" and args.dry_run
    if dry_once:
        args.handler = PLAN_HANDLER
    # YAML is the verb's JSON document, re-encoded: the two never carry different data.
    yaml_out = getattr(args, "output", None) == "yaml"
    if hasattr(args, "output"):
        args.output = "json" if yaml_out else args.output
        args.json = args.output == "json"  # what verbs that predate -o read
    # Verbs are imported when used, so `reconciler validate` does not load git or HTTP code.
    module, _, name = args.handler.partition(":")
    handler: Handler = getattr(importlib.import_module(module), name)
    try:
        if yaml_out:
            return _as_yaml(handler, args)
        code = handler(args)
        if dry_once and code != EXIT_USAGE:
            print("(dry run: nothing written)")
        return code
    except ReconcilerError as exc:
        # This process ends here: whatever the message promised of a next cycle, it won't.
        print(f"reconciler {args.verb}: {one_shot(str(exc))}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `reconciler ... | head` closed the pipe: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _as_yaml(handler: Handler, args: argparse.Namespace) -> int:
    """Run ``handler`` asked for JSON, and print what it printed as YAML."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            return handler(args)
    finally:
        sys.stdout.write(yaml_of_json(captured.getvalue()))


def _add_output(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    """``-o/--output text|json|yaml`` (and ``--json``, the older spelling of ``-o json``)."""
    parser.add_argument(
        "-o",
        "--output",
        choices=OUTPUTS,
        default="text",
        help="text for people (default), or one JSON or YAML document for scripts",
    )
    if json_flag:
        parser.add_argument(
            "--json", dest="output", action="store_const", const="json", help="same as -o json"
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconciler",
        description="Promote container images through environments in a GitOps config repo.",
    )
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    verbs = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _file_verbs(verbs)
    _repo_verbs(verbs)
    _rollback_verb(verbs)
    _tool_verbs(verbs)
    completion = verbs.add_parser(
        "completion",
        help="print a shell completion script: bash, zsh or fish",
        description="Print a completion script for SHELL, made from this command's own "
        "options. bash: `source <(reconciler completion bash)` in ~/.bashrc; zsh: "
        '`reconciler completion zsh > "${fpath[1]}/_reconciler"`; fish: `reconciler '
        "completion fish > ~/.config/fish/completions/reconciler.fish`.",
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), metavar="SHELL")
    completion.set_defaults(
        handler="reconciler.verbs.completion:completion", verb="completion", parser=parser
    )
    return parser


Verbs: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _file_verbs(verbs: Verbs) -> None:
    """Verbs that read files on disk: validate, schema, set-image, pin, codeowners."""

    validate = verbs.add_parser(
        "validate",
        help="check promotions.toml (and, given a folder, its overlay paths)",
        description="Check a policy. PATH is a config repo folder or a promotions.toml file; "
        "with a folder, overlay paths are checked against its files too. Exit 0 valid, "
        "1 invalid, 2 usage or unreadable file.",
    )
    validate.add_argument("path", nargs="?", default=".", metavar="PATH")
    # Explicit only: GITHUB_ACTIONS=true does not switch the format, so a CI log shows what
    # the same command shows on a laptop unless the workflow asks for annotations.
    validate.add_argument(
        "-o",
        "--output",
        "--format",
        choices=(*OUTPUTS, "github"),
        default="text",
        help="text: FILE:LINE:COL: message; json, yaml: a list of objects; github: GitHub "
        "Actions ::error workflow commands, shown as annotations on the failing lines",
    )
    validate.add_argument(
        "--json", dest="output", action="store_const", const="json", help="same as -o json"
    )
    validate.set_defaults(handler="reconciler.verbs.policy:validate", verb="validate")

    schema = verbs.add_parser("schema", help="print the JSON Schema of promotions.toml")
    schema.add_argument(
        "--format",
        choices=("json", "markdown"),
        default="json",
        help="json: the schema (promotion-policies/schema.json); markdown: the reference table",
    )
    schema.set_defaults(handler="reconciler.verbs.policy:schema", verb="schema")

    set_image = verbs.add_parser(
        "set-image",
        help="pin images in a kustomization, like `kustomize edit set image`, minimal diff",
        description="Set images in kustomization.yaml with the argument forms of `kustomize "
        "edit set image`: NAME=NEWNAME:TAG@DIGEST, NAME=NEWNAME@DIGEST, NAME=NEWNAME:TAG, "
        "NAME=NEWNAME, NAME:TAG, NAME@DIGEST, NAME:TAG@DIGEST; `*` keeps a field's current "
        "value. Only the bytes of the values set change; comments and layout are kept.",
    )
    set_image.add_argument("images", nargs="*", metavar="ARG")
    set_image.add_argument(
        "--dir", default=".", help="folder holding the kustomization (default: current)"
    )
    set_image.add_argument(
        "--dry-run", action="store_true", help="print the diff the edit would make; write nothing"
    )
    set_image.set_defaults(handler="reconciler.verbs.overlays:set_image", verb="set-image")

    pin = verbs.add_parser(
        "pin",
        help="pin an app's image in one environment's overlay (Kustomize or Helm values)",
        description="Pin IMAGE[:TAG]@DIGEST for --app in --env: the overlay file the policy "
        "names for that environment (the folder's kustomization, or the Helm values file) "
        "gets the daemon's own minimal edit. The digest is required and the repository must "
        "be the app's image. In a work tree (--repo DIR, default: current folder) the file "
        "is rewritten in place; with --push the edit is committed on the config repo's base "
        "branch and pushed as the daemon pushes (retried when another writer pushed first). "
        "Exit 0 pinned (or already pinned), 1 refused (nothing written), 2 usage.",
    )
    pin.add_argument("image", metavar="IMAGE[:TAG]@DIGEST")
    pin.add_argument("--app", required=True, help="the app, as promotions.toml names it")
    pin.add_argument("--env", required=True, help="the environment whose overlay to pin")
    pin.add_argument(
        "--repo",
        help="the config repo: a work tree folder (default: current folder); with --push, "
        "its remote as the daemon takes it, a URL or a bare repo's path (RECONCILER_REPO)",
    )
    pin.add_argument(
        "--dry-run", action="store_true", help="print the diff the edit would make; write nothing"
    )
    pin.add_argument(
        "--push",
        action="store_true",
        help="commit the edit on the base branch and push it (author: GIT_AUTHOR_NAME and "
        "GIT_AUTHOR_EMAIL)",
    )
    add_git_options(pin)
    pin.set_defaults(handler="reconciler.verbs.pin:pin", verb="pin")

    owners = verbs.add_parser(
        "codeowners",
        help="who owns these paths, by GitHub's CODEOWNERS rules",
        description="Print PATH<TAB>owners for each PATH, as GitHub reads CODEOWNERS (the "
        "first of .github/CODEOWNERS, CODEOWNERS, docs/CODEOWNERS; last match wins). An "
        "unowned path prints with nothing after the tab.",
    )
    owners.add_argument("paths", nargs="+", metavar="PATH")
    source = owners.add_mutually_exclusive_group()
    source.add_argument("--file", help="a CODEOWNERS file to read")
    source.add_argument("--repo", default=".", help="a repo folder to find CODEOWNERS in")
    _add_output(owners)
    owners.set_defaults(handler="reconciler.verbs.owners:owners", verb="codeowners")


def _repo_verbs(verbs: Verbs) -> None:
    """Verbs that work on a config repo: plan, once, status, run, history, review."""

    for name, summary in (
        ("plan", "show what a cycle would do; write nothing"),
        ("once", "run one cycle"),
        ("status", "per app and environment: desired, live, drift, gates, request"),
    ):
        verb = verbs.add_parser(
            name, help=summary, description=summary[0].upper() + summary[1:] + "."
        )
        add_repo_options(verb)
        if name == "once":
            verb.add_argument(
                "--dry-run",
                action="store_true",
                help="observe and plan as the cycle would, print the plan (as `plan` does); "
                "write nothing",
            )
            verb.set_defaults(output="text")
        else:
            _add_output(verb)
            verb.add_argument(
                "--probe",
                action="store_true",
                help="sample the HTTP gates now, as many rounds as their streaks need "
                "(without it, a process of its own has no samples and says so)",
            )
        if name == "status":
            verb.add_argument(
                "--daemon",
                metavar="URL",
                default=os.environ.get("RECONCILER_DAEMON"),
                help="show a running daemon's view (its GET /status at URL, the address "
                "of its --listen) instead of reading the repo (RECONCILER_DAEMON)",
            )
        module = "status" if name == "status" else "reconcile"
        verb.set_defaults(handler=f"reconciler.verbs.{module}:{name}", verb=name)

    run = verbs.add_parser(
        "run",
        help="the daemon: reconcile on an interval and on changes",
        description="Run cycles on settings.poll_interval (with jitter), at once on file "
        "changes when --repo is a local path; serve /metrics, /healthz and /readyz on "
        "--listen. A config repo that cannot be reached yet is retried with backoff. "
        "SIGTERM, SIGINT and SIGHUP cancel probes in flight, finish the current cycle and "
        "exit 0. Holds --cache-dir: a second run or once on it exits 2.",
    )
    add_repo_options(run, listen=True)
    run.set_defaults(handler="reconciler.verbs.reconcile:run", verb="run")

    doctor = verbs.add_parser(
        "doctor",
        help="preflight: credentials, protection, CODEOWNERS, registry, live sources",
        description="Check that the daemon can read and push the config repo, that the base "
        "branch enforces code-owner review for every environment with require_codeowners, "
        "that CODEOWNERS covers those overlays, and that the registry and live sources "
        "answer. Prints a checklist with a fix for each failure; exit 1 if a required check "
        "fails.",
    )
    add_repo_options(doctor)
    _add_output(doctor, json_flag=False)
    doctor.set_defaults(handler="reconciler.verbs.doctor:doctor", verb="doctor")

    history = verbs.add_parser(
        "history",
        help="the audit trail: digest, from -> to, request, approvers, merged, live",
        description="Every promotion, rebuilt from the config repo alone: request records "
        "and the base branch's commit trailers.",
    )
    add_repo_options(history)
    history.add_argument("--app", help="only promotions of this app")
    history.add_argument("--env", help="only promotions into this environment")
    _add_output(history)
    history.set_defaults(handler="reconciler.verbs.history:history", verb="history")

    review = verbs.add_parser(
        "review",
        help="review, hold or release a promotion request on the local forge",
        description="Record a review bound to the request's current head commit (a newer "
        "head makes it count for nothing); hold or release the request (the policy's "
        "hold label stops all automation on it); list open requests; or set a commit "
        "status, as CI would on GitHub, for `checks` gates (set-status --sha --name --state).",
    )
    review.add_argument(
        "action",
        choices=(
            "approve",
            "request-changes",
            "comment",
            "hold",
            "release",
            "list",
            "show",
            "set-status",
        ),
    )
    add_repo_options(review)
    review.add_argument("--request", type=int, help="the request number")
    review.add_argument("--app", help="the app (with --env) instead of --request")
    review.add_argument("--env", help="the target environment (with --app)")
    review.add_argument(
        "--as",
        dest="reviewer",
        default=os.environ.get("RECONCILER_REVIEWER"),
        help="your handle, such as @alice (RECONCILER_REVIEWER)",
    )
    review.add_argument("--comment", help="a comment with the review")
    review.add_argument("--sha", help="set-status: the commit (its full id, or a branch's tip)")
    review.add_argument("--name", help="set-status: the check's name (its context), like e2e")
    review.add_argument(
        "--state",
        choices=("success", "pending", "failure", "error"),
        help="set-status: the commit status state",
    )
    review.add_argument("--url", default="", help="set-status: where the check's log is")
    review.add_argument(
        "--source",
        help="set-status: the commit is in this source repository (its URL, as the image's "
        "org.opencontainers.image.source label gives it), not in the config repo",
    )
    review.add_argument(
        "--dry-run",
        action="store_true",
        help="say which request the action would change, and how; write nothing",
    )
    _add_output(review, json_flag=False)
    review.set_defaults(handler="reconciler.verbs.review:review", verb="review")


def _rollback_verb(verbs: Verbs) -> None:
    """`reconciler rollback`."""
    rollback = verbs.add_parser(
        "rollback",
        help="roll an app back to a digest that ran in an environment before",
        description="Open the pair's request (or commit, where the environment allows) "
        "going back to a digest from the overlay's history, saying it is a rollback and "
        "why; code-owner review applies as for a promotion, the source's gates do not. Once "
        "it lands, the replaced digest is held (settings.rollback_release).",
    )
    add_repo_options(rollback)
    rollback.add_argument("--app", required=True, help="the app, as promotions.toml names it")
    rollback.add_argument("--env", required=True, help="the environment to roll back")
    to = rollback.add_mutually_exclusive_group()
    to.add_argument("--to", metavar="DIGEST", help="a digest it ran before (or its prefix)")
    to.add_argument("--previous", action="store_true", help="the one before (the default)")
    rollback.add_argument("--reason", default="", help="why, said in the request and commit")
    rollback.add_argument(
        "--as", dest="by", default=os.environ.get("RECONCILER_REVIEWER"), help="your handle"
    )
    rollback.add_argument("--dry-run", action="store_true", help="say what; write nothing")
    _add_output(rollback)
    rollback.set_defaults(handler="reconciler.verbs.rollback:rollback", verb="rollback")


def _tool_verbs(verbs: Verbs) -> None:
    """The demo and the registry tools."""

    demo = verbs.add_parser(
        "demo",
        help="the whole promotion flow on embedded defaults, then exit 0",
        description="Create a config repo from the order-gateway example, start sample "
        "services on loopback, pin a new digest in dev as CI would, and let the daemon "
        "promote it to staging and, after a code owner's approval, to prod.",
    )
    demo.add_argument("--serve", action="store_true", help="keep running with /metrics")
    demo.add_argument("--quick", action="store_true", help="shortest durations (for tests)")
    demo.add_argument(
        "--rollback", action="store_true", help="then roll prod back (`reconciler rollback`)"
    )
    demo.add_argument("--dir", help="keep the demo's repos in this folder (default: a temp one)")
    demo.add_argument(
        "--listen",
        default=os.environ.get("RECONCILER_LISTEN", DEFAULT_LISTEN),
        help=f"HOST:PORT for /metrics with --serve (default {DEFAULT_LISTEN})",
    )
    demo.set_defaults(handler="reconciler.verbs.demo:demo", verb="demo")

    registry = verbs.add_parser("registry", help="resolve tags and move tags in a registry")
    actions = registry.add_subparsers(metavar="ACTION", required=True)
    resolve = actions.add_parser("resolve", help="print the digest IMAGE:TAG points to")
    resolve.add_argument("image", metavar="IMAGE:TAG")
    resolve.set_defaults(handler="reconciler.verbs.registry:resolve", verb="registry")
    tag = actions.add_parser(
        "tag", help="point TAG at IMAGE@DIGEST (re-puts the manifest; no pull, no rebuild)"
    )
    tag.add_argument("image", metavar="IMAGE@DIGEST")
    tag.add_argument("tag", metavar="TAG")
    tag.set_defaults(handler="reconciler.verbs.registry:tag", verb="registry")
    tag.add_argument(
        "--dry-run",
        action="store_true",
        help="check that the digest exists and say where TAG points now; move nothing",
    )
    for action in (resolve, tag):
        _add_output(action, json_flag=False)
        action.add_argument(
            "--kind", choices=("ecr", "oci"), help="default: ecr for *.dkr.ecr.*.amazonaws.com"
        )
        action.add_argument("--endpoint-url", help="another API endpoint (ECR) or a mirror (OCI)")
        action.add_argument("--plain-http", action="store_true", help="OCI over plain HTTP")
        action.add_argument("--region", help="ECR region (default: from the image host)")
        action.add_argument(
            "--docker-config",
            help="docker config.json with credentials (OCI; default "
            "$DOCKER_CONFIG or ~/.docker/config.json)",
        )
