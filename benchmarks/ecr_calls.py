"""ECR API calls of a cycle's registry reads, batched and one at a time, against moto.

    python -m benchmarks.ecr_calls [--apps 1000] [--cycles 3]

A policy of ``apps`` apps, each its own ECR repository, x dev -> staging -> prod, staging and
prod with a ``registry_tag``; moto's ECR server (``tests/servers/moto_ecr.py``) holds every
repository's images and environment tags. Each cycle is ``registry_facts`` (every registry
read of a cycle: an idle cycle applies nothing, so moves no tag) through ``EcrRegistry``, with
the calls counted by the forwarder in front of moto, one per HTTP request ECR would answer.
"One at a time" is the same adapter asked as ``registry_facts`` asked it before the batched
reads: one ``resolve`` per (repository, tag), one ``exists`` per (repository, digest).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]

from benchmarks.common import line
from reconciler.overlays.imageref import ImagePin
from reconciler.policy import Policy, load_policy
from reconciler.registry.ecr import EcrRegistry
from reconciler.registry.port import (
    ImageLabels,
    ImageRegistry,
    Proven,
    Resolved,
    exists_each,
    resolve_each,
)
from reconciler.registryfacts import registry_facts
from reconciler.snapshot import Key, OverlayState
from tests.servers.moto_ecr import ACCOUNT, Counted, aws_environment, counting, run_moto

HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
ENVS = ("dev", "staging", "prod")
TAGS = {"staging": "staging", "prod": "prod"}  # each environment's registry_tag
MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
# What each environment's overlay pins, by the build it names (b1, b2, b3); "tag" pins the
# build's tag only, as CI pins dev before the daemon resolves it.
SCENARIOS = {
    "idle, digests pinned": {"dev": "b1", "staging": "b1", "prod": "b1"},
    "idle, dev pinned by tag": {"dev": "tag:b1", "staging": "b1", "prod": "b1"},
    "a candidate on every edge": {"dev": "b3", "staging": "b2", "prod": "b1"},
}


class OneAtATime:
    """``registry`` asked one tag or digest a call, as ``registry_facts`` asked before."""

    def __init__(self, registry: EcrRegistry) -> None:
        self.registry = registry

    def resolve(self, repository: str, tag: str) -> str:
        return self.registry.resolve(repository, tag)

    def exists(self, repository: str, digest: str) -> bool:
        return self.registry.exists(repository, digest)

    def resolve_all(self, repository: str, tags: Collection[str]) -> Resolved:
        return resolve_each(self, repository, tags)

    def exists_all(self, repository: str, digests: Collection[str]) -> Proven:
        return exists_each(self, repository, digests)

    def labels(self, repository: str, digest: str) -> ImageLabels:
        return self.registry.labels(repository, digest)

    def tag(self, repository: str, digest: str, tag: str) -> bool:
        return self.registry.tag(repository, digest, tag)

    def tags(self, repository: str) -> tuple[str, ...]:
        return self.registry.tags(repository)

    def new_cycle(self) -> None:
        self.registry.new_cycle()


def app_name(index: int) -> str:
    return f"app-{index:04d}"


def manifest(app: str, build: str) -> str:
    """A small image manifest naming ``app``'s ``build``; its digest is its sha256."""
    config = hashlib.sha256(f"{app} {build}".encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config}",
                "size": 2,
            },
            "layers": [],
        }
    )


def digest(app: str, build: str) -> str:
    return "sha256:" + hashlib.sha256(manifest(app, build).encode()).hexdigest()


def policy(apps: int) -> Policy:
    """``apps`` apps, each in its own repository; staging and prod keep a registry tag."""
    lines = ["version = 1", "", "[registry]", 'kind = "ecr"', ""]
    for index in range(apps):
        lines += [f"[apps.{app_name(index)}]", f'image = "{HOST}/team/{app_name(index)}"', ""]
    for n, env in enumerate(ENVS):
        lines += [f"[environments.{env}]", f'overlay = "overlays/{env}/{{app}}"']
        if n:
            lines += [f'follows = "{ENVS[n - 1]}"', f'registry_tag = "{TAGS[env]}"']
        lines.append("auto_merge = true" if n == 1 else "")
    loaded = load_policy("\n".join(lines).encode())
    assert loaded.policy is not None, loaded.diagnostics
    return loaded.policy


