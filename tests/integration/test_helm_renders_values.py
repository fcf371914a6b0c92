"""The daemon's Helm values edits, rendered by the real Helm engine (tests/helm.py).

For each layout charts use (issue 18, item 2), a chart kept as test data renders an
environment's values file before and after the daemon's pin edit (``pins.write_pin``): the
workload must then run exactly the promoted reference, and nothing else rendered may change.
Charts: ``created`` is `helm create`'s scaffold (helm v3.18.0, unmodified); the others are
minimal charts written for these tests after the layouts their ecosystems document (Bitnami's
registry/repository/tag/digest, a chart reading a digest key, one key holding the reference,
``global.image``, a list of containers).
"""

from __future__ import annotations

import copy
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from reconciler import promotions, units
from reconciler.errors import PolicyError
from reconciler.overlays import pins
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import App, HelmKeys, ImagePart
from tests.conftest import ROOT
from tests.helm import CHARTS, binary, images, template

DIGEST = "sha256:" + "5e" * 32
REPO = "registry.example.com/team/app"


@dataclass(frozen=True)
class Case:
    """A chart, the values an environment gives it, the app's keys, and what must run."""

    chart: str
    values: str
    keys: HelmKeys
    pin: ImagePin
    runs: str  # the image the workload must run after the edit


