"""The OCI distribution adapter: any registry speaking the Docker Registry HTTP API v2.

Everything goes through ``reconciler.httpclient``. Resolving a tag is a HEAD for its
digest, then a GET of the manifest by that digest whose bytes must hash to it; moving a
tag re-puts the manifest's exact bytes under the tag with its media type, so no layer is
pulled or pushed and the digest cannot change. Every answer that names a digest is checked
against the bytes. A 429 is waited out (Retry-After, bounded) a few times; each registry
host gets a budget of requests per cycle, past which the work waits for the next cycle.

Tag reads are conditional: the HEAD for a tag sends the ``ETag`` its last answer gave as
``If-None-Match``, and a 304 (distribution answers HEADs of a manifest with
``ETag: "<digest>"`` and honours ``If-None-Match``) means the tag names the digest already
proven; so does a 200 naming that same digest from a registry without ETags. Either way no
GET follows, and an unchanged tag costs one bodiless request a cycle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import NoReturn
from urllib.parse import urljoin, urlsplit

from reconciler.clock import utc_now
from reconciler.errors import PermanentError, TransientError
from reconciler.httpclient.client import HttpClient
from reconciler.httpclient.errors import HttpError
from reconciler.httpclient.messages import HttpRequest, HttpResponse, RedirectPolicy
from reconciler.imagerefs import (
    DOCKER_HUB,
    ImageName,
    check_digest,
    check_tag,
    is_digest,
    parse_repository,
)
from reconciler.registry.answers import error_code, tags_of
from reconciler.registry.dockerconfig import DockerCredentials
from reconciler.registry.headers import next_link, parse_challenge, parse_retry_after
from reconciler.registry.knowntags import KnownTags
from reconciler.registry.labels import read_labels
from reconciler.registry.manifests import (
    ACCEPT,
    MAX_MANIFEST_BYTES,
    hashes_to,
    media_type_of,
    verified,
)
from reconciler.registry.ociauth import Authenticator
from reconciler.registry.port import (
    ImageLabels,
    ImageNotFound,
    Manifest,
    ManifestMismatch,
    Proven,
    Resolved,
    exists_each,
    resolve_each,
)

DEFAULT_BUDGET = 1000
DEFAULT_TIMEOUT = timedelta(seconds=30)
_MAX_PAGES = 1000
_MAX_TAGS_BYTES = 16 * 1024 * 1024
# Docker Hub's API does not live at the host its images are named by.
_API_HOSTS = {DOCKER_HUB: "registry-1.docker.io"}


class OciRegistry:
    """An ``ImageRegistry`` over the OCI distribution API; one instance serves any host."""

    def __init__(  # noqa: PLR0913 the adapter's settings, all keyword-only with defaults
        self,
        http: HttpClient,
        *,
        plain_http: bool = False,
        endpoint_url: str | None = None,
        credentials: DockerCredentials | None = None,
        budget: int = DEFAULT_BUDGET,
        max_retries: int = 3,
        max_wait: timedelta = timedelta(seconds=30),
        timeout: timedelta = DEFAULT_TIMEOUT,
        page_size: int = 1000,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``plain_http`` talks http:// (loopback, a private network); ``endpoint_url``
        sends every request to that base URL instead of the image's host (a mirror);
        ``budget`` is the number of requests per registry host per cycle."""
        self._http = http
        self._scheme = "http" if plain_http else "https"
        self._endpoint = endpoint_url.rstrip("/") if endpoint_url else None
        self._budget = budget
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._timeout = timeout
        self._page_size = page_size
        self._clock = clock
        self._sleep = sleep
        self._spent: dict[str, int] = {}
        self.known = KnownTags()
        self._lock = threading.Lock()
        self.auth = Authenticator(credentials, clock, allow_http_realm=plain_http, timeout=timeout)

    # -- the port --------------------------------------------------------------------------

    def resolve(self, repository: str, tag: str) -> str:
        """The digest ``tag`` points to, proven by fetching the manifest it names once."""
        name = parse_repository(repository)
        check_tag(tag, where=f"{repository}:{tag}")
        key = (self._base(name), name.path, tag)
        known = self.known.get(key)
        head = self._manifest_call(
            name, "HEAD", tag, etag=known.etag if known is not None else None
        )
        claimed = head.header("docker-content-digest")
        if head.status == 304 and known is not None:
            self.known.put(key, known.digest, head.header("etag") or known.etag)
            return known.digest
        if head.status == 200 and claimed is not None and is_digest(claimed):
            digest = (
                claimed
                if known is not None and known.digest == claimed
                else self._manifest(name, claimed).digest
            )
            self.known.put(key, digest, head.header("etag"))
            return digest
        if head.status not in (200, 304, 404):
            self._fail(name, head, f"resolving tag {tag!r}")
        self.known.drop(key)
        # No usable digest header, a 404, or a 304 to nothing asked: the GET tells.
        digest = self._manifest(name, tag, explain=True).digest
        self.known.put(key, digest, None)
        return digest

    def exists(self, repository: str, digest: str) -> bool:
        """Whether the registry serves the manifest ``digest`` (its bytes are checked)."""
        name = parse_repository(repository)
        check_digest(digest, where=f"{repository}@{digest}")
        try:
            self._manifest(name, digest)
        except ImageNotFound:
            return False
        return True

    def labels(self, repository: str, digest: str) -> ImageLabels:
        """The image's labels (``labels.read_labels``); every manifest and the config are
        checked against their digests."""
        name = parse_repository(repository)
        check_digest(digest, where=f"{repository}@{digest}")
        return read_labels(
            lambda ref: self._manifest(name, ref, explain=ref == digest),
            lambda config: self._blob(name, config),
            digest,
        )

    def resolve_all(self, repository: str, tags: Collection[str]) -> Resolved:
        """One ``resolve`` per tag: the distribution API reads one manifest a request."""
        return resolve_each(self, repository, tags)

    def exists_all(self, repository: str, digests: Collection[str]) -> Proven:
        """One ``exists`` per digest."""
        return exists_each(self, repository, digests)

    def tag(self, repository: str, digest: str, tag: str) -> bool:
        """Put the manifest ``digest`` under ``tag``; False when the tag already names it."""
        name = parse_repository(repository)
        check_digest(digest, where=f"{repository}@{digest}")
        check_tag(tag, where=f"{repository}:{tag}")
        if self._current(name, tag) == digest:
            return False
        manifest = self._manifest(name, digest, explain=True)
        self._put(name, tag, manifest)
        self.known.put((self._base(name), name.path, tag), manifest.digest, None)
        return True

    def tags(self, repository: str) -> tuple[str, ...]:
        """Every tag of ``repository``, following the registry's ``Link`` pages."""
        name = parse_repository(repository)
        url = f"{self._base(name)}/v2/{name.path}/tags/list?n={self._page_size}"
        found: set[str] = set()
        for _ in range(_MAX_PAGES):
            response = self._call(name, "GET", url, max_body=_MAX_TAGS_BYTES)
            if response.status == 404:
                raise ImageNotFound(self._unknown_repository(name))
            if response.status != 200:
                self._fail(name, response, "listing tags")
            found.update(tags_of(response.body, name.repository))
            link = next_link(response.header("link"))
            if link is None:
                return tuple(sorted(found))
            url = self._same_origin(name, url, urljoin(url, link))
        raise PermanentError(
            f"registry {name.host}: the tag list of {name.repository} runs past "
            f"{_MAX_PAGES} pages; refusing to follow it further"
        )

    def new_cycle(self) -> None:
        """Refill every host's request budget."""
        with self._lock:
            self._spent.clear()

    # -- manifests ---------------------------------------------------------------------------

    def _manifest(self, name: ImageName, reference: str, *, explain: bool = False) -> Manifest:
        """The manifest ``reference`` (a tag or digest) names, checked; with ``explain``, a
        missing one costs a request more to tell an unknown repository from a missing tag."""
        by_digest = is_digest(reference)
        what = f"image {reference}" if by_digest else f"tag {reference!r}"
        response = self._manifest_call(name, "GET", reference)
        if response.status == 404:
            if explain and self._repository_unknown(name, response):
                raise ImageNotFound(self._unknown_repository(name))
            code = error_code(response.body) or "not found"
            raise ImageNotFound(f"repository {name.repository} has no {what} ({code})")
        if response.status != 200:
            self._fail(name, response, f"fetching {what}")
        return verified(
            response.body,
            media_type=media_type_of(response.header("content-type"), response.body),
            expected=reference if by_digest else None,
            header=response.header("docker-content-digest"),
            where=f"registry {name.host}, {name.repository} {what}",
        )

    def _blob(self, name: ImageName, digest: str) -> bytes:
        """The blob ``digest`` (a config), its bytes checked; registries may answer with a
        redirect to their storage, followed without the credentials."""
        url = f"{self._base(name)}/v2/{name.path}/blobs/{digest}"
        response = self._call(name, "GET", url, redirects="any")
        if response.status == 404:
            raise ImageNotFound(f"repository {name.repository} has no blob {digest}")
        if response.status != 200:
            self._fail(name, response, f"fetching blob {digest}")
        if not hashes_to(response.body, digest):
            raise ManifestMismatch(
                f"registry {name.host}, {name.repository} blob {digest}: its bytes hash to "
                "something else: refused (a registry or proxy is serving altered content)"
            )
        return response.body

    def _current(self, name: ImageName, tag: str) -> str | None:
        """The digest ``tag`` names now, None when there is no such tag yet."""
        head = self._manifest_call(name, "HEAD", tag)
        if head.status == 404:
            return None
        if head.status != 200:
            self._fail(name, head, f"reading tag {tag!r}")
        claimed = head.header("docker-content-digest")
        if claimed is not None and is_digest(claimed):
            return claimed
        try:
            return self._manifest(name, tag).digest
        except ImageNotFound:
            return None

    def _put(self, name: ImageName, tag: str, manifest: Manifest) -> None:
        url = f"{self._base(name)}/v2/{name.path}/manifests/{tag}"
        response = self._call(
            name,
            "PUT",
            url,
            push=True,
            headers={"Content-Type": manifest.media_type},
            body=manifest.body,
        )
        if response.status == 404:
            raise ImageNotFound(self._unknown_repository(name))
        if not 200 <= response.status < 300:
            self._fail(name, response, f"putting {manifest.digest} under tag {tag!r}")
        stored = response.header("docker-content-digest") or self._current(name, tag)
        if stored is None or not hashes_to(manifest.body, stored):  # sha256 for a sha512 pin
            raise ManifestMismatch(
                f"registry {name.host} stored the manifest {manifest.digest} under "
                f"{name.repository}:{tag} as {stored or 'nothing'}: the tag does not name "
                "the promoted digest; check the registry (does it rewrite manifests?)"
            )

    def _manifest_call(
        self, name: ImageName, method: str, reference: str, *, etag: str | None = None
    ) -> HttpResponse:
        url = f"{self._base(name)}/v2/{name.path}/manifests/{reference}"
        headers = {"Accept": ACCEPT}
        if etag is not None:
            headers["If-None-Match"] = etag
        return self._call(name, method, url, headers=headers)

    # -- requests ----------------------------------------------------------------------------

    def _call(  # noqa: PLR0913 one request's parts, all but the first three keyword-only
        self,
        name: ImageName,
        method: str,
        url: str,
        *,
        push: bool = False,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        max_body: int = MAX_MANIFEST_BYTES,
        redirects: RedirectPolicy = "same-host",
    ) -> HttpResponse:
        """One API request with authentication: a 401 is answered once, then refused."""
        scope = f"repository:{name.path}:{'pull,push' if push else 'pull'}"
        sent = dict(headers or {})
        authorization = self.auth.header(name.host, name.repository, scope, self._exchange)
        for answered in (False, True):
            if authorization is not None:
                sent["Authorization"] = authorization
            request = HttpRequest(
                method,
                url,
                sent,
                body,
                timeout=self._timeout,
                max_body_bytes=max_body,
                redirects=redirects,
            )
            response = self._exchange(name.host, request)
            if response.status != 401:
                return response
            if answered:
                break
            challenge = parse_challenge(response.header("www-authenticate"))
            authorization = self.auth.answer(
                name.host, name.repository, challenge, scope, self._exchange
            )
        raise self.auth.refused(name.host, name.repository)

    def _exchange(self, host: str, request: HttpRequest) -> HttpResponse:
        """Send ``request`` within ``host``'s budget, waiting out 429s a bounded number of times."""
        for attempt in range(self._max_retries + 1):
            self._spend(host)
            try:
                response = self._http.send(request)
            except HttpError as exc:
                if isinstance(exc, TransientError):
                    raise TransientError(f"registry {host} is unreachable: {exc}") from None
                raise PermanentError(f"registry {host}: {exc}") from None
            if response.status != 429:
                return response
            wait = parse_retry_after(response.header("retry-after"), self._clock())
            seconds = float(2**attempt) if wait is None else wait
            if attempt == self._max_retries:
                break
            if seconds > self._max_wait.total_seconds():
                raise TransientError(
                    f"registry {host} is rate-limiting requests and asks to wait "
                    f"{seconds:g}s, more than the {self._max_wait.total_seconds():g}s this "
                    "daemon waits; retrying next cycle"
                )
            self._sleep(seconds)
        raise TransientError(
            f"registry {host} is still rate-limiting requests after {self._max_retries} "
            "waits; retrying next cycle"
        )

    def _spend(self, host: str) -> None:
        with self._lock:
            spent = self._spent.get(host, 0)
            if spent >= self._budget:
                raise TransientError(
                    f"registry {host}: request budget of {self._budget} per cycle spent, next cycle"
                )
            self._spent[host] = spent + 1

    def _base(self, name: ImageName) -> str:
        if self._endpoint is not None:
            return self._endpoint
        return f"{self._scheme}://{_API_HOSTS.get(name.host, name.host)}"

    def _same_origin(self, name: ImageName, current: str, target: str) -> str:
        a, b = urlsplit(current), urlsplit(target)
        if (a.scheme, a.netloc) != (b.scheme, b.netloc):
            raise PermanentError(
                f"registry {name.host}: the next page of the tag list of {name.repository} "
                "is on another host; not followed"
            )
        return target

    # -- failures ----------------------------------------------------------------------------

    def _repository_unknown(self, name: ImageName, missing: HttpResponse) -> bool:
        # Registries differ: some answer NAME_UNKNOWN for a manifest of an unknown
        # repository, distribution answers MANIFEST_UNKNOWN; its tag list tells.
        if error_code(missing.body) == "NAME_UNKNOWN":
            return True
        url = f"{self._base(name)}/v2/{name.path}/tags/list?n=1"
        listing = self._call(name, "GET", url)
        return listing.status == 404

    def _unknown_repository(self, name: ImageName) -> str:
        return (
            f"repository {name.repository} does not exist in registry {name.host} "
            "(check the app's image in the policy)"
        )

    def _fail(self, name: ImageName, response: HttpResponse, doing: str) -> NoReturn:
        code = error_code(response.body)
        detail = f"{response.status}{f' {code}' if code else ''}"
        if response.status == 403:
            raise PermanentError(
                f"registry {name.host} denied access to {name.repository} ({detail}) "
                f"{doing}: the credentials lack permission"
            )
        where = f"registry {name.host} answered {detail} {doing} in {name.repository}"
        if response.status >= 500 or response.status == 408:
            raise TransientError(f"{where}; retrying next cycle")
        raise PermanentError(where)
