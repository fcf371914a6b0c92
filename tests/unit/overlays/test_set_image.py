"""`set image` arguments and results, against kustomize's documented behaviour (v5.4+).

Results are compared as kustomize sorts them (by name); this tool keeps existing entries in
place and appends new ones, which is the same list as a set.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.errors import PolicyError
from reconciler.overlays.kustomize import Image, parse_argument, set_images

D = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3"

ARGUMENTS = [
    ("image1=my-image1:my-tag", Image("image1", "my-image1", "my-tag")),
    (f"image1=my-image1@{D}", Image("image1", "my-image1", "", D)),
    (f"image1=my-image1:my-tag@{D}", Image("image1", "my-image1", "my-tag", D)),
    ("image1=my-image1", Image("image1", "my-image1")),
    ("image1:my-tag", Image("image1", "", "my-tag")),
    (f"image1@{D}", Image("image1", "", "", D)),
    (f"image1:my-tag@{D}", Image("image1", "", "my-tag", D)),
    ("ngnix=localhost:5000/my-project/ngnix", Image("ngnix", "localhost:5000/my-project/ngnix")),
    (
        "ngnix=localhost:5000/my-project/ngnix:dev-01",
        Image("ngnix", "localhost:5000/my-project/ngnix", "dev-01"),
    ),
    (f"a=host:5000/x:1.0@{D}", Image("a", "host:5000/x", "1.0", D)),
    ("image1=*:v2", Image("image1", "*", "v2")),
    ("image1=new:*@*", Image("image1", "new", "*", "*")),
    ("image1:", Image("image1", "", "")),
    (f"image1@sha512:{'e' * 128}", Image("image1", "", "", f"sha512:{'e' * 128}")),
]


@pytest.mark.parametrize(("arg", "expected"), ARGUMENTS, ids=[a for a, _ in ARGUMENTS])
def test_argument_forms(arg: str, expected: Image) -> None:
    assert parse_argument(arg) == expected


@pytest.mark.parametrize("arg", ["bad", "args", "a=b=c", "a=", ""])
def test_invalid_arguments_give_kustomizes_error(arg: str) -> None:
    with pytest.raises(PolicyError, match="invalid format of image, use one of the following"):
        parse_argument(arg)


# Unlike kustomize, which writes whatever follows `@`: a digest, tag or new name the image
# grammar refuses is an error (issue 18), in kustomize's way of quoting the argument.
@pytest.mark.parametrize(
    ("arg", "message"),
    [
        (
            "app=reg/app:v3@not-a-digest",
            "\"app=reg/app:v3@not-a-digest\": invalid digest 'not-a-digest': it is not "
            "ALGORITHM:ENCODED; write sha256:<64 lower-case hex digits> or sha512:<128 "
            "lower-case hex digits>",
        ),
        ("app=reg/app:v3@sha256:abc", "sha256 takes 64 lower-case hex digits, not 3"),
        ("app@sha256:abc", "\"app@sha256:abc\": invalid digest 'sha256:abc'"),
        (f"app@sha256:{'A' * 64}", "not 64 with upper-case ones"),
        (f"app@blake3:{'a' * 64}", "the algorithm 'blake3' is not accepted"),
        ("app=new@", "invalid digest ''"),
        ("app:.v1", "tag '.v1' is not valid"),
        (f"app=Reg.io/App@{D}", '"app=Reg.io/App@sha256:'),
        (f"app=reg.io/App@{D}", "component 'App' must be lower case"),
    ],
)
def test_a_malformed_digest_tag_or_name_is_refused(arg: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_argument(arg)
    assert message in str(caught.value)


def _images(data: bytes) -> list[dict[str, Any]]:
    """The images list as kustomize sees it (read with an independent YAML loader)."""
    document = YAML(typ="safe", pure=True).load(io.BytesIO(data)) or {}
    images = [{k: str(v) for k, v in entry.items()} for entry in document.get("images") or []]
    return sorted(images, key=lambda e: e["name"])


RESULTS: list[tuple[str, str, list[str], list[dict[str, str]]]] = [
    (
        "new list in an empty kustomization",
        "resources:\n- ../base\n",
        ["image1=my-image1:my-tag"],
        [{"name": "image1", "newName": "my-image1", "newTag": "my-tag"}],
    ),
    (
        "override file",
        "images:\n- name: image1\n  newName: my-image1\n  newTag: my-tag\n"
        "- name: image2\n  newName: my-image2\n  newTag: my-tag2\n",
        ["image1=foo.bar.foo:8800/foo/image1:foo-bar"],
        [
            {"name": "image1", "newName": "foo.bar.foo:8800/foo/image1", "newTag": "foo-bar"},
            {"name": "image2", "newName": "my-image2", "newTag": "my-tag2"},
        ],
    ),
    (
        "a new tag replaces the whole entry",
        "images:\n- name: image1\n  newName: my-image1\n  newTag: my-tag\n  digest: " + D + "\n",
        ["image1:v1"],
        [{"name": "image1", "newTag": "v1"}],
    ),
    (
        "multiple args with multiple overrides",
        "images:\n- name: image1\n  newName: my-image1\n  newTag: my-tag1\n"
        "- name: image2\n  newName: my-image2\n  newTag: my-tag2\n"
        "- name: image3\n  newTag: my-tag\n",
        ["image1=foo.bar.foo:8800/foo/image1:foo-bar", f"image2=my-image2@{D}", "image3:my-tag"],
        [
            {"name": "image1", "newName": "foo.bar.foo:8800/foo/image1", "newTag": "foo-bar"},
            {"name": "image2", "newName": "my-image2", "digest": D},
            {"name": "image3", "newTag": "my-tag"},
        ],
    ),
    (
        "star keeps the current value",
        "images:\n- name: image1\n  newName: my-image1\n  newTag: v1\n  digest: " + D + "\n",
        ["image1=*:v2@*"],
        [{"name": "image1", "newName": "my-image1", "newTag": "v2", "digest": D}],
    ),
    (
        "star on an image not in the file leaves the field out",
        "images: []\n",
        ["image1=*:v2"],
        [{"name": "image1", "newTag": "v2"}],
    ),
    (
        "the last argument for a name wins",
        "resources: []\n",
        ["a:1", "a:2"],
        [{"name": "a", "newTag": "2"}],
    ),
    (
        "tag and digest together",
        "images:\n- name: node\n  newTag: 8.14.0\n",
        [f"node:8.15.0@{D}", "mysql=mariadb", f"alpine@{D}"],
        [
            {"name": "alpine", "digest": D},
            {"name": "mysql", "newName": "mariadb"},
            {"name": "node", "newTag": "8.15.0", "digest": D},
        ],
    ),
]


# Unlike kustomize, which compares names as strings: an argument selects the entry that
# names the same repository in the normalised form, which keeps its name as written.
RESULTS += [
    (
        "a Docker Hub name selects its normalised twin",
        "images:\n- name: docker.io/library/nginx\n  newTag: 1.26\n",
        [f"nginx:1.27@{D}"],
        [{"name": "docker.io/library/nginx", "newTag": "1.27", "digest": D}],
    ),
    (
        "index.docker.io is docker.io",
        "images:\n- name: nginx\n  newTag: 1.26\n",
        ["index.docker.io/library/nginx:1.27"],
        [{"name": "nginx", "newTag": "1.27"}],
    ),
    (
        "every entry of the repository is set",
        "images:\n- name: nginx\n  newTag: 1.26\n- name: docker.io/nginx\n  newTag: 1.25\n",
        ["docker.io/library/nginx:1.27"],
        [{"name": "docker.io/nginx", "newTag": "1.27"}, {"name": "nginx", "newTag": "1.27"}],
    ),
    (
        "another registry is another repository",
        "images:\n- name: nginx\n  newTag: 1.26\n",
        ["ghcr.io/nginx:1.27"],
        [{"name": "ghcr.io/nginx", "newTag": "1.27"}, {"name": "nginx", "newTag": "1.26"}],
    ),
    (
        "twin arguments for a new entry: the later wins",
        "resources: []\n",
        ["nginx:1", "docker.io/nginx:2"],
        [{"name": "nginx", "newTag": "2"}],
    ),
]


@pytest.mark.parametrize(
    ("before", "args", "expected"), [r[1:] for r in RESULTS], ids=[r[0] for r in RESULTS]
)
def test_resulting_images(before: str, args: list[str], expected: list[dict[str, str]]) -> None:
    after = set_images(before.encode(), "kustomization.yaml", [parse_argument(a) for a in args])
    assert _images(after) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images: [\n", "kustomization.yaml:2:1: invalid YAML"),
        ("- a\n- b\n", "kustomization.yaml:1:1: a kustomization must be a mapping"),
        ("images:\n- just-a-string\n", "kustomization.yaml:2:3: an images entry must be a mapping"),
        ("images:\n- newTag: v1\n", "kustomization.yaml:2:3: an images entry has no name"),
        ("images: app\n", "kustomization.yaml:1:9: images must be a list"),
        ("a: 1\n---\nb: 2\n", "kustomization.yaml: holds 2 YAML documents"),
        ("a: 1\na: 2\n", 'kustomization.yaml:2:1: key "a" is repeated (first at line 1)'),
        (
            "images:\n- name: app\n  newTag: &t v1\nx: *t\n",
            "kustomization.yaml:3:11: newTag uses a YAML anchor or alias",
        ),
        ("#" * (1024 * 1024 + 1), "overlays over 1 MiB are refused"),
    ],
)
def test_malformed_files_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        set_images(text.encode(), "kustomization.yaml", [parse_argument("app:v2")])
    assert message in str(caught.value)
