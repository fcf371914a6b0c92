"""The repository's JSON: the repository, branches, commits, files, protection, rulesets."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import quote

from tests.servers.github_sim import enforcement
from tests.servers.github_sim.gitstore import CommitInfo, Entry
from tests.servers.github_sim.shapes.common import (
    HTML,
    Json,
    People,
    git_person,
    node,
    timestamp,
)
from tests.servers.github_sim.state import Protection, Ruleset


class RepositoryShapes(People):
    """The repository and what hangs off it."""

    # -- the repository ---------------------------------------------------------------------

    def repository(self, viewer: str | None, full: bool = False) -> Json:
        """``repository`` (or ``full-repository`` with ``full``) as ``viewer`` sees it."""
        world = self.world
        api, html = self.repo_api, self.repo_html
        permission = world.users[viewer].permission if viewer in world.users else "read"
        created = timestamp(datetime(2024, 1, 1, tzinfo=UTC))
        shape: Json = {
            "id": world.users[world.owner].id + 1,
            "node_id": node("R", world.users[world.owner].id + 1),
            "name": world.name,
            "full_name": world.full_name,
            "owner": self.user(world.owner),
            "private": True,
            "visibility": "private",
            "html_url": html,
            "description": None,
            "fork": False,
            "url": api,
            "license": None,
            "forks": 0,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "size": 0,
            "default_branch": world.default_branch,
            "open_issues": sum(1 for p in world.pulls.values() if p.state == "open"),
            "open_issues_count": sum(1 for p in world.pulls.values() if p.state == "open"),
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": False,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            # The last push, not the time of the answer: a repository's JSON (inside every
            # pull's head and base too) stays the same between pushes, as its ETag does.
            "pushed_at": timestamp(
                max(
                    (world.git.commit_info(tip).committer.at for _, tip in world.git.branches()),
                    default=datetime(2024, 1, 1, tzinfo=UTC),
                )
            ),
            "created_at": created,
            "updated_at": created,
            "homepage": None,
            "language": None,
            "mirror_url": None,
            "clone_url": f"{HTML}/{world.full_name}.git",
            "git_url": f"git://github.com/{world.full_name}.git",
            "ssh_url": f"git@github.com:{world.full_name}.git",
            "svn_url": html,
            "permissions": {
                "admin": permission == "admin",
                "maintain": permission == "admin",
                "push": permission in ("write", "admin"),
                "triage": True,
                "pull": True,
            },
            "allow_merge_commit": True,
            "allow_squash_merge": True,
            "allow_rebase_merge": False,
            "delete_branch_on_merge": False,
            **{key: _url(api, template) for key, template in _REPO_URLS.items()},
        }
        if full:
            shape.update(subscribers_count=0, network_count=0, allow_auto_merge=False)
        return shape

    def branch_short(self, name: str, sha: str) -> Json:
        """``short-branch``."""
        return {
            "name": name,
            "commit": {"sha": sha, "url": f"{self.repo_api}/commits/{sha}"},
            "protected": name in self.world.protection,
            "protection_url": f"{self.repo_api}/branches/{quote(name, safe='')}/protection",
        }

    def branch(self, name: str, sha: str) -> Json:
        """``branch-with-protection`` (the protection summary any reader sees)."""
        protected = name in self.world.protection
        required = self.world.protection[name].required_checks if protected else []
        return {
            "name": name,
            "commit": self.commit(self.world.git.commit_info(sha)),
            "_links": {
                "html": f"{self.repo_html}/tree/{name}",
                "self": f"{self.repo_api}/branches/{quote(name, safe='')}",
            },
            "protected": protected,
            "protection": {
                "enabled": protected,
                "required_status_checks": {
                    "enforcement_level": "non_admins" if required else "off",
                    "contexts": list(required),
                    "checks": [{"context": c, "app_id": None} for c in required],
                },
            },
            "protection_url": f"{self.repo_api}/branches/{quote(name, safe='')}/protection",
        }

    def commit(self, info: CommitInfo) -> Json:
        """``commit``."""
        url = f"{self.repo_api}/commits/{info.sha}"
        return {
            "sha": info.sha,
            "node_id": node("C", int(info.sha[:8], 16)),
            "url": url,
            "html_url": f"{self.repo_html}/commit/{info.sha}",
            "comments_url": f"{url}/comments",
            "commit": {
                "url": f"{self.repo_api}/git/commits/{info.sha}",
                "author": git_person(info.author.name, info.author.email, info.author.at),
                "committer": git_person(
                    info.committer.name, info.committer.email, info.committer.at
                ),
                "message": info.message,
                "comment_count": 0,
                "tree": {"sha": info.tree, "url": f"{self.repo_api}/git/trees/{info.tree}"},
            },
            "author": {},
            "committer": {},
            "parents": [
                {
                    "sha": parent,
                    "url": f"{self.repo_api}/commits/{parent}",
                    "html_url": f"{self.repo_html}/commit/{parent}",
                }
                for parent in info.parents
            ],
        }

    def content(self, entry: Entry, ref: str, data: bytes | None) -> Json:
        """``content-file`` (with ``data``) or a directory listing's entry."""
        url = f"{self.repo_api}/contents/{quote(entry.path)}?ref={quote(ref, safe='')}"
        git_url = f"{self.repo_api}/git/{'trees' if entry.kind == 'dir' else 'blobs'}/{entry.sha}"
        html_url = (
            f"{self.repo_html}/{'tree' if entry.kind == 'dir' else 'blob'}/{ref}/{entry.path}"
        )
        shape: Json = {
            "type": entry.kind,
            "size": entry.size,
            "name": entry.name,
            "path": entry.path,
            "sha": entry.sha,
            "url": url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": None,
            "_links": {"self": url, "git": git_url, "html": html_url},
        }
        if data is not None:
            encoded = base64.encodebytes(data).decode()
            shape.update(encoding="base64", content=encoded, size=len(data))
        return shape

    # -- protection and rulesets ------------------------------------------------------------

    def protection(self, branch: str, protection: Protection) -> Json:
        """``branch-protection``."""
        url = f"{self.repo_api}/branches/{quote(branch, safe='')}/protection"
        shape: Json = {
            "url": url,
            "enforce_admins": {
                "url": f"{url}/enforce_admins",
                "enabled": protection.enforce_admins,
            },
            "required_linear_history": {"enabled": False},
            "allow_force_pushes": {"enabled": False},
            "allow_deletions": {"enabled": False},
            "block_creations": {"enabled": False},
            "required_conversation_resolution": {"enabled": False},
            "lock_branch": {"enabled": False},
            "allow_fork_syncing": {"enabled": False},
            "required_signatures": self.required_signatures(branch, protection.required_signatures),
        }
        if protection.reviews is not None:
            shape["required_pull_request_reviews"] = self.review_protection(branch, protection)
        if protection.required_checks:
            shape["required_status_checks"] = {
                "url": f"{url}/required_status_checks",
                "strict": False,
                "contexts": list(protection.required_checks),
                "contexts_url": f"{url}/required_status_checks/contexts",
                "checks": [{"context": c, "app_id": None} for c in protection.required_checks],
            }
        return shape

    def required_signatures(self, branch: str, enabled: bool) -> Json:
        """``protected-branch-admin-enforced``, the shape GitHub gives required signatures."""
        url = f"{self.repo_api}/branches/{quote(branch, safe='')}/protection"
        return {"url": f"{url}/required_signatures", "enabled": enabled}

    def review_protection(self, branch: str, protection: Protection) -> Json:
        """``protected-branch-pull-request-review``."""
        rules = protection.reviews
        assert rules is not None
        url = f"{self.repo_api}/branches/{quote(branch, safe='')}/protection"
        return {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": rules.dismiss_stale_reviews,
            "require_code_owner_reviews": rules.require_code_owner_reviews,
            "required_approving_review_count": rules.required_approving_review_count,
            "require_last_push_approval": False,
            "bypass_pull_request_allowances": {
                "users": [self.user(login) for login in protection.bypass_users],
                "teams": [
                    self.team(team)
                    for slug in protection.bypass_teams
                    if (team := self.world.team(slug)) is not None
                ],
                "apps": [
                    self.app(app)
                    for app in self.world.apps.values()
                    if app.slug in protection.bypass_apps
                ],
            },
        }

    def ruleset(self, ruleset: Ruleset, full: bool, viewer: str | None = None) -> Json:
        """``repository-ruleset``: the list shows a summary, the single GET everything,
        with whether ``viewer`` may bypass it (and the bypass list, to an admin)."""
        shape: Json = {
            "id": ruleset.id,
            "name": ruleset.name,
            "target": "branch",
            "source_type": "Repository",
            "source": self.world.full_name,
            "enforcement": ruleset.enforcement,
            "node_id": node("RRS", ruleset.id),
            "_links": {
                "self": {"href": f"{self.repo_api}/rulesets/{ruleset.id}"},
                "html": {"href": f"{self.repo_html}/rules/{ruleset.id}"},
            },
            "created_at": timestamp(ruleset.created_at),
            "updated_at": timestamp(ruleset.created_at),
        }
        if full:
            # "bypass_actors is only returned if the user making the API request has write
            # access to the ruleset" (REST docs, "Get a repository ruleset").
            if viewer is not None and self.world.is_admin(viewer):
                shape["bypass_actors"] = [
                    {
                        "actor_id": a.actor_id,
                        "actor_type": a.actor_type,
                        "bypass_mode": a.bypass_mode,
                    }
                    for a in ruleset.bypass
                ]
            shape["current_user_can_bypass"] = (
                enforcement.can_bypass(self.world, ruleset, viewer) if viewer else "never"
            )
            shape["conditions"] = {
                "ref_name": {"include": list(ruleset.include), "exclude": list(ruleset.exclude)}
            }
            shape["rules"] = self.rules(ruleset, detailed=False)
        return shape

    def rules(self, ruleset: Ruleset, detailed: bool) -> list[Json]:
        """The ruleset's rules: ``pull_request`` and ``required_signatures`` when it has them."""
        found = [self.rule(ruleset, detailed)] if ruleset.reviews else []
        if ruleset.required_signatures:
            signed: Json = {"type": "required_signatures"}
            if detailed:
                signed.update(
                    ruleset_source_type="Repository",
                    ruleset_source=self.world.full_name,
                    ruleset_id=ruleset.id,
                )
            found.append(signed)
        if ruleset.required_checks:
            checks: Json = {
                "type": "required_status_checks",
                "parameters": {
                    "required_status_checks": [{"context": c} for c in ruleset.required_checks],
                    "strict_required_status_checks_policy": False,
                },
            }
            if detailed:
                checks.update(
                    ruleset_source_type="Repository",
                    ruleset_source=self.world.full_name,
                    ruleset_id=ruleset.id,
                )
            found.append(checks)
        return found

    def rule(self, ruleset: Ruleset, detailed: bool) -> Json:
        """A ``pull_request`` rule (``repository-rule-detailed`` with ``detailed``)."""
        rules = ruleset.reviews
        assert rules is not None
        shape: Json = {
            "type": "pull_request",
            "parameters": {
                "allowed_merge_methods": ["merge", "squash"],
                "dismiss_stale_reviews_on_push": rules.dismiss_stale_reviews,
                "require_code_owner_review": rules.require_code_owner_reviews,
                "require_last_push_approval": False,
                "required_approving_review_count": rules.required_approving_review_count,
                "required_review_thread_resolution": False,
            },
        }
        if detailed:
            shape.update(
                ruleset_source_type="Repository",
                ruleset_source=self.world.full_name,
                ruleset_id=ruleset.id,
            )
        return shape

    def codeowners_errors(self, errors: list[Json]) -> Json:
        """``codeowners-errors``."""
        return {"errors": errors}


