"""Routes about pull requests: open, list, update, merge, reviews, review requests, and the
issue side of a pull (comments, labels).

GitHub's rules kept here: one open pull per head/base pair (422 on a second); a review is
bound to the commit it was given on (``commit_id``, the head unless told otherwise); new
commits on the head dismiss approvals when the base's rules say so; the merge is refused
with 405 and GitHub's message while a requirement is unmet, with 409 when the head moved
from the ``sha`` the client expects; opening a (non-draft) pull requests reviews from the
code owners of what it changes. Merges are real git merges (``merge``: a merge commit
with both parents; ``squash``: one commit on the base; ``rebase`` is refused as disabled).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from tests.servers.github_sim import enforcement
from tests.servers.github_sim.calls import (
    Call,
    Context,
    Reply,
    Route,
    fail,
    invalid,
    not_found,
    ok,
    unprocessable,
)
from tests.servers.github_sim.gitstore import Person
from tests.servers.github_sim.state import Comment, Pull, Review, ReviewState, World

_EVENTS: dict[str, ReviewState] = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}


def sync_heads(world: World) -> None:
    """Follow pushes: an open pull's head is its branch's tip (GitHub's "synchronize")."""
    now = world.clock()
    for pull in world.pulls.values():
        if pull.state != "open":
            continue
        tip = world.git.tip(pull.head)
        if tip is None:  # the head branch was deleted: GitHub closes the pull
            pull.state, pull.closed_at, pull.updated_at = "closed", now, now
            continue
        pull.base_sha = world.git.tip(pull.base) or pull.base_sha
        if tip != pull.head_sha:
            pull.head_sha, pull.updated_at = tip, now
            enforcement.dismiss_stale(world, pull)


def ask_code_owners(world: World) -> None:
    """Ask the code owners of pulls opened while ``faults.code_owners_later`` was set."""
    while world.owners_to_ask:
        pull = world.pulls[world.owners_to_ask.pop(0)]
        if pull.state == "open":
            _request_code_owners(world, pull)


def list_pulls(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/pulls"""
    state = call.query.get("state", "open")
    head = call.query.get("head", "")
    base = call.query.get("base")
    found = [
        pull
        for pull in ctx.world.pulls.values()
        if state in ("all", pull.state)
        and (not head or f"{ctx.world.owner}:{pull.head}" == head)
        and (base is None or pull.base == base)
    ]
    key = "updated_at" if call.query.get("sort") == "updated" else "created_at"
    ascending = call.query.get("direction") == "asc"
    found.sort(key=lambda p: (getattr(p, key), p.number), reverse=not ascending)
    return ok([ctx.shapes.pull(pull, full=False) for pull in found], paged=True)


def create_pull(ctx: Context, call: Call) -> Reply:
    """POST /repos/{owner}/{repo}/pulls"""
    world = ctx.world
    title, head, base = call.field("title"), call.field("head"), call.field("base")
    if not isinstance(title, str) or not title:
        return invalid("PullRequest", "missing_field", "title")
    if not isinstance(base, str) or world.git.tip(base) is None:
        return invalid("PullRequest", "invalid", "base")
    if not isinstance(head, str):
        return invalid("PullRequest", "invalid", "head")
    owner, _, branch = head.rpartition(":")
    if owner and owner.lower() != world.owner.lower():
        return invalid("PullRequest", "invalid", "head")
    head_tip, base_tip = world.git.tip(branch), world.git.tip(base)
    if head_tip is None or base_tip is None:
        return invalid("PullRequest", "invalid", "head")
    if _open_pull(world, branch, base) is not None:
        message = f"A pull request already exists for {world.owner}:{branch}."
        return invalid("PullRequest", "custom", message=message)
    if world.git.commits_between(base_tip, head_tip) == 0:
        return invalid("PullRequest", "custom", message=f"No commits between {base} and {branch}")
    now = world.clock()
    number = next(world.numbers)
    pull = Pull(
        number=number,
        id=world.next_id(),
        title=title,
        body=call.field("body"),
        user=world.user(call.who).login,
        head=branch,
        base=base,
        head_sha=head_tip,
        base_sha=base_tip,
        created_at=now,
        updated_at=now,
        draft=bool(call.field("draft", False)),
    )
    world.pulls[number] = pull
    if not pull.draft and world.faults.code_owners_later:
        world.owners_to_ask.append(number)
    elif not pull.draft:
        _request_code_owners(world, pull)
    return ok(_full(ctx, pull, call.who), status=201)


def get_pull(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/pulls/{pull_number}"""
    pull = _pull(ctx.world, call.params["pull_number"])
    if pull is None:
        return not_found()
    return ok(_full(ctx, pull, call.who))


def update_pull(ctx: Context, call: Call) -> Reply:
    """PATCH /repos/{owner}/{repo}/pulls/{pull_number}"""
    world = ctx.world
    pull = _pull(world, call.params["pull_number"])
    if pull is None:
        return not_found()
    now = world.clock()
    state = call.field("state")
    if state == "open" and pull.state == "closed":
        if pull.merged:
            return invalid("PullRequest", "custom", "state", "Cannot reopen a merged pull request")
        if _open_pull(world, pull.head, pull.base) is not None:
            message = f"A pull request already exists for {world.owner}:{pull.head}."
            return invalid("PullRequest", "custom", message=message)
        pull.state, pull.closed_at = "open", None
    elif state == "closed" and pull.state == "open":
        pull.state, pull.closed_at = "closed", now
    for name in ("title", "body"):
        value = call.field(name)
        if isinstance(value, str):
            setattr(pull, name, value)
    pull.updated_at = now
    return ok(_full(ctx, pull, call.who))


def merge_pull(ctx: Context, call: Call) -> Reply:
    """PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge"""
    world = ctx.world
    pull = _pull(world, call.params["pull_number"])
    if pull is None:
        return not_found()
    if not world.can_write(call.who):
        return fail(403, "Must have push access to merge this pull request.")
    method = call.field("merge_method", "merge")
    if method not in ("merge", "squash", "rebase"):
        return invalid("PullRequest", "invalid", "merge_method")
    if method == "rebase":
        return fail(405, "Rebase merges are not allowed on this repository.")
    if pull.state != "open":
        return fail(405, "Pull Request is not mergeable")
    expected = call.field("sha")
    if expected is not None and expected != pull.head_sha:
        return fail(409, "Head branch was modified. Review and try the merge again.")
    base_tip = world.git.tip(pull.base)
    if base_tip is None or world.git.conflicts(base_tip, pull.head_sha):
        return fail(405, "Pull Request is not mergeable")
    refused = enforcement.refusal(world, pull, call.who)
    if refused is not None:
        return fail(405, refused)
    brought = world.git.new_commits(pull.head_sha, base_tip)
    refused = enforcement.signature_refusal(world, pull.base, brought, call.who)
    if refused is not None:
        return fail(405, refused)
    merger = world.user(call.who)
    now = world.clock()
    if method == "squash":
        title = call.field("commit_title") or f"{pull.title} (#{pull.number})"
    else:
        title = call.field("commit_title") or (
            f"Merge pull request #{pull.number} from {world.owner}/{pull.head}"
        )
    details = call.field("commit_message")
    if details is None:
        details = pull.title if method == "merge" else ""
    message = f"{title}\n\n{details}".rstrip() + "\n"
    email = merger.email or f"{merger.id}+{merger.login}@users.noreply.github.com"
    author = Person(merger.name or merger.login, email, now)
    commit = world.git.merge(base_tip, pull.head_sha, method, message, author)
    world.made_here.add(commit)  # GitHub signs the merges it makes (web-flow): verified
    if not world.git.advance(pull.base, commit, base_tip):
        return fail(409, "Base branch was modified. Review and try the merge again.")
    pull.state, pull.merged, pull.merged_at, pull.closed_at = "closed", True, now, now
    pull.merged_by, pull.merge_commit_sha, pull.updated_at = merger.login, commit, now
    return ok({"sha": commit, "merged": True, "message": "Pull Request successfully merged"})


def list_reviews(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews"""
    pull = _pull(ctx.world, call.params["pull_number"])
    if pull is None:
        return not_found()
    visible = [r for r in pull.reviews if r.state != "PENDING" or r.user == call.who]
    return ok([ctx.shapes.review(pull, review) for review in visible], paged=True)


def create_review(ctx: Context, call: Call) -> Reply:
    """POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews"""
    world = ctx.world
    pull = _pull(world, call.params["pull_number"])
    if pull is None:
        return not_found()
    event = call.field("event")
    state: ReviewState = _EVENTS.get(event, "PENDING") if isinstance(event, str) else "PENDING"
    body = call.field("body") or ""
    reviewer = world.user(call.who).login
    if reviewer.lower() == pull.user.lower() and state == "APPROVED":
        return unprocessable("Can not approve your own pull request")
    if reviewer.lower() == pull.user.lower() and state == "CHANGES_REQUESTED":
        return unprocessable("Can not request changes on your own pull request")
    if state in ("CHANGES_REQUESTED", "COMMENTED") and not body:
        return unprocessable(f"Body is required for the {event} event")
    commit = call.field("commit_id") or pull.head_sha
    if not isinstance(commit, str) or not world.git.has_commit(commit):
        return unprocessable("Commit not found")
    review = Review(world.next_id(), reviewer, state, body, commit, world.clock())
    pull.reviews.append(review)
    if state != "PENDING":
        pull.requested_reviewers = [
            login for login in pull.requested_reviewers if login.lower() != reviewer.lower()
        ]
    return ok(ctx.shapes.review(pull, review))


def list_review_requests(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"""
    world = ctx.world
    pull = _pull(world, call.params["pull_number"])
    if pull is None:
        return not_found()
    teams = [team for slug in pull.requested_teams if (team := world.team(slug)) is not None]
    return ok(
        {
            "users": [ctx.shapes.user(login) for login in pull.requested_reviewers],
            "teams": [ctx.shapes.team(team) for team in teams],
        }
    )


def request_reviews(ctx: Context, call: Call) -> Reply:
    """POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"""
    world = ctx.world
    pull = _pull(world, call.params["pull_number"])
    if pull is None:
        return not_found()
    users: list[Any] = call.field("reviewers") or []
    slugs: list[Any] = call.field("team_reviewers") or []
    if any(str(login).lower() == pull.user.lower() for login in users):
        return fail(422, "Review cannot be requested from pull request author.")
    known_users = [world.find_user(str(login)) for login in users]
    known_teams = [world.team(str(slug)) for slug in slugs]
    if any(u is None or u.kind != "User" for u in known_users) or None in known_teams:
        return fail(
            422,
            "Reviews may only be requested from collaborators. One or more of the users or "
            f"teams you specified is not a collaborator of the {world.full_name} repository.",
        )
    for user in known_users:
        assert user is not None
        if user.login not in pull.requested_reviewers:
            pull.requested_reviewers.append(user.login)
    for team in known_teams:
        assert team is not None
        if team.slug not in pull.requested_teams:
            pull.requested_teams.append(team.slug)
    pull.updated_at = world.clock()
    return ok(ctx.shapes.pull(pull, full=False), status=201)


def list_comments(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/issues/{issue_number}/comments"""
    pull = _pull(ctx.world, call.params["issue_number"])
    if pull is None:
        return not_found()
    return ok([ctx.shapes.comment(pull, c) for c in pull.comments], paged=True)


def create_comment(ctx: Context, call: Call) -> Reply:
    """POST /repos/{owner}/{repo}/issues/{issue_number}/comments"""
    world = ctx.world
    pull = _pull(world, call.params["issue_number"])
    if pull is None:
        return not_found()
    body = call.field("body")
    if not isinstance(body, str) or not body:
        return invalid("IssueComment", "missing_field", "body")
    comment = Comment(world.next_id(), world.user(call.who).login, body, world.clock())
    pull.comments.append(comment)
    pull.updated_at = comment.created_at
    return ok(ctx.shapes.comment(pull, comment), status=201)


def list_labels(ctx: Context, call: Call) -> Reply:
    """GET /repos/{owner}/{repo}/issues/{issue_number}/labels"""
    pull = _pull(ctx.world, call.params["issue_number"])
    if pull is None:
        return not_found()
    return ok([ctx.shapes.label(name) for name in pull.labels], paged=True)


def add_labels(ctx: Context, call: Call) -> Reply:
    """POST /repos/{owner}/{repo}/issues/{issue_number}/labels"""
    world = ctx.world
    pull = _pull(world, call.params["issue_number"])
    if pull is None:
        return not_found()
    names = call.body if isinstance(call.body, list) else call.field("labels")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        return invalid("Label", "invalid", "labels")
    for name in names:
        if name not in world.labels:  # GitHub creates a missing label on the fly
            world.labels[name] = world.next_id()
        if name not in pull.labels:
            pull.labels.append(name)
    pull.updated_at = world.clock()
    return ok([ctx.shapes.label(name) for name in pull.labels])


def remove_label(ctx: Context, call: Call) -> Reply:
    """DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"""
    world = ctx.world
    pull = _pull(world, call.params["issue_number"])
    if pull is None:
        return not_found()
    name = unquote(call.params["name"])
    if name not in pull.labels:
        return fail(404, "Label does not exist")
    pull.labels.remove(name)
    pull.updated_at = world.clock()
    return ok([ctx.shapes.label(n) for n in pull.labels])


def _full(ctx: Context, pull: Pull, viewer: str) -> dict[str, Any]:
    world = ctx.world
    if pull.state != "open":
        return ctx.shapes.pull(pull, full=True, mergeable=None, state="unknown")
    if world.faults.mergeable_unknown > 0:  # GitHub computes mergeability in the background
        world.faults.mergeable_unknown -= 1
        return ctx.shapes.pull(pull, full=True, mergeable=None, state="unknown")
    base_tip = world.git.tip(pull.base) or pull.base_sha
    conflicts = world.git.conflicts(base_tip, pull.head_sha)
    if conflicts:
        state = "dirty"
    elif enforcement.refusal(world, pull, None) is not None:  # "blocked" even for admins
        state = "blocked"
    else:
        state = "clean"
    return ctx.shapes.pull(pull, full=True, mergeable=not conflicts, state=state)


def _request_code_owners(world: World, pull: Pull) -> None:
    # GitHub asks the code owners of the changed files for a review when a pull opens,
    # whatever the protection; owners given as emails are asked as their accounts.
    for owner in enforcement.code_owners(world, pull):
        if "/" in owner:
            asked, names = pull.requested_teams, [owner.split("/", 1)[1]]
        elif owner.startswith("@"):
            asked, names = pull.requested_reviewers, [world.user(owner[1:]).login]
        else:
            emails = (u for u in world.users.values() if (u.email or "").lower() == owner.lower())
            asked, names = pull.requested_reviewers, [u.login for u in emails]
        # Asked later (code_owners_later), some may have been asked by then: once each.
        asked.extend(name for name in names if name not in asked)


def _pull(world: World, number: str) -> Pull | None:
    return world.pulls.get(int(number)) if number.isdigit() else None


def _open_pull(world: World, head: str, base: str) -> Pull | None:
    for pull in world.pulls.values():
        if pull.state == "open" and pull.head == head and pull.base == base:
            return pull
    return None


ROUTES = [
    Route("GET", "/repos/{owner}/{repo}/pulls", list_pulls),
    Route("POST", "/repos/{owner}/{repo}/pulls", create_pull),
    Route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", get_pull),
    Route("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}", update_pull),
    Route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", merge_pull),
    Route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", list_reviews),
    Route("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews", create_review),
    Route(
        "GET", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", list_review_requests
    ),
    Route("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", request_reviews),
    Route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", list_comments),
    Route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", create_comment),
    Route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/labels", list_labels),
    Route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels", add_labels),
    Route("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", remove_label),
]
