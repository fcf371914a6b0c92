"""ECR's batched answers read per id (registry/ecrbatch.py), from literal answers.

The answers are shaped as ECR's API reference gives them (``imageDetails``; ``images`` and
``failures`` with ``imageId`` and ``failureCode``), and as moto gives them where it differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest

from reconciler.errors import PermanentError, PolicyError, ReconcilerError, TransientError
from reconciler.imagerefs import ImageName, check_tag
from reconciler.registry.ecrbatch import (
    MAX_IDS,
    chunks,
    described,
    each,
    fetched_tags,
    manifests,
    proven,
)
from reconciler.registry.port import ImageNotFound, Manifest, ManifestMismatch

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/cart"
BODY = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()
OTHER = "sha256:" + "a" * 64
UNKNOWN = "sha256:" + "0" * 64


def _image(digest: str, body: bytes = BODY, **ident: str) -> dict[str, object]:
    return {
        "imageId": {"imageDigest": digest, **ident},
        "imageManifest": body.decode(),
        "imageManifestMediaType": "application/vnd.oci.image.manifest.v1+json",
    }


def _failure(code: str, **ident: str) -> dict[str, object]:
    return {"imageId": ident, "failureCode": code, "failureReason": "test"}


def test_ids_go_in_runs_of_at_most_100() -> None:
    ids = [f"t{n}" for n in range(250)]
    assert [len(run) for run in chunks(ids)] == [100, 100, 50]
    assert [id for run in chunks(ids) for id in run] == ids
    assert MAX_IDS == 100
    assert list(chunks([])) == []


def test_describe_images_answers_each_tag_an_image_lists() -> None:
    answer = {
        "imageDetails": [
            {"imageDigest": DIGEST, "imageTags": ["v1", "staging", "unasked"]},
            {"imageDigest": OTHER, "imageTags": ["v2"]},
        ]
    }
    found = described(answer, ["staging", "v1", "v2", "v9"], REPO)
    assert {tag: found[tag] for tag in ("staging", "v1", "v2")} == {
        "staging": DIGEST,
        "v1": DIGEST,
        "v2": OTHER,
    }
    assert isinstance(found["v9"], ImageNotFound)
    assert str(found["v9"]) == f"ECR repository {REPO} has no tag 'v9'"
    assert found.keys() == {"staging", "v1", "v2", "v9"}


def test_the_only_tag_asked_takes_the_first_image_as_resolve_does() -> None:
    assert described({"imageDetails": [{"imageDigest": DIGEST}]}, ["v1"], REPO) == {"v1": DIGEST}
    bad = described({"imageDetails": [{"imageDigest": "md5:abc"}]}, ["v1"], REPO)["v1"]
    assert isinstance(bad, ManifestMismatch)
    assert str(bad) == (
        f"ECR answered 'md5:abc' for {REPO}:v1: not a digest the daemon accepts; refused"
    )


def test_batch_get_image_answers_tags_by_image_or_failure() -> None:
    answer = {
        "images": [_image(DIGEST, imageTag="v1"), _image(OTHER, imageTag="staging")],
        "failures": [
            _failure("ImageNotFound", imageTag="v9"),
            _failure("KmsError", imageTag="kms"),
            _failure("ImageInaccessible", imageTag="refused"),
        ],
    }
    found = fetched_tags(answer, ["v1", "v9", "kms", "refused", "prod"], REPO)
    assert found["v1"] == DIGEST
    assert "staging" not in found  # not asked
    assert "prod" not in found  # named by neither list: another call tells
    assert isinstance(found["v9"], ImageNotFound)
    assert isinstance(found["kms"], TransientError)
    assert str(found["kms"]) == f"ECR could not read {REPO}:kms (KmsError); retrying next cycle"
    assert type(found["refused"]) is PermanentError
    assert str(found["refused"]) == f"ECR refused to read {REPO}:refused (ImageInaccessible)"


def test_batch_get_image_answers_digests_with_their_checked_manifests() -> None:
    liar = _image(OTHER)  # BODY does not hash to OTHER
    answer = {"images": [_image(DIGEST), liar], "failures": []}
    found = manifests(answer, [DIGEST, OTHER, UNKNOWN], REPO)
    assert found[DIGEST] == Manifest(DIGEST, "application/vnd.oci.image.manifest.v1+json", BODY)
    assert isinstance(found[OTHER], ManifestMismatch)
    assert isinstance(found[UNKNOWN], ImageNotFound)  # in neither list
    assert str(found[UNKNOWN]) == f"ECR repository {REPO} has no image {UNKNOWN}"


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (["ImageNotFound"], ImageNotFound),
        (["UpstreamUnavailable"], TransientError),
        (["KmsError", "ImageNotFound"], TransientError),
        (["ImageTagDoesNotMatchDigest"], PermanentError),
        ([], ImageNotFound),
    ],
)
def test_a_digests_failure_codes_read_as_exists_reads_them(
    codes: list[str], expected: type[ReconcilerError]
) -> None:
    answer = {"images": [], "failures": [_failure(c, imageDigest=UNKNOWN) for c in codes]}
    found = manifests(answer, [UNKNOWN, DIGEST], REPO)[UNKNOWN]
    assert type(found) is expected


def test_a_failure_naming_no_asked_digest_counts_for_each_left_without_an_image() -> None:
    # moto names a missing digest's failure {"imageTag": "null"}
    answer = {"images": [_image(DIGEST)], "failures": [_failure("KmsError", imageTag="null")]}
    found = manifests(answer, [DIGEST, UNKNOWN], REPO)
    assert isinstance(found[DIGEST], Manifest)
    assert isinstance(found[UNKNOWN], TransientError)
    assert str(found[UNKNOWN]) == (
        f"ECR could not read {REPO}@{UNKNOWN} (KmsError); retrying next cycle"
    )


def test_the_only_digest_asked_takes_the_first_image_however_named() -> None:
    found = manifests({"images": [_image(OTHER)]}, [DIGEST], REPO)[DIGEST]
    assert isinstance(found, ManifestMismatch)  # named OTHER: its header disagrees
    assert "its digest header" in str(found)


def test_existence_is_read_from_the_manifests() -> None:
    manifest = Manifest(DIGEST, "application/vnd.oci.image.manifest.v1+json", BODY)
    kms = TransientError("kms")
    assert proven({DIGEST: manifest, UNKNOWN: ImageNotFound("no"), OTHER: kms}) == {
        DIGEST: True,
        UNKNOWN: False,
        OTHER: kms,
    }


def test_each_asks_about_well_formed_ids_in_runs_and_spreads_a_calls_error() -> None:
    asked: list[tuple[str, Sequence[str]]] = []

    def ask(name: ImageName, ids: Sequence[str]) -> dict[str, str | ReconcilerError]:
        asked.append((name.repository, ids))
        if ids[0] == "t100":
            raise TransientError("throttled")
        return {tag: f"digest of {tag}" for tag in ids}

    tags = ["-bad", *(f"t{n}" for n in range(150)), "t0"]
    found = each(REPO, tags, check_tag, ":", ask)

    assert [len(ids) for _, ids in asked] == [100, 50]  # "-bad" not asked, "t0" once
    assert {repository for repository, _ in asked} == {REPO}
    assert isinstance(found["-bad"], PolicyError)
    assert str(found["-bad"]).startswith(f"{REPO}:-bad: tag '-bad' is not valid")
    assert found["t99"] == "digest of t99"
    assert all(isinstance(found[f"t{n}"], TransientError) for n in range(100, 150))
    assert len(found) == 151


def test_each_answers_every_id_of_a_malformed_repository() -> None:
    def ask(name: ImageName, ids: Sequence[str]) -> dict[str, str | ReconcilerError]:
        raise AssertionError("nothing may be asked")

    found = each(REPO.upper(), ["v1", "v2"], check_tag, ":", ask)
    assert found.keys() == {"v1", "v2"}
    assert all(isinstance(answer, PolicyError) for answer in found.values())
