"""Reading and writing an app's pin through one entry point for both overlay formats."""

from __future__ import annotations

import pytest

from reconciler.errors import PolicyError
from reconciler.overlays.imageref import ImagePin, parse_reference
from reconciler.overlays.pins import read_pin, write_pin
from reconciler.policy.model import App, HelmKeys

D = "sha256:" + "1" * 64
APP = App(name="gw", image="reg.io/team/gw", kustomize_image="gw")

REFERENCES = [
    ("reg.io/team/gw", ImagePin("reg.io/team/gw")),
    ("reg.io/team/gw:v1", ImagePin("reg.io/team/gw", "v1")),
    (f"reg.io/team/gw@{D}", ImagePin("reg.io/team/gw", "", D)),
    (f"localhost:5000/gw:v1@{D}", ImagePin("localhost:5000/gw", "v1", D)),
    ("localhost:5000/gw", ImagePin("localhost:5000/gw")),
]


@pytest.mark.parametrize(("text", "pin"), REFERENCES)
def test_references_round_trip(text: str, pin: ImagePin) -> None:
    assert parse_reference(text) == pin
    assert pin.reference() == text


KUSTOMIZE_READS = [
    (
        "images:\n- name: gw\n  newName: reg.io/team/gw\n  newTag: v1\n",
        ImagePin("reg.io/team/gw", "v1"),
    ),
    (f"images:\n- name: gw\n  digest: {D}\n", ImagePin("gw", "", D)),
    ("images:\n- name: other\n  newTag: v1\n", None),
    ("resources: []\n", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "pin"), KUSTOMIZE_READS)
def test_read_kustomize_pin(text: str, pin: ImagePin | None) -> None:
    assert read_pin("kustomize", text.encode(), "k.yaml", APP) == pin


def test_write_then_read_both_formats() -> None:
    pin = ImagePin("reg.io/team/gw", "v2", D)
    kustomization = b"images:\n- name: gw\n  newName: reg.io/team/gw\n  newTag: v1\n"
    written = write_pin("kustomize", kustomization, "k.yaml", APP, pin)
    assert read_pin("kustomize", written, "k.yaml", APP) == pin
    values = b"image:\n  repository: reg.io/team/gw\n  tag: v1\n"
    written = write_pin("helm", values, "v.yaml", APP, pin)
    assert read_pin("helm", written, "v.yaml", APP) == pin
    single = App(name="gw", image="reg.io/team/gw", helm=HelmKeys(image="image"))
    written = write_pin("helm", b"image: reg.io/team/gw:v1\n", "v.yaml", single, pin)
    assert written == f"image: reg.io/team/gw:v2@{D}\n".encode()


def test_digest_only_pin_drops_a_stale_tag() -> None:
    kustomization = b"images:\n- name: gw\n  newName: reg.io/team/gw\n  newTag: v1\n"
    written = write_pin(
        "kustomize", kustomization, "k.yaml", APP, ImagePin("reg.io/team/gw", "", D)
    )
    assert written == f"images:\n- name: gw\n  newName: reg.io/team/gw\n  digest: {D}\n".encode()


NGINX = App(name="web", image="nginx", kustomize_image="nginx")
NEW = "sha256:" + "2" * 64
S512 = "sha512:" + "5" * 128

# Reading, as kustomize renders: a digest carried in newTag is the digest; names are matched
# in the normalised form (issue 18), the exact name first.
NORMALISED_READS = [
    (
        "images:\n- name: docker.io/library/nginx\n  newTag: v1\n",
        NGINX,
        ImagePin("docker.io/library/nginx", "v1"),
    ),
    (
        "images:\n- name: index.docker.io/nginx\n  digest: " + D + "\n",
        NGINX,
        ImagePin("index.docker.io/nginx", "", D),
    ),
    (
        "images:\n- name: docker.io/nginx\n  newTag: v1\n- name: nginx\n  newTag: v2\n",
        NGINX,
        ImagePin("nginx", "v2"),
    ),
    ("images:\n- name: ghcr.io/nginx\n  newTag: v1\n", NGINX, None),
    ("images:\n- name: gw\n  newTag: v1@" + D + "\n", APP, ImagePin("gw", "v1", D)),
    ("images:\n- name: gw\n  newTag: '@" + D + "'\n", APP, ImagePin("gw", "", D)),
    ("images:\n- name: gw\n  digest: " + S512 + "\n", APP, ImagePin("gw", "", S512)),
]


