"""A request as the route handlers see it, their answers, and the route table's entries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.servers.github_sim.shapes import Json, Shapes, error
from tests.servers.github_sim.state import App, World

Auth = Literal["token", "jwt"]  # a user or installation token; or an app's JWT


@dataclass(frozen=True)
class Call:
    """One authenticated request: who sent it, its path parameters, query and JSON body."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    login: str | None  # the user (or the installation's bot) behind a token
    identity: str  # whose rate limit the call uses: the login, or "app:<id>" for a JWT
    installation: App | None = None  # set for installation tokens
    app: App | None = None  # set for app JWTs

    def field(self, name: str, default: Any = None) -> Any:
        """A field of the JSON body, or ``default``."""
        if isinstance(self.body, dict):
            return self.body.get(name, default)
        return default

    @property
    def jwt_app(self) -> App:
        """The app a JWT authenticated (JWT routes always have one)."""
        assert self.app is not None
        return self.app

    @property
    def who(self) -> str:
        """The caller's login (token routes always have one)."""
        assert self.login is not None
        return self.login


@dataclass
class Reply:
    """An answer: status, JSON body (None for no body), extra headers; lists may be paged."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    paged: bool = False


@dataclass(frozen=True)
class Context:
    """What handlers work with: the world and its JSON shapes."""

    world: World
    shapes: Shapes


Handler = Callable[[Context, Call], Reply]


@dataclass(frozen=True)
class Route:
    """``method template`` served by ``handler``; ``permission`` is what an app token needs."""

    method: str
    template: str
    handler: Handler
    auth: Auth = "token"
    permission: str | None = None


def ok(body: Any, status: int = 200, paged: bool = False) -> Reply:
    """A successful answer."""
    return Reply(status, body, paged=paged)


def fail(status: int, message: str) -> Reply:
    """An error answer with GitHub's ``basic-error`` body."""
    return Reply(status, error(message))


def not_found() -> Reply:
    """GitHub's 404 (also what it answers for what the caller may not see)."""
    return fail(404, "Not Found")


def invalid(resource: str, code: str, field_name: str | None = None, message: str = "") -> Reply:
    """GitHub's 422 ``validation-error``."""
    detail: Json = {"resource": resource, "code": code}
    if field_name:
        detail["field"] = field_name
    if message:
        detail["message"] = message
    body = error("Validation Failed", "https://docs.github.com/rest")
    body["errors"] = [detail]
    return Reply(422, body)


def unprocessable(*messages: str) -> Reply:
    """GitHub's 422 ``validation-error-simple`` (errors as plain strings)."""
    body = error("Unprocessable Entity")
    body["errors"] = list(messages)
    return Reply(422, body)
