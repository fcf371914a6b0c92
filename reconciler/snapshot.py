"""What one cycle observed: a frozen picture of git, the forge and the environments.

Observing fills it (reconciler.observing); planning reads it and nothing else, so a plan
is a pure function of (policy, snapshot, now).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from reconciler.changes import ImageChange
from reconciler.codeowners import NONE, CodeOwners
from reconciler.forge.port import CommitChecks, Enforcement, Request
from reconciler.gates import PinFact, Sample
from reconciler.gitrepo.port import CommitInfo
from reconciler.overlays.imageref import ImagePin

Key = tuple[str, str]  # (app, env)


@dataclass(frozen=True, kw_only=True, slots=True)
class OverlayState:
    """What an environment's overlay pins for an app, on the base branch."""

    path: str  # the file: a kustomization or a Helm values file
    pin: ImagePin | None  # None: the file does not mention the app's image
    commit: str | None = None  # the last commit that changed the file
    changed_at: datetime | None = None
    history: tuple[PinFact, ...] = ()  # oldest first
    error: str | None = None  # the overlay could not be read: why
    # Older commits that changed the file (newest first, each before ``history[0]``) whose
    # pins are not read yet: a full read knows only the newest fact, and observing reads
    # the rest where a plan looks at them (pinfacts.PinFacts.complete).
    unread: tuple[CommitInfo, ...] = ()
    # An app of several images with parts in files of their own (reconciler.partfiles):
    # each file and the parts it pins, the environment's own first; () when ``path`` pins
    # them all. ``commit``, ``history`` and ``unread`` then cover every one of the files.
    part_files: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        """Every file that pins the app: ``path``, or a unit's part files."""
        if not self.part_files:
            return (self.path,)
        return tuple(path for path, _ in self.part_files)


@dataclass(frozen=True, slots=True)
class LiveState:
    """What a live source says an environment runs for an app.

    ``sighted``: ``since`` is only when this process first saw the digest (the source
    tells no start time), so observing may replace it with an earlier recorded sighting.
    """

    digest: str | None
    since: datetime | None = None
    rolling: bool = False
    error: str | None = None
    sighted: bool = False


@dataclass(frozen=True)
class RequestState:
    """An open promotion request and what observing learnt about its head."""

    request: Request
    outdated: bool = False  # merging the head now would not give the daemon's edit
    head_problem: str | None = None  # why the head is not the daemon's own edit
    unfetched: bool = False  # the head is newer than this cycle's fetch: judged next cycle


@dataclass(frozen=True, kw_only=True)
class ApplicationStatus:
    """What Argo CD says of one Application; ``error`` when it could not be read."""

    application: str
    sync: str | None = None  # Synced, OutOfSync, Unknown
    health: str | None = None  # Healthy, Progressing, Degraded, Suspended, Missing, Unknown
    images: tuple[str, ...] = ()  # status.summary.images
    operation: str | None = None  # phase of the last sync operation: Running, Succeeded...
    synced_at: datetime | None = None  # when the last successful sync finished
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class CheckFacts:
    """What the forge said of the checks on a commit, read for the candidate ``digest`` at
    ``read_at``: the source overlay's commit, or (``repository`` set) the candidate's source
    revision in that repository; ``error`` when it (or the image's labels) could not be read."""

    commit: str | None
    digest: str
    read_at: datetime
    read: CommitChecks | None = None
    error: str | None = None
    repository: str | None = None


@dataclass(frozen=True)
class TagFact:
    """What a registry tag points to: ``digest`` None when there is no such tag."""

    digest: str | None
    error: str | None = None  # the registry could not answer: nothing is known


@dataclass(frozen=True)
class DigestFact:
    """Whether the registry holds a digest; ``exists`` None when it could not be proven."""

    exists: bool | None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """Everything a plan may depend on besides the policy and ``now``."""

    base_branch: str
    base_commit: str
    overlays: Mapping[Key, OverlayState] = field(default_factory=dict)
    live: Mapping[Key, LiveState] = field(default_factory=dict)
    requests: Mapping[Key, RequestState] = field(default_factory=dict)
    samples: tuple[Sample, ...] = ()
    sampled: bool = True  # False: the HTTP gates were not probed for this snapshot
    codeowners: CodeOwners = NONE
    enforcement: Enforcement | None = None
    teams: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Owning teams whose members the forge would not list: why, and what to grant.
    unreadable_teams: Mapping[str, str] = field(default_factory=dict)
    policy_errors: tuple[str, ...] = ()  # the base branch's policy is invalid: its errors
    awaiting_live: Mapping[Key, Request] = field(default_factory=dict)  # merged, not yet seen live
    tags: Mapping[tuple[str, str], TagFact] = field(default_factory=dict)  # (repository, tag)
    digests: Mapping[tuple[str, str], DigestFact] = field(default_factory=dict)  # (repo, digest)
    applications: Mapping[Key, ApplicationStatus] = field(default_factory=dict)  # Argo CD
    # (app, source env, "config" or "source"): the `checks` gates' commits
    checks: Mapping[tuple[str, str, str], CheckFacts] = field(default_factory=dict)
    codeowners_errors: Mapping[int, str] = field(default_factory=dict)  # line -> the forge's words
    damaged: Mapping[Key, str] = field(default_factory=dict)  # unreadable request records
    # What a request to open or update changes (labels, source commits): (app, target env).
    changes: Mapping[Key, ImageChange] = field(default_factory=dict)
