"""The `images` list of a kustomization: read it, and set entries as `kustomize edit set image`.

Semantics follow kustomize v5.4+: an argument replaces the whole entry of the same name,
`*` keeps that field's current value, a missing `images:` list is created. Unlike kustomize,
the file is edited in place (see yamldoc): existing entries keep their position and style,
new entries are appended, and nothing else in the file changes. Also unlike kustomize, which
compares names as strings, names are the same when they name one repository in the
normalised form (``nginx``, ``docker.io/nginx``, ``docker.io/library/nginx``); an entry
matched so keeps its name as written. A digest, tag or new name that the image grammar
(``reconciler.imagerefs``) refuses is an error, and nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from reconciler.errors import PolicyError
from reconciler.imagerefs import check_digest, check_tag, parse_repository, same_repository
from reconciler.overlays import blocks, yamlread
from reconciler.overlays.textedit import Edit, apply
from reconciler.overlays.yamldoc import Document, YMap, YScalar, YSeq, parse

KEEP = "*"
IMAGES = "images"  # the one key of a kustomization a pin is read from
_FIELDS = ("newName", "newTag", "digest")
_TAG = re.compile(r"^(.*):([a-zA-Z0-9._-]*|\*)$")

INVALID_ARGUMENT = """invalid format of image, use one of the following options:
- <image>=<newimage>:<newtag>
- <image>=<newimage>@<digest>
- <image>=<newimage>:<newtag>@<digest>
- <image>=<newimage>
- <image>:<newtag>
- <image>@<digest>
- <image>:<newtag>@<digest>"""


@dataclass(frozen=True)
class Image:
    """One `images` entry; empty strings for absent fields, ``*`` for "keep" in arguments."""

    name: str
    newName: str = ""  # kustomize's own field names
    newTag: str = ""
    digest: str = ""

    def field(self, key: str) -> str:
        """The value of ``newName``, ``newTag`` or ``digest``."""
        value: str = getattr(self, key)
        return value


def parse_argument(arg: str) -> Image:
    """One `set image` argument -> the entry it asks for (kustomize's own parsing rules),
    its new name, tag and digest checked by the image grammar."""
    parts = arg.split("=")
    if len(parts) == 2:
        name, rest = parts
        new_name, tag, digest = _overwrite(rest, allow_bare=True, arg=arg)
        return _checked(Image(name, new_name, tag, digest), arg)
    name, tag, digest = _overwrite(arg, allow_bare=False, arg=arg)
    return _checked(Image(name, "", tag, digest), arg)


def _checked(image: Image, arg: str) -> Image:
    where = f'"{arg}"'
    if image.newName not in ("", KEEP):
        try:
            parse_repository(image.newName)
        except PolicyError as exc:
            raise PolicyError(f"{where}: invalid image name: {exc}") from None
    if image.newTag not in ("", KEEP):
        check_tag(image.newTag, where=where)
    if image.digest != KEEP and (image.digest or "@" in arg.rpartition("=")[2]):
        check_digest(image.digest, where=where)
    return image


def same_name(entry: str, name: str) -> bool:
    """Whether an `images` entry named ``entry`` is the one ``name`` selects: the same text,
    or the same repository in the normalised form."""
    return entry == name or same_repository(entry, name)


def _overwrite(text: str, *, allow_bare: bool, arg: str) -> tuple[str, str, str]:
    if "@" in text:
        before, digest = text.split("@", 1)
        tagged = _TAG.match(before)
        if tagged:
            return tagged[1], tagged[2], digest
        return before, "", digest
    tagged = _TAG.match(text)
    if tagged:
        return tagged[1], tagged[2], ""
    if text and allow_bare:
        return text, "", ""
    raise PolicyError(f'"{arg}": {INVALID_ARGUMENT}')


def includes(data: bytes, file: str) -> tuple[str, ...]:
    """The `resources` and `components` entries of a kustomization, as written (what a
    render takes in besides the file itself); PolicyError when it is not YAML."""
    try:
        (loaded,) = yamlread.load_all(data.decode("utf-8", "replace")) or [None]
    except ValueError as error:
        raise PolicyError(f"{file}: {error}") from None
    if not isinstance(loaded, dict):
        return ()
    found = []
    for key in ("resources", "components"):
        entries = loaded.get(key)
        if isinstance(entries, list):
            found += [entry for entry in entries if isinstance(entry, str)]
    return tuple(found)


def read_images(doc: Document, file: str) -> list[tuple[Image, YMap]]:
    """The entries of `images`, each with its node; PolicyError on a malformed list."""
    images = _images_node(doc, file)
    if not isinstance(images, YSeq):
        return []
    out = []
    for item in images.items:
        where = f"{file}:{item.span.line}:{item.span.column}"
        if not isinstance(item, YMap):
            raise PolicyError(f"{where}: an images entry must be a mapping with a name")
        values = {}
        for key in ("name", *_FIELDS):
            node = item.get(key)
            if node is not None and not isinstance(node, YScalar):
                raise PolicyError(f"{where}: images[].{key} must be a string")
            values[key] = "" if node is None or node.tag.endswith(":null") else node.value
        if not values["name"]:
            raise PolicyError(f"{where}: an images entry has no name")
        out.append((Image(**values), item))
    return out


def _images_node(doc: Document, file: str) -> YSeq | YScalar | None:
    root = doc.root
    if root is None:
        return None
    if not isinstance(root, YMap):
        raise PolicyError(
            f"{file}:{root.span.line}:{root.span.column}: a kustomization must be a mapping"
        )
    node = root.get(IMAGES)
    if node is None or isinstance(node, YSeq):
        return node
    if isinstance(node, YScalar) and node.tag.endswith(":null"):
        return node
    raise PolicyError(f"{file}:{node.span.line}:{node.span.column}: images must be a list")


def resolve(current: list[Image], updates: list[Image]) -> list[Image]:
    """The `images` list after `set image` with ``updates``, in file order then new ones.

    An update replaces every entry of the same name (``same_name``), which keeps its name as
    written; a later update for the same name wins.
    """
    chosen: dict[int, Image] = {}
    added: list[Image] = []
    for update in updates:
        hits = [i for i, image in enumerate(current) if same_name(image.name, update.name)]
        for index in hits:
            chosen[index] = replace(update, name=current[index].name)
        if not hits:
            twin = next((i for i, a in enumerate(added) if same_name(a.name, update.name)), None)
            if twin is None:
                added.append(update)
            else:
                added[twin] = replace(update, name=added[twin].name)
    result = [_merge(chosen.get(i, image), image) for i, image in enumerate(current)]
    return result + [_merge(update, None) for update in added]


def _merge(update: Image, old: Image | None) -> Image:
    kept = {key: (old.field(key) if old else "") for key in _FIELDS if update.field(key) == KEEP}
    return replace(update, **kept)


def set_images(data: bytes, file: str, updates: list[Image]) -> bytes:
    """Apply `set image` ``updates`` to kustomization bytes, changing only what they change."""
    doc = parse(data, file)
    current = read_images(doc, file)
    result = resolve([image for image, _ in current], updates)
    edits: list[Edit] = []
    for (old, node), new in zip(current, result, strict=False):
        if old != new:
            edits += _entry_edits(doc, file, node, new)
    added = result[len(current) :]
    if added:
        edits += _append_entries(doc, file, added)
    if not edits:
        return data
    text = apply(doc.text, edits)
    # Reading the result back needs values only: the fast reader (yamlread) does.
    after = [image for image, _ in read_images(yamlread.parse(doc.with_text(text), file), file)]
    if after != result:  # the edit engine has a bug; refuse rather than write a wrong pin
        raise PolicyError(f"{file}: could not edit the images list safely; edit it by hand")
    return doc.with_text(text)


def _entry_edits(doc: Document, file: str, node: YMap, new: Image) -> list[Edit]:
    edits: list[Edit] = []
    additions: list[tuple[str, str]] = []
    doomed = []
    for key in _FIELDS:
        value = new.field(key)
        pair = blocks.find_pair(node, key)
        if pair is None:
            if value:
                additions.append((key, value))
        elif value:
            edits += blocks.set_value(file, pair, value)
        else:
            doomed.append(pair)
    if doomed:
        edits += blocks.remove_pairs(doc, file, node, doomed)
    if additions:
        edits.append(blocks.add_pairs(doc, node, additions))
    return edits


def _append_entries(doc: Document, file: str, images: list[Image]) -> list[Edit]:
    entries = [
        [("name", image.name), *[(key, image.field(key)) for key in _FIELDS if image.field(key)]]
        for image in images
    ]
    return [blocks.append_to_list(doc, file, "images", _images_node(doc, file), entries)]
