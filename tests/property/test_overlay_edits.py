"""For any kustomization and any `set image` edit, the result parses to the input with only
the intended images changed; Helm values likewise for any pin."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.overlays import helm, kustomize
from reconciler.overlays.imageref import ImagePin
from reconciler.policy.model import HelmKeys

_names = st.sampled_from(["app", "web", "db", "order-gateway", "reg.io/x"])
_values = st.one_of(
    st.sampled_from(["v1", "1.0", "2", "true", "null", "a3f8c12", "1e3", "latest", "v1.2.3-rc.1"]),
    st.from_regex(r"\Asha256:[0-9a-f]{64}\Z"),
    st.from_regex(r"\A[a-z0-9.-]{1,12}(:[0-9]{2,5})?/[a-z0-9-]{1,10}\Z"),
)


def _scalar(value: str, style: int) -> str:
    if style == 0 and re.fullmatch(r"[a-z][a-z0-9-]*", value) and value not in ("true", "null"):
        return value
    if style == 1:
        return "'" + value.replace("'", "''") + "'"
    return json.dumps(value)


@st.composite
def kustomizations(draw: st.DrawFn) -> tuple[str, dict[str, dict[str, str]]]:
    """(YAML text, images by name) in assorted but valid styles."""
    names = draw(st.lists(_names, unique=True, max_size=4))
    dash = draw(st.sampled_from([0, 2, 4]))
    flow = draw(st.booleans())
    comment = draw(st.sampled_from(["", "  # note"]))
    images: dict[str, dict[str, str]] = {}
    entries = []
    for name in names:
        fields = {"name": name}
        for key in ("newName", "newTag", "digest"):
            if draw(st.booleans()):
                fields[key] = draw(_values)
        images[name] = fields
        styled = [(k, _scalar(v, draw(st.integers(0, 2)))) for k, v in fields.items()]
        if draw(st.booleans()):
            styled.reverse()
        entries.append(styled)
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1" + comment, "resources:"]
    lines.append(" " * dash + "- ../../base" + comment)
    if bool(names) or draw(st.booleans()):
        if flow:
            body = ", ".join("{" + ", ".join(f"{k}: {v}" for k, v in e) + "}" for e in entries)
            lines.append(f"images: [{body}]" + comment)
        else:
            lines.append("images:" + (comment if names else ""))
            for entry in entries:
                for index, (key, value) in enumerate(entry):
                    lead = " " * dash + "- " if index == 0 else " " * (dash + 2)
                    lines.append(f"{lead}{key}: {value}" + comment)
    lines.append("namespace: prod")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines) + newline, images


_arguments = st.builds(
    lambda name, new, tag, digest, form: {
        0: f"{name}={new}:{tag}@{digest}",
        1: f"{name}={new}@{digest}",
        2: f"{name}={new}:{tag}",
        3: f"{name}={new}",
        4: f"{name}:{tag}",
        5: f"{name}@{digest}",
        6: f"{name}:{tag}@{digest}",
    }[form],
    st.sampled_from(["app", "web", "db", "new-one"]),
    st.sampled_from(["reg.io/team/app", "localhost:5000/app", "*"]),
    st.sampled_from(["v2", "1.0", "*", "2026.11"]),
    st.sampled_from(["sha256:" + "e" * 64, "*"]),
    st.integers(0, 6),
)


def _load(data: bytes) -> dict[str, Any]:
    loaded = YAML(typ="safe", pure=True).load(io.BytesIO(data))
    assert isinstance(loaded, dict)
    return loaded


def _expected(images: dict[str, dict[str, str]], args: list[str]) -> dict[str, dict[str, str]]:
    """kustomize's semantics, written out independently of the code under test: the last
    argument per name wins, and `*` refers to the file as it was before the command."""
    last = {}
    for arg in args:
        update = kustomize.parse_argument(arg)
        last[update.name] = update
    out = {name: dict(fields) for name, fields in images.items()}
    for name, update in last.items():
        old = images.get(name, {})
        entry = {"name": name}
        for key in ("newName", "newTag", "digest"):
            value = update.field(key)
            value = old.get(key, "") if value == "*" else value
            if value:
                entry[key] = value
        out[name] = entry
    return out


@settings(max_examples=300, deadline=None)
@given(kustomizations(), st.lists(_arguments, min_size=1, max_size=4))
def test_set_image_changes_exactly_the_images(
    document: tuple[str, dict[str, dict[str, str]]], args: list[str]
) -> None:
    text, images = document
    before = text.encode()
    after = kustomize.set_images(before, "k.yaml", [kustomize.parse_argument(a) for a in args])
    old, new = _load(before), _load(after)
    got = {e["name"]: {k: str(v) for k, v in e.items()} for e in new.pop("images", None) or []}
    old.pop("images", None)
    assert new == old  # nothing but images changed
    assert got == _expected(images, args)
    assert (
        kustomize.set_images(after, "k.yaml", [kustomize.parse_argument(a) for a in args]) == after
    )


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["image", "app.image", "deploy.main.image"]),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["", "v1", "1.0", "true"]),
    st.sampled_from(["", "sha256:" + "d" * 64]),
)
def test_helm_pin_changes_exactly_the_image(
    prefix: str, single: bool, present: bool, tag: str, digest: str
) -> None:
    keys = (
        HelmKeys(image=prefix)
        if single
        else HelmKeys(
            layout="digest",
            repository=f"{prefix}.repository",
            tag=f"{prefix}.tag",
            digest=f"{prefix}.digest",
        )
    )
    text = "replicaCount: 3 # keep\nservice:\n  port: 80\n"
    if present and single:
        text += "".join(f"{'  ' * i}{p}:\n" for i, p in enumerate(prefix.split(".")[:-1]))
        text += f"{'  ' * prefix.count('.')}{prefix.rsplit('.', maxsplit=1)[-1]}: old/repo:v0\n"
    elif present:
        text += "".join(f"{'  ' * i}{p}:\n" for i, p in enumerate(prefix.split(".")))
        text += f"{'  ' * (prefix.count('.') + 1)}repository: old/repo\n"
    pin = ImagePin("reg.io/team/app", tag, digest)
    after = helm.write_pin(text.encode(), "values.yaml", keys, pin)
    assert helm.read_pin(after, "values.yaml", keys) == (
        ImagePin(pin.repository, tag, digest) if not single else pin
    )
    old, new = _load(text.encode()), _load(after)
    for key in ("replicaCount", "service"):
        assert new[key] == old[key]
