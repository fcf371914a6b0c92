"""The reader of a `kubernetes` live source: credentials, the API client and its errors, and
each app's workload and pods read through them."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
from kubernetes.client import (
    ApiClient,
    AppsV1Api,
    Configuration,
    CoreV1Api,
    V1DaemonSet,
    V1Deployment,
    V1PodList,
    V1StatefulSet,
)
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from kubernetes.config.incluster_config import load_incluster_config
from kubernetes.config.kube_config import load_kube_config

from reconciler.imagerefs import repository_of
from reconciler.live.kubernetes.workloads import (
    Failure,
    Running,
    Workload,
    image_digest,
    judge,
    parse_workload,
    workload_of,
)
from reconciler.live.port import LiveReader
from reconciler.policy.model import KubernetesLive
from reconciler.policy.values import fill
from reconciler.snapshot import LiveState


class KubernetesLiveReader:
    """Reads each app's workload and pods; ``images`` maps app names to repositories."""

    def __init__(
        self,
        source: KubernetesLive,
        images: Mapping[str, str],
        *,
        kubeconfig: str | Path | None = None,
        timeout: timedelta = timedelta(seconds=10),
        concurrency: int = 8,
    ) -> None:
        self._source = source
        self._images = dict(images)
        self._kubeconfig = str(kubeconfig) if kubeconfig is not None else None
        self._timeout = timeout.total_seconds()
        self._concurrency = max(1, concurrency)
        self._lock = threading.Lock()
        self._api: ApiClient | None = None
        self._host = "(not connected)"

    def __repr__(self) -> str:
        return f"KubernetesLiveReader(env={self._source.env!r}, host={self._host!r})"

    def read(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], LiveState]:
        """One LiveState per (app, env); a few workloads are read at a time."""
        if not pairs:
            return {}
        try:
            api = self._client()
        except Failure as failure:
            return {pair: LiveState(None, error=str(failure)) for pair in pairs}
        with ThreadPoolExecutor(min(self._concurrency, len(pairs))) as pool:
            states = list(pool.map(lambda pair: self._read_one(api, *pair), pairs))
        return dict(zip(pairs, states, strict=True))

    def close(self) -> None:
        """Release the connection pool."""
        with self._lock:
            if self._api is not None:
                self._api.close()  # type: ignore[no-untyped-call]
                self._api = None

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

    # -- one workload --------------------------------------------------------------------------
    def _read_one(self, api: ApiClient, app: str, env: str) -> LiveState:
        try:
            namespace = fill(self._source.namespace, app=app, env=env)
            kind, name = parse_workload(fill(self._source.workload, app=app, env=env))
            workload = self._workload(api, kind, name, namespace)
            container = self._container(workload, app, env)
            pods = self._pods(api, workload, container, namespace)
        except Failure as failure:
            return LiveState(None, error=str(failure))
        except Exception as exc:  # one odd answer must not stop the other apps
            return LiveState(None, error=f"unexpected {type(exc).__name__} reading {app} in {env}")
        return judge(workload, container, pods)

    def _workload(self, api: ApiClient, kind: str, name: str, namespace: str) -> Workload:
        apps, timeout = AppsV1Api(api), self._timeout
        with self._answer(f"get on {kind}s.apps", kind, namespace, f"{kind} {name!r}"):
            obj: V1Deployment | V1StatefulSet | V1DaemonSet
            if kind == "deployment":
                obj = apps.read_namespaced_deployment(name, namespace, _request_timeout=timeout)
            elif kind == "statefulset":
                obj = apps.read_namespaced_stateful_set(name, namespace, _request_timeout=timeout)
            else:
                obj = apps.read_namespaced_daemon_set(name, namespace, _request_timeout=timeout)
            return workload_of(obj)

    def _container(self, workload: Workload, app: str, env: str) -> str:
        names = [name for name, _ in workload.containers]
        where = f"{workload.kind}/{workload.name}"
        if self._source.container is not None:
            if self._source.container not in names:
                raise Failure(
                    f"{where} has no container {self._source.container!r} "
                    f"(it has {', '.join(names)}); fix container in [live.{env}]"
                )
            return self._source.container
        repository = self._images.get(app)
        if repository is None:
            raise Failure(f"no image is known for {app}")
        wanted = repository_of(repository)  # normalised: docker.io/nginx is library/nginx
        for name, image in workload.containers:
            if wanted is not None and repository_of(image) == wanted:
                return name
        listed = ", ".join(f"{name}={image}" for name, image in workload.containers)
        raise Failure(
            f"no container of {where} runs {repository} ({listed}); "
            f"set container in [live.{env}] to the one to read"
        )

    def _pods(
        self, api: ApiClient, workload: Workload, container: str, namespace: str
    ) -> list[Running]:
        subject = f"the pods of {workload.kind}/{workload.name}"
        with self._answer("list on pods", workload.kind, namespace, subject):
            pods: V1PodList = CoreV1Api(api).list_namespaced_pod(
                namespace, label_selector=workload.selector, _request_timeout=self._timeout
            )
        out = []
        for pod in pods.items:
            # A pod being deleted is out of its Service already; a finished pod runs nothing.
            if pod.metadata is not None and pod.metadata.deletion_timestamp is not None:
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

    @contextmanager
    def _answer(self, what: str, kind: str, namespace: str, subject: str) -> Iterator[None]:
        """Turn the client's exceptions into messages that say what failed and what to do."""
        host = self._host
        try:
            yield
        except ApiException as exc:
            message = _status_message(
                exc.status, what, kind=kind, namespace=namespace, subject=subject, host=host
            )
            raise Failure(message) from None
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
        except ValueError:  # the client's models rejected the object
            raise Failure(
                f"the Kubernetes API at {host} answered {subject} in a shape this client "
                "cannot read"
            ) from None


def _status_message(
    status: int | None, what: str, *, kind: str, namespace: str, subject: str, host: str
) -> str:
    if status == 403:
        return (
            f"Kubernetes RBAC forbids {what} in namespace {namespace!r} (403): grant the "
            f"reconciler's identity get on {kind}s.apps and list on pods in that namespace "
            "(a read-only Role)"
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
