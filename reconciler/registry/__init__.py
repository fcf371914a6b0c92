"""Image registries: resolve tags to digests, prove digests exist, move environment tags.

``open_registry`` builds the adapter a policy's ``[registry]`` (or a CLI option) names.
Importing this package loads only the pure parts (the port, and the image references of
``reconciler.imagerefs``): each adapter, and with it httpx or boto3, is imported when it is
opened, so pure code that parses image references pays for neither.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from reconciler.clock import utc_now
from reconciler.errors import PolicyError, TransientError
from reconciler.imagerefs import ImageName, parse_image, parse_repository
from reconciler.policy.model import Registry
from reconciler.registry.port import ImageNotFound, ImageRegistry, Manifest, ManifestMismatch

if TYPE_CHECKING:
    from reconciler.httpclient.client import HttpClient

__all__ = [
    "ImageName",
    "ImageNotFound",
    "ImageRegistry",
    "Manifest",
    "ManifestMismatch",
    "open_registry",
    "parse_image",
    "parse_repository",
]

DEFAULT_BUDGET = 1000


def open_registry(  # noqa: PLR0913 the registry's settings, all keyword-only with defaults
    source: Registry | Literal["ecr", "oci"],
    *,
    endpoint_url: str | None = None,
    plain_http: bool | None = None,
    region: str | None = None,
    docker_config: Path | None = None,
    environ: Mapping[str, str] | None = None,
    http: HttpClient | None = None,
    budget: int = DEFAULT_BUDGET,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    timeout: timedelta | None = None,
) -> ImageRegistry:
    """The adapter for a policy's registry or a kind; options given here override the
    policy's values. ``docker_config`` is a config.json (default: $DOCKER_CONFIG, ~/.docker);
    its credential helpers run with ``environ`` and stop after ``timeout``, as requests do."""
    if isinstance(source, Registry):
        kind = source.kind
        endpoint_url = endpoint_url if endpoint_url is not None else source.endpoint_url
        plain_http = plain_http if plain_http is not None else source.plain_http
        region = region if region is not None else source.region
        timeout = timeout if timeout is not None else source.timeout
    else:
        kind = source
    timeout = timeout if timeout is not None else Registry.timeout
    if kind == "ecr":
        if plain_http:
            raise PolicyError(
                "plain HTTP applies to OCI registries only; for ECR give an endpoint URL "
                "(http:// for a local ECR-compatible endpoint)"
            )
        from reconciler.registry.ecr import EcrRegistry  # noqa: PLC0415 - see the docstring

        return EcrRegistry(
            region=region,
            endpoint_url=endpoint_url,
            budget=budget,
            read_timeout=timeout.total_seconds(),
            download=_downloader(http, timeout),
        )
    if kind == "oci":
        from reconciler.httpclient.client import HttpClient  # noqa: PLC0415 - see the docstring
        from reconciler.registry.dockerconfig import DockerCredentials  # noqa: PLC0415
        from reconciler.registry.oci import OciRegistry  # noqa: PLC0415

        env = os.environ if environ is None else environ
        return OciRegistry(
            http or HttpClient(),
            plain_http=bool(plain_http),
            endpoint_url=endpoint_url,
            credentials=DockerCredentials.load(docker_config, env, helper_timeout=timeout),
            budget=budget,
            timeout=timeout,
            clock=clock,
            sleep=sleep,
        )
    raise PolicyError(f"unknown registry kind {kind!r}: use 'ecr' or 'oci'")


def _downloader(http: HttpClient | None, timeout: timedelta) -> Callable[[str], bytes]:
    """A GET of a presigned blob URL (ECR's layer download, an image config), bounded; the
    HTTP client is made at the first download (most cycles need none)."""
    made: list[HttpClient] = [http] if http is not None else []

    def download(url: str) -> bytes:
        from reconciler.httpclient.client import HttpClient  # noqa: PLC0415 - see the docstring
        from reconciler.httpclient.messages import HttpRequest  # noqa: PLC0415
        from reconciler.registry.manifests import MAX_MANIFEST_BYTES  # noqa: PLC0415

        if not made:
            made.append(HttpClient())
        request = HttpRequest("GET", url, timeout=timeout, max_body_bytes=MAX_MANIFEST_BYTES)
        response = made[0].send(request)
        if response.status != 200:
            raise TransientError(f"ECR's blob download answered {response.status}")
        return response.body

    return download
