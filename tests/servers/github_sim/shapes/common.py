"""What every kind of GitHub JSON shares: people, teams, apps, timestamps, ids, errors.

Every field the OpenAPI description marks as required is filled (the validator checks every
response against it). URLs point back at the simulator, so clients that follow ``url``
fields (PyGithub does) keep talking to it.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from tests.servers.github_sim.state import App, Team, World

Json = dict[str, Any]
HTML = "https://github.com"


class People:
    """Accounts, teams and apps as GitHub's JSON, with URLs under ``api`` (the simulator)."""

    def __init__(self, world: World, api: str) -> None:
        self.world = world
        self.api = api.rstrip("/")
        self.repo_api = f"{self.api}/repos/{world.owner}/{world.name}"
        self.repo_html = f"{HTML}/{world.owner}/{world.name}"

    # -- people ---------------------------------------------------------------------------

    def user(self, login: str) -> Json:
        """``simple-user``."""
        user = self.world.user(login)
        url = f"{self.api}/users/{quote(user.login)}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": node("U", user.id),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{HTML}/{quote(user.login)}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": user.kind,
            "user_view_type": "public",
            "site_admin": False,
        }

    def private_user(self, login: str) -> Json:
        """``private-user``: what ``GET /user`` shows its own caller."""
        user = self.world.user(login)
        epoch = timestamp(datetime(2020, 1, 1, tzinfo=UTC))
        return {
            **self.user(login),
            "user_view_type": "private",
            "name": user.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": user.email,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": epoch,
            "updated_at": epoch,
            "private_gists": 0,
            "total_private_repos": 1,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": True,
        }

    def team(self, team: Team) -> Json:
        """``team`` (also fits ``team-simple``)."""
        url = f"{self.api}/organizations/{self.world.users[self.world.owner].id}/team/{team.id}"
        return {
            "id": team.id,
            "node_id": node("T", team.id),
            "url": url,
            "html_url": f"{HTML}/orgs/{self.world.owner}/teams/{team.slug}",
            "name": team.name,
            "slug": team.slug,
            "description": None,
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "push" if team.permission == "write" else team.permission,
            "members_url": f"{url}/members{{/member}}",
            "repositories_url": f"{url}/repos",
            "type": "organization",
            "organization_id": self.world.users[self.world.owner].id,
            "parent": None,
        }

    def team_member(self, login: str) -> Json:
        """``team-member``."""
        return self.user(login)

    def association(self, login: str) -> str:
        """``author-association`` of ``login`` with the repository."""
        user = self.world.find_user(login)
        if user is None or user.kind == "Bot":
            return "NONE"
        return "MEMBER"

    # -- apps -----------------------------------------------------------------------------

    def app(self, app: App) -> Json:
        """``integration``."""
        created = timestamp(datetime(2024, 1, 1, tzinfo=UTC))
        return {
            "id": app.id,
            "slug": app.slug,
            "node_id": node("A", app.id),
            "client_id": f"Iv1.{app.id:016x}",
            "owner": self.user(self.world.owner),
            "name": app.slug,
            "description": None,
            "external_url": f"{HTML}/apps/{app.slug}",
            "html_url": f"{HTML}/apps/{app.slug}",
            "created_at": created,
            "updated_at": created,
            "permissions": dict(app.permissions),
            "events": ["pull_request", "pull_request_review", "push"],
            "installations_count": 1,
        }

    def installation(self, app: App) -> Json:
        """``installation`` of ``app`` on the repository's owner."""
        created = timestamp(datetime(2024, 1, 1, tzinfo=UTC))
        owner = self.world.users[self.world.owner]
        return {
            "id": app.installation_id,
            "account": self.user(owner.login),
            "repository_selection": "selected",
            "access_tokens_url": (
                f"{self.api}/app/installations/{app.installation_id}/access_tokens"
            ),
            "repositories_url": f"{self.api}/installation/repositories",
            "html_url": f"{HTML}/organizations/{owner.login}/settings/installations/"
            f"{app.installation_id}",
            "app_id": app.id,
            "app_slug": app.slug,
            "target_id": owner.id,
            "target_type": owner.kind,
            "permissions": dict(app.permissions),
            "events": ["pull_request", "pull_request_review", "push"],
            "created_at": created,
            "updated_at": created,
            "single_file_name": None,
            "suspended_by": None,
            "suspended_at": None,
        }


def error(message: str, documentation: str = "https://docs.github.com/rest") -> Json:
    """``basic-error``."""
    return {"message": message, "documentation_url": documentation}


def timestamp(moment: datetime) -> str:
    """GitHub's timestamp format: UTC, seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_person(name: str, email: str, at: datetime) -> Json:
    """A commit's author or committer."""
    return {"name": name, "email": email, "date": timestamp(at)}


def node(kind: str, number: int) -> str:
    """A GraphQL node id for object ``number`` of ``kind`` (opaque to clients)."""
    return f"{kind}_kwDO{base64.b32encode(number.to_bytes(8, 'big')).decode().rstrip('=')}"
