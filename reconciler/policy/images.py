"""Where an app's images are: the Helm keys of one image (`[apps.NAME.helm]`) and the parts
of an app that promotes several images as one unit (`[apps.NAME.images.PART]`). Part of the
policy model (reconciler.policy.model re-exports them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from reconciler.policy import values
from reconciler.policy.keys import spec

HelmLayout = Literal["tag", "digest", "registry", "image"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HelmKeys:
    """Where the image lives in a Helm values file (dotted key paths; a number walks into a
    list: `containers.0.image`), and how the chart renders it."""

    layout: HelmLayout | None = spec(
        None,
        doc='How the chart renders the image, so that what is written is what runs: "tag" '
        "(repository:tag, as `helm create` scaffolds; the digest is written into the tag, "
        '`TAG@DIGEST`), "digest" (the chart reads a digest key: repository@digest), '
        '"registry" (Bitnami: registry/repository@digest), "image" (one key holding '
        '`repo:tag@digest`). Default: "image" when `image` is set, else "tag".',
        example="tag",
    )
    repository: str = spec("image.repository", doc="Key holding the image repository.")
    tag: str = spec("image.tag", doc="Key holding the tag.")
    digest: str = spec("image.digest", doc='Key holding the digest (layouts "digest", "registry").')
    registry: str = spec("image.registry", doc='Key holding the registry host (layout "registry").')
    image: str | None = spec(
        None,
        doc='Key holding `repo:tag@digest` (layout "image"). Replaces the keys above.',
        example="image",
    )
    chart: str | None = spec(
        None,
        doc="The chart's folder in the config repo; `reconciler doctor` renders it with each "
        'environment\'s values (needs `helm`) and says which image would run. "{app}" is replaced.',
        example="charts/{app}",
    )

    @property
    def kind(self) -> HelmLayout:
        """The layout in force."""
        return self.layout or ("image" if self.image is not None else "tag")


@dataclasses.dataclass(frozen=True)
class ImagePart:
    """One image of an app that promotes several as one unit (`[apps.NAME.images.PART]`)."""

    name: str = spec(doc="The part's name (the table's key).", from_key=True)
    image: str = spec(
        doc="The image repository, without tag or digest.",
        example="418773912004.dkr.ecr.ap-south-1.amazonaws.com/order-gateway-migrations",
    )
    kustomize_image: str | None = spec(
        None,
        doc="The `images[].name` to match in kustomization files; defaults to the last "
        "segment of `image`.",
        example="order-gateway-migrations",
    )
    helm: HelmKeys = spec(
        HelmKeys(), doc="Key paths of this image in Helm values overlays.", example=None
    )
    overlay: str | None = spec(
        None,
        doc="Where this part is pinned when not in the environment's own overlay file: "
        "a folder holding its own kustomization.yaml, under the environment's overlay "
        "folder (kustomize), or a values file beside the environment's values file (helm). "
        '"{app}" is replaced by the app name.',
        example="jobs",
        parse=values.parse_part_path,
        schema={"type": "string", "minLength": 1},
    )


NO_PARTS: Mapping[str, ImagePart] = MappingProxyType({})  # a single-image app's `images`
