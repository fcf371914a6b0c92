"""Merged promotions as GitHub Deployments: ``in_progress`` when merged, ``success`` once
seen live, ``failure`` when a person rolled the digest back.

A Deployment is of the merge commit, environment ``<env>``, task ``DEPLOY_TASK``, with the
request's number and digest in its payload, and ``production_environment`` as the policy
says (``production(env)``); the first one created for a merge is the one that counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from reconciler.clock import parse_moment
from reconciler.forge.github.client import Client
from reconciler.promotions import parse_branch, parse_marker

DEPLOY_TASK = "reconciler:promotion"
_LIVE_SINCE = re.compile(r"live since (\S+)")
_INFERRED = "inferred"  # a success status that says so gives the merge, not a sighting
_SEEN_KEPT = 10_000
INFERRED_NOTE = "(inferred from the merge: no live source)"


class Deployments:
    """The Deployments of the repository ``client`` speaks to."""

    def __init__(self, client: Client, production: Callable[[str], bool]) -> None:
        self._client = client
        self._production = production
        self._seen: dict[int, datetime | None] = {}  # deployment -> its success's live time

    def of(self, pull: dict[str, Any]) -> dict[str, Any] | None:
        """The Deployment of a merged pull's merge commit; None when there is none yet."""
        params = {"sha": str(pull["merge_commit_sha"]), "task": DEPLOY_TASK}
        found = self._client.list(f"{self._client.api}/deployments", params, pages=1)
        # The first created (lowest id) is the merge's; a replica's duplicate is removed.
        return min(found, key=lambda d: int(d["id"])) if found else None

    def succeeded(self, deployment_id: int) -> bool:
        """Whether the Deployment has a ``success`` status."""
        url = f"{self._client.api}/deployments/{deployment_id}/statuses"
        statuses = self._client.list(url, {})
        return any(s.get("state") == "success" for s in statuses)

    def record_merged(self, pull: dict[str, Any], number: int) -> None:
        """Give the merge its Deployment, with an ``in_progress`` status."""
        deployment = self._ensure(pull, number)
        # The audit on GitHub: merged, on its way; record_live turns it into success.
        url = f"{self._client.api}/deployments/{deployment['id']}/statuses"
        self._client.write("POST", url, {"state": "in_progress", "description": "merged"})

    def record_live(
        self, pull: dict[str, Any], number: int, at: datetime, *, inferred: bool = False
    ) -> None:
        """Give the merge's Deployment a ``success`` status; the first one is kept."""
        deployment = self._ensure(pull, number)
        if self.succeeded(deployment["id"]):
            return
        url = f"{self._client.api}/deployments/{deployment['id']}/statuses"
        seen = at.astimezone(UTC).isoformat(timespec="seconds")
        # The description is the only place GitHub keeps it; a reader must not take the
        # merge's time for a sighting.
        note = f" {INFERRED_NOTE}" if inferred else ""
        status = {"state": "success", "description": f"live since {seen}{note}"}
        # auto_inactive: the environment's earlier deployments become inactive (superseded).
        self._client.write("POST", url, {**status, "auto_inactive": True})

    def seen_live(self, env: str, wanted: Mapping[str, str]) -> dict[str, datetime]:
        """When each wanted ``app -> digest`` was seen live in ``env``: the newest of
        ``env``'s recent deployments of it, by the "live since" of its ``success`` status."""
        client = self._client
        params = {"environment": env, "task": DEPLOY_TASK}
        found: dict[str, datetime] = {}
        # Newest first: the first deployment of an app's digest is its latest merge.
        for deployment in client.list(f"{client.api}/deployments", params, pages=1):
            payload = deployment.get("payload") or {}
            if not isinstance(payload, dict):
                continue
            app = payload.get("app")
            if app in found or not isinstance(app, str) or wanted.get(app) != payload.get("digest"):
                continue
            at = self._live_at(int(deployment["id"]))
            if at is not None:
                found[app] = at
        return found

    def _live_at(self, deployment_id: int) -> datetime | None:
        """The "live since" of a deployment's ``success`` status; None when it has none or
        the time was inferred. A success status is never replaced: its answer is kept."""
        if deployment_id in self._seen:
            return self._seen[deployment_id]
        url = f"{self._client.api}/deployments/{deployment_id}/statuses"
        for status in self._client.list(url, {}):
            if status.get("state") != "success":
                continue
            told = _LIVE_SINCE.search(str(status.get("description") or ""))
            at = None if told is None or _INFERRED in told.string else parse_moment(told.group(1))
            if len(self._seen) >= _SEEN_KEPT:
                self._seen.clear()
            self._seen[deployment_id] = at
            return at
        return None

    def record_rollback(self, env: str, app: str, digest: str, commit: str) -> bool:
        """Mark the environment's deployment of ``digest`` failed: a person rolled it back."""
        client = self._client
        with client.guard(f"record the rollback of {digest[:15]} in {env}"):
            params = {"environment": env, "task": DEPLOY_TASK}
            for deployment in client.list(f"{client.api}/deployments", params, pages=1):
                payload = deployment.get("payload") or {}
                if not isinstance(payload, dict) or payload.get("digest") != digest:
                    continue
                url = f"{client.api}/deployments/{deployment['id']}/statuses"
                states = [s.get("state") for s in client.list(url, {}, pages=1)]
                if states and states[0] == "failure":
                    return False  # newest first: already recorded
                note = f"{app} rolled back by hand in {commit[:12]}"
                client.write("POST", url, {"state": "failure", "description": note})
                return True
            return False

    def _ensure(self, pull: dict[str, Any], number: int) -> dict[str, Any]:
        """The GitHub Deployment of a merged promotion, created on first use."""
        deployment = self.of(pull)
        if deployment is not None:
            return deployment
        target = parse_branch(pull["head"]["ref"])
        marker = parse_marker(pull.get("body") or "")
        environment = target[0] if target else "production"
        fields = {
            "ref": pull["merge_commit_sha"],
            "task": DEPLOY_TASK,
            "environment": environment,
            "auto_merge": False,
            "required_contexts": [],
            "payload": {
                "request": number,
                "digest": marker.digest if marker else "",
                "app": target[1] if target else "",
            },
            "description": f"promotion #{number}",
            # Sent always: GitHub's default is true only for an environment named production.
            "production_environment": self._production(environment),
        }
        _, created = self._client.write("POST", f"{self._client.api}/deployments", fields)
        # GitHub has no create-if-absent: a replica recording the merge live may create one
        # at the same moment. Ids rise, so the first one is the lowest and any list made
        # after our creation shows it; a later duplicate is ours to remove.
        first = self.of(pull)
        if first is None or first["id"] == created["id"]:
            return dict(created)
        url = f"{self._client.api}/deployments/{created['id']}"
        # Only an inactive deployment may be deleted when the repository has others.
        note = {"state": "inactive", "description": f"duplicate of deployment {first['id']}"}
        self._client.write("POST", f"{url}/statuses", note)
        self._client.write("DELETE", url, {})
        return first
