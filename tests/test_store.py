"""The one data-access layer on both databases: SQLite (the default) and a real PostgreSQL server
started for the test run (issue 8)."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from livegate.keys import create_key_record, hash_key, new_key
from livegate.secrets import SecretRecord
from livegate.store import Store, UsageRecord, open_store
from tests.net import free_port


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's packages, installed by scripts/test)."""
    binaries = _postgres_bin()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is missing: scripts/test installs it from Debian's packages")
        pytest.skip("PostgreSQL is not installed (scripts/test installs it)")
    folder = Path(tempfile.mkdtemp(prefix="livegate-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "livegate", "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [*as_user, str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(folder), "-c", "fsync=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while subprocess.run([str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True).returncode != 0:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("PostgreSQL did not start")
            time.sleep(0.1)
        yield f"postgresql://livegate@127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


_databases = iter(range(1, 10_000))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"test_{os.getpid()}_{next(_databases)}"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    yield f"{server}/{name}"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await open_store(database_url)
    try:
        yield opened
    finally:
        await opened.close()


def usage(response_id: str, key_id: str | None, model: str, at: float, cost: float | None, session: str = "sess_1") -> UsageRecord:
    tokens = {"input_tokens": 10, "output_tokens": 20, "input_token_details": {"text_tokens": 4, "audio_tokens": 6}, "output_token_details": {"audio_tokens": 20}}
    return UsageRecord(response_id, key_id, model, "gemini-x", session, at, "completed", tokens, cost)


async def test_keys_are_stored_hashed_listed_and_revoked(store: Store) -> None:
    key = new_key()
    await store.add_key(create_key_record(key, "team", models=("a", "b"), budget_usd=5.0, max_sessions=2, minutes_per_day=30))
    record = await store.key(hash_key(key))
    assert record is not None
    assert (record.name, record.models, record.budget_usd, record.max_sessions, record.minutes_per_day) == ("team", ("a", "b"), 5.0, 2, 30)
    assert record.prefix == key[:10] + "…" and not record.revoked
    assert [k.name for k in await store.keys()] == ["team"]
    assert await store.revoke("nobody", key_id=hash_key(new_key())) == []
    assert [k.name for k in await store.revoke(record.prefix)] == ["team"]
    assert (await store.key(hash_key(key))).revoked  # type: ignore[union-attr]
    assert await store.revoke("team", key_id=hash_key(key)) == []  # already revoked
    other = new_key()
    await store.add_key(create_key_record(other, "other"))
    assert [k.prefix for k in await store.revoke(other, key_id=hash_key(other))] == [other[:10] + "…"]
    assert (await store.key(hash_key(other))).revoked  # type: ignore[union-attr]


async def test_usage_sums_by_key_session_and_day(store: Store) -> None:
    key = new_key()
    await store.add_key(create_key_record(key, "billing"))
    day = 1_790_000_000.0  # 2026-09-21 UTC
    await store.session_started("sess_1", hash_key(key), "m", day)
    await store.add_usage([usage("resp_1", hash_key(key), "m", day, 0.25)])
    await store.add_usage([usage("resp_2", hash_key(key), "m", day + 60, 0.5)])
    await store.add_usage([usage("resp_3", None, "m", day + 86400, None, session="sess_2")])
    await store.session_ended("sess_1", day + 120)
    assert await store.spent(hash_key(key)) == pytest.approx(0.75)
    assert await store.session_cost("sess_1") == pytest.approx(0.75)
    assert await store.minutes_between(hash_key(key), day - 10, day + 86400, day + 500) == pytest.approx(2.0)
    report = await store.report()
    assert [(r["key"], r["day"], r["responses"], r["input_tokens"], r["output_audio_tokens"], r["cost_usd"], r["unpriced_responses"]) for r in report] == [
        ("billing", "2026-09-21", 2, 20, 40, 0.75, 0),
        ("(master key)", "2026-09-22", 1, 10, 20, 0.0, 1),
    ]
    sessions = await store.report_sessions()
    assert [(s["session"], s["responses"], s["cost_usd"]) for s in sessions] == [("sess_1", 2, 0.75)]


async def test_a_secret_is_claimed_once_even_by_racing_claims(store: Store) -> None:
    now = time.time()
    await store.add_secret(SecretRecord("s1", None, "m", "{}", False, now + 60))
    await store.add_secret(SecretRecord("s2", None, "m", "{}", True, now - 1))
    results = await asyncio.gather(*(store.claim_secret("s1", now) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert (await store.secret("s1")).used  # type: ignore[union-attr]
    assert not await store.claim_secret("s2", now)  # expired
    assert await store.secret("nope") is None
    await store.ping()