def _url(api: str, template: str) -> str:
    return f"{api}/{template}"


_REPO_URLS = {
    "archive_url": "{archive_format}{/ref}",
    "assignees_url": "assignees{/user}",
    "blobs_url": "git/blobs{/sha}",
    "branches_url": "branches{/branch}",
    "collaborators_url": "collaborators{/collaborator}",
    "comments_url": "comments{/number}",
    "commits_url": "commits{/sha}",
    "compare_url": "compare/{base}...{head}",
    "contents_url": "contents/{+path}",
    "contributors_url": "contributors",
    "deployments_url": "deployments",
    "downloads_url": "downloads",
    "events_url": "events",
    "forks_url": "forks",
    "git_commits_url": "git/commits{/sha}",
    "git_refs_url": "git/refs{/sha}",
    "git_tags_url": "git/tags{/sha}",
    "hooks_url": "hooks",
    "issue_comment_url": "issues/comments{/number}",
    "issue_events_url": "issues/events{/number}",
    "issues_url": "issues{/number}",
    "keys_url": "keys{/key_id}",
    "labels_url": "labels{/name}",
    "languages_url": "languages",
    "merges_url": "merges",
    "milestones_url": "milestones{/number}",
    "notifications_url": "notifications{?since,all,participating}",
    "pulls_url": "pulls{/number}",
    "releases_url": "releases{/id}",
    "stargazers_url": "stargazers",
    "statuses_url": "statuses/{sha}",
    "subscribers_url": "subscribers",
    "subscription_url": "subscription",
    "tags_url": "tags",
    "teams_url": "teams",
    "trees_url": "git/trees{/sha}",
}
