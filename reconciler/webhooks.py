"""GitHub webhook deliveries: signature check, de-duplication and the cycle they trigger.

A delivery is trusted only when ``X-Hub-Signature-256`` is the HMAC-SHA256 of the exact
body under the shared secret. ``receive`` turns one delivery into an ``Answer`` (status,
text, trigger reason); the HTTP server in ``reconciler.server`` does the I/O around it.
Nothing here logs or returns the secret, the signature or payload contents beyond the
event, action, ref and number.

A replica that accepts a delivery forwards it to its peers (``reconciler.forwarding``) as a
small signed message, the ``Forward``: its own HMAC under the same secret, over a context
prefix GitHub's signature never covers, so neither can stand in for the other. A peer
refuses one that is forged, older than ``FORWARD_MAX_AGE_SECONDS`` or already seen.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from reconciler.errors import PolicyError

# The events whose changes a cycle reads: the config repo's branches, its requests, their
# reviews and their checks. Every other event (ping included) is answered but ignored.
EVENTS = frozenset({"push", "pull_request", "pull_request_review", "check_suite", "status"})
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
JSON = "application/json"
DEFAULT_SEEN_CAPACITY = 10_000
# GitHub's delivery ids are GUIDs; the cap keeps the de-duplication memory bounded.
MAX_DELIVERY_ID_CHARS = 200
_PREFIX = "sha256="
FORWARD_SIGNATURE = "X-Reconciler-Signature-256"
# Where peers post forwards: not /webhook, so an Ingress routing only that path keeps it in.
FORWARD_PATH = "/webhook/forwarded"
# Replay protection across restarts: the seen ids live in memory, the age bound does not.
# Wide enough for the clock skew of one cluster's nodes.
FORWARD_MAX_AGE_SECONDS = 300
_FORWARD_CONTEXT = b"reconciler forwarded delivery v1\n"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class WebhookConfig:
    """What ``/webhook`` needs: the shared secret, the body limit and what to call."""

    secret: bytes = field(repr=False)
    # Returns False when the daemon's trigger limit defers the cycle (coalesced, not lost).
    trigger: Callable[[str], bool | None] = field(repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Called with each accepted delivery's (id, event, reason), to tell the peers.
    forward: Callable[[str, str, str], None] = field(default=lambda *_: None, repr=False)

    def __post_init__(self) -> None:
        if not self.secret:
            raise PolicyError("the webhook secret is empty; set the secret of the GitHub hook")
        if self.max_body_bytes <= 0:
            raise PolicyError(f"the webhook body limit must be positive: {self.max_body_bytes}")


@dataclass(frozen=True)
class Answer:
    """The reply to one delivery, and the cycle reason to trigger when there is one."""

    status: int
    text: str
    reason: str | None = None


def load_secret(path: Path) -> bytes:
    """The webhook secret in ``path`` (surrounding whitespace dropped); PolicyError if none."""
    try:
        secret = path.read_bytes().strip()
    except OSError as error:
        raise PolicyError(
            f"cannot read the webhook secret file {path}: {error.strerror or type(error).__name__}"
            "; check that the file is mounted and readable (--webhook-secret-file)"
        ) from None
    if not secret:
        raise PolicyError(
            f"the webhook secret file {path} is empty; write the secret of the GitHub hook in it"
        )
    return secret


def verify(secret: bytes, body: bytes, signature_header: str | None) -> bool:
    """True when ``signature_header`` is ``sha256=<hex HMAC of body under secret>``."""
    if not secret or signature_header is None or not signature_header.startswith(_PREFIX):
        return False
    given = signature_header[len(_PREFIX) :].strip().lower()
    # Only the format is checked before the comparison: nothing about the secret leaks.
    if len(given) != hashlib.sha256().digest_size * 2 or not set(given) <= _HEX:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))


class SeenDeliveries:
    """The most recent delivery ids (least recently seen dropped first); thread-safe."""

    def __init__(self, capacity: int = DEFAULT_SEEN_CAPACITY) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._capacity = capacity
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, delivery_id: str) -> bool:
        """Record ``delivery_id``; True only the first time it is seen (while remembered)."""
        with self._lock:
            if delivery_id in self._ids:
                self._ids.move_to_end(delivery_id)
                return False
            self._ids[delivery_id] = None
            if len(self._ids) > self._capacity:
                self._ids.popitem(last=False)
            return True

    def forget(self, delivery_id: str) -> None:
        """Drop ``delivery_id``, so that a redelivery is handled again."""
        with self._lock:
            self._ids.pop(delivery_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)


def decide(event: str, payload: Mapping[str, object]) -> str | None:
    """The cycle reason for a verified delivery, or None when the event changes nothing."""
    if event not in EVENTS:
        return None
    action = _text(payload.get("action"))
    if event == "push":
        ref = _text(payload.get("ref"))
        return " ".join(p for p in ("webhook push", ref.removeprefix("refs/heads/")) if p)
    if event == "check_suite":
        suite = payload.get("check_suite")
        suite = suite if isinstance(suite, Mapping) else {}
        numbers = [n for n in map(_number, _list(suite.get("pull_requests"))) if n is not None]
        shown = " ".join(f"#{n}" for n in numbers[:3]) + (" ..." if len(numbers) > 3 else "")
        branch = _text(suite.get("head_branch"))
        return " ".join(p for p in ("webhook check_suite", action, shown or branch) if p)
    if event == "status":  # a commit status set: a `checks` gate may pass now
        sha = _text(payload.get("sha"))[:12]
        said = (_text(payload.get("context")), _text(payload.get("state")), sha)
        return " ".join(p for p in ("webhook status", *said) if p)
    number = _number(payload.get("pull_request"))
    shown = f"#{number}" if number is not None else ""
    return " ".join(p for p in (f"webhook {event}", action, shown) if p)


def receive(
    config: WebhookConfig,
    seen: SeenDeliveries,
    headers: Mapping[str, str | None],
    body: bytes,
) -> Answer:
    """Check one delivery whose body was read whole, and say how to answer it."""
    if not verify(config.secret, body, headers.get("X-Hub-Signature-256")):
        return Answer(401, "signature missing or wrong: check the hook's secret")
    refused = _refused_media_type(headers)
    if refused is not None:
        return refused
    event = (headers.get("X-GitHub-Event") or "").strip()
    delivery = (headers.get("X-GitHub-Delivery") or "").strip()
    if not event or not delivery:
        return Answer(400, "X-GitHub-Event and X-GitHub-Delivery are required")
    if len(delivery) > MAX_DELIVERY_ID_CHARS:
        return Answer(400, f"X-GitHub-Delivery is longer than {MAX_DELIVERY_ID_CHARS} characters")
    payload = _object(body)
    if isinstance(payload, Answer):
        return payload
    if not seen.first_time(delivery):
        return Answer(200, "duplicate delivery: already handled")
    reason = decide(event, payload)
    if reason is None:
        return Answer(200, f"event {_clean(event)} needs no cycle")
    return Answer(202, "accepted: a cycle starts now", reason)


@dataclass(frozen=True)
class Forward:
    """A delivery one replica accepted, told to a peer: what it was and the cycle reason."""

    delivery: str
    event: str
    reason: str
    sender: str  # the forwarding replica's --shard, for log lines
    sent_at: int  # unix seconds, by the sender's clock


def forward_message(secret: bytes, forward: Forward) -> tuple[bytes, dict[str, str]]:
    """The body and headers that carry ``forward`` to a peer, signed under ``secret``."""
    body = json.dumps(asdict(forward), sort_keys=True).encode()
    return body, {"Content-Type": JSON, FORWARD_SIGNATURE: sign_forward(secret, body)}


def sign_forward(secret: bytes, body: bytes) -> str:
    """The ``X-Reconciler-Signature-256`` of a forward's ``body`` under ``secret``."""
    return _PREFIX + hmac.new(secret, _FORWARD_CONTEXT + body, hashlib.sha256).hexdigest()