@pytest.mark.parametrize(("text", "app", "pin"), NORMALISED_READS)
def test_read_kustomize_pin_as_it_renders(text: str, app: App, pin: ImagePin | None) -> None:
    assert read_pin("kustomize", text.encode(), "k.yaml", app) == pin


def test_a_pin_is_written_into_the_entry_read() -> None:
    kustomization = b"images:\n- name: docker.io/library/nginx\n  newTag: v1\n"
    written = write_pin("kustomize", kustomization, "k.yaml", NGINX, ImagePin("nginx", "", NEW))
    assert written == f"images:\n- name: docker.io/library/nginx\n  digest: {NEW}\n".encode()
    assert read_pin("kustomize", written, "k.yaml", NGINX) == ImagePin(
        "docker.io/library/nginx", "", NEW
    )


# Without kustomize_image, the app's entry is named by the app, else by its `image`: the
# entry `kustomize edit set image ghcr.io/acme/billing@sha256:...` writes is named by the
# repository, as the images field matches the containers' image names
# (https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/images/).
BILLING = App(name="billing", image="ghcr.io/acme/billing")
NAMED = App(name="billing", image="ghcr.io/acme/billing", kustomize_image="billing-api")
WEB = App(name="web", image="nginx")
DEFAULT_NAME_READS = [
    ("by the app's name", f"images:\n- name: billing\n  digest: {D}\n", BILLING, "billing"),
    (
        "by the repository, as kustomize edit set image writes it",
        f"images:\n- name: ghcr.io/acme/billing\n  digest: {D}\n",
        BILLING,
        "ghcr.io/acme/billing",
    ),
    (
        "both: the app's name first, as before",
        f"images:\n- name: ghcr.io/acme/billing\n  newTag: v1\n- name: billing\n  digest: {D}\n",
        BILLING,
        "billing",
    ),
    ("another repository", f"images:\n- name: ghcr.io/acme/other\n  digest: {D}\n", BILLING, None),
    (
        "the repository in the normalised form",
        f"images:\n- name: docker.io/library/nginx\n  digest: {D}\n",
        WEB,
        "docker.io/library/nginx",
    ),
    (
        "kustomize_image set: that name only",
        f"images:\n- name: ghcr.io/acme/billing\n  digest: {D}\n",
        NAMED,
        None,
    ),
]


@pytest.mark.parametrize(
    ("text", "app", "name"),
    [row[1:] for row in DEFAULT_NAME_READS],
    ids=[row[0] for row in DEFAULT_NAME_READS],
)
def test_an_entry_is_the_apps_by_its_name_or_its_image(
    text: str, app: App, name: str | None
) -> None:
    found = read_pin("kustomize", text.encode(), "k.yaml", app)
    assert (found.repository if found else None) == name
    if found is not None:
        assert found.digest == D


def test_a_pin_goes_into_the_entry_named_by_the_repository_and_a_new_entry_by_the_app() -> None:
    pin = ImagePin("ghcr.io/acme/billing", "", NEW)
    named = f"resources:\n- ../base\nimages:\n- name: ghcr.io/acme/billing\n  digest: {D}\n"
    written = write_pin("kustomize", named.encode(), "k.yaml", BILLING, pin)
    assert written == named.replace(D, NEW).encode()  # that line only; no newName needed
    assert read_pin("kustomize", written, "k.yaml", BILLING) == pin
    written = write_pin("kustomize", b"resources:\n- ../base\n", "k.yaml", BILLING, pin)
    assert read_pin("kustomize", written, "k.yaml", BILLING) == pin
    assert b"- name: billing\n" in written


HELM_SINGLE = App(name="gw", image="reg.io/team/gw", helm=HelmKeys(image="image"))
HELM_DIGEST = App(name="gw", image="reg.io/team/gw", helm=HelmKeys(layout="digest"))
ANY_DIGEST = "write sha256:<64 lower-case hex digits> or sha512:<128 lower-case hex digits>"

