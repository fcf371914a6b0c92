"""The demo's app of two images, ledger: its api and its database migrations, promoted as
one unit (docs/policy.md, "Apps of several images"). Its files in the demo's config repo,
its policy, and the story's last step: CI rebuilds the api only, and the set dev then pins
moves to staging and prod whole."""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING

import reconciler.policy.model
from reconciler import units
from reconciler.demo import images
from reconciler.model import short
from reconciler.overlays import kustomize

if TYPE_CHECKING:
    from reconciler.demo.flow import Demo

ENVS = ("dev", "staging", "prod")  # as the demo's flow names them
APP = "ledger"
IMAGES = {
    "api": "418773912004.dkr.ecr.ap-south-1.amazonaws.com/ledger",
    "migrate": "418773912004.dkr.ecr.ap-south-1.amazonaws.com/ledger-migrations",
}
POLICY = f"""
# ledger ships as two images, its api and its database migrations: they move as one unit.
[apps.{APP}.images.api]
image = "{IMAGES["api"]}"

[apps.{APP}.images.migrate]
image = "{IMAGES["migrate"]}"
"""
RUNNING = {"api": images.LEDGER_API.digest, "migrate": images.LEDGER_MIGRATE.digest}


def with_ledger(files: dict[str, bytes], digests: dict[str, str]) -> dict[str, bytes]:
    """``files`` with the ledger in the policy and each overlay pinning ``digests``."""
    files = dict(files)
    files["promotions.toml"] += POLICY.encode()
    entries = [
        kustomize.parse_argument(f"{image.rsplit('/', 1)[1]}={image}@{digests[part]}")
        for part, image in IMAGES.items()
    ]
    for env in ENVS:
        path = f"overlays/{env}/kustomization.yaml"
        files[path] = kustomize.set_images(files[path], path, entries)
    return files


def app() -> reconciler.policy.model.App:
    """The ledger as the demo policy names it."""
    parts = {
        part: reconciler.policy.model.ImagePart(name=part, image=image)
        for part, image in IMAGES.items()
    }
    return reconciler.policy.model.App(name=APP, images=MappingProxyType(parts))


def story(demo: Demo, limit: timedelta, owner: str) -> None:
    """The ledger, two images as one unit: CI rebuilds the api only, and the set dev pins
    (the new api, the same migrations) moves to staging and prod whole."""
    say = demo.say
    moved = units.key({**RUNNING, "api": images.LEDGER_API_BUILT.digest})
    api = images.LEDGER_API_BUILT
    command = demo.ci_commit(api.digest, api.tag, APP, IMAGES["api"])
    say(
        f"\n8. {APP} ships two images as one unit (api, migrate); CI rebuilds the api only:"
        f"\n    $ {command}"
    )
    demo.cycle()
    say(f"    the set dev pins moves whole, the migrations as dev pins them: {short(moved)}")
    demo.until(
        lambda r: demo.services.running("staging", APP).digest == moved, "ledger staging", limit
    )
    demo.until(
        lambda r: any(o.result == "opened" and o.action.env == "prod" for o in r.outcomes),
        "ledger's prod request",
        limit,
    )
    number = demo.prod_request(APP)
    assert demo.wired is not None
    body = demo.wired.forge.request(number).body
    say(f"    prod request #{number} promotes both images in one edit:")
    for line in body.splitlines():
        if line.startswith(("- images", "  - api:", "  - migrate:")):
            say(f"    {line}")
    demo.review(owner, APP)
    demo.until(lambda r: demo.services.running("prod", APP).digest == moved, "ledger prod", limit)
    say(f"    prod runs {APP} {short(moved)}, the set dev pinned, in one merge")
