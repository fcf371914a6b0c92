"""Reading overlays fast: libyaml's C composer (PyYAML) into yamldoc's node tree.

This is the only module that imports PyYAML. A daemon reads every overlay of a large
config repo at start, and ruamel's pure-Python composer takes about 0.9 ms per small file
where libyaml takes about 0.02 ms. Reading needs values, not the exact character offsets
editing needs, so reads come here and edits stay on ruamel (yamldoc). Anything libyaml
refuses is parsed again by ruamel, so errors read the same whichever parser met them.
"""

from __future__ import annotations

from collections.abc import Collection

import yaml

from reconciler.overlays import yamldoc

# Without libyaml (a platform with no wheel) PyYAML's pure-Python loader would be slower
# than ruamel, so reads then go to ruamel too.
_LOADER = getattr(yaml, "CSafeLoader", None)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def parse(data: bytes, file: str, keep: Collection[str] | None = None) -> yamldoc.Document:
    """The document in ``data``, for reading; PolicyError with FILE:LINE:COL when unusable.
    With ``keep``, a root mapping holds only those keys (``yamldoc.document``)."""
    if _LOADER is None:
        return yamldoc.parse(data, file)
    text, bom, newline = yamldoc.decode(data, file)
    try:
        roots = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.YAMLError:
        return yamldoc.parse(data, file)  # ruamel words the error (or reads what it can)
    return yamldoc.document(text, bom=bom, newline=newline, roots=roots, file=file, keep=keep)


def load_all(text: str) -> list[object]:
    """Every document of a multi-document stream as plain data (what a renderer printed);
    ValueError when it is not YAML."""
    try:
        return list(yaml.load_all(text, Loader=_LOADER or yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise ValueError(f"not YAML: {str(error).splitlines()[0]}") from None


def dump(data: object) -> str:
    """Plain data (what JSON holds) as one block-style YAML document, keys in their order
    (`reconciler ... -o yaml`)."""
    text: str = yaml.dump(
        data,
        Dumper=_DUMPER,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,  # a long message stays one line, as in the JSON
    )
    return text