# An overlay pinning a malformed digest (or tag, or name) is refused at the value's
# FILE:LINE:COL, so the environment is overlay-invalid and nothing in it is a candidate.
INVALID = [
    (
        "kustomize",
        APP,
        "images:\n- name: gw\n  digest: sha256:abc\n",
        "k.yaml:3:11: images[].digest: invalid digest 'sha256:abc': sha256 takes 64 "
        "lower-case hex digits, not 3; " + ANY_DIGEST,
    ),
    (
        "kustomize",
        APP,
        "images:\n- name: gw\n  digest: not-a-digest\n",
        "k.yaml:3:11: images[].digest: invalid digest 'not-a-digest': it is not ALGORITHM:ENCODED",
    ),
    (
        "kustomize",
        APP,
        "images:\n- name: gw\n  digest: blake3:" + "2" * 64 + "\n",
        "k.yaml:3:11: images[].digest: invalid digest 'blake3:",
    ),
    (
        "kustomize",
        APP,
        "images:\n- name: gw\n  digest: sha256:" + "A" * 64 + "\n",
        "not 64 with upper-case ones",
    ),
    (
        "kustomize",
        APP,
        "images:\n- name: gw\n  newTag: v1@sha256:bad\n",
        "k.yaml:3:11: images[].newTag: invalid digest 'sha256:bad'",
    ),
    (
        "kustomize",
        APP,
        "images:\n- name: gw\n  newTag: v1@" + D + "\n  digest: " + D + "\n",
        "k.yaml:3:11: images[].newTag carries a digest and images[].digest gives another",
    ),
    (
        "kustomize",
        APP,
        "images:\n- name: gw\n  newTag: -v1\n",
        "k.yaml:3:11: images[].newTag: tag '-v1' is not valid",
    ),
    (
        "kustomize",
        APP,
        "images:\n- name: gw\n  newName: Reg.io/Team/gw\n",
        "k.yaml:3:12: images[].newName: image reference 'Reg.io/Team/gw': repository path "
        "component 'Team' must be lower case",
    ),
    (
        "kustomize",
        NGINX,
        "images:\n- name: docker.io/nginx\n  digest: sha256:abc\n",
        "k.yaml:3:11: images[].digest: invalid digest",
    ),
    (
        "helm",
        HELM_DIGEST,
        "image:\n  repository: reg.io/team/gw\n  digest: sha256:abc\n",
        "v.yaml:3:11: image.digest: invalid digest 'sha256:abc'",
    ),
    (
        "helm",
        APP,
        "image:\n  repository: reg.io/team/gw\n  tag: 1.0@sha256:abc\n",
        "v.yaml:3:8: image.tag: invalid digest 'sha256:abc'",
    ),
    (
        "helm",
        APP,
        "image:\n  repository: reg.io/Team/gw\n",
        "v.yaml:2:15: image.repository: image reference 'reg.io/Team/gw'",
    ),
    (
        "helm",
        HELM_SINGLE,
        "image: reg.io/team/gw:v1@sha256:abc\n",
        "v.yaml:1:8: image: image reference 'reg.io/team/gw:v1@sha256:abc': invalid digest "
        "'sha256:abc'",
    ),
    (
        "helm",
        HELM_SINGLE,
        "image: reg.io/team/gw@sha1:" + "a" * 40 + "\n",
        "the algorithm 'sha1' is not accepted",
    ),
]


@pytest.mark.parametrize(("fmt", "app", "text", "message"), INVALID)
def test_a_malformed_pin_is_refused_at_its_line(
    fmt: str, app: App, text: str, message: str
) -> None:
    file = "k.yaml" if fmt == "kustomize" else "v.yaml"
    with pytest.raises(PolicyError) as caught:
        read_pin(fmt, text.encode(), file, app)
    assert message in str(caught.value)


def test_another_apps_malformed_entry_does_not_matter() -> None:
    text = f"images:\n- name: other\n  digest: sha256:abc\n- name: gw\n  digest: {D}\n"
    assert read_pin("kustomize", text.encode(), "k.yaml", APP) == ImagePin("gw", "", D)
