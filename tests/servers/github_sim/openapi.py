"""Holds every simulator response to GitHub's official OpenAPI description (the vendored subset).

The subset (tests/data/github/openapi-subset.json, written by scripts/vendor-github-specs)
is OpenAPI 3.0: ``nullable: true`` is turned into JSON Schema's ``null`` type once at load,
then each body is checked with ``jsonschema`` against the response schema of its operation
and status, ``$ref``s resolved inside the document. Error statuses the description leaves
out (GitHub documents few of them) must still have GitHub's error shape, ``basic-error``.
Request bodies are checked against the operation's ``requestBody`` the same way: GitHub
answers 422 "Invalid request" to a body that does not fit, and so does the simulator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import best_match

SUBSET = Path(__file__).resolve().parents[2] / "data" / "github" / "openapi-subset.json"
_METHODS = ("get", "put", "post", "patch", "delete")

_formats = FormatChecker()


def _is_uri(value: object) -> bool:
    if not isinstance(value, str) or value == "":
        return True  # GitHub sends "" for URLs never set (a deployment status's target_url)
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


_formats.checks("uri")(_is_uri)  # jsonschema checks "uri" only with an optional package


@dataclass(frozen=True)
class Operation:
    """One operation of the description: its method, path template and regex."""

    method: str
    template: str
    operation_id: str
    regex: re.Pattern[str]
    literal_segments: int


@dataclass(frozen=True)
class Violation:
    """A response that does not fit the description."""

    method: str
    path: str
    status: int
    problem: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}: {self.problem}"


class OpenApi:
    """The vendored description: finds operations and checks responses against them."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = _nullable_to_null(document)
        self.operations = sorted(
            self._operations(), key=lambda op: (-op.literal_segments, op.template)
        )
        self._validators: dict[tuple[str, str, str], Draft7Validator | None] = {}

    @classmethod
    def load(cls, path: Path = SUBSET) -> OpenApi:
        """The description at ``path`` (the vendored subset by default)."""
        return cls(json.loads(path.read_text()))

    def find(self, method: str, path: str) -> Operation | None:
        """The operation serving ``method path`` (no query string), or None."""
        lowered = method.lower()
        for operation in self.operations:
            if operation.method == lowered and operation.regex.fullmatch(path):
                return operation
        return None

    def check(self, method: str, path: str, status: int, body: bytes) -> list[Violation]:
        """Everything wrong with a response to ``method path`` of ``status`` and ``body``."""
        operation = self.find(method, path)
        if operation is None:
            return [Violation(method, path, status, "no such operation in the description")]
        if status == 304:
            problem = "a 304 must have no body" if body else None
            return [Violation(method, path, status, problem)] if problem else []
        responses = self.document["paths"][operation.template][operation.method]["responses"]
        key = str(status)
        if key not in responses and status < 400:
            return [Violation(method, path, status, f"status {status} is not documented")]
        try:
            document = json.loads(body) if body else None
        except ValueError:
            return [Violation(method, path, status, "the body is not JSON")]
        validator = self._validator(operation, key if key in responses else None)
        if validator is None:
            if document is not None:
                return [Violation(method, path, status, "documented without a body, sent one")]
            return []
        errors = list(validator.iter_errors(document))
        if not errors:
            return []
        worst = best_match(errors)
        where = "/".join(str(part) for part in worst.absolute_path) or "(root)"
        return [Violation(method, path, status, f"{where}: {worst.message[:300]}")]

    def request_problem(self, method: str, path: str, body: Any) -> str | None:
        """What is wrong with a request's JSON ``body`` (None when fine or nothing to check)."""
        operation = self.find(method, path)
        if operation is None:
            return None
        spec = self.document["paths"][operation.template][operation.method].get("requestBody")
        if spec is None:
            return None
        if body is None:
            return "a JSON body is required" if spec.get("required") else None
        cache_key = (operation.method, operation.template, "request")
        if cache_key not in self._validators:
            schema = spec.get("content", {}).get("application/json", {}).get("schema")
            root = {**schema, "components": self.document["components"]} if schema else None
            self._validators[cache_key] = (
                Draft7Validator(root, format_checker=_formats) if root else None
            )
        validator = self._validators[cache_key]
        if validator is None:
            return None
        also = _ALSO_ACCEPTED.get((operation.method, operation.template))
        if also is not None and Draft7Validator(also).is_valid(body):
            return None
        errors = list(validator.iter_errors(body))
        if not errors:
            return None
        worst = best_match(errors)
        where = "/".join(str(part) for part in worst.absolute_path) or "(root)"
        return f"For '{where}', {worst.message[:300]}"

    def _validator(self, operation: Operation, status: str | None) -> Draft7Validator | None:
        cache_key = (operation.method, operation.template, status or "error")
        if cache_key in self._validators:
            return self._validators[cache_key]
        schema: dict[str, Any] | None
        if status is None:
            schema = {"$ref": "#/components/schemas/basic-error"}
        else:
            response = self.document["paths"][operation.template][operation.method]["responses"]
            schema = self._response_schema(response[status])
            if schema is None and int(status) >= 400:
                schema = {"$ref": "#/components/schemas/basic-error"}
        validator = None
        if schema is not None:
            # The components ride along at the root so that "#/components/..." resolves.
            root = {**schema, "components": self.document["components"]}
            validator = Draft7Validator(root, format_checker=_formats)
        self._validators[cache_key] = validator
        return validator

    def _response_schema(self, response: dict[str, Any]) -> dict[str, Any] | None:
        while "$ref" in response:
            name = response["$ref"].rsplit("/", 1)[-1]
            response = self.document["components"]["responses"][name]
        content = response.get("content", {})
        for media in ("application/json", "application/scim+json"):
            if media in content and "schema" in content[media]:
                schema: dict[str, Any] = content[media]["schema"]
                return schema
        return None

    def _operations(self) -> Iterator[Operation]:
        for template, item in self.document["paths"].items():
            for method in _METHODS:
                if method in item:
                    yield Operation(
                        method,
                        template,
                        item[method]["operationId"],
                        template_regex(template),
                        sum(1 for part in template.split("/") if part and "{" not in part),
                    )


# Bodies GitHub accepts that the schema leaves out but the operation's prose allows.
_ALSO_ACCEPTED: dict[tuple[str, str], dict[str, Any]] = {
    # "You can also pass an array of labels directly" (PyGithub's add_to_labels does).
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"): {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
    },
}


@cache
def description() -> OpenApi:
    """The vendored subset, loaded once per process."""
    return OpenApi.load()


def template_regex(template: str) -> re.Pattern[str]:
    """A regex matching concrete paths of ``template`` (its parameters as groups)."""
    pattern = ""
    for piece in re.split(r"(\{[^}]+\})", template):
        if piece.startswith("{"):
            # File paths and branch names may hold "/" (clients need not escape it); templates
            # with more literal segments are tried first, so ".../{branch}/protection" wins.
            name = piece[1:-1]
            wide = name in ("path", "branch")
            pattern += f"(?P<{name}>.+)" if wide else f"(?P<{name}>[^/]+)"
        else:
            pattern += re.escape(piece)
    return re.compile(pattern)


def _nullable_to_null(value: Any) -> Any:
    if isinstance(value, list):
        return [_nullable_to_null(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: _nullable_to_null(item) for key, item in value.items()}
    if converted.get("nullable") is True:
        del converted["nullable"]
        return {"anyOf": [{"type": "null"}, converted]}
    return converted
