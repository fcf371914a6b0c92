"""The HTTP side of the simulator: authentication, faults, rate limits, ETags, paging, and the
check of every response against GitHub's OpenAPI description.

An injected ``pause`` is asked first, outside the lock (a test may hold the request there,
kill its client, then serve or drop it). Each request is handled whole under the world's
lock, in this order: authenticate (401),
injected faults (5xx, secondary rate limit), route (404), primary rate limit (403 or 429, with
``X-RateLimit-Remaining: 0`` and the reset, as GitHub's "Rate limits for the REST API"), the
request body check (422 "Invalid request", as GitHub), the
handler, paging (``per_page``/``page`` and a ``Link`` header), conditional GET (304 on a
matching ``If-None-Match``, which costs nothing, as on GitHub), then the response is
checked against the description and counted. An injected timeout then holds the answer
back past the client's timeout (the effect has happened; the client does not know it).
Each exchange records the client's ``Accept``, ``X-GitHub-Api-Version`` and ``User-Agent``;
those without GitHub's media type and version are also kept in ``unversioned`` for good.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt

from tests.servers.github_sim import accounts, checks, deployments, pulls, repository
from tests.servers.github_sim.calls import Call, Context, Reply, Route, fail
from tests.servers.github_sim.openapi import OpenApi, Violation, template_regex
from tests.servers.github_sim.shapes import Shapes
from tests.servers.github_sim.sources import SOURCE_ROUTES, compare
from tests.servers.github_sim.state import App, Exchange, World
from tests.servers.httpserve import ClosingHTTPServer

ROUTES: list[Route] = [
    *repository.ROUTES,
    *pulls.ROUTES,
    *accounts.ROUTES,
    *deployments.ROUTES,
    *checks.ROUTES,
    *SOURCE_ROUTES,
]
_DOCS = "https://docs.github.com/rest"
_SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {id}."
)


@dataclass(frozen=True)
class Response:
    """What goes back on the wire."""

    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0  # hold the answer back this long (an injected timeout)


@dataclass(frozen=True)
class _Caller:
    login: str | None
    identity: str
    installation: App | None = None
    app: App | None = None


class Dispatcher:
    """Turns one HTTP request into one response against the world."""

    def __init__(self, world: World, api: str, description: OpenApi | None) -> None:
        self.world = world
        self.api = api
        self.context = Context(world, Shapes(world, api))
        self.description = description
        self.violations: list[Violation] = []
        self.unversioned: list[Exchange] = []  # kept across reset_counters, as violations
        compiled = [(route, template_regex(route.template)) for route in ROUTES]
        self.routes = sorted(
            compiled,
            key=lambda pair: (
                -sum(1 for part in pair[0].template.split("/") if part and "{" not in part)
            ),
        )

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Response | None:
        """Serve ``method target`` (path and query) with lower-cased ``headers``; None: the
        request is dropped unanswered (an injected fault)."""
        parts = urlsplit(target)
        path, query = parts.path, dict(parse_qsl(parts.query))
        pause = self.world.faults.pause
        if pause is not None and not pause(method, path):
            return None
        with self.world.lock:
            try:
                reply, operation, caller = self._reply(method, path, query, headers, body)
            except Exception as crash:  # a simulator bug: answer 500 and fail the test
                trace = traceback.format_exc(limit=-3)
                problem = f"the simulator crashed: {crash!r}\n{trace}"
                self.violations.append(Violation(method, path, 500, problem))
                reply, operation, caller = fail(500, "Server Error"), f"{method} {path}", None
            response = self._finish(method, path, query, headers, reply, caller)
            if self.description is not None:
                self.violations.extend(
                    self.description.check(method, path, response.status, response.body)
                )
            self.world.counts[operation] += 1
            login = caller.login if caller else None
            exchange = Exchange(
                method,
                path,
                operation,
                response.status,
                login,
                accept=headers.get("accept", ""),
                api_version=headers.get("x-github-api-version", ""),
                user_agent=headers.get("user-agent", ""),
            )
            self.world.exchanges.append(exchange)
            if not exchange.versioned:
                self.unversioned.append(exchange)
            faults = self.world.faults
            if faults.timeouts > 0 and faults.aimed_at(login):
                faults.timeouts -= 1
                response = dataclasses.replace(response, delay=faults.timeout_delay)
        return response

    def _reply(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> tuple[Reply, str, _Caller | None]:
        world = self.world
        matched = self._route(method, path)
        operation = f"{method} {matched[0].template}" if matched else f"{method} {path}"
        caller = self._authenticate(headers.get("authorization", ""))
        if isinstance(caller, Reply):
            return caller, operation, None
        faults = world.faults
        aimed = faults.aimed_at(caller.login)
        if aimed and faults.server_errors > 0:
            faults.server_errors -= 1
            return fail(faults.server_error_status, "Server Error"), operation, caller
        if aimed and faults.secondary_limits > 0:
            faults.secondary_limits -= 1
            world.rate_limited += 1
            reply = fail(faults.secondary_status, _SECONDARY.format(id=_request_id()))
            reply.body["documentation_url"] = f"{_DOCS}/overview/rate-limits-for-the-rest-api"
            reply.headers["Retry-After"] = str(faults.retry_after)
            return reply, operation, caller
        if matched is None:
            return fail(404, "Not Found"), operation, caller
        route, params = matched
        other = "repo" in params and not _this_repo(world, params["owner"], params["repo"])
        if other and route.handler not in (compare, *checks.SOURCE_HANDLERS):
            return fail(404, "Not Found"), operation, caller
        refused = self._authorize(route, caller)
        if refused is not None:
            return refused, operation, caller
        if path != "/rate_limit":
            bucket = world.bucket(caller.identity)
            if bucket.used >= bucket.limit:
                world.rate_limited += 1
                kind = "installation" if caller.installation else "user"
                number = _caller_id(world, caller)
                reply = fail(bucket.status, f"API rate limit exceeded for {kind} ID {number}.")
                reply.body["documentation_url"] = f"{_DOCS}/overview/rate-limits-for-the-rest-api"
                return reply, operation, caller
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            return fail(400, "Problems parsing JSON"), operation, caller
        problem = (
            self.description.request_problem(method, path, parsed) if self.description else None
        )
        if problem is not None:
            world.invalid_requests += 1
            return fail(422, f"Invalid request.\n\n{problem}"), operation, caller
        pulls.ask_code_owners(world)
        pulls.sync_heads(world)
        call = Call(
            method=method,
            path=path,
            params=params,
            query=query,
            body=parsed,
            login=caller.login,
            identity=caller.identity,
            installation=caller.installation,
            app=caller.app,
        )
        return route.handler(self.context, call), operation, caller

    def _finish(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        reply: Reply,
        caller: _Caller | None,
    ) -> Response:
        out = {
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": _request_id(),
            **reply.headers,
        }
        body = reply.body
        if reply.paged and isinstance(body, list):
            body, link = _page(body, self.api + path, query)
            if link:
                out["Link"] = link
        payload = json.dumps(body).encode() if body is not None else b""
        status = reply.status
        if method == "GET" and status == 200:
            tag = _etag(payload, caller.identity if caller else "")
            out["ETag"] = tag
            out["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
            out["Cache-Control"] = "private, max-age=60, s-maxage=60"
            if _matches(headers.get("if-none-match", ""), tag):
                status, payload = 304, b""
        if caller is not None:
            bucket = self.world.bucket(caller.identity)
            counted = status != 304 and path != "/rate_limit" and status < 500
            if counted and not _limited(reply):
                bucket.used += 1
            out.update(
                {
                    "X-RateLimit-Limit": str(bucket.limit),
                    "X-RateLimit-Remaining": str(max(bucket.limit - bucket.used, 0)),
                    "X-RateLimit-Used": str(bucket.used),
                    "X-RateLimit-Reset": str(bucket.reset),
                    "X-RateLimit-Resource": "core",
                }
            )
        if status == 304:
            out.pop("Content-Type")
        return Response(status, out, payload)

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route, regex in self.routes:
            if route.method == method:
                found = regex.fullmatch(path)
                if found:
                    return route, found.groupdict()
        return None

    def _authenticate(self, header: str) -> _Caller | Reply:
        scheme, _, secret = header.strip().partition(" ")
        secret = secret.strip()
        if not header or scheme.lower() not in ("token", "bearer") or not secret:
            return fail(401, "Requires authentication")
        token = self.world.tokens.get(secret)
        if token is not None:
            expired = token.expires_at is not None and token.expires_at <= self.world.clock()
            if expired:
                return fail(401, "Bad credentials")
            return _Caller(token.login, token.login, installation=token.installation)
        if secret.count(".") == 2:
            return self._verify_jwt(secret)
        return fail(401, "Bad credentials")

    def _verify_jwt(self, secret: str) -> _Caller | Reply:
        try:
            claims = jwt.decode(secret, options={"verify_signature": False})
            app = self.world.apps.get(int(claims.get("iss", 0)))
            if app is None:
                return fail(401, "A JSON web token could not be decoded")
            verified = jwt.decode(
                secret,
                app.public_key,
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
                leeway=60,
            )
        except (jwt.InvalidTokenError, ValueError, TypeError):
            return fail(401, "A JSON web token could not be decoded")
        if int(verified["exp"]) - int(verified["iat"]) > 600:
            return fail(401, "'Expiration time' claim ('exp') is too far in the future")
        return _Caller(None, f"app:{app.id}", app=app)

    def _authorize(self, route: Route, caller: _Caller) -> Reply | None:
        if route.auth == "jwt" and caller.app is None:
            return fail(401, "A JSON web token could not be decoded")
        if route.auth == "token" and caller.app is not None:
            return fail(403, "Resource not accessible by integration")
        app = caller.installation
        if app is not None and route.permission and route.permission not in app.permissions:
            return fail(403, "Resource not accessible by integration")
        return None


def _this_repo(world: World, owner: str, name: str) -> bool:
    return (owner.lower(), name.lower()) == (world.owner.lower(), world.name.lower())


def _limited(reply: Reply) -> bool:
    message = reply.body.get("message", "") if isinstance(reply.body, dict) else ""
    return isinstance(message, str) and "rate limit" in message


def _caller_id(world: World, caller: _Caller) -> int:
    if caller.installation is not None:
        return caller.installation.installation_id
    return world.user(caller.identity).id


def _page(items: list[Any], url: str, query: dict[str, str]) -> tuple[list[Any], str]:
    per_page = min(max(_int(query.get("per_page"), 30), 1), 100)
    page = max(_int(query.get("page"), 1), 1)
    last = max(math.ceil(len(items) / per_page), 1)
    links = []

    def at(number: int) -> str:
        return f"{url}?{urlencode({**query, 'per_page': per_page, 'page': number})}"

    if page < last:
        links += [f'<{at(page + 1)}>; rel="next"', f'<{at(last)}>; rel="last"']
    if page > 1:
        links += [f'<{at(page - 1)}>; rel="prev"', f'<{at(1)}>; rel="first"']
    return items[(page - 1) * per_page : page * per_page], ", ".join(links)


def _int(value: str | None, default: int) -> int:
    return int(value) if value is not None and value.isdigit() else default


def _etag(payload: bytes, identity: str) -> str:
    digest = hashlib.sha256(identity.encode() + b"\0" + payload).hexdigest()
    return f'W/"{digest}"'


def _matches(header: str, tag: str) -> bool:
    wanted = {part.strip().removeprefix("W/") for part in header.split(",") if part.strip()}
    return "*" in wanted or tag.removeprefix("W/") in wanted


def _request_id() -> str:
    return uuid.uuid4().hex[:20].upper()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.dispatcher.handle(self.command, self.path, headers, body)
        if response is None:
            self.close_connection = True
            return
        if response.delay > 0:
            self.server.stopping.wait(response.delay)  # the injected timeout itself
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)


class _Server(ClosingHTTPServer):
    request_queue_size = 64
    dispatcher: Dispatcher

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client hanging up early is not the simulator's concern


def start(make: Callable[[str], Dispatcher]) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Bind 127.0.0.1:0, build the dispatcher for that address with ``make(api)``, serve."""
    server = _Server(("127.0.0.1", 0), _Handler)
    api = f"http://127.0.0.1:{server.server_address[1]}"
    server.dispatcher = make(api)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return server, thread
