"""The one image grammar: references as github.com/distribution/reference parses and
normalises them, digests as the OCI image spec (descriptor.md, "Digests") defines them.

Each row names its source: ``ref:`` rows take their input from distribution/reference's
reference_test.go (``Parse``; here normalised as ``ParseNormalizedNamed`` would),
``norm:`` rows from its normalize_test.go, ``oci:`` rows from image-spec's descriptor.md
and schema/descriptor_test.go, and ``here:`` rows are this project's own (friendly
messages, the forms the daemon meets). Where this project departs from the source, the
row says so.
"""

from __future__ import annotations

import pytest

from reconciler.errors import PolicyError
from reconciler.imagerefs import (
    ImageName,
    check_digest,
    check_tag,
    digest_problem,
    is_digest,
    parse_image,
    parse_repository,
    repository_of,
    same_repository,
    split_reference,
)

F64 = "sha256:" + "f" * 64
D64 = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
S512 = "sha512:" + "f" * 128
ECR = "418773912004.dkr.ecr.ap-south-1.amazonaws.com"

# (source, input, host, path, tag, digest): what a reference is, normalised.
PARSES = [
    ("ref: TestReferenceParse", "test_com", "docker.io", "library/test_com", None, None),
    ("ref: TestReferenceParse", "test.com:tag", "docker.io", "library/test.com", "tag", None),
    ("ref: TestReferenceParse", "test.com:5000", "docker.io", "library/test.com", "5000", None),
    ("ref: TestReferenceParse", "test.com/repo:tag", "test.com", "repo", "tag", None),
    ("ref: TestReferenceParse", "test:5000/repo", "test:5000", "repo", None, None),
    ("ref: TestReferenceParse", "test:5000/repo:tag", "test:5000", "repo", "tag", None),
    ("ref: TestReferenceParse", f"test:5000/repo@{F64}", "test:5000", "repo", None, F64),
    ("ref: TestReferenceParse", f"test:5000/repo:tag@{F64}", "test:5000", "repo", "tag", F64),
    (
        "ref: TestReferenceParse",
        "lowercase:Uppercase",
        "docker.io",
        "library/lowercase",
        "Uppercase",
        None,
    ),
    (
        "ref: TestReferenceParse (path of 255 characters)",
        "a/" * 127 + "a:tag-puts-this-over-max",
        "docker.io",
        "a/" * 127 + "a",
        "tag-puts-this-over-max",
        None,
    ),
    (
        "ref: TestReferenceParse",
        "sub-dom1.foo.com/bar/baz/quux",
        "sub-dom1.foo.com",
        "bar/baz/quux",
        None,
        None,
    ),
    (
        "ref: TestReferenceParse",
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com",
        "bar/baz/quux",
        "some-long-tag",
        None,
    ),
    (
        "ref: TestReferenceParse",
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io",
        "test.example.com/my-app",
        "test.example.com",
        None,
    ),
    (
        "ref: TestReferenceParse (punycode)",
        "xn--n3h.com/myimage:xn--n3h.com",
        "xn--n3h.com",
        "myimage",
        "xn--n3h.com",
        None,
    ),
    (
        "ref: TestReferenceParse (punycode)",
        f"xn--7o8h.com/myimage:xn--7o8h.com@{F64}",
        "xn--7o8h.com",
        "myimage",
        "xn--7o8h.com",
        F64,
    ),
    (
        "ref: TestReferenceParse",
        "foo_bar.com:8080",
        "docker.io",
        "library/foo_bar.com",
        "8080",
        None,
    ),
    (
        "ref: TestReferenceParse (Parse: domain foo)",
        "foo/foo_bar.com:8080",
        "docker.io",
        "foo/foo_bar.com",
        "8080",
        None,
    ),
    ("ref: TestReferenceParse", "192.168.1.1", "docker.io", "library/192.168.1.1", None, None),
    (
        "ref: TestReferenceParse",
        "192.168.1.1:5000",
        "docker.io",
        "library/192.168.1.1",
        "5000",
        None,
    ),
    ("ref: TestReferenceParse", "192.168.1.1/repo", "192.168.1.1", "repo", None, None),
    (
        "ref: TestReferenceParse",
        "192.168.1.1:5000/repo:5050",
        "192.168.1.1:5000",
        "repo",
        "5050",
        None,
    ),
    ("ref: TestReferenceParse", "[2001:db8::1]/repo", "[2001:db8::1]", "repo", None, None),
    (
        "ref: TestReferenceParse",
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
        "[2001:db8:1:2:3:4:5:6]",
        "repo",
        "tag",
        None,
    ),
    (
        "ref: TestReferenceParse",
        "[2001:db8::1]:5000/repo",
        "[2001:db8::1]:5000",
        "repo",
        None,
        None,
    ),
    (
        "ref: TestReferenceParse",
        f"[2001:db8::1]:5000/repo:tag@{F64}",
        "[2001:db8::1]:5000",
        "repo",
        "tag",
        F64,
    ),
    ("ref: TestReferenceParse", "[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", None, None),
    ("ref: TestReferenceParse", "[::1]:5000/repo", "[::1]:5000", "repo", None, None),
    (
        "ref: TestReferenceParse (path of 255)",
        "example.com/" + "a" * 255 + ":tag",
        "example.com",
        "a" * 255,
        "tag",
        None,
    ),
    ("norm: TestNormalizedSplitHostname", "test_com/foo", "docker.io", "test_com/foo", None, None),
    (
        "norm: TestNormalizedSplitHostname",
        "docker/migrator",
        "docker.io",
        "docker/migrator",
        None,
        None,
    ),
    ("norm: TestNormalizedSplitHostname", "test.com:8080/foo", "test.com:8080", "foo", None, None),
    ("norm: TestNormalizedSplitHostname", "test-com:8080/foo", "test-com:8080", "foo", None, None),
    ("norm: TestNormalizedSplitHostname", "foo", "docker.io", "library/foo", None, None),
    (
        "norm: TestNormalizedSplitHostname",
        "xn--n3h.com:18080/foo",
        "xn--n3h.com:18080",
        "foo",
        None,
        None,
    ),
    ("norm: TestNormalizedSplitHostname", "docker.io/foo", "docker.io", "library/foo", None, None),
    (
        "norm: TestNormalizedSplitHostname",
        "docker.io/library/foo/bar",
        "docker.io",
        "library/foo/bar",
        None,
        None,
    ),
    ("norm: TestParseRepositoryInfo", "localhost/fooo/bar", "localhost", "fooo/bar", None, None),
    ("norm: TestParseRepositoryInfo", "LOCALDOMAIN/fooo", "LOCALDOMAIN", "fooo", None, None),
    (
        "norm: TestParseRepositoryInfo",
        "index.docker.io/fooo/bar",
        "docker.io",
        "fooo/bar",
        None,
        None,
    ),
    ("norm: TestParseRepositoryInfo", "other/library", "docker.io", "other/library", None, None),
    (
        "norm: TestParseRepositoryInfo",
        "127.0.0.1:8000/privatebase",
        "127.0.0.1:8000",
        "privatebase",
        None,
        None,
    ),
    (
        "norm: TestParseRepositoryInfo",
        "ubuntu-12.04-base",
        "docker.io",
        "library/ubuntu-12.04-base",
        None,
        None,
    ),
    ("norm: TestParseRepositoryInfo", "Foo/bar", "Foo", "bar", None, None),
    (
        "norm: TestValidateReferenceName",
        "docker.io/" + "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        "docker.io",
        "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        None,
        None,
    ),
    (
        "norm: TestValidateReferenceName",
        "192.168.0.1:80",
        "docker.io",
        "library/192.168.0.1",
        "80",
        None,
    ),
    (
        "norm: TestValidateReferenceName",
        "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
        "[fc00:1:2:3:4:5:6:7]:5000",
        "library/debian",
        None,
        None,
    ),
    (
        "norm: TestValidateRemoteName (64 characters, not hex)",
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        "docker.io",
        "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        None,
        None,
    ),
    (
        "norm: TestValidateRemoteName",
        "docker---rules/docker",
        "docker.io",
        "docker---rules/docker",
        None,
        None,
    ),
    ("norm: TestValidateRemoteName", "dock__er/docker", "docker.io", "dock__er/docker", None, None),
    ("norm: TestValidateRemoteName", "jess/t", "docker.io", "jess/t", None, None),
    (
        "norm: TestParseReferenceWithTagAndDigest",
        "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
        "docker.io",
        "library/busybox",
        "latest",
        "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
    ),
    ("norm: TestParseAnyReference", f"redis@{D64}", "docker.io", "library/redis", None, D64),
    (
        "norm: TestParseAnyReference",
        f"dmcgowan/myapp@{D64}",
        "docker.io",
        "dmcgowan/myapp",
        None,
        D64,
    ),
    (
        "norm: TestParseAnyReference (63 hex digits: a name)",
        D64[7:-1],
        "docker.io",
        "library/" + D64[7:-1],
        None,
        None,
    ),
    (
        "norm: TestParseDockerRef (both kept here)",
        f"gcr.io/library/busybox:latest@{D64}",
        "gcr.io",
        "library/busybox",
        "latest",
        D64,
    ),
    (
        "oci: sha512 is registered (distribution/reference needs it imported)",
        f"validname@{S512}",
        "docker.io",
        "library/validname",
        None,
        S512,
    ),
    ("here: ECR", f"{ECR}/order-gateway:1.4.2", ECR, "order-gateway", "1.4.2", None),
    (
        "here: GHCR",
        "ghcr.io/acme/svc.api__x-y:latest",
        "ghcr.io",
        "acme/svc.api__x-y",
        "latest",
        None,
    ),
    ("here: localhost", "localhost:5000/app", "localhost:5000", "app", None, None),
    (
        "here: a tag may have upper case",
        "registry.example/a/b/c:V_1.0-rc",
        "registry.example",
        "a/b/c",
        "V_1.0-rc",
        None,
    ),
]


