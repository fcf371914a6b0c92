"""The Amazon ECR adapter, through ECR's own API (boto3): the one boto3/botocore user.

Credentials come from botocore's default chain (environment, profile, IRSA web identity,
EKS Pod Identity, instance metadata); throttling is retried by botocore's ``standard``
retry mode. The region is the policy's, else the image host's
(``<account>.dkr.ecr.<region>.amazonaws.com``), whose account is the registry id. Moving a
tag is ``put_image`` of the manifest ``batch_get_image`` returned, byte for byte, with its
media type and digest; ECR answering ImageAlreadyExists means the tag is already there.
``resolve_all`` and ``exists_all`` ask about up to 100 ids a call (``ecrbatch.py`` reads the
answers); every call, batched or not, spends one from the region's budget.
Error messages name the repository and the error code, never a library's own text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, NoReturn

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
)

from reconciler import __version__
from reconciler.errors import PermanentError, PolicyError, ReconcilerError, TransientError
from reconciler.imagerefs import (
    ImageName,
    check_digest,
    check_tag,
    is_digest,
    parse_repository,
)
from reconciler.registry.ecrbatch import described, each, fetched_tags, manifests, proven
from reconciler.registry.labels import read_labels
from reconciler.registry.manifests import MEDIA_TYPES, hashes_to
from reconciler.registry.port import (
    ImageLabels,
    ImageNotFound,
    Manifest,
    ManifestMismatch,
    Proven,
    Resolved,
)
from reconciler.registry.references import ecr_host

DEFAULT_BUDGET = 1000
DEFAULT_MAX_ATTEMPTS = 5
_NOT_FOUND = frozenset({"RepositoryNotFoundException", "ImageNotFoundException"})
_TRANSIENT = frozenset(
    {
        "ThrottlingException",
        "ServerException",
        "ServiceUnavailableException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalFailure",
        "KmsException",
    }
)
_CREDENTIALS = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
    }
)


class EcrRegistry:
    """An ``ImageRegistry`` over Amazon ECR's API (or an ECR-compatible endpoint)."""

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        budget: int = DEFAULT_BUDGET,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        download: Callable[[str], bytes] | None = None,
    ) -> None:
        """``region`` overrides the one in the image host; ``endpoint_url`` replaces ECR's
        endpoint; ``budget`` is the number of API calls per region per cycle;
        ``max_attempts`` counts every try of a throttled or failed call, the first included;
        ``download`` reads a layer's download URL (without it, labels come from annotations
        only: ECR's API hands out no blob itself)."""
        self._download = download
        self._region = region
        self._endpoint_url = endpoint_url
        self._budget = budget
        self._config = Config(
            # total_max_attempts counts the first try; botocore's "max_attempts" does not.
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            user_agent_extra=f"reconciler/{__version__}",
        )
        self._session: Any = None
        self._clients: dict[str, Any] = {}
        self._spent: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- the port --------------------------------------------------------------------------

    def resolve(self, repository: str, tag: str) -> str:
        """The digest ``tag`` points to (describe_images)."""
        name = parse_repository(repository)
        check_tag(tag, where=f"{repository}:{tag}")
        return self._resolve(name, tag)

    def _resolve(self, name: ImageName, tag: str) -> str:
        pages = self._pages(
            name,
            "describe_images",
            missing=f"tag {tag!r}",
            repositoryName=name.path,
            imageIds=[{"imageTag": tag}],
            **self._ids(name),
        )
        for page in pages:
            for detail in page.get("imageDetails", []):
                digest = detail.get("imageDigest")
                if isinstance(digest, str):
                    if not is_digest(digest):
                        raise ManifestMismatch(
                            f"ECR answered {digest!r} for {name.repository}:{tag}: not a "
                            "digest the daemon accepts; refused"
                        )
                    return digest
        raise ImageNotFound(f"ECR repository {name.repository} has no tag {tag!r}")

    def resolve_all(self, repository: str, tags: Collection[str]) -> Resolved:
        """Each tag's digest: describe_images for up to 100 tags a call, no manifest read.
        One unknown tag fails such a call whole; batch_get_image, which answers each id on
        its own, then tells which."""
        return each(repository, tags, check_tag, ":", self._resolve_chunk)

    def exists_all(self, repository: str, digests: Collection[str]) -> Proven:
        """Whether ECR holds each digest: batch_get_image for up to 100 a call, every
        manifest's bytes checked as ``exists`` checks them."""
        return proven(each(repository, digests, check_digest, "@", self._manifests))

    def exists(self, repository: str, digest: str) -> bool:
        """Whether ECR holds the manifest ``digest`` (its bytes are checked)."""
        name = parse_repository(repository)
        check_digest(digest, where=f"{repository}@{digest}")
        try:
            self._manifest(name, digest)
        except ImageNotFound:
            return False
        return True

    def labels(self, repository: str, digest: str) -> ImageLabels:
        """The image's labels (``labels.read_labels``): manifests from batch_get_image, the
        config through get_download_url_for_layer and ``download``, its bytes checked."""
        name = parse_repository(repository)
        check_digest(digest, where=f"{repository}@{digest}")
        blob = (lambda config: self._blob(name, config)) if self._download else None
        return read_labels(lambda ref: self._manifest(name, ref), blob, digest)

    def _blob(self, name: ImageName, digest: str) -> bytes:
        assert self._download is not None
        answer = self._call(
            name,
            "get_download_url_for_layer",
            missing=f"blob {digest}",
            repositoryName=name.path,
            layerDigest=digest,
            **self._ids(name),
        )
        body = self._download(str(answer.get("downloadUrl", "")))
        if not hashes_to(body, digest):
            raise ManifestMismatch(
                f"ECR blob {digest} of {name.repository}: its bytes hash to something else: refused"
            )
        return body

    def tag(self, repository: str, digest: str, tag: str) -> bool:
        """Put the manifest ``digest`` under ``tag``; False when ECR says it is already there."""
        name = parse_repository(repository)
        check_digest(digest, where=f"{repository}@{digest}")
        check_tag(tag, where=f"{repository}:{tag}")
        manifest = self._manifest(name, digest)
        try:
            answer = self._call(
                name,
                "put_image",
                repositoryName=name.path,
                imageManifest=manifest.body.decode("utf-8"),
                imageManifestMediaType=manifest.media_type,
                imageDigest=manifest.digest,
                imageTag=tag,
                **self._ids(name),
            )
        except _AlreadyThere:
            return False
        stored = answer.get("image", {}).get("imageId", {}).get("imageDigest")
        if stored != manifest.digest:
            raise ManifestMismatch(
                f"ECR stored the manifest {manifest.digest} under {name.repository}:{tag} "
                f"as {stored or 'nothing'}: the tag does not name the promoted digest"
            )
        return True

    def tags(self, repository: str) -> tuple[str, ...]:
        """Every tag of ``repository`` (list_images, paginated)."""
        name = parse_repository(repository)
        pages = self._pages(
            name,
            "list_images",
            repositoryName=name.path,
            filter={"tagStatus": "TAGGED"},
            **self._ids(name),
        )
        return tuple(
            sorted(
                {
                    image["imageTag"]
                    for page in pages
                    for image in page.get("imageIds", [])
                    if isinstance(image.get("imageTag"), str)
                }
            )
        )

    def new_cycle(self) -> None:
        """Refill every region's API call budget."""
        with self._lock:
            self._spent.clear()

    # -- batches and manifests --------------------------------------------------------------

    def _resolve_chunk(self, name: ImageName, tags: Sequence[str]) -> Resolved:
        params: dict[str, Any] = {
            "repositoryName": name.path,
            "imageIds": [{"imageTag": tag} for tag in tags],
        }
        try:
            answer = self._send(name, "describe_images", **params, **self._ids(name))
        except (ClientError, BotoCoreError) as exc:
            if len(tags) == 1 or _code(exc) != "ImageNotFoundException":
                missing = f"tag {tags[0]!r}" if len(tags) == 1 else "such tags"
                self._raise(name, "describe_images", exc, missing)
            answer = self._call(
                name,
                "batch_get_image",
                **params,
                acceptedMediaTypes=list(MEDIA_TYPES),
                **self._ids(name),
            )
            found = fetched_tags(answer, tags, name.repository)
            for tag in tags:
                if tag not in found:  # found, but named by another of its tags (moto)
                    try:
                        found[tag] = self._resolve(name, tag)
                    except ReconcilerError as error:
                        found[tag] = error
            return found
        return described(answer, tags, name.repository)

    def _manifest(self, name: ImageName, digest: str) -> Manifest:
        found = self._manifests(name, [digest])[digest]
        if isinstance(found, ReconcilerError):
            raise found
        return found

    def _manifests(
        self, name: ImageName, digests: Sequence[str]
    ) -> dict[str, Manifest | ReconcilerError]:
        answer = self._call(
            name,
            "batch_get_image",
            missing=f"image {digests[0]}" if len(digests) == 1 else "such images",
            repositoryName=name.path,
            imageIds=[{"imageDigest": digest} for digest in digests],
            acceptedMediaTypes=list(MEDIA_TYPES),
            **self._ids(name),
        )
        return manifests(answer, digests, name.repository)

    # -- calls -------------------------------------------------------------------------------

    def _ids(self, name: ImageName) -> dict[str, str]:
        found = ecr_host(name.host)
        return {"registryId": found.account} if found else {}

    def _call(
        self, name: ImageName, operation: str, *, missing: str = "such image", **params: Any
    ) -> dict[str, Any]:
        try:
            return self._send(name, operation, **params)
        except (ClientError, BotoCoreError) as exc:
            self._raise(name, operation, exc, missing)

    def _send(self, name: ImageName, operation: str, **params: Any) -> dict[str, Any]:
        """One call, its budget spent; the library's errors are the caller's to read."""
        client = self._client(name)
        self._spend(client.meta.region_name)
        answer: dict[str, Any] = getattr(client, operation)(**params)
        return answer

    def _pages(
        self, name: ImageName, operation: str, *, missing: str = "such image", **params: Any
    ) -> Iterator[dict[str, Any]]:
        client = self._client(name)
        pages = iter(client.get_paginator(operation).paginate(**params))
        while True:
            self._spend(client.meta.region_name)
            try:
                page: dict[str, Any] = next(pages)
            except StopIteration:
                return
            except (ClientError, BotoCoreError) as exc:
                self._raise(name, operation, exc, missing)
            yield page
            if not page.get("nextToken"):  # the last page: asking again would cost a call
                return

    def _client(self, name: ImageName) -> Any:
        found = ecr_host(name.host)
        region = self._region or (found.region if found else None)
        if region is None:
            raise PolicyError(
                f"cannot tell the ECR region of {name.repository}: its host is not "
                "<account>.dkr.ecr.<region>.amazonaws.com; set the registry's region in the policy"
            )
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                if self._session is None:
                    self._session = boto3.session.Session()
                client = self._session.client(
                    "ecr",
                    region_name=region,
                    endpoint_url=self._endpoint_url,
                    config=self._config,
                )
                self._clients[region] = client
        return client

    def _spend(self, region: str) -> None:
        with self._lock:
            spent = self._spent.get(region, 0)
            if spent >= self._budget:
                raise TransientError(
                    f"ECR in {region}: budget of {self._budget} API calls per cycle spent, "
                    "next cycle"
                )
            self._spent[region] = spent + 1

    def _raise(self, name: ImageName, operation: str, exc: Exception, missing: str) -> NoReturn:
        where = f"ECR {operation} on {name.repository}"
        if isinstance(exc, ClientError):
            code = _code(exc)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "ImageAlreadyExistsException":
                raise _AlreadyThere() from None
            if code == "RepositoryNotFoundException":
                raise ImageNotFound(
                    f"ECR repository {name.repository} does not exist "
                    "(check the app's image in the policy)"
                ) from None
            if code in _NOT_FOUND:
                raise ImageNotFound(f"ECR repository {name.repository} has no {missing}") from None
            if code == "ImageTagAlreadyExistsException":
                raise PermanentError(
                    f"{where}: the repository's tags are immutable and the tag already names "
                    "another image; allow mutable tags for the environment tags"
                ) from None
            if code in _TRANSIENT or (isinstance(status, int) and status >= 500):
                raise TransientError(f"{where} failed ({code}); retrying next cycle") from None
            if code in _CREDENTIALS:
                raise PermanentError(
                    f"{where} was refused ({code}): check the AWS credentials and that their "
                    "IAM policy allows ecr:DescribeImages, ecr:BatchGetImage, ecr:PutImage, "
                    "ecr:ListImages and ecr:GetDownloadUrlForLayer"
                ) from None
            raise PermanentError(f"{where} failed ({code})") from None
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            raise PermanentError(
                f"{where}: no usable AWS credentials (looked in the environment, the shared "
                "config and credentials files, IRSA, EKS Pod Identity and instance metadata)"
            ) from None
        if isinstance(exc, ParamValidationError):
            raise PermanentError(f"{where}: ECR refused the request's parameters") from None
        if isinstance(exc, NoRegionError):
            raise PolicyError(f"{where}: no region; set the registry's region in the policy")
        raise TransientError(
            f"{where} failed ({type(exc).__name__}); retrying next cycle"
        ) from None


class _AlreadyThere(Exception):
    """put_image's ImageAlreadyExistsException: the tag already names this manifest."""


def _code(exc: Exception) -> str:
    if not isinstance(exc, ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", "unknown"))
