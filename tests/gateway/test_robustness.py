"""Bad and slow clients, keepalives and shutdown, over real sockets (issue 7)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets

from livegate.config import Limits, embedded_config
from livegate.emulator.script import Fault, Scenario
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway


async def open_stack(limits: Limits | None = None, **emulator: object) -> AsyncIterator[tuple[EmulatorServer, Gateway]]:
    emulator.setdefault("turn_complete_after_playback", False)
    async with EmulatorServer(EmulatorConfig(**emulator)) as server:  # type: ignore[arg-type]
        config = embedded_config(server.url)
        if limits is not None:
            config.limits = limits
        async with Gateway(config, port=0) as gateway:
            yield server, gateway


def url(gateway: Gateway) -> str:
    return f"ws://127.0.0.1:{gateway.port}/v1/realtime?model=gpt-realtime"


async def text_turn(ws: websockets.ClientConnection, text: str) -> str:
    await ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}))
    await ws.send(json.dumps({"type": "response.create"}))
    said = ""
    while True:
        event = json.loads(await ws.recv())
        if event["type"] == "response.output_audio_transcript.delta":
            said += event["delta"]
        if event["type"] == "response.done":
            return said


def malformed(rng: random.Random) -> str:
    choices = [
        lambda: "".join(rng.choice('{}[]":,ab1') for _ in range(rng.randint(1, 30))),
        lambda: json.dumps({"type": rng.choice(["nope", "session.update", "conversation.item.create", "response.cancel", "input_audio_buffer.append"]), "event_id": "x", rng.choice(["session", "item", "audio", "response_id"]): rng.choice([1, "s", [], None, True, {"a": 1}])}),
        lambda: json.dumps([rng.random()]),
        lambda: json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": rng.choice(["x", "user"]), "content": rng.choice([[], "t", [{"type": "input_text"}]])}}),
        lambda: json.dumps({"type": "input_audio_buffer.append", "audio": "@@not base64@@"}),
    ]
    return rng.choice(choices)()


async def test_thousands_of_malformed_frames_are_each_answered_and_the_session_goes_on() -> None:
    async for _, gateway in open_stack():
        async with websockets.connect(url(gateway), max_size=None) as ws:
            await ws.recv()
            rng = random.Random(7)
            count = 2000
            for _ in range(count):
                await ws.send(malformed(rng))
            errors = 0
            while errors < count:
                event = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert event["type"] == "error", event
                errors += 1
            assert await text_turn(ws, "still fine") == "You said: still fine"


async def test_a_frame_over_the_configured_limit_is_refused_with_an_error() -> None:
    async for _, gateway in open_stack(Limits(max_frame_bytes=10_000)):
        async with websockets.connect(url(gateway), max_size=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 12_000}))
            error = json.loads(await ws.recv())["error"]
            assert error["code"] == "frame_too_large"
            assert await text_turn(ws, "after the big one") == "You said: after the big one"


async def test_graceful_shutdown_lets_sessions_finish_then_says_why() -> None:
    async for _, gateway in open_stack():
        async with websockets.connect(url(gateway)) as ws:
            await ws.recv()
            stopping = asyncio.create_task(gateway.stop(grace_s=1.0))
            await asyncio.sleep(0.2)
            # During the grace period the session still works, and newcomers are refused.
            assert await text_turn(ws, "one more") == "You said: one more"
            # The listening socket is closed: a newcomer is refused (a request already on its way gets a 503).
            with pytest.raises((OSError, websockets.InvalidStatus)):
                await websockets.connect(url(gateway))
            events = []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    events.append(json.loads(await ws.recv()))
            await stopping
    assert events[-1]["error"]["code"] == "server_shutdown"
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001


async def test_a_client_that_stops_reading_is_disconnected_and_costs_a_bounded_amount() -> None:
    async for _, gateway in open_stack(Limits(client_write_timeout_s=1.0)):
        # websockets stops reading the socket once its queue is full: from then on the gateway's writes block.
        async with websockets.connect(url(gateway), max_queue=1, max_size=None) as ws:
            for _ in range(6):
                await ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x" * 3000}]}}))
                await ws.send(json.dumps({"type": "response.create"}))
            await asyncio.sleep(4)
            assert not gateway._pumps  # the session is over...
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 5)


async def test_slow_pongs_from_gemini_are_tolerated() -> None:
    scenario = Scenario(faults=(Fault(when="setup", action="slow_pong", ms=300, repeat=True),))
    async for server, gateway in open_stack(Limits(upstream_ping_s=1.0), scenario=scenario):
        async with websockets.connect(url(gateway)) as ws:
            await ws.recv()
            assert await text_turn(ws, "ping") == "You said: ping"
            await asyncio.sleep(3)  # three pings, each answered 300 ms late (the pong may take 500 ms)
            assert await text_turn(ws, "pong") == "You said: pong"
        assert server.session().counters.connections == 1  # no reconnect was needed


async def test_region_failover_tries_the_next_vertex_location(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from openai import AsyncOpenAI

    from livegate.config import load_config

    caplog.set_level(logging.INFO, logger="livegate.session")
    async with EmulatorServer(EmulatorConfig(turn_complete_after_playback=False)) as server:
        key_file = tmp_path / "sa.json"
        server.write_service_account(key_file)
        config = tmp_path / "config.yaml"
        # gemini-live-2.5-flash-native-audio is not served on global (gemini-live.md §1.2): failover to us-central1.
        config.write_text(
            "model_list:\n  - model_name: voice\n    litellm_params:\n"
            "      model: vertex_ai/gemini-live-2.5-flash-native-audio\n      vertex_project: emulated-project\n"
            f"      vertex_location: [global, us-central1]\n      vertex_credentials: {key_file}\n      api_base: {server.http_url}\n"
        )
        async with Gateway(load_config(config), port=0) as gateway:
            client = AsyncOpenAI(api_key="any", websocket_base_url=gateway.ws_url)
            async with client.realtime.connect(model="voice") as connection:
                await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
                await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "where are you"}]})
                await connection.response.create()
                events = []
                async for event in connection:
                    events.append(event)
                    if event.type == "response.done":
                        break
        session = server.session()
    assert not [e for e in events if e.type == "error"]
    assert next(e.text for e in events if e.type == "response.output_text.done") == "You said: where are you"
    assert session.setup.raw["model"] == "projects/emulated-project/locations/us-central1/publishers/google/models/gemini-live-2.5-flash-native-audio"
    assert "upstream connection 1 in us-central1" in caplog.text
