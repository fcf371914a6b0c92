"""The three kinds of failure every part of the daemon reports (docs/architecture.md).

The cycle treats them differently: a PolicyError is the user's to fix and is shown with its
position; a TransientError is retried on the next cycle; a PermanentError stops that one
(app, env) until its input changes.
"""

from __future__ import annotations


class ReconcilerError(Exception):
    """Base of every error the daemon raises on purpose; its message is safe to show."""


class PolicyError(ReconcilerError):
    """The user's input (policy, overlay, argument) is wrong; the message says what to do."""


class TransientError(ReconcilerError):
    """A dependency failed in a way that may pass (network, 5xx, rate limit): retry later."""


class PermanentError(ReconcilerError):
    """Retrying will not help until something outside the daemon changes."""
