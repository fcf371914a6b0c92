"""The commits between two revisions of an image's source repository on GitHub
(``GET /repos/{owner}/{repo}/compare/{base}...{head}``, GitHub's "Compare two commits").

Asked without paging parameters, GitHub answers up to 250 commits, oldest first, the last
being the newest of the whole comparison: the daemon lists the newest and counts the rest.
The pull request each commit came from is read from its message as GitHub writes merge and
squash commits, so a comparison costs one request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from github.GithubException import GithubException

from reconciler.changes import (
    MAX_COMMITS,
    Comparison,
    SourceCommit,
    commit_title,
    compare_link,
    pull_number,
)
from reconciler.errors import PermanentError
from reconciler.forge.github.client import Client, reason


def repository_of(source: str, api_base: str) -> tuple[str, str] | None:
    """``(owner, repo)`` of a source URL on the GitHub that ``api_base`` serves: the same
    host (GitHub Enterprise Server, ``https://HOST/api/v3``), or the host whose API is
    ``api.HOST`` (github.com, GHE.com); None for any other host."""
    src, api = urlsplit(source), urlsplit(api_base)
    same = src.netloc.lower() == api.netloc.lower()
    if not (same or api.netloc.lower() == f"api.{src.netloc.lower()}"):
        return None
    parts = [part for part in src.path.split("/") if part]
    return (parts[0], parts[1]) if len(parts) == 2 else None


def compare_commits(client: Client, source: str, base: str, head: str) -> Comparison | None:
    """The comparison of ``base...head`` in the repository ``source`` names; None when it is
    not on this GitHub. PermanentError when GitHub will not show it (no access: 404)."""
    found = repository_of(source, client.base_url)
    if found is None:
        return None
    owner, repo = found
    what = f"compare {base[:12]}...{head[:12]} in {owner}/{repo}"
    url = f"/repos/{quote(owner)}/{quote(repo)}/compare/{quote(base)}...{quote(head)}"
    with client.guard(what):
        try:
            answer: dict[str, Any] = client.get(url, {})
        except GithubException as refused:
            if refused.status in (404, 403):
                raise PermanentError(
                    f"could not {what}: GitHub answered {refused.status} ({reason(refused)}); "
                    "the daemon's token needs read access to the source repository"
                ) from None
            raise
    commits = [_commit(item) for item in answer.get("commits") or ()]
    link = str(answer.get("html_url") or "")
    return Comparison(
        commits=tuple(commits[-MAX_COMMITS:]),
        total=int(answer.get("total_commits") or len(commits)),
        url=link if link.startswith(("https://", "http://")) else compare_link(source, base, head),
        behind=int(answer.get("behind_by") or 0),
    )


def _commit(item: dict[str, Any]) -> SourceCommit:
    detail = item.get("commit") or {}
    message = str(detail.get("message") or "")
    author = item.get("author") or {}
    who = author.get("login") or (detail.get("author") or {}).get("name") or "unknown"
    return SourceCommit(
        sha=str(item.get("sha") or ""),
        title=commit_title(message),
        author=str(who),
        pull=pull_number(message),
    )
