"""The emulator on real sockets (127.0.0.1), driven by a raw WebSocket client: every misbehaviour
gets the real service's close code, pings are answered (late when told to), faults reach the wire."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import websockets
from google.auth.transport.requests import Request
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from livegate.emulator.script import Fault, Scenario
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.errors import close_reason

STUDIO_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
VERTEX_PATH = "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent"
SETUP = json.dumps({"setup": {"model": "models/gemini-3.8-live"}})


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(EmulatorConfig(turn_complete_after_playback=False)) as server:
        yield server


async def closed_with(emulator: EmulatorServer, *frames: str) -> tuple[int, str]:
    async with websockets.connect(emulator.url + STUDIO_PATH + "?key=k") as ws:
        for frame in frames:
            await ws.send(frame)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


@pytest.mark.parametrize(
    ("frames", "code", "reason"),
    [
        (['{"realtimeInput": {"text": "hi"}}'], 1007, "Setup must be the first message and only the first."),
        ([SETUP, SETUP], 1007, "Setup must be the first message and only the first."),
        (['{"setup": {"model": "models/gemini-3.8-live"}, "realtimeInput": {}}'], 1007, "Invalid JSON payload received. Oneof field 'message_type' is already set. Cannot set 'realtimeInput'"),
        (["{"], 1007, "Invalid JSON payload received. Unexpected token."),
        (
            ['{"setup": {"model": "models/nope"}}'],
            1008,
            close_reason(
                "models/nope is not found for API version v1beta, or is not supported for bidiGenerateContent. "
                "Call ListModels to see the list of available models and their supported methods."
            ),
        ),
    ],
)
async def test_protocol_errors_close_with_real_codes(emulator: EmulatorServer, frames: list[str], code: int, reason: str) -> None:
    assert await closed_with(emulator, *frames) == (code, reason)


async def test_frames_are_binary_pretty_json(emulator: EmulatorServer) -> None:
    async with websockets.connect(emulator.url + "//" + STUDIO_PATH.lstrip("/"), additional_headers={"x-goog-api-key": "k"}) as ws:
        await ws.send(SETUP)
        assert await ws.recv() == b'{\n  "setupComplete": {}\n}\n'


async def test_unknown_path_is_a_404_before_the_upgrade(emulator: EmulatorServer) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(emulator.url + "/ws/elsewhere")
    assert refused.value.response.status_code == 404


async def test_pings_are_answered_and_can_be_slow(emulator: EmulatorServer) -> None:
    async with websockets.connect(emulator.url + STUDIO_PATH + "?key=k", ping_interval=None) as ws:
        await ws.send(SETUP)
        await ws.recv()
        started = time.monotonic()
        await asyncio.wait_for(await ws.ping(), 2)
        assert time.monotonic() - started < 0.5
    slow = EmulatorConfig(scenario=Scenario(faults=(Fault(when="setup", action="slow_pong", ms=400),)))
    async with EmulatorServer(slow) as server, websockets.connect(server.url + STUDIO_PATH + "?key=k", ping_interval=None) as ws:
        await ws.send(SETUP)
        await ws.recv()
        started = time.monotonic()
        await asyncio.wait_for(await ws.ping(), 3)
        assert time.monotonic() - started >= 0.4


async def test_a_dropped_connection_has_no_close_frame() -> None:
    config = EmulatorConfig(scenario=Scenario(faults=(Fault(when="seconds", at=0.2, action="drop"),)))
    async with EmulatorServer(config) as server, websockets.connect(server.url + STUDIO_PATH + "?key=k") as ws:
        await ws.send(SETUP)
        await ws.recv()
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await asyncio.wait_for(ws.recv(), 3)
        assert closed.value.rcvd is None


async def test_counters_are_served_for_out_of_process_tests(emulator: EmulatorServer) -> None:
    async with websockets.connect(emulator.url + VERTEX_PATH, additional_headers={"Authorization": "Bearer " + emulator.state.issue_access_token(time.time())[0]}) as ws:
        await ws.send(json.dumps({"setup": {"model": "projects/p/locations/us-central1/publishers/google/models/gemini-live-2.5-flash-native-audio"}}))
        await ws.recv()
        await ws.send(json.dumps({"realtimeInput": {"audio": {"data": "AAAAAA==", "mimeType": "audio/pcm;rate=24000"}}}))
        await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http:
            sessions = await (await http.get(emulator.http_url + "/emulator/sessions")).json()
            one = await (await http.get(emulator.http_url + f"/emulator/sessions/{sessions[0]['id']}")).json()
            missing = await http.get(emulator.http_url + "/emulator/sessions/none")
    assert one["counters"]["audio_bytes_by_rate"] == {"24000": 4}
    assert one["flavour"] == "vertex" and one["counters"]["client_messages"] == 1
    assert missing.status == 404


async def test_google_auth_service_account_and_user_flows_reach_the_token_endpoint(emulator: EmulatorServer, tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    emulator.write_service_account(key_file)
    sa = service_account.Credentials.from_service_account_file(str(key_file), scopes=["https://www.googleapis.com/auth/cloud-platform"])
    user = user_credentials.Credentials(
        None, refresh_token="r", client_id="c", client_secret="s", token_uri=emulator.http_url + "/token"
    )
    for creds in (sa, user):
        await asyncio.to_thread(creds.refresh, Request())
        assert emulator.state.access_token_valid(creds.token, time.time())


async def test_auth_tokens_endpoint_refuses_a_bad_key_and_bad_json() -> None:
    async with EmulatorServer(EmulatorConfig(api_key="real")) as server, aiohttp.ClientSession() as http:
        bad_key = await http.post(server.http_url + "/v1alpha/auth_tokens", json={}, headers={"x-goog-api-key": "fake"})
        bad_json = await http.post(server.http_url + "/v1alpha/auth_tokens?key=real", data=b"{", headers={"content-type": "application/json"})
        good = await http.post(server.http_url + "/v1alpha/auth_tokens?key=real", json={"uses": 0})
        assert (bad_key.status, bad_json.status, good.status) == (400, 400, 200)
        assert (await good.json())["name"].startswith("auth_tokens/")


async def test_injected_go_away_and_turns_over_the_wire(emulator: EmulatorServer) -> None:
    async with websockets.connect(emulator.url + STUDIO_PATH + "?key=k") as ws:
        await ws.send(json.dumps({"setup": {"model": "models/gemini-3.8-live", "sessionResumption": {}}}))
        assert json.loads(await ws.recv()) == {"setupComplete": {}}
        assert "newHandle" in json.loads(await ws.recv())["sessionResumptionUpdate"]
        assert emulator.inject(Fault(when="seconds", action="go_away", time_left_s=0.2))
        assert json.loads(await ws.recv()) == {"goAway": {"timeLeft": "0.200s"}}
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 2)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    assert not emulator.inject(Fault(when="seconds", action="drop"))
