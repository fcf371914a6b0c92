"""Pull requests' JSON (and the issue side: comments, labels), and deployments'."""

from __future__ import annotations

from urllib.parse import quote

from tests.servers.github_sim.shapes.common import Json, node, timestamp
from tests.servers.github_sim.shapes.repository import RepositoryShapes
from tests.servers.github_sim.state import Comment, Deployment, DeploymentStatus, Pull, Review


class PullShapes(RepositoryShapes):
    """Pull requests, reviews, comments, labels, deployments and their statuses."""

    # -- pull requests --------------------------------------------------------------------

    def pull(self, pull: Pull, full: bool, mergeable: bool | None = None, state: str = "") -> Json:
        """``pull-request`` (``full``) or ``pull-request-simple`` (lists)."""
        api = f"{self.repo_api}/pulls/{pull.number}"
        issue = f"{self.repo_api}/issues/{pull.number}"
        html = f"{self.repo_html}/pull/{pull.number}"
        statuses = f"{self.repo_api}/statuses/{pull.head_sha}"
        shape: Json = {
            "url": api,
            "id": pull.id,
            "node_id": node("PR", pull.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue,
            "commits_url": f"{api}/commits",
            "review_comments_url": f"{api}/comments",
            "review_comment_url": f"{self.repo_api}/pulls/comments{{/number}}",
            "comments_url": f"{issue}/comments",
            "statuses_url": statuses,
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.user(pull.user),
            "body": pull.body,
            "labels": [self.label(name) for name in pull.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": timestamp(pull.created_at),
            "updated_at": timestamp(pull.updated_at),
            "closed_at": timestamp(pull.closed_at) if pull.closed_at else None,
            "merged_at": timestamp(pull.merged_at) if pull.merged_at else None,
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [self.user(login) for login in pull.requested_reviewers],
            "requested_teams": [
                self.team(team)
                for slug in pull.requested_teams
                if (team := self.world.team(slug)) is not None
            ],
            "head": self._ref(pull.head, pull.head_sha),
            "base": self._ref(pull.base, pull.base_sha),
            "_links": {
                "self": {"href": api},
                "html": {"href": html},
                "issue": {"href": issue},
                "comments": {"href": f"{issue}/comments"},
                "review_comments": {"href": f"{api}/comments"},
                "review_comment": {"href": f"{self.repo_api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{api}/commits"},
                "statuses": {"href": statuses},
            },
            "author_association": self.association(pull.user),
            "auto_merge": None,
            "draft": pull.draft,
        }
        if full:
            base_tip = self.world.git.tip(pull.base) or pull.base_sha
            changed = self.world.git.changed_files(base_tip, pull.head_sha)
            shape.update(
                merged=pull.merged,
                mergeable=mergeable,
                rebaseable=mergeable,
                mergeable_state=state,
                merged_by=self.user(pull.merged_by) if pull.merged_by else None,
                comments=len(pull.comments),
                review_comments=0,
                maintainer_can_modify=False,
                commits=max(self.world.git.commits_between(base_tip, pull.head_sha), 0),
                additions=0,
                deletions=0,
                changed_files=len(changed),
            )
        return shape

    def _ref(self, branch: str, sha: str) -> Json:
        return {
            "label": f"{self.world.owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self.user(self.world.owner),
            "repo": self.repository(None),
        }

    def review(self, pull: Pull, review: Review) -> Json:
        """``pull-request-review``."""
        html = f"{self.repo_html}/pull/{pull.number}#pullrequestreview-{review.id}"
        api = f"{self.repo_api}/pulls/{pull.number}"
        shape: Json = {
            "id": review.id,
            "node_id": node("PRR", review.id),
            "user": self.user(review.user),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": api,
            "_links": {"html": {"href": html}, "pull_request": {"href": api}},
            "commit_id": review.commit_id,
            "author_association": self.association(review.user),
        }
        if review.state != "PENDING":
            shape["submitted_at"] = timestamp(review.submitted_at)
        return shape

    def comment(self, pull: Pull, comment: Comment) -> Json:
        """``issue-comment``."""
        return {
            "id": comment.id,
            "node_id": node("IC", comment.id),
            "url": f"{self.repo_api}/issues/comments/{comment.id}",
            "html_url": f"{self.repo_html}/pull/{pull.number}#issuecomment-{comment.id}",
            "issue_url": f"{self.repo_api}/issues/{pull.number}",
            "body": comment.body,
            "user": self.user(comment.user),
            "created_at": timestamp(comment.created_at),
            "updated_at": timestamp(comment.created_at),
            "author_association": self.association(comment.user),
        }

    def label(self, name: str) -> Json:
        """``label``."""
        label_id = self.world.labels[name]
        return {
            "id": label_id,
            "node_id": node("LA", label_id),
            "url": f"{self.repo_api}/labels/{quote(name, safe='')}",
            "name": name,
            # The description types a label's description both nullable and not: "" fits both.
            "description": "",
            "color": "ededed",
            "default": False,
        }

    # -- deployments ------------------------------------------------------------------------

    def deployment(self, deployment: Deployment) -> Json:
        """``deployment``."""
        url = f"{self.repo_api}/deployments/{deployment.id}"
        return {
            "url": url,
            "id": deployment.id,
            "node_id": node("DE", deployment.id),
            "sha": deployment.sha,
            "ref": deployment.ref,
            "task": deployment.task,
            "payload": deployment.payload,
            "original_environment": deployment.environment,
            "environment": deployment.environment,
            "description": deployment.description,
            "creator": self.user(deployment.creator),
            "created_at": timestamp(deployment.created_at),
            "updated_at": timestamp(
                deployment.statuses[-1].created_at if deployment.statuses else deployment.created_at
            ),
            "statuses_url": f"{url}/statuses",
            "repository_url": self.repo_api,
            "transient_environment": deployment.transient_environment,
            "production_environment": deployment.production_environment,
        }

    def deployment_status(self, deployment: Deployment, status: DeploymentStatus) -> Json:
        """``deployment-status``."""
        url = f"{self.repo_api}/deployments/{deployment.id}"
        return {
            "url": f"{url}/statuses/{status.id}",
            "id": status.id,
            "node_id": node("DES", status.id),
            "state": status.state,
            "creator": self.user(status.creator),
            "description": status.description,
            "environment": status.environment,
            "target_url": status.target_url,
            "log_url": status.log_url,
            "environment_url": status.environment_url,
            "created_at": timestamp(status.created_at),
            "updated_at": timestamp(status.created_at),
            "deployment_url": url,
            "repository_url": self.repo_api,
        }