CASES = {
    "helm create, default layout": Case(
        "created",
        'image:\n  repository: nginx\n  tag: ""\n',
        HelmKeys(),
        ImagePin(REPO, "v1.4.2", DIGEST),
        f"{REPO}:v1.4.2@{DIGEST}",
    ),
    "helm create, tag already pinned": Case(
        "created",
        "image:\n  repository: registry.example.com/team/app\n  tag: v1.4.1\n",
        HelmKeys(layout="tag"),
        ImagePin(REPO, "v1.4.2", DIGEST),
        f"{REPO}:v1.4.2@{DIGEST}",
    ),
    "bitnami registry layout": Case(
        "bitnami-style",
        "image:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: 1.25.3\n",
        HelmKeys(layout="registry"),
        ImagePin("docker.io/bitnami/nginx", "1.25.4", DIGEST),
        f"docker.io/bitnami/nginx@{DIGEST}",
    ),
    "bitnami layout, another registry": Case(
        "bitnami-style",
        "image:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: 1.25.3\n",
        HelmKeys(layout="registry"),
        ImagePin(REPO, "", DIGEST),
        f"{REPO}@{DIGEST}",
    ),
    "chart reads a digest key": Case(
        "digest-key",
        "image:\n  repository: registry.example.com/team/app\n  tag: v1\n",
        HelmKeys(layout="digest"),
        ImagePin(REPO, "", DIGEST),
        f"{REPO}@{DIGEST}",
    ),
    "one key holds the reference": Case(
        "single-key",
        "image: registry.example.com/team/app:v1\n",
        HelmKeys(image="image"),
        ImagePin(REPO, "v2", DIGEST),
        f"{REPO}:v2@{DIGEST}",
    ),
    "global.image keys": Case(
        "global",
        "global:\n  image:\n    repository: registry.example.com/team/app\n    tag: v1\n",
        HelmKeys(repository="global.image.repository", tag="global.image.tag"),
        ImagePin(REPO, "v2", DIGEST),
        f"{REPO}:v2@{DIGEST}",
    ),
    "a list of containers": Case(
        "list",
        "containers:\n  - name: app\n    image: registry.example.com/team/app:v1\n"
        "  - name: sidecar\n    image: registry.example.com/team/proxy:v7\n",
        HelmKeys(image="containers.0.image"),
        ImagePin(REPO, "v2", DIGEST),
        f"{REPO}:v2@{DIGEST}",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_the_edited_values_render_the_promoted_image_and_nothing_else(case: Case) -> None:
    chart = CHARTS / case.chart
    app = App(name="app", image=REPO, helm=case.keys)
    before = template(chart, case.values.encode())

    edited = pins.write_pin("helm", case.values.encode(), "values.yaml", app, case.pin)
    after = template(chart, edited)

    assert case.runs in images(after), images(after)
    assert case.runs not in images(before)
    # Only the app's image changed in what would be applied.
    changed = [a for a, b in zip(images(after), images(before), strict=True) if a != b]
    assert changed == [case.runs]
    assert _same_but_images(before, after)
    # Reading the file back gives the pin as written (the daemon's next cycle sees it).
    assert pins.read_pin("helm", edited, "values.yaml", app) is not None


def _same_but_images(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    def strip(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = copy.deepcopy(objects)
        for obj in out:
            pod = obj.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", ()):
                container.pop("image", None)
        return out

    return strip(before) == strip(after)


def test_the_old_default_would_run_the_charts_app_version_on_a_helm_create_chart() -> None:
    """Why "tag" is the default: written as repository + tag + digest keys (the "digest"
    layout), a `helm create` chart ignores the digest and runs its appVersion."""
    app = App(name="app", image=REPO, helm=HelmKeys(layout="digest"))
    values = b'image:\n  repository: nginx\n  tag: ""\n'
    edited = pins.write_pin("helm", values, "values.yaml", app, ImagePin(REPO, "", DIGEST))

    ran = images(template(CHARTS / "created", edited))

    assert ran == [f"{REPO}:1.16.0"]  # neither the promoted digest nor any tag of ours


@pytest.mark.parametrize(
    ("values", "keys", "pin", "said"),
    [
        (
            'image:\n  repository: nginx\n  tag: ""\n',
            HelmKeys(),
            ImagePin(REPO, "", DIGEST),
            'layout "tag" writes the digest after the tag',
        ),
        (
            "containers:\n  - name: app\n    image: registry.example.com/team/app:v1\n",
            HelmKeys(image="containers.3.image"),
            ImagePin(REPO, "v2", DIGEST),
            "a list item is never created",
        ),
    ],
    ids=["digest without a tag", "list item missing"],
)
def test_a_layout_that_cannot_be_proven_is_refused_and_nothing_is_written(
    values: str, keys: HelmKeys, pin: ImagePin, said: str
) -> None:
    app = App(name="app", image=REPO, helm=keys)
    with pytest.raises(PolicyError, match=said):
        pins.write_pin("helm", values.encode(), "values.yaml", app, pin)


def test_the_payments_example_renders_what_its_values_pin() -> None:
    example = ROOT / "promotion-policies/examples/payments-helm"
    policy = tomllib.loads((example / "promotions.toml").read_text())
    for name, spec in policy["apps"].items():
        keys = HelmKeys(**spec["helm"])
        app = App(name=name, image=spec["image"], helm=keys)
        for env in ("dev", "staging", "prod"):
            values = (example / f"values/{env}/{name}.yaml").read_bytes()
            pinned = pins.read_pin("helm", values, "values.yaml", app)
            assert pinned is not None
            promoted = ImagePin(pinned.repository, pinned.tag, DIGEST)
            edited = pins.write_pin("helm", values, "values.yaml", app, promoted)
            ran = images(template(example / str(keys.chart), edited))
            expected = (
                f"{pinned.repository}@{DIGEST}"
                if keys.kind == "digest"
                else f"{pinned.repository}:{pinned.tag}@{DIGEST}"
            )
            assert ran == [expected], (name, env)


def test_the_created_chart_is_helm_creates_own(tmp_path: Path) -> None:
    """The test data is `helm create` of the pinned helm, byte for byte (regenerate it with
    `tools/bin/helm create created` in tests/data/charts when helm is updated)."""
    subprocess.run(
        [str(binary()), "create", "created"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        env={"HOME": str(tmp_path), "PATH": ""},
        timeout=60,
    )
    made = {
        p.relative_to(tmp_path / "created"): p.read_bytes()
        for p in (tmp_path / "created").rglob("*")
        if p.is_file()
    }
    kept = {
        p.relative_to(CHARTS / "created"): p.read_bytes()
        for p in (CHARTS / "created").rglob("*")
        if p.is_file()
    }
    assert made == kept


def test_an_app_of_two_images_renders_both_promoted_and_nothing_else() -> None:
    """An app of several images (issue 22, item 1): each part's value path is written in the
    one values file, and the chart runs exactly the promoted set."""
    proxy = "registry.example.com/team/proxy"
    app = App(
        name="app",
        images=MappingProxyType(
            {
                "app": ImagePart(name="app", image=REPO, helm=HelmKeys(image="containers.0.image")),
                "proxy": ImagePart(
                    name="proxy", image=proxy, helm=HelmKeys(image="containers.1.image")
                ),
            }
        ),
    )
    values = (
        b"containers:\n  - name: app\n    image: registry.example.com/team/app:v1\n"
        b"  - name: sidecar\n    image: registry.example.com/team/proxy:v7\n"
    )
    other = "sha256:" + "7a" * 32
    source = pins.read_pin("helm", values, "values.yaml", app)
    assert source is not None
    key = units.key({"app": DIGEST, "proxy": other})
    promoted = promotions.target_pin(source, key, keep_tag=True)
    before = template(CHARTS / "list", values)

    edited = pins.write_pin("helm", values, "values.yaml", app, promoted)

    after = template(CHARTS / "list", edited)
    assert images(after) == [f"{REPO}:v1@{DIGEST}", f"{proxy}:v7@{other}"]
    assert _same_but_images(before, after)
    read = pins.read_pin("helm", edited, "values.yaml", app)
    assert read is not None
    assert read.digest == key
