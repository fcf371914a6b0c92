"""The errors the daemon raises on purpose; every message is safe to show (no secrets).

How they are handled today: the CLI shows any of them as a message with no traceback
(exit 1); a cycle turns one raised by an action into that action's failed outcome and the
next cycle plans it again; observing records one raised by a registry as an unknown fact
(fail closed). TransientError and PermanentError differ in what they tell the reader, and
in one adapter: a fetch failing with TransientError makes the git adapter check its cache
clone and, if the clone is damaged, repair it and fetch again. No part of the cycle stops
retrying an (app, env) because of a PermanentError: the next cycle tries again.
RateLimited, a TransientError, also says when the limit resets: the daemon loop waits until
then rather than on its failure backoff.
"""

from __future__ import annotations

import re
from datetime import datetime


class ReconcilerError(Exception):
    """Base of every error the daemon raises on purpose; its message is safe to show."""


class PolicyError(ReconcilerError):
    """The user's input (policy, overlay, argument) is wrong; the message says what to do."""


class TransientError(ReconcilerError):
    """A dependency failed in a way that may pass (network, 5xx, rate limit): retry later."""


class PermanentError(ReconcilerError):
    """Retrying will not help until something outside the daemon changes (a person must act)."""


class RateLimited(TransientError):
    """``service``'s rate limit is spent until ``until`` (UTC): asking sooner would be refused,
    so the daemon loop waits until then instead of retrying on its failure backoff."""

    def __init__(self, message: str, *, until: datetime, service: str) -> None:
        super().__init__(message)
        self.until = until
        self.service = service


# What a daemon's error and log messages promise about its next cycle, and what a verb that
# runs once says instead: it will not try again (every verb that ends).
_RETRY_PROMISES = (
    (re.compile(r" \(it will be\s+retried next cycle\)"), ""),
    (re.compile(r"; (?:it|the change) will be (?:retried|tried again) next cycle"), ""),
    (re.compile(r"; retrying next cycle"), ""),
    (re.compile(r" per cycle spent, next cycle"), " per cycle spent"),
    (re.compile(r" and will be looked at again next cycle"), ""),
    (re.compile(r"; it is checked next cycle"), "; run again to check it"),
    (re.compile(r" and are taken next cycle"), " and were not taken"),
)


def one_shot(text: str) -> str:
    """``text`` as a process that runs once says it: without promises of a next cycle."""
    for pattern, instead in _RETRY_PROMISES:
        text = pattern.sub(instead, text)
    return text


def os_reason(error: OSError) -> str:
    """Why the system refused, in lower case ("no such file or directory"), for messages."""
    return (error.strerror or type(error).__name__).lower()
