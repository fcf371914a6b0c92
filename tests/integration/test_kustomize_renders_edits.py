"""The daemon's kustomization edits, rendered by the real ``kustomize build`` (tests/kustomize.py).

The golden files (tests/unit/overlays/golden/k-*) and `reconciler set-image` are checked byte
for byte elsewhere; here the question is what a cluster would run once Argo CD or
``kubectl apply -k`` renders the edited overlay: every container image exactly as the edit
pinned it, and nothing else different. The daemon's own promotion edit
(``overlays.pins.write_pin``, also what `reconciler pin` writes) is rendered before and
after on every golden k-* case and every example overlay: the only change in the rendered
objects is the app's image, now the promoted reference.

Helm values edits are rendered by the real helm in test_helm_renders_values.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.overlays import pins
from reconciler.overlays.imageref import ImagePin
from reconciler.policy import load_policy
from reconciler.policy.model import App
from tests.cli.test_validate import run
from tests.conftest import EXAMPLES, ROOT
from tests.kustomize import build, containers, image_name, parse, workload

GOLDEN = ROOT / "tests/unit/overlays/golden"
K_CASES = sorted(p for p in GOLDEN.iterdir() if p.is_dir() and p.name.startswith("k-"))
BASE_TAG = "from-base"  # the tag the base's containers carry, kept where an entry sets none


def split(ref: str) -> tuple[str, str | None, str | None]:
    """Repository, tag and digest of `repo[:tag][@digest]`, None where absent."""
    name, _, digest = ref.partition("@")
    repository = image_name(name)
    return repository, name[len(repository) + 1 :] or None, digest or None


def meant(entry: dict[str, Any], base_ref: str) -> str:
    """The reference an `images:` entry pins on a container that runs base_ref.

    newName replaces the repository; newTag and digest together give `repo:tag@digest`, one
    of them `repo:tag` or `repo@digest`; with neither the base's tag stays.
    """
    repository = str(entry.get("newName") or image_name(base_ref))
    tag, digest = entry.get("newTag"), entry.get("digest")
    if tag is None and digest is None:
        return repository + base_ref[len(image_name(base_ref)) :]
    return repository + (f":{tag}" if tag is not None else "") + (f"@{digest}" if digest else "")


def deployment(images: dict[str, str]) -> dict[str, Any]:
    """A Deployment with one container a (container name: image) pair."""
    labels = {"app": "golden"}
    pod = {"containers": [{"name": name, "image": ref} for name, ref in images.items()]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "golden"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def listing_resources(text: bytes, resource: str) -> bytes:
    """The kustomization with a `resources:` line added before its top-level `images:` key.

    Only the folder layout needs it: a kustomization that lists no resources renders nothing.
    Every other byte stays, and the new line ends as the file's lines do.
    """
    eol = b"\r\n" if b"\r\n" in text else b"\n"
    lines = text.splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.startswith(b"images:")]
    assert len(at) == 1, "no top-level images: key to put resources: before"
    lines.insert(at[0], b"resources: [" + resource.encode() + b"]" + eol)
    return b"".join(lines)


def lay_out(case: Path, root: Path) -> tuple[Path, dict[str, str], dict[str, Any]]:
    """The case's expected.yaml as an overlay's kustomization.yaml, with its resources.

    The first resource holds the Deployment (a folder: a base kustomization listing it), one
    container an image the case names, at tag BASE_TAG; any other resource a ConfigMap.
    Returns the overlay folder, the base's (container name: image) and the entries by name.
    """
    text = (case / "expected.yaml").read_bytes()
    kustomization = parse(text.decode("utf-8-sig"))
    names = [entry["name"] for entry in kustomization["images"]]
    base = {f"c{i}": f"{name}:{BASE_TAG}" for i, name in enumerate(names)}
    overlay = root / "repo/overlays" / case.name  # deep enough for ../../base
    overlay.mkdir(parents=True)
    resources = kustomization.get("resources")
    if resources is None:
        resources = ["deployment.yaml"]
        text = listing_resources(text, resources[0])
        assert parse(text.decode("utf-8-sig")) == {**kustomization, "resources": resources}
    for i, resource in enumerate(resources):
        target = (overlay / resource).resolve()
        assert target.is_relative_to(root), resource
        other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": target.stem}}
        obj = deployment(base) if i == 0 else other
        if target.suffix not in {".yaml", ".yml"}:
            target.mkdir(parents=True)
            (target / "kustomization.yaml").write_text('resources: ["resource.yaml"]\n')
            target = target / "resource.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(obj))
    (overlay / "kustomization.yaml").write_bytes(text)
    return overlay, base, {entry["name"]: entry for entry in kustomization["images"]}


@pytest.mark.parametrize("case", K_CASES, ids=[c.name for c in K_CASES])
def test_golden_overlay_renders_the_pinned_images(case: Path, tmp_path: Path) -> None:
    """A user relies on kustomize running exactly the image the daemon wrote into the overlay.

    Each golden k-* expected.yaml, as kustomization.yaml over a base Deployment that runs
    every image it names, renders each container as its entry means (newName, newTag,
    digest: `repo:tag@digest`), and with every part the `set image` arguments gave.
    """
    if not (case / "expected.yaml").exists():
        pytest.skip(f"{case.name} has no expected.yaml: the edit is to be rejected")
    overlay, base, entries = lay_out(case, tmp_path)
    by_container = {name: image_name(ref) for name, ref in base.items()}
    rendered = {c["name"]: c["image"] for c in containers(workload(build(overlay)))}

    assert rendered == {c: meant(entries[image], base[c]) for c, image in by_container.items()}
    for argument in (case / "args").read_text().split():
        name, equals, rest = argument.partition("=")
        if equals:
            new_name, tag, digest = split(rest)
        else:
            (name, tag, digest), new_name = split(argument), None
        [container] = [c for c, image in by_container.items() if image == name]
        given = (new_name, tag, digest)
        got = split(rendered[container])
        for part, want, have in zip(("name", "tag", "digest"), given, got, strict=True):
            if want not in {None, "*"}:
                assert have == want, f"{argument}: rendered {part} {have}, not {want}"


def kustomize_overlays() -> Iterator[Any]:
    """(example repo, overlay folder, kustomize image name) of each example's kustomize pins,
    read from its promotions.toml."""
    for example in EXAMPLES:
        policy = tomllib.loads((example / "promotions.toml").read_text())
        for app, settings in policy["apps"].items():
            for env, environment in policy["environments"].items():
                if environment.get("format", "kustomize") != "kustomize":
                    continue
                if env not in settings.get("environments", [env]):
                    continue
                overlay = environment["overlay"].replace("{app}", app)
                image = settings.get("kustomize_image", app)
                yield pytest.param(example, overlay, image, id=f"{example.name}:{overlay}")


@pytest.mark.parametrize(("example", "overlay", "image"), list(kustomize_overlays()))
def test_set_image_changes_only_the_pinned_image(
    example: Path, overlay: str, image: str, tmp_path: Path
) -> None:
    """A CI job relies on `reconciler set-image` changing what the overlay deploys in one
    place only: the workload's image becomes exactly the pinned `newName:tag@digest`, and
    every other field of every rendered object stays as it was."""
    repo = tmp_path / example.name
    shutil.copytree(example, repo)
    entries = parse((repo / overlay / "kustomization.yaml").read_text()).get("images") or []
    old = next((e.get("newName", image) for e in entries if e["name"] == image), image)
    digest = hashlib.sha256(f"{example.name}/{overlay}".encode()).hexdigest()
    pin = f"mirror.example.net/promoted/{image.rsplit('/', 1)[-1]}:rc-7@sha256:{digest}"

    before = build(example / overlay)  # the checked-in overlay, shared with other tests' runs
    result = run("set-image", "--dir", str(repo / overlay), f"{image}={pin}")
    assert (result.returncode, result.stderr) == (0, "")
    after = build(repo / overlay)

    assert [c["image"] for c in containers(workload(after))] == [pin]
    expected = copy.deepcopy(before)
    replaced = 0
    for obj in expected:
        for container in containers(obj):
            if image_name(container["image"]) == old:
                assert container["image"] != pin
                container["image"] = pin
                replaced += 1
    assert replaced == 1
    assert after == expected


# The promoted reference: the source's repository and digest, with the source's tag when the
# policy keeps it (`pin = "tag-and-digest"`, or Helm's tag layout) and without it otherwise.
PROMOTED = "mirror.example.net/promoted/app"
PROMOTED_DIGEST = "sha256:" + hashlib.sha256(b"promoted").hexdigest()
PROMOTIONS = [
    pytest.param(ImagePin(PROMOTED, "rc-7", PROMOTED_DIGEST), id="tag-and-digest"),
    pytest.param(ImagePin(PROMOTED, "", PROMOTED_DIGEST), id="digest"),
]


def promoted(before: list[dict[str, Any]], container: str, reference: str) -> list[dict[str, Any]]:
    """``before`` with the workload's container ``container`` running ``reference``."""
    expected = copy.deepcopy(before)
    [found] = [c for c in containers(workload(expected)) if c["name"] == container]
    assert found["image"] != reference
    found["image"] = reference
    return expected


