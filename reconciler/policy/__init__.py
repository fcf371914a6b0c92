"""`promotions.toml`: the typed model, its loader and validator, its JSON Schema."""

from reconciler.policy.diagnostics import Diagnostic
from reconciler.policy.loader import MAX_BYTES, LoadResult, load_policy
from reconciler.policy.model import POLICY_FILE, Environment, Policy

__all__ = [
    "MAX_BYTES",
    "POLICY_FILE",
    "Diagnostic",
    "Environment",
    "LoadResult",
    "Policy",
    "load_policy",
]
