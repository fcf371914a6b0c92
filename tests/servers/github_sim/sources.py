"""Other repositories than the config repo: an image's source repository, whose commits
the daemon lists between two revisions.

GitHub's "Compare two commits"
(https://docs.github.com/rest/commits/commits#compare-two-commits): ``base...head`` of
commit ids or branches; the commits ``head`` has that ``base`` lacks, oldest first; without
``per_page`` or ``page`` at most 250 of them, the last the newest; ``status`` and
``ahead_by``/``behind_by`` from the merge base; 404 for a repository the caller cannot see
and for a revision the repository lacks.
"""

from __future__ import annotations

from urllib.parse import unquote

from tests.servers.github_sim.calls import Call, Context, Reply, Route, fail, ok
from tests.servers.github_sim.gitstore import CommitInfo, GitStore
from tests.servers.github_sim.shapes.common import HTML, Json, git_person, node

MAX_UNPAGED = 250


def source(ctx: Context, owner: str, repo: str) -> GitStore | None:
    """The source repository ``owner/repo``, if the simulator holds one."""
    return ctx.world.sources.get(f"{owner}/{repo}".lower())


def compare(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/compare/{basehead}"""
    owner, repo = call.params["owner"], call.params["repo"]
    store = source(ctx, owner, repo)
    if store is None:
        return fail(404, "Not Found")
    base_ref, dots, head_ref = unquote(call.params["basehead"]).partition("...")
    base, head = store.resolve(base_ref), store.resolve(head_ref)
    if not dots or base is None or head is None:
        return fail(404, "Not Found")
    since = store.merge_base(base, head)
    ahead = list(reversed(store.new_commits(head, base)))  # oldest first
    behind = store.new_commits(base, head)
    status = (
        "identical"
        if not ahead and not behind
        else "ahead"
        if not behind
        else "behind"
        if not ahead
        else "diverged"
    )
    paged = "per_page" in call.query or "page" in call.query
    shown = ahead if paged else ahead[-MAX_UNPAGED:]
    api = f"{ctx.shapes.api}/repos/{owner}/{repo}"
    html = f"{HTML}/{owner}/{repo}"
    body: Json = {
        "url": f"{api}/compare/{base_ref}...{head_ref}",
        "html_url": f"{html}/compare/{base_ref}...{head_ref}",
        "permalink_url": f"{html}/compare/{owner}:{base}...{owner}:{head}",
        "diff_url": f"{html}/compare/{base_ref}...{head_ref}.diff",
        "patch_url": f"{html}/compare/{base_ref}...{head_ref}.patch",
        "base_commit": _commit(ctx, api, html, store.commit_info(base)),
        "merge_base_commit": _commit(ctx, api, html, store.commit_info(since or base)),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [_commit(ctx, api, html, store.commit_info(sha)) for sha in shown],
        "files": [],
    }
    return ok(body)


def _commit(ctx: Context, api: str, html: str, info: CommitInfo) -> Json:
    """``commit``, its author the account whose email wrote it (``{}`` for none, as GitHub)."""
    url = f"{api}/commits/{info.sha}"
    author = next(
        (u.login for u in ctx.world.users.values() if u.email and u.email == info.author.email),
        None,
    )
    return {
        "sha": info.sha,
        "node_id": node("C", int(info.sha[:8], 16)),
        "url": url,
        "html_url": f"{html}/commit/{info.sha}",
        "comments_url": f"{url}/comments",
        "commit": {
            "url": f"{api}/git/commits/{info.sha}",
            "author": git_person(info.author.name, info.author.email, info.author.at),
            "committer": git_person(info.committer.name, info.committer.email, info.committer.at),
            "message": info.message,
            "comment_count": 0,
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
        },
        "author": ctx.shapes.user(author) if author else {},
        "committer": {},
        "parents": [
            {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{html}/commit/{p}"}
            for p in info.parents
        ],
    }


SOURCE_ROUTES = [Route("GET", "/repos/{owner}/{repo}/compare/{basehead}", compare)]
