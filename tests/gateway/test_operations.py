"""Operations over real sockets: /health and /ready, Prometheus /metrics after real sessions, and the
logs of a gateway process: a session id on every session line, never a key, never audio (issue 8)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import os
import struct
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from livegate.config import embedded_config
from livegate.emulator.script import Fault
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway
from tests.net import free_port, wait_for_port


def tone(seconds: float, rate: int = 24000) -> bytes:
    samples = int(seconds * rate)
    return struct.pack(f"<{samples}h", *(int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(samples)))


async def metrics(gateway_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as http, http.get(f"{gateway_url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[EmulatorServer, Gateway]]:
    async with (
        EmulatorServer(EmulatorConfig(turn_complete_after_playback=False)) as emulator,
        Gateway(embedded_config(emulator.url), port=0, master_key="sk-ops") as gateway,
    ):
        yield emulator, gateway


async def audio_turn(ws: Any, audio: bytes) -> list[dict[str, Any]]:
    events = []
    for start in range(0, len(audio), 4800):
        await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(audio[start : start + 4800]).decode()}))
    await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
    await ws.send(json.dumps({"type": "response.create"}))
    async with asyncio.timeout(15):
        while True:
            event = json.loads(await ws.recv())
            events.append(event)
            if event["type"] == "response.done":
                return events


async def test_metrics_count_a_sessions_frames_tokens_cost_reconnects_errors_and_latency(gateway: tuple[EmulatorServer, Gateway]) -> None:
    emulator, gw = gateway
    headers = {"Authorization": "Bearer sk-ops"}
    url = f"ws://127.0.0.1:{gw.port}/v1/realtime?model=gemini-2.5-flash-native-audio-preview-12-2025"
    async with aiohttp.ClientSession() as http:
        refused = await http.get(f"{gw.url}/v1/realtime", params={"model": "m"}, headers={"Authorization": "Bearer wrong"})
        assert refused.status == 401
    async with websockets.connect(url, additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}}))
        await ws.send(json.dumps({"type": "no.such.event"}))
        during = await metrics(gw.url)
        assert during[("livegate_sessions_open", ())] == 1
        events = await audio_turn(ws, tone(0.6))
        assert emulator.inject(Fault(when="seconds", action="go_away", at=0, time_left_s=5))
        events += await audio_turn(ws, tone(0.3))
    sent_audio = sum(len(base64.b64decode(e["delta"])) for e in events if e["type"] == "response.output_audio.delta")
    assert sent_audio > 0
    usage = [e["response"]["usage"] for e in events if e["type"] == "response.done"]

    async with asyncio.timeout(5):
        while True:  # the server ends the session a moment after the client has closed
            after = await metrics(gw.url)
            if after[("livegate_sessions_open", ())] == 0:
                break
            await asyncio.sleep(0.02)
    assert after[("livegate_sessions_total", ())] == 1
    assert after[("livegate_refusals_total", (("code", "invalid_api_key"), ("status", "401")))] == 1
    assert after[("livegate_errors_total", (("code", "invalid_value"),))] == 1
    # Client frames in: session.update, the bad event, two of (appends + commit + response.create).
    appends = math.ceil(len(tone(0.6)) / 4800) + math.ceil(len(tone(0.3)) / 4800)
    assert after[("livegate_frames_total", (("direction", "client_in"),))] == 2 + appends + 4
    assert [e["type"] for e in events[:2]] == ["session.updated", "error"]
    assert after[("livegate_frames_total", (("direction", "client_out"),))] == len(events) + 1  # and session.created
    assert after[("livegate_bytes_total", (("direction", "client_out"),))] > sent_audio * 4 / 3
    assert after[("livegate_frames_total", (("direction", "upstream_in"),))] >= 4
    assert after[("livegate_upstream_reconnects_total", (("reason", "go_away"),))] == 1
    model = "gemini-2.5-flash-native-audio-preview-12-2025"
    assert after[("livegate_tokens_total", (("direction", "input"), ("model", model)))] == sum(u["input_tokens"] for u in usage)
    assert after[("livegate_tokens_total", (("direction", "output"), ("model", model)))] == sum(u["output_tokens"] for u in usage)
    assert after[("livegate_cost_usd_total", (("model", model),))] > 0
    count = after[("livegate_added_latency_seconds_count", ())]
    assert count == after[("livegate_frames_total", (("direction", "upstream_in"),))]
    assert 0 < after[("livegate_added_latency_seconds_sum", ())] < count * 0.05


async def test_the_session_end_log_counts_upstream_connections_not_reconnects(
    gateway: tuple[EmulatorServer, Gateway], caplog: pytest.LogCaptureFixture
) -> None:
    emulator, gw = gateway
    caplog.set_level(logging.INFO, logger="livegate")
    url = f"ws://127.0.0.1:{gw.port}/v1/realtime?model=gemini-3.8-live"
    headers = {"Authorization": "Bearer sk-ops"}

    async def text_turn(ws: websockets.ClientConnection, text: str) -> None:
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))
        async with asyncio.timeout(10):
            while json.loads(await ws.recv())["type"] != "response.done":
                pass

    async def ended(count: int) -> str:
        """The newest session-end line, once there are ``count`` (the server ends a session just after the client)."""
        async with asyncio.timeout(5):
            while True:
                lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("session ended")]
                if len(lines) >= count:
                    return lines[-1]
                await asyncio.sleep(0.02)

    async with websockets.connect(url, additional_headers=headers) as ws:  # nothing to say: Gemini is never called
        assert json.loads(await ws.recv())["type"] == "session.created"
    assert "upstream connections 0, reconnects none" in await ended(1)
    async with websockets.connect(url, additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}))
        await text_turn(ws, "one")
    assert "upstream connections 1, reconnects none" in await ended(2)
    async with websockets.connect(url, additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}))
        await text_turn(ws, "one")
        assert emulator.inject(Fault(when="seconds", action="go_away", at=0, time_left_s=5))
        await text_turn(ws, "two")
    assert "upstream connections 2, reconnects {'go_away': 1}" in await ended(3)


async def test_health_and_ready(gateway: tuple[EmulatorServer, Gateway]) -> None:
    _, gw = gateway
    async with aiohttp.ClientSession() as http:
        assert (await http.get(f"{gw.url}/health")).status == 200
        ready = await http.get(f"{gw.url}/ready")
        assert ready.status == 200 and (await ready.json())["status"] == "ready"
        assert gw.accounts is not None
        await gw.accounts.store.close()  # the database goes away
        ready = await http.get(f"{gw.url}/ready")
        assert ready.status == 503 and (await ready.json())["status"] == "database unavailable"
        gw.accepting = False
        ready = await http.get(f"{gw.url}/ready")
        assert ready.status == 503 and (await ready.json())["status"] == "draining"
    gw.accounts = None  # already closed


async def test_a_sessions_logs_carry_its_id_and_never_a_key_or_audio(tmp_path: Path) -> None:
    env = dict(os.environ, LIVEGATE_DATABASE_URL=f"sqlite:///{tmp_path}/ops.db")
    create = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livegate", "keys", "create", "--name", "logger", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await create.communicate()
    assert create.returncode == 0, err
    key = out.decode().strip()
    master = "sk-master-secret-for-logs"
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livegate", "serve", "--port", str(port), "--master-key", master, "--log-format", "json", "--log-level", "debug",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    audio = tone(0.5)
    chunks = [base64.b64encode(audio[i : i + 4800]).decode() for i in range(0, len(audio), 4800)]
    try:
        await wait_for_port(port)
        url = f"ws://127.0.0.1:{port}/v1/realtime?model=gemini-2.5-flash-native-audio-preview-12-2025"
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            session_id = json.loads(await ws.recv())["session"]["id"]
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}}))
            events = await audio_turn(ws, audio)
        deltas = [e["delta"] for e in events if e["type"] == "response.output_audio.delta"]
        assert deltas
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(url, additional_headers={"Authorization": f"Bearer {master}x"})
        await asyncio.sleep(0.3)  # the session's last lines
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), 10)
    lines = [json.loads(line) for line in output.decode().splitlines() if line.strip()]
    assert {"time", "level", "logger", "session", "message"} <= set(lines[0])
    mine = [line for line in lines if line["session"] == session_id]
    assert any("session started" in line["message"] for line in mine)
    assert any("session ended" in line["message"] for line in mine)
    # Every line the session caused carries its id: nothing from livegate.session lacks one.
    assert all(line["session"] == session_id for line in lines if line["logger"] == "livegate.session")
    text = output.decode()
    assert key not in text and master not in text
    assert key[:10] in text  # the prefix, as `keys list` shows it
    for chunk in [*chunks, *deltas]:
        assert chunk[:40] not in text


def test_the_lock_free_latency_histogram_reads_as_prometheus_clients_own() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from prometheus_client import CollectorRegistry, Histogram, generate_latest
    from prometheus_client.registry import Collector

    from livegate.gateway.metrics import LATENCY_BUCKETS, Latency

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.one_of(st.sampled_from(LATENCY_BUCKETS), st.floats(0, 1, allow_nan=False)), max_size=40))
    def same(values: list[float]) -> None:
        ours = Latency("lat_seconds", "doc", LATENCY_BUCKETS)
        theirs_registry, ours_registry = CollectorRegistry(), CollectorRegistry()
        theirs = Histogram("lat_seconds", "doc", buckets=LATENCY_BUCKETS, registry=theirs_registry)

        class Families(Collector):
            def collect(self):  # type: ignore[no-untyped-def]
                yield ours.family()

        ours_registry.register(Families())
        for value in values:  # a value on a bound counts in that bound's bucket (le)
            ours.observe(value)
            theirs.observe(value)
        # prometheus_client adds a _created sample of its own; everything else is the same text.
        expected = [line for line in generate_latest(theirs_registry).decode().splitlines() if "_created" not in line]
        assert generate_latest(ours_registry).decode().splitlines() == expected

    same()
