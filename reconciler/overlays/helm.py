"""The image in a Helm values file, in the layout its chart renders (`apps.NAME.helm`).

A chart turns values into an image reference its own way, and a value the chart does not
read changes nothing that runs. So the layout decides what is written:

- ``tag`` (what `helm create` scaffolds: ``repository:tag``): the digest rides in the tag,
  ``tag: "v1.4.2@sha256:..."``; a digest without a tag cannot be said in this layout and is
  refused.
- ``digest`` (``repository@digest`` when the chart reads a digest key, else ``:tag``):
  repository, tag and digest keys.
- ``registry`` (Bitnami's: ``registry/repository@digest``, else ``:tag``): the host goes to
  the registry key, the rest of the name to the repository key.
- ``image``: one key holding ``repo:tag@digest``.

Key paths are dotted; a number walks into a list (``containers.0.image``). A key that must
be created inside a list, or a value behind a YAML alias, is refused, never guessed.
"""

from __future__ import annotations

from reconciler.errors import PolicyError
from reconciler.imagerefs import parse_repository
from reconciler.overlays import blocks, pincheck, yamlread
from reconciler.overlays.imageref import ImagePin, parse_reference
from reconciler.overlays.textedit import Edit, apply
from reconciler.overlays.yamldoc import Document, YMap, YNode, YScalar, YSeq, parse
from reconciler.policy.model import HelmKeys


def _lookup(doc: Document, file: str, dotted: str) -> YScalar | None:
    node: YNode | None = doc.root
    for part in dotted.split("."):
        if node is None or (isinstance(node, YScalar) and node.tag.endswith(":null")):
            return None
        if isinstance(node, YSeq) and part.isdigit():
            index = int(part)
            node = node.items[index] if index < len(node.items) else None
            continue
        if not isinstance(node, YMap):
            where = f"{file}:{node.span.line}:{node.span.column}"
            kind = "a list" if isinstance(node, YSeq) else "a mapping"
            raise PolicyError(f"{where}: expected {kind} on the way to {dotted}")
        node = node.get(part)
    if node is None:
        return None
    if not isinstance(node, YScalar):
        where = f"{file}:{node.span.line}:{node.span.column}"
        raise PolicyError(f"{where}: {dotted} must be a string")
    return None if node.tag.endswith(":null") else node


def read_pin(data: bytes, file: str, keys: HelmKeys) -> ImagePin | None:
    """The image a values file pins, or None when it names no repository."""
    paths = (keys.image, keys.repository, keys.tag, keys.digest, keys.registry)
    tops = {path.split(".", 1)[0] for path in paths if path}
    return _read(yamlread.parse(data, file, keep=tops), file, keys)


def _read(doc: Document, file: str, keys: HelmKeys) -> ImagePin | None:
    layout = keys.kind
    if layout == "image":
        assert keys.image is not None  # the policy's rules: the image layout names its key
        node = _lookup(doc, file, keys.image)
        return pincheck.reference_at(file, node, keys.image) if node is not None else None
    repository = _lookup(doc, file, keys.repository)
    if repository is None:
        return None
    tag = _lookup(doc, file, keys.tag)
    if layout == "tag":
        named = pincheck.helm_values(file, keys, repository, None, None).repository
        text, carried = pincheck.tag_at(file, tag, keys.tag) if tag and tag.value else ("", "")
        return ImagePin(named, text, carried)
    digest = _lookup(doc, file, keys.digest)
    pin = pincheck.helm_values(file, keys, repository, tag, digest)
    if layout == "registry":
        registry = _lookup(doc, file, keys.registry)
        if registry is not None and registry.value:
            return ImagePin(f"{registry.value}/{pin.repository}", pin.tag, pin.digest)
    return pin


def wanted_values(pin: ImagePin, keys: HelmKeys, file: str) -> dict[str, str]:
    """The values ``pin`` becomes in ``keys``' layout (dotted key -> value; "" clears)."""
    layout = keys.kind
    if layout == "image":
        assert keys.image is not None
        return {keys.image: pin.reference()}
    if layout == "tag":
        if pin.digest and not pin.tag:
            raise PolicyError(
                f'{file}: layout "tag" writes the digest after the tag ({keys.tag}: '
                f'"TAG@DIGEST"), since the chart renders repository:tag, but this pin has no '
                "tag; pin a tag with the digest in the source, or set the layout the chart "
                'renders (layout = "digest" when it reads a digest key)'
            )
        tag = f"{pin.tag}@{pin.digest}" if pin.digest else pin.tag
        return {keys.repository: pin.repository, keys.tag: tag}
    # An empty tag or digest is written as "" rather than removed: charts read the key.
    values = {keys.repository: pin.repository, keys.tag: pin.tag, keys.digest: pin.digest}
    if layout == "registry":
        name = parse_repository(pin.repository)
        values[keys.registry] = name.host
        values[keys.repository] = name.path
    return values


