"""libgit2's callbacks for one network operation: credentials, host verdicts, the push lease,
and a transfer's progress.

Credentials travel only through them: the stored remote URL and the clone's config never
hold a secret, and a failure names where a secret comes from, never the secret.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pygit2
from pygit2.enums import CredentialType
from pygit2.ffi import C, ffi
from pygit2.remotes import TransferProgress

from reconciler.errors import ReconcilerError, TransientError
from reconciler.gitrepo import updating
from reconciler.gitrepo.credentials import (
    Credentials,
    HttpsToken,
    HttpsTokenSource,
    SshAgent,
    SshKey,
    read_passphrase,
    read_token,
)
from reconciler.gitrepo.port import Transfer, TransferStage, TransferWatch

log = logging.getLogger("reconciler.gitrepo")

ZERO = pygit2.Oid(hex="0" * 40)  # libgit2's id for "no commit": a ref that does not exist
PROGRESS_EVERY = 0.05  # seconds between two readings of a clone's progress (a bar: 0.1 s)
_KINDS = (
    (CredentialType.USERPASS_PLAINTEXT, "an HTTPS token"),
    (CredentialType.SSH_KEY, "an SSH key"),
)


class AuthRejected(Exception):
    """The remote asked again after we sent the configured credential: it was refused."""


class AuthMissing(Exception):
    """The remote asks for a kind of credential that is not configured."""

    def __init__(self, allowed: CredentialType) -> None:
        super().__init__(str(allowed))
        self.allowed = allowed


# What a network operation raises: libgit2's errors, and the callbacks' own.
NETWORK_ERRORS = (pygit2.GitError, OSError, AuthRejected, AuthMissing)


class Callbacks(pygit2.RemoteCallbacks):
    """Credentials, certificate checks, and the push lease, for one network operation."""

    def __init__(
        self,
        credentials: Credentials | None,
        environ: Mapping[str, str],
        lease: tuple[str, pygit2.Oid] | None = None,
        watch: TransferWatch | None = None,
    ) -> None:
        super().__init__()
        self._credentials = credentials
        self._environ = environ
        self._sent = 0
        self._lease = lease
        self._watch = watch
        self._transfer: Transfer | None = None
        self._mark: tuple[int, int] | None = None  # the 256ths of objects and deltas told
        self._polled = False  # a thread reads the progress: libgit2 need not call back
        self._fetch_options: Any = None
        self.secrets: list[str] = []
        self.rejected: dict[str, str] = {}

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.UserPass | pygit2.Username | pygit2.Keypair:
        cred = self._credentials
        if (
            isinstance(cred, HttpsToken | HttpsTokenSource)
            and allowed_types & CredentialType.USERPASS_PLAINTEXT
        ):
            self._count_attempt()
            secret = read_token(cred, self._environ).reveal()
            self.secrets.append(secret)
            return pygit2.UserPass(cred.username, secret)
        if isinstance(cred, SshKey | SshAgent):
            user = username_from_url or cred.username
            if allowed_types & CredentialType.SSH_KEY:
                self._count_attempt()
                return _keypair(cred, user, self.secrets)
            if allowed_types & CredentialType.USERNAME:
                return pygit2.Username(user)
        raise AuthMissing(allowed_types)

    def _count_attempt(self) -> None:
        self._sent += 1
        if self._sent > 1:  # libgit2 asks again only after a refusal; never loop on it
            raise AuthRejected

    def certificate_check(
        self,
        certificate: None,
        valid: bool,  # noqa: FBT001 - pygit2's RemoteCallbacks signature; pygit2 calls it positionally
        host: bytes,
    ) -> bool:
        # pygit2's default accepts any SSH host key; trust libgit2's known_hosts and TLS
        # verdicts instead, so an unknown host fails closed.
        return valid

    @property
    def fetch_options(self) -> Any:
        """The options pygit2 hands libgit2 for a fetch (it sets them before each one)."""
        return self._fetch_options

    @fetch_options.setter
    def fetch_options(self, options: Any) -> None:
        # libgit2 calls back for every object it receives and every delta it resolves:
        # 190,000 calls into Python for a 10,000-app clone, 40% of its time. Where a thread
        # reads the progress instead (``watching`` a clone's remote), or nothing watches it,
        # it is told not to.
        self._fetch_options = options
        if options is not None and (self._polled or self._watch is None):
            options.callbacks.transfer_progress = ffi.NULL

    @contextlib.contextmanager
    def watching(
        self, action: str, remote: str, fetching: pygit2.remotes.Remote | None = None
    ) -> Iterator[None]:
        """Tell the watch this transfer's start, its progress while inside, and its end.
        With ``fetching`` (the remote a fetch inside runs on), the progress is read from
        its counters every ``PROGRESS_EVERY`` seconds by a thread of its own."""
        if self._watch is None:
            yield
            return
        self._transfer = Transfer(action, remote, "started")
        self._mark = None
        self._tell(self._transfer)
        with self._polling(fetching):
            try:
                yield
            except BaseException:
                self._end("failed")
                raise
        self._end("done")

    @contextlib.contextmanager
    def _polling(self, fetching: pygit2.remotes.Remote | None) -> Iterator[None]:
        if fetching is None:
            yield
            return
        # The remote's counters, which libgit2 updates in place while the fetch runs (it
        # releases the interpreter lock): each only grows, so a reading taken mid-update
        # is at worst a little behind.
        counters = C.git_remote_stats(fetching._remote)  # as pygit2's own fetch reads them
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(PROGRESS_EVERY):
                self.transfer_progress(TransferProgress(counters))

        self._polled = True
        poller = threading.Thread(target=poll, name="git-progress", daemon=True)
        poller.start()
        try:
            yield
        finally:
            stop.set()
            poller.join()
            self._polled = False
        self.transfer_progress(TransferProgress(counters))  # where the transfer ended

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        if self._transfer is None:
            return
        # A 256th of the objects or deltas is news enough (libgit2 reports every object,
        # 93,000 for a 10,000-app repo, where it calls back at all).
        mark = (
            stats.received_objects * 256 // max(stats.total_objects, 1),
            stats.indexed_deltas * 256 // max(stats.total_deltas, 1),
        )
        if mark == self._mark:
            return
        self._mark = mark
        self._transfer = replace(
            self._transfer,
            stage="receiving",
            received_objects=stats.received_objects,
            total_objects=stats.total_objects,
            indexed_objects=stats.indexed_objects,
            indexed_deltas=stats.indexed_deltas,
            total_deltas=stats.total_deltas,
            received_bytes=stats.received_bytes,
        )
        self._tell(self._transfer)

    def _end(self, stage: TransferStage) -> None:
        if self._transfer is not None:
            self._tell(replace(self._transfer, stage=stage))
        self._transfer = None

    def _tell(self, transfer: Transfer) -> None:
        watch = self._watch
        if watch is None:
            return
        try:
            watch(transfer)
        except Exception:
            # Progress is a courtesy: a watch that fails (a closed stderr) must not fail
            # the fetch, so it is told nothing more.
            log.warning(
                "reporting the progress of %s %s failed; it goes on unreported",
                transfer.action,
                transfer.remote,
                exc_info=True,
            )
            self._watch = None

    def push_negotiation(self, updates: list[pygit2.remotes.PushUpdate]) -> None:
        for update in updates:
            lease = self._lease
            if lease and update.dst_refname == lease[0] and update.src != lease[1]:
                raise updating.BranchMoved(None if update.src == ZERO else str(update.src))

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message

    def failure(self, action: str, where: str, error: BaseException) -> ReconcilerError:
        """``error`` of the operation ``action`` on ``where``, said with what to check and
        with every secret these callbacks sent masked."""
        if isinstance(error, ReconcilerError):
            return error
        if isinstance(error, AuthRejected) and self._credentials is not None:
            return TransientError(
                f"{action} {where}: the remote refused {self._credentials.describe()}; check "
                "that it is current and has access to this repository"
            )
        if isinstance(error, AuthMissing):
            kinds = " or ".join(t for f, t in _KINDS if error.allowed & f) or "credentials"
            have = self._credentials.describe() if self._credentials else "none"
            return TransientError(
                f"{action} {where}: the remote asks for {kinds}, and {have} is configured; "
                "set an HTTPS token (file or variable) for https remotes, an SSH key for ssh"
            )
        text = str(error) or type(error).__name__
        for secret in self.secrets:
            text = text.replace(secret, "***")
        hint = "check the address, the network and the remote"
        if "hostkey" in text:
            hint = "add the server's host key to ~/.ssh/known_hosts of the daemon's user"
        return TransientError(
            f"{action} {where} failed: {text}; {hint} (it will be retried next cycle)"
        )


def _keypair(cred: SshKey | SshAgent, user: str, secrets: list[str]) -> pygit2.Keypair:
    if isinstance(cred, SshAgent):
        return pygit2.KeypairFromAgent(user)
    public = cred.public_key or Path(f"{cred.private_key}.pub")
    passphrase = read_passphrase(cred)
    if passphrase is not None:
        secrets.append(passphrase.reveal())
    return pygit2.Keypair(
        user,
        str(public) if public.exists() else None,
        str(cred.private_key),
        passphrase.reveal() if passphrase else "",
    )
