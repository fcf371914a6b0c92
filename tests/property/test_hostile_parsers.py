"""Promise 4: hostile input never crashes a parser. Each target gets arbitrary input plus
hostile shapes (alias bombs, deep nesting, NUL and non-UTF-8 bytes, 10 MB files, ReDoS
patterns); the only acceptable failure is the target's own clear error (PolicyError, or a
diagnostic for the policy). tests/figures.py counts inputs and crashes per target.

Budgets are fixed (about a minute in all on one core); RECONCILER_FUZZ_SCALE=10 explores
ten times as many inputs.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import codeowners
from reconciler.errors import PolicyError
from reconciler.imagerefs import parse_image
from reconciler.overlays import helm, kustomize, yamldoc
from reconciler.overlays.imageref import ImagePin
from reconciler.policy import load_policy
from reconciler.policy.model import HelmKeys
from tests import figures
from tests.property.hostile import HOSTILE_OVERLAYS, HOSTILE_POLICIES, yaml_texts

FUZZ = settings(
    max_examples=figures.examples(1000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DIGEST = "sha256:" + "ab" * 32


def overlay_roundtrip(data: bytes) -> bool:
    """Read the overlay as kustomize and Helm, then write a pin into it both ways."""
    doc = yamldoc.parse(data, "overlays/prod/kustomization.yaml")
    kustomize.read_images(doc, "overlays/prod/kustomization.yaml")
    pin = ImagePin("reg.example/app", "v2", DIGEST)
    written = kustomize.set_images(
        data, "k.yaml", [kustomize.Image("app", pin.repository, pin.tag, pin.digest)]
    )
    images = kustomize.read_images(yamldoc.parse(written, "k.yaml"), "k.yaml")
    assert any(i.name == "app" and i.digest == DIGEST for i, _ in images)
    for keys in (HelmKeys(), HelmKeys(image="image")):
        helm.read_pin(data, "values.yaml", keys)
        written = helm.write_pin(data, "values.yaml", keys, pin)
        assert helm.read_pin(written, "values.yaml", keys) == pin
    return True


def overlay(data: bytes) -> None:
    figures.fuzz("overlay editor", lambda: overlay_roundtrip(data), (PolicyError,))


@FUZZ
@given(yaml_texts().map(str.encode) | st.binary(max_size=300))
def test_overlay_editor_never_crashes(data: bytes) -> None:
    overlay(data)


@pytest.mark.parametrize(("case", "data"), HOSTILE_OVERLAYS, ids=[c for c, _ in HOSTILE_OVERLAYS])
def test_hostile_overlays_are_refused_with_a_position(case: str, data: bytes) -> None:
    assert figures.fuzz("overlay editor", lambda: overlay_roundtrip(data), (PolicyError,)) is None
    with pytest.raises(PolicyError) as refused:
        overlay_roundtrip(data)
    # FILE:LINE (and column where one exists), so the user can find and fix it.
    assert re.match(r"overlays/prod/kustomization\.yaml(:\d+)*: \S", str(refused.value))


def policy(data: bytes) -> None:
    def load() -> None:
        result = load_policy(data)
        assert result.ok == (not result.diagnostics)
        for diagnostic in result.diagnostics:
            assert diagnostic.line >= 1
            assert diagnostic.column >= 1
            assert diagnostic.message

    figures.fuzz("policy loader", load, ())


@pytest.mark.parametrize(("case", "data"), HOSTILE_POLICIES, ids=[c for c, _ in HOSTILE_POLICIES])
def test_hostile_policies_get_a_diagnostic(case: str, data: bytes) -> None:
    policy(data)
    assert not load_policy(data).ok


@FUZZ
@given(
    st.builds(
        lambda opens, closes, dots: f"version = 1\nx = {opens}1{closes}\n{dots} = 2\n",
        st.text("[{", max_size=80),
        st.text("]}", max_size=80),
        st.lists(st.sampled_from(["a", '"q.q"', "'l'", " b "]), max_size=60).map(".".join),
    ).map(str.encode)
    | st.binary(max_size=300)
)
def test_policy_loader_never_crashes_on_nesting(data: bytes) -> None:
    policy(data)


# -- CODEOWNERS ---------------------------------------------------------------------------

_pattern_parts = st.sampled_from(["*", "**", "?", "a", "b", "ab", ".", "/", "\\#", "docs"])
_patterns = st.lists(_pattern_parts, min_size=1, max_size=12).map("".join)
_paths = st.lists(st.sampled_from(["a", "b", "ab", "docs", "x.y", ""]), min_size=1, max_size=8)


def _regex_owns(pattern: str, path: str) -> bool:
    """Whether ``pattern`` owns the file ``path``, by a regex translation of the documented
    rules (exponential on a near miss, so only an oracle for short inputs): the pattern
    matches the file itself (unless it ends in "/") or a folder above it (unless it ends in
    "/*"); "**" is any number of folders, a trailing "/**" one or more."""

    def split(text: str) -> list[str]:
        parts: list[str] = []
        current, escaped = "", False
        for ch in text:
            if escaped:
                current, escaped = current + "\\" + ch, False
            elif ch == "\\":
                escaped = True
            elif ch == "/":
                parts, current = [*parts, current], ""
            else:
                current += ch
        return [*parts, current]

    def segment(text: str) -> str:
        out, escaped = "", False
        for ch in text:
            if escaped:
                out, escaped = out + re.escape(ch), False
            elif ch == "\\":
                escaped = True
            else:
                out += "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch)
        return out

    segments = split(pattern)
    folders_only = len(segments) > 1 and segments[-1] == ""
    segments = segments[:-1] if folders_only else segments
    anchored = len(segments) > 1
    segments = segments[1:] if segments and segments[0] == "" else segments
    if not segments:
        return False  # "/" alone names nothing
    # "**/**" matches what "**" does: zero or more folders, twice, are zero or more folders.
    segments = [
        part
        for index, part in enumerate(segments)
        if part != "**" or segments[index - 1 : index] != ["**"]
    ]
    regex = "" if anchored else "(?:.*/)?"
    for index, part in enumerate(segments):
        last = index == len(segments) - 1
        if part != "**":
            regex += segment(part) + ("" if last else "/")
        elif not last:
            regex += "(?:.*/)?"
        elif index > 0 and not folders_only:
            regex += ".+"
        elif index > 0:
            regex = regex[:-1] + "(?:/.*)?"
        else:
            regex += ".*"
    matcher = re.compile(regex)
    names = path.split("/")
    if not folders_only and matcher.fullmatch(path):
        return True
    if anchored and not folders_only and segments[-1:] == ["*"]:
        return False
    return any(matcher.fullmatch("/".join(names[:depth])) for depth in range(1, len(names)))


@FUZZ
@given(_patterns, _paths.map("/".join))
def test_codeowners_matching_agrees_with_the_glob_semantics(pattern: str, path: str) -> None:
    parsed = codeowners.parse(f"{pattern} @owner")
    if not parsed.rules:
        return
    clean = path.strip("/")  # as rule_for() hands it to matches()
    expected = _regex_owns(parsed.rules[0].pattern, clean)
    assert figures.fuzz("codeowners parser", lambda: parsed.rules[0].matches(clean), ()) == (
        expected
    )


@FUZZ
@given(st.text(max_size=400), _paths.map("/".join))
def test_codeowners_parser_never_crashes(text: str, path: str) -> None:
    def parse_and_match() -> None:
        owners = codeowners.find(lambda name: text.encode("utf-8", "surrogatepass"))
        owners.owners_of(path)

    figures.fuzz("codeowners parser", parse_and_match, ())


@pytest.mark.parametrize(
    ("case", "text", "path"),
    [
        ("many stars, near miss", "*a" * 200 + "b @o", "overlays/" + "a" * 200),
        ("many globstars, near miss", "/" + "**/a/" * 100 + "b @o", "a/" * 300 + "c"),
        ("stars only", "*" * 5000 + "b @o", "x" * 5000),
        ("NUL and control bytes", "a\x00b @o\n\x1b[31m @o", "a\x00b"),
        ("3 MB file", "* @o\n" * 700_000, "a"),
    ],
)
def test_hostile_codeowners(case: str, text: str, path: str) -> None:
    # Each used to be a catastrophic backtrack or worse; now linear, so it simply ends.
    figures.fuzz("codeowners parser", lambda: codeowners.find(lambda _: text.encode()), ())
    figures.fuzz("codeowners parser", lambda: codeowners.parse(text).owners_of(path), ())


# -- image references -----------------------------------------------------------------------

_ref_chars = st.sampled_from([*"abcz09.-_:/@[]AZ", "sha256:", "__", "--", "\x00", "é"])


@FUZZ
@given(st.lists(_ref_chars, max_size=60).map("".join) | st.text(max_size=300))
def test_image_reference_parser_never_crashes(text: str) -> None:
    name = figures.fuzz("image reference parser", lambda: parse_image(text), (PolicyError,))
    if name is not None:  # what it accepts, it prints back into something it accepts alike
        assert parse_image(str(name)) == name
