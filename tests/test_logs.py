"""Log lines carry the session id of the task that wrote them, in both formats (issue 8)."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from livegate.logs import SESSION_ID, JsonFormatter, SessionFilter, TextFormatter


def capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SessionFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"livegate.test.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


async def test_each_sessions_tasks_log_its_own_id_as_json() -> None:
    logger, stream = capture(JsonFormatter())

    async def session(name: str) -> None:
        SESSION_ID.set(name)

        async def reader() -> None:  # a task the session starts inherits its id
            logger.info("from the reader of %s", name)

        await asyncio.create_task(reader())
        logger.warning("ended %s", name)

    await asyncio.gather(session("sess_a"), session("sess_b"))
    logger.info("outside")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {(line["session"], line["message"]) for line in lines} == {
        ("sess_a", "from the reader of sess_a"), ("sess_a", "ended sess_a"),
        ("sess_b", "from the reader of sess_b"), ("sess_b", "ended sess_b"), (None, "outside"),
    }  # fmt: skip
    assert lines[-1]["level"] == "info" and lines[-1]["time"].endswith("Z")


def test_text_lines_show_the_session_in_brackets() -> None:
    logger, stream = capture(TextFormatter())
    token = SESSION_ID.set("sess_x")
    try:
        logger.info("hello")
    finally:
        SESSION_ID.reset(token)
    logger.info("bye")
    first, second = stream.getvalue().splitlines()
    assert first.endswith(f"INFO {logger.name} [sess_x]: hello")
    assert second.endswith(f"INFO {logger.name}: bye")


def test_exceptions_are_kept_in_json() -> None:
    logger, stream = capture(JsonFormatter())
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    line = json.loads(stream.getvalue())
    assert line["message"] == "failed" and "ValueError: boom" in line["exception"]
