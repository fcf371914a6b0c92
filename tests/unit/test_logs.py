"""Log output: one JSON object (or one text line) per record, and no library's secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from reconciler.logs import configure_logging

SECRET = "ghp_s3cr3tTokenValue"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def json_out(restore_root: None) -> io.StringIO:
    out = io.StringIO()
    configure_logging("json", "INFO", stream=out)
    return out


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_the_expected_fields(json_out: io.StringIO) -> None:
    log = logging.getLogger("reconciler.daemon")
    log.info(
        "cycle %d (%s) ok in %.2fs: %s",
        3,
        "webhook push",
        0.25,
        "promoted gw to staging\nsecond line",
        extra={"cycle": 3, "ok": True, "duration_seconds": 0.25, "apps": ("gw", "web")},
    )
    log.warning("plain")
    got = lines(json_out)
    assert len(got) == 2
    first = got[0]
    assert first["level"] == "info"
    assert first["logger"] == "reconciler.daemon"
    assert first["message"] == (
        "cycle 3 (webhook push) ok in 0.25s: promoted gw to staging\nsecond line"
    )
    assert (first["cycle"], first["ok"], first["duration_seconds"]) == (3, True, 0.25)
    assert first["apps"] == ["gw", "web"]
    assert isinstance(first["time"], str)
    assert first["time"].endswith("Z")
    datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
    assert got[1]["level"] == "warning"
    assert set(got[1]) == {"time", "level", "logger", "message"}


def test_extras_never_replace_the_standard_fields(json_out: io.StringIO) -> None:
    logging.getLogger("reconciler.x").info("real", extra={"level": "fake", "time": "fake"})
    (line,) = lines(json_out)
    assert (line["level"], line["message"]) == ("info", "real")
    assert line["time"] != "fake"


def test_values_json_cannot_encode_are_shown_as_text(json_out: io.StringIO) -> None:
    logging.getLogger("reconciler.x").info("m", extra={"when": datetime(2026, 5, 1, 12, 0)})
    assert lines(json_out)[0]["when"] == "2026-05-01 12:00:00"


def test_level_filters_records(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("json", "WARNING", stream=out)
    logging.getLogger("reconciler.x").info("hidden")
    logging.getLogger("reconciler.x").warning("shown")
    assert [line["message"] for line in lines(out)] == ["shown"]


def test_library_records_are_withheld(json_out: io.StringIO) -> None:
    logging.getLogger("httpx").info("HTTP Request: GET https://u:%s@host/", SECRET)
    logging.getLogger("urllib3.connectionpool").warning("Retrying %s", SECRET, extra={"k": SECRET})
    got = lines(json_out)
    assert len(got) == 1  # the INFO is dropped; the WARNING is shown without its message
    assert got[0]["logger"] == "urllib3.connectionpool"
    assert got[0]["level"] == "warning"
    assert "withheld" in str(got[0]["message"])
    assert SECRET not in json_out.getvalue()


def test_tracebacks_are_reduced_to_the_exception_type(json_out: io.StringIO) -> None:
    try:
        raise ValueError(SECRET)
    except ValueError:
        logging.getLogger("reconciler.x").exception("the cycle failed")
    (line,) = lines(json_out)
    assert line["message"] == "the cycle failed (ValueError)"
    assert SECRET not in json_out.getvalue()


def test_text_format_is_one_line_per_record(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging("text", "INFO", stream=out)
    logging.getLogger("reconciler.daemon").info("two\nlines", extra={"cycle": 1})
    (line,) = out.getvalue().splitlines()
    assert line.endswith(" INFO    reconciler.daemon: two\\nlines")
    datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))


def test_configuring_again_replaces_the_handler(restore_root: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("text", "INFO", stream=first)
    configure_logging("json", "INFO", stream=second)
    logging.getLogger("reconciler.x").info("once")
    assert first.getvalue() == ""
    assert [line["message"] for line in lines(second)] == ["once"]


def test_unknown_format_is_refused(restore_root: None) -> None:
    with pytest.raises(ValueError, match="text, json"):
        configure_logging("yaml", "INFO")  # type: ignore[arg-type]


def test_action_lines_carry_stable_keys_in_json() -> None:
    """The keys log shippers index on: app, env, digest, pr, action."""
    import io
    import json
    import logging

    from reconciler.actions import Merge
    from reconciler.applying import ActionOutcome
    from reconciler.cycle import action_fields
    from reconciler.logs import configure_logging

    stream = io.StringIO()
    handler = configure_logging("json", "INFO", stream=stream)
    try:
        outcome = ActionOutcome(
            Merge(app="gw", env="prod", number=7, expected_head="abc", message="m"),
            ok=True,
            result="merged",
            detail="merged #7",
        )
        logging.getLogger("reconciler.cycle").info(
            "%s", outcome.detail, extra=action_fields(outcome)
        )
    finally:
        logging.getLogger().removeHandler(handler)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert {k: line[k] for k in ("app", "env", "pr", "action", "message")} == {
        "app": "gw",
        "env": "prod",
        "pr": 7,
        "action": "merged",
        "message": "merged #7",
    }
