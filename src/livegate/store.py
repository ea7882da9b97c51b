"""Virtual keys, usage and sessions in SQLite (the default) or PostgreSQL, through one data-access layer.

The URL decides the driver: ``sqlite:///path/to/livegate.db`` (aiosqlite) or ``postgresql://…``
(asyncpg). The SQL is shared; only placeholders and one column type differ. Keys are stored as
SHA-256 hashes: the full key is shown once, at creation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from livegate.secrets import SecretRecord

__all__ = ["KeyRecord", "Store", "UsageRecord", "open_store"]

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS keys (
        id TEXT PRIMARY KEY, prefix TEXT NOT NULL, name TEXT NOT NULL, models TEXT NOT NULL,
        budget_usd {real}, expires_at {real}, max_sessions INTEGER, minutes_per_day {real},
        revoked INTEGER NOT NULL DEFAULT 0, created_at {real} NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS usage (
        response_id TEXT PRIMARY KEY, key_id TEXT, model TEXT NOT NULL, upstream_model TEXT NOT NULL,
        session_id TEXT NOT NULL, at {real} NOT NULL, status TEXT NOT NULL,
        input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, input_text INTEGER NOT NULL,
        input_audio INTEGER NOT NULL, input_image INTEGER NOT NULL, input_cached INTEGER NOT NULL,
        output_text INTEGER NOT NULL, output_audio INTEGER NOT NULL, cost_usd {real}, priced INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sessions (
        session_id TEXT PRIMARY KEY, key_id TEXT, model TEXT NOT NULL, started_at {real} NOT NULL, ended_at {real})""",
    # Budgets, session caps and minutes sum these on every check: without indexes each is a full scan.
    "CREATE INDEX IF NOT EXISTS usage_by_key ON usage (key_id)",
    "CREATE INDEX IF NOT EXISTS usage_by_session ON usage (session_id)",
    "CREATE INDEX IF NOT EXISTS sessions_by_key ON sessions (key_id, started_at)",
    """CREATE TABLE IF NOT EXISTS secrets (
        id TEXT PRIMARY KEY, key_id TEXT, model TEXT NOT NULL, session TEXT NOT NULL, beta INTEGER NOT NULL,
        expires_at {real} NOT NULL, used INTEGER NOT NULL DEFAULT 0)""",
]


@dataclass(frozen=True)
class KeyRecord:
    id: str  # SHA-256 of the key
    prefix: str
    name: str
    models: tuple[str, ...] = ()  # empty: every model
    budget_usd: float | None = None
    expires_at: float | None = None
    max_sessions: int | None = None
    minutes_per_day: float | None = None
    revoked: bool = False
    created_at: float = 0.0


@dataclass(frozen=True)
class UsageRecord:
    response_id: str
    key_id: str | None
    model: str
    upstream_model: str
    session_id: str
    at: float
    status: str
    usage: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None


