"""What a registry host says of itself: an ECR host names its account and region.

Image references and digests are parsed by ``reconciler.imagerefs``, the one parser every
part of the daemon uses; ``DOCKER_HUB`` is named here too for the credential lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.imagerefs import DOCKER_HUB

__all__ = ["DOCKER_HUB", "EcrHost", "ecr_host"]

_ECR_HOST = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
)


@dataclass(frozen=True)
class EcrHost:
    """What an ECR registry host (``<account>.dkr.ecr.<region>.amazonaws.com``) says."""

    account: str
    region: str


def ecr_host(host: str) -> EcrHost | None:
    """Account and region of an ECR registry host; None for any other host."""
    found = _ECR_HOST.fullmatch(host)
    return EcrHost(found["account"], found["region"]) if found else None
