"""Before and at the upgrade: credentials in every place clients put them, the dialect, the
subprotocol a browser needs, and refusals as HTTP statuses with OpenAI-style bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
import websockets

from livegate.config import embedded_config
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway


@pytest.fixture
async def open_gateway() -> AsyncIterator[Gateway]:
    async with (
        EmulatorServer(EmulatorConfig(turn_complete_after_playback=False)) as emulator,
        Gateway(embedded_config(emulator.url), port=0) as gateway,
    ):
        yield gateway


@pytest.fixture
async def keyed_gateway() -> AsyncIterator[Gateway]:
    async with (
        EmulatorServer(EmulatorConfig(turn_complete_after_playback=False)) as emulator,
        Gateway(embedded_config(emulator.url), port=0, master_key="sk-master") as gateway,
    ):
        yield gateway


async def first_events(ws: websockets.ClientConnection, count: int) -> list[str]:
    return [json.loads(await ws.recv())["type"] for _ in range(count)]


async def test_browser_subprotocol_credentials_select_realtime_and_never_echo_the_key(keyed_gateway: Gateway) -> None:
    url = f"ws://127.0.0.1:{keyed_gateway.port}/v1/realtime?model=gpt-realtime"
    protocols = ["realtime", "openai-insecure-api-key.sk-master"]
    async with websockets.connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        assert await first_events(ws, 1) == ["session.created"]
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(url, subprotocols=["realtime", "openai-insecure-api-key.wrong"])  # type: ignore[list-item]
    assert refused.value.response.status_code == 401


async def test_beta_is_chosen_by_header_or_subprotocol(keyed_gateway: Gateway) -> None:
    url = f"ws://127.0.0.1:{keyed_gateway.port}/realtime?model=gpt-realtime"
    async with websockets.connect(url, additional_headers={"Authorization": "Bearer sk-master", "OpenAI-Beta": "realtime=v1"}) as ws:
        assert await first_events(ws, 2) == ["session.created", "conversation.created"]
    protocols = ["realtime", "openai-insecure-api-key.sk-master", "openai-beta.realtime-v1"]
    async with websockets.connect(url, subprotocols=protocols) as ws:  # type: ignore[arg-type]
        assert await first_events(ws, 2) == ["session.created", "conversation.created"]
    async with websockets.connect(url, additional_headers={"api-key": "sk-master"}) as ws:
        created = json.loads(await ws.recv())
        assert created["session"]["type"] == "realtime"


async def test_refusals_are_http_statuses_with_json_bodies(keyed_gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        missing = await http.get(f"{keyed_gateway.url}/v1/realtime", params={"model": "m"})
        assert missing.status == 401
        assert await missing.json() == {"error": {"message": "Missing API key: send Authorization: Bearer <key>.", "type": "invalid_request_error", "code": "missing_api_key", "param": None}}
        plain_get = await http.get(f"{keyed_gateway.url}/v1/realtime", params={"model": "m"}, headers={"Authorization": "Bearer sk-master"})
        assert plain_get.status == 400
        assert (await plain_get.json())["error"]["code"] == "invalid_request"


async def test_without_a_master_key_any_key_or_none_is_accepted(open_gateway: Gateway) -> None:
    url = f"ws://127.0.0.1:{open_gateway.port}/v1/realtime?model=anything"
    async with websockets.connect(url) as ws:
        assert await first_events(ws, 1) == ["session.created"]
    async with websockets.connect(url, additional_headers={"Authorization": "Bearer whatever"}) as ws:
        assert await first_events(ws, 1) == ["session.created"]


async def test_a_non_json_frame_gets_an_error_and_the_session_goes_on(open_gateway: Gateway) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{open_gateway.port}/v1/realtime?model=m") as ws:
        await ws.recv()
        await ws.send("this is not json")
        error = json.loads(await ws.recv())
        assert (error["type"], error["error"]["code"]) == ("error", "invalid_json")
        await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}))
        assert json.loads(await ws.recv())["type"] == "session.updated"