class Store:
    """The queries, written once with ``?`` placeholders."""

    def __init__(self, connection: Any, postgres: bool) -> None:
        self._db = connection
        self.postgres = postgres

    def _sql(self, query: str) -> str:
        if not self.postgres:
            return query
        counter = iter(range(1, 1000))
        return re.sub(r"\?", lambda _: f"${next(counter)}", query)

    async def _execute(self, query: str, *args: Any) -> int:
        """Run and commit one statement; returns the rows it changed (what makes a claim atomic across
        processes), 0 for statements that change none."""
        if self.postgres:
            status = await self._db.execute(self._sql(query), *args)  # e.g. "UPDATE 1", "CREATE TABLE"
            count = status.rsplit(" ", 1)[-1]
            return int(count) if count.isdigit() else 0
        cursor = await self._db.execute(query, args)
        await self._db.commit()
        return max(0, int(cursor.rowcount))

    async def _fetch(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.postgres:
            return [tuple(row) for row in await self._db.fetch(self._sql(query), *args)]
        async with self._db.execute(query, args) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def migrate(self) -> None:
        real = "DOUBLE PRECISION" if self.postgres else "REAL"
        for statement in SCHEMA:
            await self._execute(statement.format(real=real))

    async def ping(self) -> None:
        await self._fetch("SELECT 1")

    async def close(self) -> None:
        await self._db.close()

    # ---- keys --------------------------------------------------------------------------------

    async def add_key(self, key: KeyRecord) -> None:
        await self._execute(
            "INSERT INTO keys (id, prefix, name, models, budget_usd, expires_at, max_sessions, minutes_per_day, revoked, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
            key.id, key.prefix, key.name, json.dumps(list(key.models)), key.budget_usd, key.expires_at,
            key.max_sessions, key.minutes_per_day, key.created_at,
        )  # fmt: skip

    async def key(self, key_id: str) -> KeyRecord | None:
        rows = await self._fetch(f"SELECT {_KEY_COLUMNS} FROM keys WHERE id = ?", key_id)
        return _key(rows[0]) if rows else None

    async def keys(self) -> list[KeyRecord]:
        return [_key(row) for row in await self._fetch(f"SELECT {_KEY_COLUMNS} FROM keys ORDER BY created_at")]

    async def revoke(self, name_or_prefix: str, key_id: str | None = None) -> list[KeyRecord]:
        """Revoke every active key with this name or display prefix, or whose hash is ``key_id``; returns them."""
        matches = [k for k in await self.keys() if not k.revoked and (name_or_prefix in (k.name, k.prefix) or k.id == key_id)]
        for key in matches:
            await self._execute("UPDATE keys SET revoked = 1 WHERE id = ?", key.id)
        return matches

    # ---- ephemeral secrets -------------------------------------------------------------------

    async def add_secret(self, secret: SecretRecord) -> None:
        await self._execute(
            "INSERT INTO secrets (id, key_id, model, session, beta, expires_at, used) VALUES (?, ?, ?, ?, ?, ?, 0)",
            secret.id, secret.key_id, secret.model, secret.session, int(secret.beta), secret.expires_at,
        )  # fmt: skip

    async def secret(self, secret_id: str) -> SecretRecord | None:
        rows = await self._fetch("SELECT id, key_id, model, session, beta, expires_at, used FROM secrets WHERE id = ?", secret_id)
        if not rows:
            return None
        row = rows[0]
        return SecretRecord(row[0], row[1], row[2], row[3], bool(row[4]), row[5], bool(row[6]))

    async def claim_secret(self, secret_id: str, now: float) -> bool:
        """Use a secret once: True for exactly one caller, in any process, before it expires."""
        changed = await self._execute("UPDATE secrets SET used = 1 WHERE id = ? AND used = 0 AND expires_at > ?", secret_id, now)
        if changed:
            await self._execute("DELETE FROM secrets WHERE expires_at < ?", now - 86400)
        return changed == 1

    # ---- usage and sessions ------------------------------------------------------------------

    async def add_usage(self, records: list[UsageRecord]) -> None:
        """Usage rows in one transaction (the gateway writes them in batches: gateway/ledger.py)."""
        query = (
            "INSERT INTO usage (response_id, key_id, model, upstream_model, session_id, at, status, input_tokens, output_tokens,"
            " input_text, input_audio, input_image, input_cached, output_text, output_audio, cost_usd, priced)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        rows = [_usage_row(record) for record in records]
        if not rows:
            return
        if self.postgres:
            await self._db.executemany(self._sql(query), rows)
        else:
            await self._db.executemany(query, rows)
            await self._db.commit()

    async def spent(self, key_id: str) -> float:
        rows = await self._fetch("SELECT COALESCE(SUM(cost_usd), 0) FROM usage WHERE key_id = ?", key_id)
        return float(rows[0][0] or 0)

    async def session_cost(self, session_id: str) -> float:
        rows = await self._fetch("SELECT COALESCE(SUM(cost_usd), 0) FROM usage WHERE session_id = ?", session_id)
        return float(rows[0][0] or 0)

    async def session_started(self, session_id: str, key_id: str | None, model: str, at: float) -> None:
        await self._execute("INSERT INTO sessions (session_id, key_id, model, started_at) VALUES (?, ?, ?, ?)", session_id, key_id, model, at)

    async def session_ended(self, session_id: str, at: float) -> None:
        await self._execute("UPDATE sessions SET ended_at = ? WHERE session_id = ?", at, session_id)

    async def minutes_between(self, key_id: str, start: float, end: float, now: float) -> float:
        """Session-minutes of a key inside [start, end); a live session counts up to ``now``."""
        rows = await self._fetch(
            "SELECT started_at, ended_at FROM sessions WHERE key_id = ? AND started_at < ? AND (ended_at IS NULL OR ended_at > ?)",
            key_id, end, start,
        )  # fmt: skip
        seconds = sum(max(0.0, min(ended if ended is not None else now, end) - max(started, start)) for started, ended in rows)
        return float(seconds) / 60

    async def report(self) -> list[dict[str, Any]]:
        """Usage by key, model and UTC day."""
        day = "substr(datetime(at, 'unixepoch'), 1, 10)" if not self.postgres else "to_char(to_timestamp(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        rows = await self._fetch(
            f"SELECT COALESCE(k.name, u.key_id, '(master key)'), u.model, {day} AS day, COUNT(*), SUM(u.input_tokens), SUM(u.output_tokens),"
            " SUM(u.input_audio), SUM(u.output_audio), SUM(u.cost_usd), SUM(1 - u.priced)"
            f" FROM usage u LEFT JOIN keys k ON k.id = u.key_id GROUP BY COALESCE(k.name, u.key_id, '(master key)'), u.model, {day} ORDER BY 3, 1, 2"
        )
        names = ("key", "model", "day", "responses", "input_tokens", "output_tokens", "input_audio_tokens", "output_audio_tokens", "cost_usd", "unpriced_responses")
        return [dict(zip(names, row, strict=True)) | {"cost_usd": round(float(row[8] or 0), 6)} for row in rows]


    async def report_sessions(self) -> list[dict[str, Any]]:
        """Usage summed per session, newest first."""
        rows = await self._fetch(
            "SELECT s.session_id, COALESCE(k.name, s.key_id, '(master key)'), s.model, s.started_at, s.ended_at, COUNT(u.response_id),"
            " COALESCE(SUM(u.input_tokens), 0), COALESCE(SUM(u.output_tokens), 0), COALESCE(SUM(u.cost_usd), 0), COALESCE(SUM(1 - u.priced), 0)"
            " FROM sessions s LEFT JOIN keys k ON k.id = s.key_id LEFT JOIN usage u ON u.session_id = s.session_id"
            " GROUP BY s.session_id, k.name, s.key_id, s.model, s.started_at, s.ended_at ORDER BY s.started_at DESC"
        )
        names = ("session", "key", "model", "started_at", "ended_at", "responses", "input_tokens", "output_tokens", "cost_usd", "unpriced_responses")
        return [dict(zip(names, row, strict=True)) | {"cost_usd": round(float(row[8] or 0), 6)} for row in rows]


_KEY_COLUMNS = "id, prefix, name, models, budget_usd, expires_at, max_sessions, minutes_per_day, revoked, created_at"


def _key(row: tuple[Any, ...]) -> KeyRecord:
    return KeyRecord(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4], row[5], row[6], row[7], bool(row[8]), row[9])


