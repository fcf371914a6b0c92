"""Image units: their key, reading and writing every part of an overlay, the pin a
promotion makes, and the request's marker and body (reconciler.units, docs/policy.md)."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from reconciler import overview, promotions, units
from reconciler.model import short
from reconciler.overlays.imageref import ImagePin
from reconciler.overlays.pins import read_pin, write_pin
from reconciler.policy.model import App, Environment, HelmKeys, ImagePart, Policy

A, B, C = ("sha256:" + c * 64 for c in "abc")
UNIT = App(
    name="ledger",
    images=MappingProxyType(
        {
            "migrate": ImagePart(name="migrate", image="reg.io/team/ledger-migrations"),
            "api": ImagePart(
                name="api",
                image="reg.io/team/ledger",
                helm=HelmKeys(repository="api.image.repository", tag="api.image.tag"),
            ),
        }
    ),
)
KUSTOMIZATION = f"""\
images:
- name: ledger
  newName: reg.io/team/ledger
  digest: {A}
- name: ledger-migrations
  newName: reg.io/team/ledger-migrations
  newTag: v1
  digest: {B}
"""
VALUES = f"""\
api:
  image:
    repository: reg.io/team/ledger
    tag: v1@{A}
image:
  repository: reg.io/team/ledger-migrations
  tag: v1@{B}
"""

KEYS = [
    ({"api": A, "migrate": B}, f"api={A},migrate={B}"),
    ({"migrate": B, "api": A}, f"api={A},migrate={B}"),  # parts in name order
    ({"api": A, "migrate": ""}, ""),  # a part without a digest: no set
    ({}, ""),
]


@pytest.mark.parametrize(("digests", "key"), KEYS)
def test_a_unit_key_names_every_part_in_order(digests: dict[str, str], key: str) -> None:
    assert units.key(digests) == key
    if key:
        assert units.parts(key) == dict(sorted(digests.items()))
        assert units.is_identity(key)


@pytest.mark.parametrize(
    "text",
    [
        f"migrate={B},api={A}",  # not in order: not a key the daemon makes
        f"api={A},api={B}",
        f"api={A},migrate=sha256:123",
        f"api={A},={B}",
        f"api{A}",
        "api=",
    ],
)
def test_a_malformed_key_is_no_identity(text: str) -> None:
    assert units.parts(text) is None
    assert not units.is_identity(text)


def test_parts_are_single_image_apps_of_the_same_name() -> None:
    parts = UNIT.parts()
    assert [(n, p.name, p.image, p.image_name) for n, p in parts] == [
        ("api", "ledger", "reg.io/team/ledger", "ledger"),
        ("migrate", "ledger", "reg.io/team/ledger-migrations", "ledger-migrations"),
    ]
    assert App(name="gw", image="reg.io/gw").parts()[0][0] == ""
    assert short(units.key({"api": A, "migrate": B})) == f"api={A[:15]},migrate={B[:15]}"


READS = [
    ("kustomize", KUSTOMIZATION, units.key({"api": A, "migrate": B}), 2),
    ("helm", VALUES, units.key({"api": A, "migrate": B}), 2),
    # One part missing: the pin holds the other, and no key.
    ("kustomize", KUSTOMIZATION.split("- name: ledger-migrations", maxsplit=1)[0], "", 1),
    # One part by tag only: no key either.
    ("kustomize", KUSTOMIZATION.replace(f"  digest: {B}\n", ""), "", 2),
]


@pytest.mark.parametrize(("fmt", "text", "digest", "count"), READS)
def test_reading_a_unit_reads_every_part(fmt: str, text: str, digest: str, count: int) -> None:
    pin = read_pin(fmt, text.encode(), "f.yaml", UNIT)
    assert pin is not None
    assert (pin.digest, len(pin.parts)) == (digest, count)


def test_a_file_without_any_part_pins_nothing() -> None:
    assert read_pin("kustomize", b"images: []\n", "f.yaml", UNIT) is None


# pin = "digest" drops a kustomize entry's tag; Helm's "tag" layout keeps it, the digest in it.
@pytest.mark.parametrize(
    ("fmt", "text"),
    [("kustomize", KUSTOMIZATION.replace("  newTag: v1\n", "")), ("helm", VALUES)],
)
def test_a_promotion_writes_every_part_in_one_edit(fmt: str, text: str) -> None:
    source = read_pin(fmt, text.encode(), "f.yaml", UNIT)
    assert source is not None
    wanted = units.key({"api": C, "migrate": B})  # the api moved, the migrations did not
    env = Environment(name="e", overlay="o", format="helm" if fmt == "helm" else "kustomize")
    keep = promotions.keeps_tag(Policy(version=1), UNIT, env)
    pin = promotions.target_pin(source, wanted, keep_tag=keep)
    after = write_pin(fmt, text.encode(), "f.yaml", UNIT, pin)
    got = read_pin(fmt, after, "f.yaml", UNIT)
    assert got is not None
    assert got.digest == wanted
    changed = [
        (old, new)
        for old, new in zip(text.splitlines(), after.decode().splitlines(), strict=True)
        if old != new
    ]
    assert len(changed) == 1  # only the api's digest line; the migrations' bytes stay
    assert A in changed[0][0]
    assert C in changed[0][1]


def test_the_marker_and_body_carry_the_set() -> None:
    key = units.key({"api": A, "migrate": B})
    marker = promotions.Marker("ledger", "prod", "staging", key, "c1")
    pin = ImagePin(
        "",
        "",
        key,
        (("api", ImagePin("reg.io/team/ledger", "", A)), ("migrate", ImagePin("m", "", B))),
    )
    body = promotions.body(marker, "overlays/prod", pin.reference(), "", ())
    assert promotions.parse_marker(body) == marker
    assert f"  - api: `reg.io/team/ledger@{A}`" in body
    assert f"  - migrate: `m@{B}`" in body
    damaged = body.replace(key, f"migrate={B},api={A}")
    assert promotions.parse_marker(damaged) is None


def test_an_app_of_several_images_is_hashable_and_equal_by_value() -> None:
    again = App(name="ledger", images=MappingProxyType(dict(UNIT.images)))
    assert again == UNIT
    assert {UNIT, again} == {UNIT}


def test_a_shared_unit_pin_keeps_its_parts() -> None:
    pin = read_pin("kustomize", KUSTOMIZATION.encode(), "f.yaml", UNIT)
    assert pin is not None
    assert pin.shared() == pin


def test_the_status_table_widens_its_digest_columns_for_a_unit() -> None:
    key = units.key({"api": A, "migrate": B})
    row: dict[str, object] = {
        "drift": None,
        "request": None,
        "blocked": [],
        "error": None,
        "live": None,
    }
    lines = overview.table(
        [
            {**row, "app": "gw", "env": "dev", "desired": A},
            {**row, "app": "ledger", "env": "dev", "desired": key},
        ]
    ).splitlines()
    assert len({line.index(" -      ") for line in lines[1:]}) == 1  # LIVE lines up
    assert lines[0].index("LIVE") == lines[2].index(short(key)) + len(short(key)) + 1
    single = overview.table([{**row, "app": "gw", "env": "dev", "desired": A}])
    assert single.splitlines()[0].index("LIVE") == 20 + 1 + 10 + 1 + 16 + 1  # as before