def receive_forward(
    config: WebhookConfig,
    seen: SeenDeliveries,
    headers: Mapping[str, str | None],
    body: bytes,
    now: float,
) -> tuple[Answer, Forward | None]:
    """Check one forwarded delivery, as ``receive`` does a GitHub one; never forwarded on."""
    if not verify(config.secret, _FORWARD_CONTEXT + body, headers.get(FORWARD_SIGNATURE)):
        return Answer(401, "forward signature missing or wrong: peers must share the secret"), None
    refused = _refused_media_type(headers)
    if refused is not None:
        return refused, None
    forward = _forward(_object(body))
    if forward is None:
        return Answer(400, "not a forwarded delivery"), None
    if abs(now - forward.sent_at) > FORWARD_MAX_AGE_SECONDS:
        return Answer(
            403,
            f"forwarded {forward.sent_at}, more than {FORWARD_MAX_AGE_SECONDS}s from this "
            "replica's clock: a replay, or clocks apart",
        ), forward
    if not seen.first_time(forward.delivery):
        return Answer(200, "duplicate delivery: already handled"), forward
    reason = f"{forward.reason} (forwarded from {_clean(forward.sender)})"
    return Answer(202, "accepted: a cycle starts now", reason), forward


def _forward(payload: object) -> Forward | None:
    if not isinstance(payload, dict) or set(payload) != set(Forward.__dataclass_fields__):
        return None
    texts = [payload[name] for name in ("delivery", "event", "reason", "sender")]
    sent_at = payload["sent_at"]
    if not all(isinstance(t, str) and t for t in texts) or type(sent_at) is not int:
        return None
    delivery, event, reason, sender = (str(t) for t in texts)
    if len(delivery) > MAX_DELIVERY_ID_CHARS:
        return None
    return Forward(delivery, event, _clean(reason, 300), sender, sent_at)


def _refused_media_type(headers: Mapping[str, str | None]) -> Answer | None:
    # Checked after the signature, so that unsigned callers learn nothing about the rest.
    media_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if media_type != JSON:
        return Answer(415, f"the content type is not {JSON}: set the hook's content type to it")
    return None


def _object(body: bytes) -> dict[str, object] | Answer:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Answer(400, "the body is not JSON: set the hook's content type to application/json")
    if not isinstance(payload, dict):
        return Answer(400, "the body is not a JSON object")
    return payload


def describe(headers: Mapping[str, str | None]) -> str:
    """``event (delivery id)`` for log lines, safe to print even when unverified."""
    event = _clean(headers.get("X-GitHub-Event") or "") or "no event"
    delivery = _clean(headers.get("X-GitHub-Delivery") or "") or "no delivery id"
    return f"{event} ({delivery})"


def _text(value: object) -> str:
    return _clean(value) if isinstance(value, str) else ""


def _number(value: object) -> int | None:
    if not isinstance(value, Mapping):
        return None
    number = value.get("number")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _clean(text: str, limit: int = 100) -> str:
    """Printable and short: header and payload text end up in log lines and reasons."""
    shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return shown + ("..." if len(text) > limit else "")