@pytest.mark.parametrize(
    ("source", "text", "host", "path", "tag", "digest"), PARSES, ids=[r[1][:60] for r in PARSES]
)
def test_parses_and_normalises(
    source: str, text: str, host: str, path: str, tag: str | None, digest: str | None
) -> None:
    assert parse_image(text) == ImageName(host, path, tag, digest), source


# (source, input, what the refusal says)
REFUSED = [
    ("ref: TestReferenceParse", "", "the image reference is empty"),
    ("ref: TestReferenceParse", ":justtag", "has no repository name"),
    ("ref: TestReferenceParse", f"@{F64}", "has no repository name"),
    (
        "ref: TestReferenceParse",
        "repo@sha256:" + "f" * 34,
        "sha256 takes 64 lower-case hex digits, not 34",
    ),
    (
        "ref: TestReferenceParse",
        f"validname@invaliddigest:{'f' * 64}",
        "the algorithm 'invaliddigest' is not accepted",
    ),
    ("ref: TestReferenceParse", "Uppercase:tag", "component 'Uppercase' must be lower case"),
    (
        "ref: TestReferenceParse",
        "test:5000/Uppercase/lowercase:tag",
        "component 'Uppercase' must be lower case",
    ),
    ("ref: TestReferenceParse", "domain/" + "a" * 256 + ":tag", "longer than 255 characters"),
    ("ref: TestReferenceParse", "aa/asdf$$^/aa", "component 'asdf$$^' is not valid"),
    ("ref: TestReferenceParse", "[2001:db8::1]", "is not valid"),
    ("ref: TestReferenceParse", "[2001:db8::1]:5000", "is not valid"),
    ("ref: TestReferenceParse", "[2001:db8::1]:tag", "is not valid"),
    ("ref: TestReferenceParse", "[fe80::1%eth0]:5000/repo", "is not a valid registry host"),
    ("ref: TestReferenceParse", "[fe80::1%@invalidzone]:5000/repo", "invalid digest"),
    (
        "norm: TestValidateReferenceName",
        "https://github.com/docker/docker",
        "'https:' is not a valid registry host",
    ),
    ("norm: TestValidateReferenceName", "docker/Docker", "component 'Docker' must be lower case"),
    ("norm: TestValidateReferenceName", "-docker", "component '-docker' is not valid"),
    ("norm: TestValidateReferenceName", "-docker/docker", "component '-docker' is not valid"),
    (
        "norm: TestValidateReferenceName",
        "-docker.io/docker/docker",
        "'-docker.io' is not a valid registry host",
    ),
    ("norm: TestValidateReferenceName", "docker///docker", "empty component"),
    ("norm: TestValidateReferenceName", "docker.io/docker/Docker", "must be lower case"),
    ("norm: TestValidateReferenceName", "docker.io/docker///docker", "empty component"),
    ("norm: TestValidateReferenceName", "[fc00::1]", "is not valid"),
    ("norm: TestValidateReferenceName", "[fc00::1]:5000", "is not valid"),
    ("norm: TestValidateReferenceName", "fc00::1:5000/debian", "is not a valid registry host"),
    (
        "norm: TestValidateReferenceName",
        "[fe80::1%eth0]:5000/debian",
        "is not a valid registry host",
    ),
    (
        "norm: TestValidateReferenceName",
        "[2001:db8:3:4::192.0.2.33]:5000/debian",
        "is not a valid registry host",
    ),
    (
        "norm: TestValidateReferenceName",
        "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        "is an image ID",
    ),
    ("norm: TestValidateRemoteName", "docker-/docker", "component 'docker-' is not valid"),
    ("norm: TestValidateRemoteName", "-docker-/docker", "component '-docker-' is not valid"),
    ("norm: TestValidateRemoteName", "____/____", "component '____' is not valid"),
    ("norm: TestValidateRemoteName", "_docker/_docker", "component '_docker' is not valid"),
    (
        "norm: TestValidateRemoteName (a '.': a host)",
        "dock..er/docker",
        "'dock..er' is not a valid registry host",
    ),
    (
        "norm: TestValidateRemoteName (a '.': a host)",
        "dock_.er/docker",
        "'dock_.er' is not a valid registry host",
    ),
    (
        "norm: TestValidateRemoteName (a '.': a host)",
        "dock-.er/docker",
        "'dock-.er' is not a valid registry host",
    ),
    ("norm: TestValidateRemoteName", "docker/", "empty component"),
    (
        "norm: TestValidateRemoteName",
        "_".join(["this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255"] * 4)
        + "/docker",
        "longer than 255 characters",
    ),
    ("norm: TestInvalidReferenceComponents (tag)", "busybox:-foo", "tag '-foo' is not valid"),
    (
        "norm: TestInvalidReferenceComponents (digest)",
        "busybox@foo",
        "invalid digest 'foo': it is not ALGORITHM:ENCODED",
    ),
    ("here: issue 18", "reg/app:v3@not-a-digest", "invalid digest 'not-a-digest'"),
    ("here: issue 18", "reg/app:v3@sha256:abc", "sha256 takes 64 lower-case hex digits, not 3"),
    (
        "oci: blake3 is registered, not accepted here",
        "app@blake3:" + "a" * 64,
        "the algorithm 'blake3' is not accepted",
    ),
    ("oci: sha256 MUST NOT use [A-F]", "app@sha256:" + "A" * 64, "not 64 with upper-case ones"),
    ("here: spaces", "127.0.0.1:5000/app:v 1", "contains spaces or control characters"),
    ("here: a tag of 129 characters", "127.0.0.1:5000/app:" + "t" * 129, "a tag is 1 to 128"),
    ("here: an empty tag", "127.0.0.1:5000/app:", "tag '' is not valid"),
    ("here: no path", "127.0.0.1:5000/", "has no repository path"),
    ("here: a host's port is digits", "host.example:port/app", "is not a valid registry host"),
]


