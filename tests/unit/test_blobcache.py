"""The blob cache: each blob parsed once, bounded, generic over the parse result."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler.gitrepo.blobcache import BlobCache, read_parsed


class Counter:
    """A parser that counts its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, blob_id: str) -> Callable[[], str]:
        def parse() -> str:
            self.calls.append(blob_id)
            return f"parsed {blob_id}"

        return parse


@pytest.mark.parametrize(
    ("reads", "max_entries", "parsed", "kept"),
    [
        (["a", "a", "a"], 10, ["a"], {"a"}),
        (["a", "b", "a", "b"], 10, ["a", "b"], {"a", "b"}),
        (["a", "b", "c"], 2, ["a", "b", "c"], {"b", "c"}),  # oldest evicted
        (["a", "b", "a", "c"], 2, ["a", "b", "c"], {"a", "c"}),  # a was used: b goes
        (["a", "b", "c", "a"], 2, ["a", "b", "c", "a"], {"c", "a"}),  # a evicted, parsed again
    ],
)
def test_each_blob_is_parsed_once_while_cached(
    reads: list[str], max_entries: int, parsed: list[str], kept: set[str]
) -> None:
    cache: BlobCache[str] = BlobCache(max_entries)
    parser = Counter()

    results = [cache.get_or_parse(blob, parser(blob)) for blob in reads]

    assert results == [f"parsed {blob}" for blob in reads]
    assert parser.calls == parsed
    assert {blob for blob in "abc" if blob in cache} == kept
    assert len(cache) == len(kept)
    assert cache.misses == len(parsed)
    assert cache.hits == len(reads) - len(parsed)


def test_get_answers_from_the_cache_only_and_counts_as_a_use() -> None:
    cache: BlobCache[str] = BlobCache(2)
    parser = Counter()
    cache.get_or_parse("a", parser("a"))
    cache.get_or_parse("b", parser("b"))

    assert cache.get("c") is None
    assert cache.get("a") == "parsed a"  # a is now the most recent: b goes next
    cache.get_or_parse("c", parser("c"))

    assert parser.calls == ["a", "b", "c"]
    assert {blob for blob in "abc" if blob in cache} == {"a", "c"}
    assert (cache.hits, cache.misses) == (1, 3)


def test_a_failed_parse_is_not_cached() -> None:
    cache: BlobCache[int] = BlobCache()
    attempts: list[int] = []

    def broken() -> int:
        attempts.append(1)
        raise ValueError("bad yaml")

    for _ in range(2):
        with pytest.raises(ValueError, match="bad yaml"):
            cache.get_or_parse("blob", broken)

    assert len(attempts) == 2
    assert "blob" not in cache
    assert cache.get_or_parse("blob", lambda: 7) == 7


def test_the_cache_needs_room() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BlobCache(0)


class Files:
    """A minimal read view: path -> (blob id, bytes)."""

    def __init__(self, files: dict[str, tuple[str, bytes]]) -> None:
        self.files = files
        self.reads: list[str] = []

    def blob_id(self, path: str) -> str | None:
        return self.files[path][0] if path in self.files else None

    def read(self, path: str) -> bytes | None:
        self.reads.append(path)
        return self.files[path][1] if path in self.files else None


def count_lines(data: bytes) -> int:
    return data.count(b"\n")


@pytest.mark.parametrize(
    ("path", "warm", "expected", "reads"),
    [
        ("prod/kustomization.yaml", False, 2, ["prod/kustomization.yaml"]),
        ("staging/kustomization.yaml", True, 2, []),  # same blob as prod, parsed before
        ("missing.yaml", False, None, []),
    ],
)
def test_read_parsed_keys_by_blob_id(
    path: str, warm: bool, expected: int | None, reads: list[str]
) -> None:
    view = Files(
        {
            "prod/kustomization.yaml": ("b1", b"a\nb\n"),
            "staging/kustomization.yaml": ("b1", b"a\nb\n"),
        }
    )
    cache: BlobCache[int] = BlobCache()
    if warm:
        read_parsed(view, "prod/kustomization.yaml", cache, count_lines)
        view.reads.clear()

    assert read_parsed(view, path, cache, count_lines) == expected
    assert view.reads == reads
