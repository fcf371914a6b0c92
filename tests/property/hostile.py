"""Hostile inputs for the parsers: crafted cases and a strategy of YAML-ish texts."""

from __future__ import annotations

from hypothesis import strategies as st

TEN_MB = 10 * 1024 * 1024


def _laughs(levels: int) -> bytes:
    """Billion laughs: each level aliases the one before nine times (9**levels nodes)."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return ("\n".join(lines) + "\nimages: []\n").encode()


def _alias_chain(links: int, depth: int) -> bytes:
    """Each anchor nests ``depth`` levels around an alias of the one before."""
    lines = []
    for i in range(links):
        inner = f"*c{i - 1}" if i else "1"
        lines.append(f"c{i}: &c{i} " + "[" * depth + inner + "]" * depth)
    return "\n".join(lines).encode() + b"\n"


HOSTILE_OVERLAYS: list[tuple[str, bytes]] = [
    ("billion laughs", _laughs(9)),
    ("alias to itself", b"images: &a [*a]\n"),
    ("mapping alias to itself", b"images:\n- &a {name: app, x: *a}\n"),
    ("alias chain nesting past the limit", _alias_chain(12, 60)),
    ("nested flow sequences", b"images: " + b"[" * 100_000 + b"]" * 100_000 + b"\n"),
    ("nested flow mappings", b"images: " + b"{a: " * 50_000 + b"1" + b"}" * 50_000 + b"\n"),
    ("nested block sequences", b"images:\n" + b"- " * 200_000 + b"x\n"),
    ("10 MB file", b"images:\n" + b"- name: app\n  newTag: v1\n" * (TEN_MB // 26)),
    ("1 MiB and one byte", b"#" * (1024 * 1024) + b"\n"),
    ("non-UTF-8 bytes", b"images:\n- name: app\n  newTag: \xff\xfe\n"),
    ("NUL byte", b"images:\n- name: app\x00\n"),
    ("two documents", b"images: []\n---\nimages: []\n"),
    ("repeated key", b"images: []\nimages: []\n"),
    ("images is a string", b"images: app\n"),
]

HOSTILE_POLICIES: list[tuple[str, bytes]] = [
    ("nested arrays", b"version = 1\nx = " + b"[" * 100_000 + b"]" * 100_000 + b"\n"),
    ("nested inline tables", b"version = 1\nx = " + b"{a = " * 5000 + b"1" + b"}" * 5000),
    ("dotted key of 500k parts", b"version = 1\n" + b"a." * 500_000 + b"b = 1\n"),
    ("table header of 100k parts", b"version = 1\n[" + b"a." * 100_000 + b"b]\n"),
    ("10 MB file", b"version = 1\n" + b"# padding\n" * (TEN_MB // 10)),
    ("non-UTF-8 bytes", b'version = 1\n[apps.a]\nimage = "\xff"\n'),
    ("NUL byte", b'version = 1\n[apps.a]\nimage = "a\x00b"\n'),
    (
        "overlay with ..",
        b'version = 1\n[apps.a]\nimage = "r.io/a"\n[environments.dev]\noverlay = "../../etc"\n',
    ),
    (
        "absolute overlay",
        b'version = 1\n[apps.a]\nimage = "r.io/a"\n[environments.dev]\noverlay = "/etc/passwd"\n',
    ),
]

_keys = st.sampled_from(
    ["images", "name", "newName", "newTag", "digest", "image", "repository", "tag", "<<", "app"]
)
_values = st.sampled_from(
    [
        "app", "v1", "", "~", "null", "[]", "{}", "&a x", "*a", "&a [1]", "&b {name: app}", "*b",
        "!!binary aGk=", "!custom x", "'q''s'", '"\\u0000"', '"\\x00"', "|\n  block", "- x",
        "sha256:" + "ab" * 32, "1e3", "yes", "\t", "\x00", "\ufeff", "---", "...", "? k",
        "%YAML 1.2",
    ]
)  # fmt: skip


@st.composite
def yaml_texts(draw: st.DrawFn) -> str:
    """Lines of keys, values, list items and flow openers at assorted indents."""
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        indent = " " * draw(st.sampled_from([0, 0, 1, 2, 4]))
        kind = draw(st.integers(0, 3))
        if kind == 0:
            lines.append(f"{indent}{draw(_keys)}: {draw(_values)}")
        elif kind == 1:
            lines.append(f"{indent}- {draw(_keys)}: {draw(_values)}")
        elif kind == 2:
            lines.append(f"{indent}{draw(_keys)}:")
        else:
            lines.append(indent + draw(st.text("[]{},:&*- \n#'\"", max_size=12)))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))
