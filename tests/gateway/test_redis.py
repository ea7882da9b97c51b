"""Limits across gateway instances through a real redis-server: two gateway processes share one
concurrent-session limit and one budget, a dead instance's leases run out, and no Redis means no
new limited session (issue 8)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets

from livegate.config import load_config
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway
from livegate.keys import create_key_record, new_key
from livegate.store import open_store
from tests.net import free_port, wait_for_port

MODEL = "studio-live"
LEASE_S = 1.5


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: scripts/test installs it from Debian's packages")
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        await process.wait()


def write_config(tmp_path: Path, emulator: EmulatorServer, redis: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: gemini/gemini-2.5-flash-native-audio-preview-12-2025
      api_key: studio-key
      api_base: {emulator.http_url}
general_settings:
  master_key: sk-redis-test
  redis_url: {redis}
  lease_seconds: {LEASE_S}
"""
    )
    return config


async def add_key(database: Path, key: str, **limits: object) -> None:
    store = await open_store(f"sqlite:///{database}")
    try:
        await store.add_key(create_key_record(key, "shared", **limits))  # type: ignore[arg-type]
    finally:
        await store.close()


async def start_gateway(config: Path, database: Path) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    env = dict(os.environ, LIVEGATE_DATABASE_URL=f"sqlite:///{database}")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livegate", "serve", "--port", str(port), "--config", str(config), "--log-level", "warning",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await wait_for_port(port)
    return process, port


def url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/v1/realtime?model={MODEL}"


async def status_of(port: int, key: str) -> int:
    """101 when a session opens (and is closed again at once), else the refusal's HTTP status."""
    try:
        async with websockets.connect(url(port), additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            return 101
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


async def until(port: int, key: str, wanted: int, within: float) -> None:
    async with asyncio.timeout(within):
        while True:
            if await status_of(port, key) == wanted:
                return
            await asyncio.sleep(0.1)


async def test_two_gateway_processes_share_one_session_limit_and_one_budget(tmp_path: Path, redis_url: str) -> None:
    limited, thrifty = new_key(), new_key()
    # Each instance has its own database: Redis is the only thing they share.
    databases = [tmp_path / "a.db", tmp_path / "b.db"]
    for database in databases:
        await add_key(database, limited, max_sessions=1)
        await add_key(database, thrifty, budget_usd=1e-7)
    async with EmulatorServer(EmulatorConfig(api_key="studio-key", turn_complete_after_playback=False)) as emulator:
        config = write_config(tmp_path, emulator, redis_url)
        (a, port_a), (b, port_b) = await asyncio.gather(start_gateway(config, databases[0]), start_gateway(config, databases[1]))
        try:
            # One session on A: B refuses the second, and accepts once the first has ended.
            async with websockets.connect(url(port_a), additional_headers={"Authorization": f"Bearer {limited}"}) as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"
                assert await status_of(port_b, limited) == 429
                assert await status_of(port_a, limited) == 429
            await until(port_b, limited, 101, within=5)

            # Spend on B: A, whose own database has no usage for the key, refuses it.
            assert await status_of(port_a, thrifty) == 101
            async with websockets.connect(url(port_b), additional_headers={"Authorization": f"Bearer {thrifty}"}) as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"
                await ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "spend"}]}}))
                await ws.send(json.dumps({"type": "response.create"}))
                async with asyncio.timeout(10):
                    while json.loads(await ws.recv())["type"] != "response.done":
                        pass
            await until(port_a, thrifty, 429, within=5)

            # A dies holding a session: its lease runs out and B takes the slot.
            held = await websockets.connect(url(port_a), additional_headers={"Authorization": f"Bearer {limited}"})
            assert json.loads(await held.recv())["type"] == "session.created"
            assert await status_of(port_b, limited) == 429
            a.send_signal(signal.SIGKILL)
            await a.wait()
            await until(port_b, limited, 101, within=LEASE_S * 4)
            held.transport.abort()
        finally:
            for process in (a, b):
                if process.returncode is None:
                    process.terminate()
                    await process.wait()


async def test_limits_fail_closed_without_redis(tmp_path: Path) -> None:
    key = new_key()
    database = tmp_path / "c.db"
    await add_key(database, key, max_sessions=3)
    async with EmulatorServer(EmulatorConfig(api_key="studio-key")) as emulator:
        config = load_config(write_config(tmp_path, emulator, f"redis://127.0.0.1:{free_port()}/0"))
        config.database_url = f"sqlite:///{database}"
        async with Gateway(config, port=0) as gateway:
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(url(gateway.port), additional_headers={"Authorization": f"Bearer {key}"})
            assert refused.value.response.status_code == 503
            assert b"limits_unavailable" in (refused.value.response.body or b"")
            # Keys without session limits do not need Redis to open a session.
            async with websockets.connect(url(gateway.port), additional_headers={"Authorization": "Bearer sk-redis-test"}) as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"
