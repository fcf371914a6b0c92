"""The config repo: a port (port.py), its pure helpers, and the pygit2 adapter.

Only the ``pygit2_adapter`` package imports pygit2; everything the rest of the daemon needs to
type against is re-exported here.
"""

from reconciler.gitrepo.blobcache import BlobCache, read_parsed
from reconciler.gitrepo.credentials import (
    Credentials,
    HttpsToken,
    HttpsTokenSource,
    Secret,
    SshAgent,
    SshKey,
)
from reconciler.gitrepo.port import (
    CommitInfo,
    ConfigRepo,
    Edit,
    FileChange,
    LeaseRejected,
    PushOutcome,
    ReadView,
    Signature,
    Transfer,
    TransferWatch,
    UnknownCommit,
)
from reconciler.gitrepo.trailers import Trailer, parse_trailers, with_trailers

__all__ = [
    "BlobCache",
    "CommitInfo",
    "ConfigRepo",
    "Credentials",
    "Edit",
    "FileChange",
    "HttpsToken",
    "HttpsTokenSource",
    "LeaseRejected",
    "PushOutcome",
    "ReadView",
    "Secret",
    "Signature",
    "SshAgent",
    "SshKey",
    "Trailer",
    "Transfer",
    "TransferWatch",
    "UnknownCommit",
    "parse_trailers",
    "read_parsed",
    "with_trailers",
]
