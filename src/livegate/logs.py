"""Logs: one line per event, with the session id on every line a session causes.

The id travels in a context variable, which asyncio copies into every task a session starts (its
upstream reader, its timer), so no call site passes it. ``json`` writes one object per line for log
pipelines; ``text`` is for people. Neither ever receives audio or a full key: livegate logs counts,
ids and key prefixes only.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time

__all__ = ["SESSION_ID", "JsonFormatter", "SessionFilter", "TextFormatter", "configure"]

SESSION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("livegate_session_id", default=None)


class SessionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.session = SESSION_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "session": getattr(record, "session", None),
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:  # as logging.Formatter does: a filter may have set the text
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(where)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        session = getattr(record, "session", None)
        record.where = f" [{session}]" if session else ""
        return super().format(record)


def configure(level: str, fmt: str = "text") -> None:
    """Like ``logging.basicConfig``: nothing changes when the process already has handlers (an embedding
    application's, or a test runner's)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.addFilter(SessionFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Third-party debug logs can carry frame payloads: livegate's own level never opens them.
    for noisy in ("aiohttp", "websockets", "asyncio", "google", "urllib3", "aiosqlite", "asyncpg"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