def overlays(apps: int, pins: dict[str, str]) -> dict[Key, OverlayState]:
    """What each overlay pins in the scenario ``pins``."""
    found: dict[Key, OverlayState] = {}
    for index in range(apps):
        app = app_name(index)
        for env, pinned in pins.items():
            build = pinned.removeprefix("tag:")
            pin = (
                ImagePin(f"{HOST}/team/{app}", tag=build)
                if pinned != build
                else ImagePin(f"{HOST}/team/{app}", digest=digest(app, build))
            )
            found[(app, env)] = OverlayState(
                path=f"overlays/{env}/{app}/kustomization.yaml", pin=pin
            )
    return found


def seed(endpoint: str, apps: int) -> None:
    """Every app's repository with builds b1-b3 (tagged by name); the env tags on b1."""
    client: Any = boto3.client("ecr", region_name="us-east-1", endpoint_url=endpoint)
    for index in range(apps):
        app = app_name(index)
        client.create_repository(repositoryName=f"team/{app}")
        for build, tags in (("b1", ("b1", *TAGS.values())), ("b2", ("b2",)), ("b3", ("b3",))):
            for tag in tags:
                client.put_image(
                    repositoryName=f"team/{app}",
                    imageManifest=manifest(app, build),
                    imageManifestMediaType=MEDIA_TYPE,
                    imageDigest=digest(app, build),
                    imageTag=tag,
                )


def calls_per_cycle(
    registry: ImageRegistry, counted: Counted, apps: int, pins: dict[str, str], cycles: int
) -> tuple[Counter[str], Any]:
    """The ECR operations of one cycle (the same in each of ``cycles``), and its facts."""
    rules, states = policy(apps), overlays(apps, pins)
    seen: list[Counter[str]] = []
    facts: Any = None
    for _ in range(cycles):
        counted.clear()
        facts = registry_facts(rules, states, registry)
        seen.append(Counter(counted.operations()))
    assert all(each == seen[0] for each in seen), seen
    return seen[0], facts


@contextmanager
def moto_ecr(folder: Path) -> Iterator[str]:
    """moto's server with the AWS variables boto3 needs to use it, restored afterwards."""
    saved = dict(os.environ)
    os.environ.update(aws_environment(folder))
    try:
        with run_moto(folder) as endpoint:
            yield endpoint
    finally:
        os.environ.clear()
        os.environ.update(saved)


def measure(
    endpoint: str, apps: int, cycles: int = 3
) -> dict[str, tuple[Counter[str], Counter[str]]]:
    """Scenario -> (one at a time, batched) operations per cycle, against moto at
    ``endpoint`` seeded by ``seed``; both ways must find the same facts."""
    found = {}
    with counting(endpoint) as counted:
        for scenario, pins in SCENARIOS.items():
            before, old = calls_per_cycle(
                OneAtATime(EcrRegistry(endpoint_url=counted.url, budget=10**6)),
                counted,
                apps,
                pins,
                cycles,
            )
            after, new = calls_per_cycle(
                EcrRegistry(endpoint_url=counted.url, budget=10**6), counted, apps, pins, cycles
            )
            assert old == new, scenario
            found[scenario] = (before, after)
    return found


def run(apps: int, cycles: int = 3) -> list[str]:
    """Measure and return the result lines."""
    with tempfile.TemporaryDirectory() as folder, moto_ecr(Path(folder)) as endpoint:
        seed(endpoint, apps)
        found = measure(endpoint, apps, cycles)
    out = []
    for scenario, (before, after) in found.items():
        out.append(
            line(
                f"ECR calls, {scenario} ({apps} apps)",
                f"{sum(after.values())}/cycle",
                f"one at a time: {sum(before.values())}/cycle ({_ops(before)}); "
                f"batched: {_ops(after)}",
            )
        )
    return out


def _ops(counts: Counter[str]) -> str:
    return ", ".join(f"{n} {op}" for op, n in sorted(counts.items())) or "none"


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    print("\n".join(run(args.apps, args.cycles)))


if __name__ == "__main__":
    main()