def write_pin(data: bytes, file: str, keys: HelmKeys, pin: ImagePin) -> bytes:
    """Pin ``pin`` in a values file, changing only the values (and keys) that must change."""
    doc = parse(data, file)
    wanted = wanted_values(pin, keys, file)
    if keys.kind == "registry":
        wanted = _registry_as_written(doc, file, keys, pin, wanted)
    edits: list[Edit] = []
    missing: list[tuple[list[str], str]] = []
    for dotted, value in wanted.items():
        node = _lookup(doc, file, dotted)
        if node is None and not value:
            continue
        if node is None:
            missing.append((dotted.split("."), value))
        elif node.value != value:
            edits += _set(doc, file, dotted, node, value)
    edits += _create(doc, file, missing)
    if not edits:
        return data
    out = doc.with_text(apply(doc.text, edits))
    if _read(yamlread.parse(out, file), file, keys) != _expected(pin, keys, wanted):
        raise PolicyError(f"{file}: could not edit the image safely; edit it by hand")
    return out


def _registry_as_written(
    doc: Document, file: str, keys: HelmKeys, pin: ImagePin, wanted: dict[str, str]
) -> dict[str, str]:
    """Keep the registry and repository as the file writes them when they already name the
    pin's repository (``docker.io`` + ``nginx`` is not rewritten to ``library/nginx``)."""
    registry = _lookup(doc, file, keys.registry)
    repository = _lookup(doc, file, keys.repository)
    if registry is None or repository is None:
        return wanted
    written = f"{registry.value}/{repository.value}" if registry.value else repository.value
    try:
        same = parse_repository(written).repository == parse_repository(pin.repository).repository
    except PolicyError:
        return wanted
    if same:
        return {**wanted, keys.registry: registry.value, keys.repository: repository.value}
    return wanted


def _expected(pin: ImagePin, keys: HelmKeys, wanted: dict[str, str]) -> ImagePin:
    """What reading the edited file must give back."""
    if keys.kind == "image":
        assert keys.image is not None
        return parse_reference(wanted[keys.image])
    if keys.kind == "registry":
        host = wanted[keys.registry]
        repository = f"{host}/{wanted[keys.repository]}" if host else wanted[keys.repository]
        return ImagePin(repository, pin.tag, pin.digest)
    return pin


def _set(doc: Document, file: str, dotted: str, node: YScalar, value: str) -> list[Edit]:
    if node.aliased:
        raise PolicyError(
            f"{file}:{node.span.line}:{node.span.column}: {dotted} uses a YAML anchor or alias; "
            "edit it by hand, since changing it here would change the other uses too"
        )
    return [Edit(node.span.start, node.span.end, blocks.render(value, node))]


def _create(doc: Document, file: str, missing: list[tuple[list[str], str]]) -> list[Edit]:
    """Add missing keys, grouped under the deepest mapping that exists."""
    groups: dict[int, tuple[YMap | None, int, list[tuple[list[str], str]]]] = {}
    for path, value in missing:
        parent, depth = _deepest(doc, file, path)
        slot = groups.setdefault(id(parent), (parent, depth, []))
        slot[2].append((path[depth:], value))
    edits: list[Edit] = []
    for parent, _, rest in groups.values():
        edits += blocks.add_tree(doc, file, parent, rest)
    return edits


def _deepest(doc: Document, file: str, path: list[str]) -> tuple[YMap | None, int]:
    node: YNode | None = doc.root
    if node is None:
        return None, 0
    if not isinstance(node, YMap):
        raise PolicyError(f"{file}: a values file must be a mapping")
    depth = 0
    while depth < len(path) - 1:
        child: YNode | None = node.get(path[depth])
        if isinstance(child, YSeq):
            index = path[depth + 1]
            item = (
                child.items[int(index)]
                if index.isdigit() and int(index) < len(child.items)
                else None
            )
            if depth + 1 == len(path) - 1 or not isinstance(item, YMap):
                raise PolicyError(
                    f"{file}: {'.'.join(path[: depth + 2])} is not an item of that list; a "
                    "list item is never created: add it by hand"
                )
            node, depth = item, depth + 2
            continue
        if not isinstance(child, YMap):
            if child is not None and not (
                isinstance(child, YScalar) and child.tag.endswith(":null")
            ):
                where = f"{file}:{child.span.line}:{child.span.column}"
                raise PolicyError(f"{where}: {'.'.join(path[: depth + 1])} must be a mapping")
            if any(part.isdigit() for part in path[depth + 1 : -1]):
                raise PolicyError(
                    f"{file}: {'.'.join(path)} runs through a list that is not there; a list "
                    "item is never created: add it by hand"
                )
            break
        node = child
        depth += 1
    return node, depth