async def open_store(url: str) -> Store:
    if url.startswith(("postgresql://", "postgres://")):
        import asyncpg

        store = Store(await asyncpg.create_pool(url, min_size=1, max_size=8), postgres=True)
    elif url.startswith("sqlite:///"):
        import aiosqlite

        connection = await aiosqlite.connect(url.removeprefix("sqlite:///"))
        # WAL: readers and writers in several processes (--workers) do not block each other, and a commit
        # costs no fsync (a third of the CPU of the default journal, measured); a power cut can lose the
        # last commits, never corrupt the file.
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.execute("PRAGMA busy_timeout=5000")
        store = Store(connection, postgres=False)
    else:
        raise ValueError(f"database_url: expected sqlite:///path or postgresql://…, got {url!r}")
    await store.migrate()
    return store


def _usage_row(record: UsageRecord) -> tuple[Any, ...]:
    usage = record.usage
    inputs, outputs = usage.get("input_token_details") or {}, usage.get("output_token_details") or {}
    return (
        record.response_id, record.key_id, record.model, record.upstream_model, record.session_id, record.at,
        record.status, usage.get("input_tokens", 0), usage.get("output_tokens", 0), inputs.get("text_tokens", 0),
        inputs.get("audio_tokens", 0), inputs.get("image_tokens", 0), inputs.get("cached_tokens", 0),
        outputs.get("text_tokens", 0), outputs.get("audio_tokens", 0), record.cost_usd, int(record.cost_usd is not None),
    )  # fmt: skip
