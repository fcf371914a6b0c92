"""What the distribution API's bodies say: an error's code, a tag list.

Pure: bytes in, values out.
"""

from __future__ import annotations

import json
import re

from reconciler.errors import PermanentError

_ERROR_CODE = re.compile(r"[A-Z_]{1,64}")


def error_code(body: bytes) -> str | None:
    """The first error code of a registry error body (``{"errors": [{"code": ...}]}``)."""
    try:
        document = json.loads(body)
        code = document["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None


def tags_of(body: bytes, repository: str) -> list[str]:
    """The names of a tag list page (``{"tags": [...]}``); none for a null list."""
    try:
        document = json.loads(body)
    except ValueError:
        raise PermanentError(f"the tag list of {repository} is not JSON") from None
    tags = document.get("tags") if isinstance(document, dict) else None
    if tags is None:
        return []  # a repository whose tags were all deleted
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise PermanentError(f"the tag list of {repository} is not a list of names")
    return tags
