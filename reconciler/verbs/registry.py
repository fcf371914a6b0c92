"""`reconciler registry resolve IMAGE:TAG` and `reconciler registry tag IMAGE@DIGEST TAG`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal

from reconciler.registry import ImageRegistry, open_registry, parse_image
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
    print(_registry(args, image.host).resolve(image.repository, image.tag))
    return EXIT_OK


def tag(args: argparse.Namespace) -> int:
    """Point TAG at IMAGE@DIGEST by re-putting its manifest (no pull, no push of layers)."""
    image = parse_image(args.image)
    if not image.digest:
        return fail("registry", f'"{args.image}": give IMAGE@sha256:...', EXIT_USAGE)
    moved = _registry(args, image.host).tag(image.repository, image.digest, args.tag)
    state = "moved to" if moved else "already at"
    print(f"{image.repository}:{args.tag} {state} {image.digest}")
    return EXIT_OK
