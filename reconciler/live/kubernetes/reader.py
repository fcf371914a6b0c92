"""The reader of a `kubernetes` live source: credentials, the API client and its errors, and
each app's workload and pods read through them."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3
from kubernetes.client import ApiClient, AppsV1Api, Configuration, CoreV1Api, V1Pod
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from kubernetes.config.incluster_config import load_incluster_config
from kubernetes.config.kube_config import load_kube_config

from reconciler.imagerefs import repository_of
from reconciler.live.kubernetes.informer import WATCH_SECONDS, Informer
from reconciler.live.kubernetes.workloads import (
    Failure,
    Running,
    Workload,
    image_digest,
    judge,
    parse_workload,
    selects,
    workload_of,
)
from reconciler.live.port import LiveReader
from reconciler.live.unitstate import combine
from reconciler.policy.model import KubernetesLive
from reconciler.policy.values import fill
from reconciler.snapshot import LiveState

# kind -> (resource, the client's list method, the item's model)
_RESOURCES = {
    "deployment": ("deployments.apps", "list_namespaced_deployment", "V1Deployment"),
    "statefulset": ("statefulsets.apps", "list_namespaced_stateful_set", "V1StatefulSet"),
    "daemonset": ("daemonsets.apps", "list_namespaced_daemon_set", "V1DaemonSet"),
    "pod": ("pods", "list_namespaced_pod", "V1Pod"),
}


class KubernetesLiveReader:
    """Reads each app's workload and pods; ``images`` maps app names to repositories.

    The objects of each namespace are listed once, then kept current by watches; a read
    costs no request while they hold. When a watch is down for longer than ``stale_after``,
    a read lists again rather than answer from older objects.
    """

    def __init__(  # noqa: PLR0913 the reader's settings, keyword-only after the images
        self,
        source: KubernetesLive,
        images: Mapping[str, str],
        *,
        kubeconfig: str | Path | None = None,
        timeout: timedelta = timedelta(seconds=10),
        stale_after: timedelta = timedelta(seconds=30),
        watch_seconds: int = WATCH_SECONDS,
        concurrency: int = 8,
        units: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._source = source
        self._images = dict(images)
        self._units = dict(units or {})  # an app of several images: part -> repository
        self._kubeconfig = str(kubeconfig) if kubeconfig is not None else None
        self._timeout = timeout.total_seconds()
        self._stale_after = stale_after.total_seconds()
        self._watch_seconds = watch_seconds
        self._concurrency = max(1, concurrency)
        self._lock = threading.Lock()
        self._api: ApiClient | None = None
        self._informers: dict[tuple[str, str], Informer] = {}  # (kind, namespace)
        self._host = "(not connected)"

    def __repr__(self) -> str:
        return f"KubernetesLiveReader(env={self._source.env!r}, host={self._host!r})"

    def read(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], LiveState]:
        """One LiveState per (app, env); each namespace's objects are listed at most once."""
        if not pairs:
            return {}
        try:
            api = self._client()
        except Failure as failure:
            return {pair: LiveState(None, error=str(failure)) for pair in pairs}
        states: dict[tuple[str, str], LiveState] = {}
        targets: dict[tuple[str, str], tuple[str, str, str]] = {}  # pair -> (ns, kind, name)
        for app, env in pairs:
            try:
                namespace = fill(self._source.namespace, app=app, env=env)
                kind, name = parse_workload(fill(self._source.workload, app=app, env=env))
            except Failure as failure:
                states[(app, env)] = LiveState(None, error=str(failure))
                continue
            targets[(app, env)] = (namespace, kind, name)
        wanted = sorted(
            {(kind, ns) for ns, kind, _ in targets.values()}
            | {("pod", ns) for ns, _, _ in targets.values()}
        )
        if wanted:
            with ThreadPoolExecutor(min(self._concurrency, len(wanted))) as pool:
                found = dict(
                    zip(wanted, pool.map(lambda w: self._objects(api, *w), wanted), strict=True)
                )
        for pair, (namespace, kind, name) in targets.items():
            workloads, pods = found[(kind, namespace)], found[("pod", namespace)]
            if isinstance(workloads, Failure) or isinstance(pods, Failure):
                states[pair] = LiveState(None, error=str(_first_failure(workloads, pods)))
                continue
            states[pair] = self._read_one(pair, (namespace, kind, name), workloads, pods)
        return {pair: states[pair] for pair in pairs}

    def close(self) -> None:
        """Stop the watches and release the connection pool."""
        with self._lock:
            informers, self._informers = list(self._informers.values()), {}
            api, self._api = self._api, None
        for informer in informers:
            informer.close()
        if api is not None:
            api.close()  # type: ignore[no-untyped-call]

    # -- credentials ---------------------------------------------------------------------------
    def _client(self) -> ApiClient:
        # Built on first use and kept; a failure is reported and tried again next cycle.
        with self._lock:
            if self._api is None:
                configuration = self._configuration()
                configuration.retries = 1  # one retry, for a dropped keep-alive connection
                self._host = _safe_host(configuration.host)
                self._api = ApiClient(configuration)
            return self._api

    def _configuration(self) -> Configuration:
        configuration = Configuration()
        context = self._source.context
        path = self._kubeconfig or os.environ.get("KUBECONFIG") or None
        if path is None and context is None:
            try:
                load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except ConfigException:
                pass  # not in a pod: the default kubeconfig
            else:
                return configuration
        path = path or str(Path("~/.kube/config").expanduser())
        if not any(Path(p).expanduser().is_file() for p in path.split(os.pathsep) if p):
            raise Failure(
                f"no Kubernetes credentials: not running in a cluster and no kubeconfig at "
                f"{path}; set KUBECONFIG or run the daemon in a pod with a service account"
            )
        try:
            load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path,
                context=context,
                client_configuration=configuration,
                persist_config=False,  # read-only: never write refreshed tokens back
            )
        except (ConfigException, OSError, ValueError) as exc:
            where = f"{path} (context {context!r})" if context else path
            raise Failure(f"cannot use the kubeconfig {where}: {_why(exc)}") from None
        return configuration

    # -- objects and one workload ----------------------------------------------------------------
    def _objects(self, api: ApiClient, kind: str, namespace: str) -> dict[str, Any] | Failure:
        resource, lister, model = _RESOURCES[kind]
        with self._lock:
            informer = self._informers.get((kind, namespace))
            if informer is None:
                group = CoreV1Api(api) if kind == "pod" else AppsV1Api(api)
                informer = Informer(
                    api,
                    getattr(group, lister),
                    namespace,
                    model,
                    timeout=self._timeout,
                    watch_seconds=self._watch_seconds,
                )
                self._informers[(kind, namespace)] = informer
        try:
            with self._answer(f"list on {resource}", namespace, f"the {resource}"):
                return informer.objects(self._stale_after)
        except Failure as failure:
            return failure

    def _read_one(
        self,
        pair: tuple[str, str],
        target: tuple[str, str, str],
        workloads: dict[str, Any],
        pods: dict[str, Any],
    ) -> LiveState:
        (app, env), (namespace, kind, name) = pair, target
        try:
            obj = workloads.get(name)
            if obj is None:
                raise Failure(
                    _status_message(404, "get", namespace, f"{kind} {name!r}", self._host)
                )
            workload = workload_of(obj)
            if app in self._units:
                # Each part's container in the workload; the unit runs only as a whole.
                states = {}
                for part, repository in self._units[app].items():
                    try:
                        container = self._container(workload, repository, env)
                    except Failure as failure:
                        states[part] = LiveState(None, error=str(failure))
                        continue
                    running = _running(pods.values(), workload, container)
                    states[part] = judge(workload, container, running)
                return combine(states)
            container = self._container(workload, self._images.get(app), env, app=app)
            running = _running(pods.values(), workload, container)
        except Failure as failure:
            return LiveState(None, error=str(failure))
        except Exception as exc:  # one odd object must not stop the other apps
            return LiveState(None, error=f"unexpected {type(exc).__name__} reading {app} in {env}")
        return judge(workload, container, running)

    def _container(
        self, workload: Workload, repository: str | None, env: str, *, app: str = ""
    ) -> str:
        names = [name for name, _ in workload.containers]
        where = f"{workload.kind}/{workload.name}"
        if self._source.container is not None and app:
            if self._source.container not in names:
                raise Failure(
                    f"{where} has no container {self._source.container!r} "
                    f"(it has {', '.join(names)}); fix container in [live.{env}]"
                )
            return self._source.container
        if repository is None:
            raise Failure(f"no image is known for {app}")
        wanted = repository_of(repository)  # normalised: docker.io/nginx is library/nginx
        for name, image in workload.containers:
            if wanted is not None and repository_of(image) == wanted:
                return name
        listed = ", ".join(f"{name}={image}" for name, image in workload.containers)
        fix = (
            f"set container in [live.{env}] to the one to read"
            if app
            else "each image of the app runs in a container of the workload"
        )
        raise Failure(f"no container of {where} runs {repository} ({listed}); {fix}")

    @contextmanager
    def _answer(self, what: str, namespace: str, subject: str) -> Iterator[None]:
        """Turn the client's exceptions into messages that say what failed and what to do."""
        host = self._host
        try:
            yield
        except ApiException as exc:
            raise Failure(_status_message(exc.status, what, namespace, subject, host)) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
            # NewConnectionError is a ConnectTimeoutError to urllib3, but a refusal here.
            if isinstance(reason, urllib3.exceptions.TimeoutError) and not isinstance(
                reason, urllib3.exceptions.NewConnectionError
            ):
                raise Failure(
                    f"no answer from the Kubernetes API at {host} within {self._timeout:g}s"
                ) from None
            raise Failure(f"cannot reach the Kubernetes API at {host}") from None
        except ValueError:  # the client's models rejected an object
            raise Failure(
                f"the Kubernetes API at {host} answered {subject} in a shape this client "
                "cannot read"
            ) from None