@pytest.mark.parametrize(("source", "text", "message"), REFUSED, ids=[r[1][:60] for r in REFUSED])
def test_refuses_saying_why(source: str, text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_image(text)
    assert message in str(caught.value), source
    if text:
        assert repr(text) in str(caught.value)  # the reference is named in every refusal
    assert repository_of(text) is None


# Each group names one repository (norm: TestParseRepositoryInfo's familiar, full and
# ambiguous names; TestParseAnyReference's equivalents; the issue's own example).
SAME = [
    (
        "here: issue 18",
        [
            "docker.io/nginx",
            "docker.io/library/nginx",
            "nginx",
            "index.docker.io/nginx",
            "nginx:1.27",
            f"nginx@{F64}",
        ],
    ),
    (
        "norm: TestParseRepositoryInfo",
        ["fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar"],
    ),
    ("norm: TestParseRepositoryInfo", ["ubuntu", "docker.io/library/ubuntu", "library/ubuntu"]),
    ("norm: TestParseRepositoryInfo", ["foo", "docker.io/library/foo", "docker.io/foo"]),
    (
        "norm: TestParseRepositoryInfo",
        ["ubuntu-12.04-base", "index.docker.io/library/ubuntu-12.04-base"],
    ),
    ("norm: TestParseAnyReference", ["dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp"]),
    ("norm: TestParseDockerRef", ["library/busybox:latest", "docker.io/busybox", "busybox"]),
]


@pytest.mark.parametrize(("source", "names"), SAME)
def test_names_compare_in_the_normalised_form(source: str, names: list[str]) -> None:
    for one in names:
        for other in names:
            assert same_repository(one, other), (source, one, other)


DIFFERENT = [
    (
        "norm: TestParseRepositoryInfo (only Docker Hub gets library/)",
        "example.com/privatebase",
        "example.com/library/privatebase",
    ),
    ("norm: TestParseRepositoryInfo", "library/foo/bar", "foo/bar"),
    ("norm: TestNormalizedSplitHostname", "test_com/foo", "test.com/foo"),
    ("here: another registry", "ghcr.io/nginx", "nginx"),
    ("here: a port is part of the host", "localhost:5000/app", "localhost/app"),
    ("here: what is not a reference matches nothing, itself included", "Not A Ref", "Not A Ref"),
]


@pytest.mark.parametrize(("source", "one", "other"), DIFFERENT)
def test_different_repositories(source: str, one: str, other: str) -> None:
    assert not same_repository(one, other), source


# (source, digest, accepted)
DIGESTS = [
    (
        "oci: descriptor.md example",
        "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
        True,
    ),
    (
        "oci: descriptor_test.go (zero length blob)",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        True,
    ),
    ("oci: descriptor.md, SHA-512 (/[a-f0-9]{128}/)", S512, True),
    (
        "oci: descriptor.md, registered but not accepted here",
        "blake3:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
        False,
    ),
    (
        "oci: descriptor.md, valid but unregistered",
        "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
        False,
    ),
    (
        "oci: descriptor.md, valid but unregistered",
        "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
        False,
    ),
    (
        "oci: descriptor_test.go (no algorithm)",
        ":5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
        False,
    ),
    ("oci: descriptor_test.go (no hash)", "sha256", False),
    (
        "oci: descriptor_test.go (upper-case algorithm)",
        "SHA256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
        False,
    ),
    (
        "oci: descriptor_test.go (upper-case hex)",
        "sha256:5B0BCABD1ED22E9FB1310CF6C2DEC7CDEF19F0AD69EFA1F392E94A4333501270",
        False,
    ),
    (
        "oci: descriptor_test.go (repeated separators)",
        "sha256+foo+-b:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b",
        False,
    ),
    ("oci: SHA-256 is 64 hex digits", "sha256:" + "a" * 63, False),
    ("oci: SHA-256 is 64 hex digits", "sha256:" + "a" * 65, False),
    ("oci: SHA-512 is 128 hex digits", "sha512:" + "a" * 64, False),
    ("here: a bare hex string is no digest", "a" * 64, False),
    ("here: issue 18", "not-a-digest", False),
    ("here: issue 18", "sha256:abc", False),
    ("here: not hex", "sha256:" + "g" * 64, False),
    ("here: empty", "", False),
]


@pytest.mark.parametrize(
    ("source", "digest", "accepted"), DIGESTS, ids=[r[1][:40] for r in DIGESTS]
)
def test_digests(source: str, digest: str, accepted: bool) -> None:
    assert is_digest(digest) is accepted, source
    assert (digest_problem(digest) is None) is accepted
    if accepted:
        assert check_digest(digest) == digest
    else:
        with pytest.raises(PolicyError) as caught:
            check_digest(digest, where="--digest")
        message = str(caught.value)
        assert message.startswith(f"--digest: invalid digest {digest!r}: ")
        # every refusal names the forms that are accepted
        assert message.endswith(
            "write sha256:<64 lower-case hex digits> or sha512:<128 lower-case hex digits>"
        )


@pytest.mark.parametrize(
    ("tag", "ok"),
    [("v1", True), ("_x", True), ("A" * 128, True), (".x", False), ("a/b", False), ("", False)],
)
def test_check_tag(tag: str, ok: bool) -> None:
    if ok:
        assert check_tag(tag) == tag
    else:
        with pytest.raises(PolicyError, match=r"the tag: tag .* is not valid"):
            check_tag(tag)


@pytest.mark.parametrize(
    "name",
    [
        ImageName("127.0.0.1:5000", "app", "v1", F64),
        ImageName(ECR, "team/app", "1.0"),
        ImageName("ghcr.io", "acme/app", None, S512),
        ImageName("docker.io", "library/nginx"),
        ImageName("docker.io", "acme/app", "v1"),
    ],
)
def test_the_normalised_form_parses_back(name: ImageName) -> None:
    assert parse_image(str(name)) == name


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("127.0.0.1:5000/app", True),
        (f"{ECR}/order-gateway", True),
        ("nginx", True),
        ("127.0.0.1:5000/app:v1", False),
        (f"127.0.0.1:5000/app@{F64}", False),
    ],
)
def test_a_repository_has_no_tag_or_digest(text: str, ok: bool) -> None:
    if ok:
        assert parse_repository(text) == parse_image(text)
    else:
        with pytest.raises(PolicyError, match="names an image, not a repository"):
            parse_repository(text)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("nginx", ("nginx", "", "")),
        ("docker.io/nginx:1.27", ("docker.io/nginx", "1.27", "")),
        (f"localhost:5000/gw:v1@{F64}", ("localhost:5000/gw", "v1", F64)),
        (f"[::1]:5000/gw@{S512}", ("[::1]:5000/gw", "", S512)),
    ],
)
def test_split_keeps_the_name_as_written(text: str, parts: tuple[str, str, str]) -> None:
    assert split_reference(text) == parts
