"""ECR registry hosts: which name an account and a region, and which do not."""

from __future__ import annotations

import pytest

from reconciler.registry.references import EcrHost, ecr_host

ECR = "418773912004.dkr.ecr.ap-south-1.amazonaws.com"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (ECR, EcrHost("418773912004", "ap-south-1")),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com", EcrHost("123456789012", "us-east-1")),
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            EcrHost("123456789012", "us-gov-west-1"),
        ),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", EcrHost("123456789012", "cn-north-1")),
        ("12345678901.dkr.ecr.us-east-1.amazonaws.com", None),  # 11 digits: not an account
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example", None),
        ("public.ecr.aws", None),
        ("127.0.0.1:5000", None),
    ],
)
def test_ecr_hosts(host: str, expected: EcrHost | None) -> None:
    assert ecr_host(host) == expected