def _running(pods: Iterable[V1Pod], workload: Workload, container: str) -> list[Running]:
    """The workload's pods' ``container``: the digest each runs and since when."""
    out = []
    for pod in pods:
        if pod.metadata is None or not selects(workload.selector, pod.metadata.labels or {}):
            continue
        # A pod being deleted is out of its Service already; a finished pod runs nothing.
        if pod.metadata.deletion_timestamp is not None:
            continue
        status = pod.status
        if status is None or status.phase in ("Succeeded", "Failed"):
            continue
        found = [s for s in status.container_statuses or () if s.name == container]
        if not found:
            out.append(Running(None, None))  # scheduled; its containers are not created yet
            continue
        state = found[0].state
        running = state.running if state is not None else None
        started = running.started_at if running is not None else None
        out.append(Running(image_digest(found[0].image_id), started))
    return out


def _first_failure(*found: dict[str, Any] | Failure) -> Failure:
    return next(f for f in found if isinstance(f, Failure))


def _status_message(status: int | None, what: str, namespace: str, subject: str, host: str) -> str:
    if status == 403:
        return (
            f"Kubernetes RBAC forbids {what} in namespace {namespace!r} (403): grant the "
            "reconciler's identity list and watch on deployments.apps, statefulsets.apps, "
            "daemonsets.apps and pods in that namespace (a read-only Role)"
        )
    if status == 404:
        return (
            f"{subject} not found in namespace {namespace!r} (404): check workload and "
            "namespace in the live source"
        )
    if status == 401:
        return (
            f"the Kubernetes API at {host} rejected the credentials (401): the token is "
            "missing, invalid or expired"
        )
    if not status:
        return f"TLS with the Kubernetes API at {host} failed"
    return f"the Kubernetes API at {host} answered {status} to {what} in namespace {namespace!r}"


def _safe_host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.netloc else url


def _why(exc: BaseException) -> str:
    # The client's messages name kubeconfig keys, not their values; an exec credential
    # plugin's message may quote its output, so it is not repeated.
    lines = str(exc).splitlines()
    text = lines[0] if lines else type(exc).__name__
    if "exec" in text.lower():
        return "the exec credential plugin failed"
    return text[:300]


_PORT: type[LiveReader] = KubernetesLiveReader
