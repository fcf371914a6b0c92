"""`reconciler registry resolve IMAGE:TAG` and `reconciler registry tag IMAGE@DIGEST TAG`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Literal

from reconciler.registry import ImageRegistry, open_registry, parse_image
from reconciler.registry.port import ImageNotFound
from reconciler.registry.references import ecr_host
from reconciler.verbs import EXIT_OK, EXIT_USAGE, fail


def _registry(args: argparse.Namespace, host: str) -> ImageRegistry:
    kind: Literal["ecr", "oci"] = args.kind or ("ecr" if ecr_host(host) else "oci")
    return open_registry(
        kind,
        endpoint_url=args.endpoint_url,
        plain_http=args.plain_http or None,
        region=args.region,
        docker_config=Path(args.docker_config) if args.docker_config else None,
    )


def resolve(args: argparse.Namespace) -> int:
    """Print the digest IMAGE:TAG points to."""
    image = parse_image(args.image)
    if not image.tag or image.digest:
        return fail("registry", f'"{args.image}": give IMAGE:TAG, such as app:v1', EXIT_USAGE)
    digest = _registry(args, image.host).resolve(image.repository, image.tag)
    if args.output == "json":
        found = {"repository": image.repository, "tag": image.tag, "digest": digest}
        print(json.dumps(found, indent=2))
    else:
        print(digest)
    return EXIT_OK


def tag(args: argparse.Namespace) -> int:
    """Point TAG at IMAGE@DIGEST by re-putting its manifest (no pull, no push of layers);
    with ``--dry-run``, say where TAG points now and whether the digest exists."""
    image = parse_image(args.image)
    if not image.digest:
        return fail("registry", f'"{args.image}": give IMAGE@sha256:...', EXIT_USAGE)
    registry = _registry(args, image.host)
    if args.dry_run:
        return _would_tag(args, registry, image.repository, image.digest)
    moved = registry.tag(image.repository, image.digest, args.tag)
    _say(args, image.repository, image.digest, moved=moved, before=None)
    if args.output == "text":
        state = "moved to" if moved else "already at"
        print(f"{image.repository}:{args.tag} {state} {image.digest}")
    return EXIT_OK


def _would_tag(args: argparse.Namespace, registry: ImageRegistry, name: str, digest: str) -> int:
    if not registry.exists(name, digest):
        return fail("registry", f"{name}@{digest} is not in the registry; nothing to tag")
    try:
        before: str | None = registry.resolve(name, args.tag)
    except ImageNotFound:
        before = None  # no such tag yet: tagging creates it
    moved = before != digest
    _say(args, name, digest, moved=moved, before=before)
    if args.output == "text":
        now = f"from {before}" if before else "(a new tag)"
        said = f"would move to {digest} {now}" if moved else f"already at {digest}"
        print(f"{name}:{args.tag} {said} (dry run: nothing written)")
    return EXIT_OK


def _say(
    args: argparse.Namespace, name: str, digest: str, *, moved: bool, before: str | None
) -> None:
    if args.output != "json":
        return
    done: dict[str, object] = {"repository": name, "tag": args.tag, "digest": digest}
    done["moved"] = moved
    if args.dry_run:
        done.update(dry_run=True, before=before)
    print(json.dumps(done, indent=2))
