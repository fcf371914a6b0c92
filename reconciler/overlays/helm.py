"""The image in a Helm values file, at the key paths the policy names (`apps.NAME.helm`)."""

from __future__ import annotations

from reconciler.errors import PolicyError
from reconciler.overlays import blocks, pincheck, yamlread
from reconciler.overlays.imageref import ImagePin, parse_reference
from reconciler.overlays.textedit import Edit, apply
from reconciler.overlays.yamldoc import Document, YMap, YNode, YScalar, parse
from reconciler.policy.model import HelmKeys


def _lookup(doc: Document, file: str, dotted: str) -> YScalar | None:
    node: YNode | None = doc.root
    for part in dotted.split("."):
        if node is None or (isinstance(node, YScalar) and node.tag.endswith(":null")):
            return None
        if not isinstance(node, YMap):
            where = f"{file}:{node.span.line}:{node.span.column}"
            raise PolicyError(f"{where}: expected a mapping on the way to {dotted}")
        node = node.get(part)
    if node is None:
        return None
    if not isinstance(node, YScalar):
        where = f"{file}:{node.span.line}:{node.span.column}"
        raise PolicyError(f"{where}: {dotted} must be a string")
    return None if node.tag.endswith(":null") else node


def read_pin(data: bytes, file: str, keys: HelmKeys) -> ImagePin | None:
    """The image a values file pins, or None when it names no repository."""
    doc = yamlread.parse(data, file)
    return _read(doc, file, keys)


def _read(doc: Document, file: str, keys: HelmKeys) -> ImagePin | None:
    if keys.image is not None:
        node = _lookup(doc, file, keys.image)
        return pincheck.reference_at(file, node, keys.image) if node is not None else None
    repository = _lookup(doc, file, keys.repository)
    if repository is None:
        return None
    tag = _lookup(doc, file, keys.tag)
    digest = _lookup(doc, file, keys.digest)
    return pincheck.helm_values(file, keys, repository, tag, digest)


def write_pin(data: bytes, file: str, keys: HelmKeys, pin: ImagePin) -> bytes:
    """Pin ``pin`` in a values file, changing only the values (and keys) that must change."""
    doc = parse(data, file)
    if keys.image is not None:
        wanted = {keys.image: pin.reference()}
    else:
        # An empty tag or digest is written as "" rather than removed: charts read the key.
        wanted = {keys.repository: pin.repository, keys.tag: pin.tag, keys.digest: pin.digest}
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
    if _read(yamlread.parse(out, file), file, keys) != _expected(pin, keys):  # values only
        raise PolicyError(f"{file}: could not edit the image safely; edit it by hand")
    return out


def _expected(pin: ImagePin, keys: HelmKeys) -> ImagePin:
    return parse_reference(pin.reference()) if keys.image is not None else pin


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
    node = doc.root
    if node is None:
        return None, 0
    if not isinstance(node, YMap):
        raise PolicyError(f"{file}: a values file must be a mapping")
    depth = 0
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, YMap):
            if child is not None and not (
                isinstance(child, YScalar) and child.tag.endswith(":null")
            ):
                where = f"{file}:{child.span.line}:{child.span.column}"
                raise PolicyError(f"{where}: {'.'.join(path[: depth + 1])} must be a mapping")
            break
        node = child
        depth += 1
    return node, depth