@pytest.mark.parametrize("pin", PROMOTIONS)
@pytest.mark.parametrize("case", K_CASES, ids=[c.name for c in K_CASES])
def test_a_promotion_into_a_golden_overlay_changes_only_the_apps_image(
    case: Path, pin: ImagePin, tmp_path: Path
) -> None:
    """The daemon's promotion edit on each golden k-* overlay, for each app it names (each
    `images:` entry in turn): rendered, the app's container runs exactly the promoted
    reference, and every other field of every object is as before the edit."""
    if not (case / "expected.yaml").exists():
        pytest.skip(f"{case.name} has no expected.yaml: the edit is to be rejected")
    folder, base, entries = lay_out(case, tmp_path / "before")
    before = build(folder)
    for i, name in enumerate(entries):
        overlay, _, _ = lay_out(case, tmp_path / f"app-{i}")  # kustomize builds are cached
        path = overlay / "kustomization.yaml"
        app = App(name="app", image=PROMOTED, kustomize_image=name)
        path.write_bytes(pins.write_pin("kustomize", path.read_bytes(), path.name, app, pin))
        [container] = [c for c, ref in base.items() if image_name(ref) == name]
        rendered = build(overlay)
        assert rendered == promoted(before, container, pin.reference()), f"app image {name}"


