"""What a promotion changes, for the reviewer: the two images' versions and revisions, a
compare link, and the source commits between them, as a section of the request body.

Pure. Everything shown here comes from people who build images or push to the source
repository, so it is shown as text that cannot act: inside code spans (no mention, link or
HTML), with the body marker's characters replaced, and bounded in length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from reconciler.model import short
from reconciler.registry.port import ImageLabels

HEADING = "### What changes"
MAX_COMMITS = 30  # listed; the rest are counted ("and N more")
MAX_SECTION = 16_000  # characters: a quarter of GitHub's 65,536 for a pull request body
MAX_TITLE = 120
_PULL = re.compile(r"^Merge pull request #(\d+) |\(#(\d+)\)\s*$")
_REVISION = re.compile(r"[0-9a-f]{7,64}")
_URL = re.compile(r"https?://[A-Za-z0-9.:-]+(/[A-Za-z0-9._~/-]*)?")


@dataclass(frozen=True)
class SourceCommit:
    """One commit of the source repository: id, first line, author, the pull it came from."""

    sha: str
    title: str
    author: str
    pull: int | None = None


@dataclass(frozen=True)
class Comparison:
    """The source commits from the target's revision to the candidate's (oldest first;
    ``commits`` may hold fewer than ``total``), and the forge's page showing them."""

    commits: tuple[SourceCommit, ...]
    total: int
    url: str
    behind: int = 0  # the candidate lacks this many of the target's commits (a rollback)


@dataclass(frozen=True)
class ImageChange:
    """What observing learnt of a promotion's two images; ``unknown`` says, plainly, what
    could not be learnt and why. ``before`` is None when the target pins nothing."""

    before: ImageLabels | None = None
    after: ImageLabels | None = None
    comparison: Comparison | None = None
    unknown: tuple[str, ...] = ()


def pull_number(message: str) -> int | None:
    """The pull request a commit came from, as GitHub writes it in a merge commit
    ("Merge pull request #12 from ...") or a squashed one ("Title (#12)")."""
    first = message.split("\n", 1)[0].strip()
    found = _PULL.search(first)
    return int(found[1] or found[2]) if found else None


def commit_title(message: str) -> str:
    """A commit's first line; for GitHub's merge commit of a pull, the pull's title (the
    first line after the "Merge pull request" line)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("Merge pull request #") and len(lines) > 1:
        return lines[1]
    return lines[0]


def revision(labels: ImageLabels | None) -> str | None:
    """The image's source revision when it is a git commit id (hex), lower case."""
    value = (labels.revision or "").strip().lower() if labels else ""
    return value if _REVISION.fullmatch(value) else None


def source_url(labels: ImageLabels | None) -> str | None:
    """The image's source repository as a plain http(s) URL (``.git`` dropped), else None."""
    value = (labels.source or "").strip() if labels else ""
    value = value.removeprefix("git+").removesuffix("/").removesuffix(".git")
    return value if _URL.fullmatch(value) and urlsplit(value).path.count("/") >= 2 else None


def compare_link(source: str, base: str, head: str) -> str:
    """The web page comparing two revisions, GitHub's form (``/compare/base...head``)."""
    return f"{source}/compare/{quote(base)}...{quote(head)}"


def section(change: ImageChange | None, before_digest: str | None, after_digest: str) -> str:
    """The request body's "What changes" section, at most ``MAX_SECTION`` characters; none
    when nothing was observed (``change`` None)."""
    if change is None:
        return ""
    lines = [HEADING, ""]
    lines += _versions(change, before_digest, after_digest)
    if change.comparison is not None:
        lines += ["", *_commits(change.comparison, source_url(change.after) or "")]
    if change.unknown:
        lines += ["", *[f"- {_plain(why, 400)}" for why in change.unknown]]
    text = "\n".join(lines)
    if len(text) > MAX_SECTION:
        cut = text.rfind("\n", 0, MAX_SECTION - 80)
        text = text[:cut] + "\n\n(the rest of this section was left out: too long)"
    return text


def section_of(body: str) -> str:
    """The "What changes" section of a request body as ``section`` wrote it (heading and
    all), up to the next heading; "" when the body has none."""
    start = body.find(HEADING + "\n")
    if start < 0:
        return ""
    end = body.find("\n### ", start + len(HEADING))
    end = body.find("\n<!-- reconciler:promotion ", start) if end < 0 else end
    return body[start : end if end >= 0 else len(body)].rstrip()


def _versions(change: ImageChange, before_digest: str | None, after_digest: str) -> list[str]:
    before, after = change.before, change.after
    was = short(before_digest) if before_digest else "nothing"
    lines = [f"- image: `{was}` -> `{short(after_digest)}`"]
    for name in ("version", "revision", "created"):
        old = getattr(before, name) if before else None
        new = getattr(after, name) if after else None
        if old or new:
            lines.append(f"- {name}: {_value(old)} -> {_value(new)}")
    source = source_url(after)
    base, head = revision(before), revision(after)
    if source and base and head and base != head:
        link = change.comparison.url if change.comparison else compare_link(source, base, head)
        lines.append(f"- source: {source} ([compare {base[:12]}...{head[:12]}]({link}))")
    elif source:
        lines.append(f"- source: {source}")
    elif after and after.source:
        lines.append(f"- source: {_value(after.source)}")
    return lines


def _commits(comparison: Comparison, source: str) -> list[str]:
    if comparison.behind and not comparison.total:
        return [
            f"The candidate's revision is {comparison.behind} commit(s) behind the one "
            "running now: this goes back."
        ]
    lines = [f"Commits ({comparison.total}):", ""]
    shown = comparison.commits[-MAX_COMMITS:]  # the most recent
    skipped = comparison.total - len(shown)
    if skipped > 0:
        lines.append(f"- and {skipped} more (older)")
    for commit in shown:
        sha = commit.sha[:12]
        where = f"[`{sha}`]({source}/commit/{quote(commit.sha)})" if source else f"`{sha}`"
        pull = f" ([#{commit.pull}]({source}/pull/{commit.pull}))" if source and commit.pull else ""
        lines.append(
            f"- {where} {_value(commit.title, MAX_TITLE)} by {_value(commit.author, 60)}{pull}"
        )
    return lines


def _value(text: str | None, limit: int = 200) -> str:
    """Untrusted text as a code span: nothing in it is a mention, a link or HTML."""
    if not text:
        return "unknown"
    quoted = _plain(text, limit).replace("`", "'")
    return f"`{quoted}`"


def _plain(text: str, limit: int) -> str:
    """One line, bounded, without the characters of an HTML comment (the body's marker)."""
    flat = " ".join(text.split())
    flat = flat.replace("<", "\u2039").replace(">", "\u203a")
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"
