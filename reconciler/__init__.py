"""reconciler: promotes container images through environments in a GitOps config repo."""

__version__ = "0.1.0"