def example_promotions() -> Iterator[Any]:
    """(example repo, app, overlay folder) of each example's kustomize environments."""
    for example in EXAMPLES:
        policy = load_policy((example / "promotions.toml").read_bytes()).policy
        assert policy is not None, example
        for env in policy.environments.values():
            if env.format != "kustomize":
                continue
            for app in policy.apps_in(env.name):
                overlay = env.overlay.replace("{app}", app.name)
                yield pytest.param(example, app, overlay, id=f"{example.name}:{overlay}")


@pytest.mark.parametrize("pin", PROMOTIONS)
@pytest.mark.parametrize(("example", "app", "overlay"), list(example_promotions()))
def test_a_promotion_into_an_example_overlay_changes_only_the_apps_image(
    example: Path, app: App, overlay: str, pin: ImagePin, tmp_path: Path
) -> None:
    """The daemon's promotion edit of each example's overlays, with the app as its policy
    says: rendered, the workload runs exactly the promoted reference (from the app's own
    repository), and nothing else of any object changes."""
    repo = tmp_path / example.name
    shutil.copytree(example, repo)
    path = repo / overlay / "kustomization.yaml"
    promotion = ImagePin(app.image, pin.tag, pin.digest)
    edited = pins.write_pin(
        "kustomize", path.read_bytes(), f"{overlay}/kustomization.yaml", app, promotion
    )
    path.write_bytes(edited)

    before = build(example / overlay)
    after = build(repo / overlay)
    [container] = [c["name"] for c in containers(workload(before))]
    assert [c["image"] for c in containers(workload(after))] == [promotion.reference()]
    assert after == promoted(before, container, promotion.reference())
