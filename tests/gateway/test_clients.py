"""Real OpenAI clients through the gateway to the emulator, over real sockets on 127.0.0.1: the
openai SDK in both dialects and the OpenAI Agents SDK, on the Vertex and the AI Studio paths."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agents.realtime import RealtimeAgent, RealtimeRunner
from openai import AsyncOpenAI

from livegate.config import load_config
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway

MASTER_KEY = "sk-livegate-test"


@dataclass
class Stack:
    emulator: EmulatorServer
    gateway: Gateway

    def client(self, key: str = MASTER_KEY) -> AsyncOpenAI:
        return AsyncOpenAI(api_key=key, base_url=self.gateway.url + "/v1", websocket_base_url=self.gateway.ws_url)


def write_config(tmp_path: Path, emulator: EmulatorServer) -> Path:
    key_file = tmp_path / "sa.json"
    emulator.write_service_account(key_file, project="vertex-proj", quota_project="billing-proj")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
model_list:
  - model_name: vertex-live
    litellm_params:
      model: vertex_ai/gemini-live-2.5-flash
      vertex_project: vertex-proj
      vertex_location: us-central1
      vertex_credentials: {key_file}
      api_base: {emulator.http_url}
  - model_name: gpt-realtime
    litellm_params:
      model: gemini/gemini-3.8-live
      api_key: os.environ/TEST_GEMINI_KEY
      api_base: {emulator.http_url}
general_settings:
  master_key: {MASTER_KEY}
"""
    )
    return config


@pytest.fixture
async def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    monkeypatch.setenv("TEST_GEMINI_KEY", "studio-key")
    emulator_config = EmulatorConfig(api_key="studio-key", turn_complete_after_playback=False)
    async with EmulatorServer(emulator_config) as emulator:
        config = load_config(write_config(tmp_path, emulator))
        async with Gateway(config, port=0) as gateway:
            yield Stack(emulator, gateway)


MODELS = [pytest.param("vertex-live", id="vertex"), pytest.param("gpt-realtime", id="ai_studio")]


async def text_turn(connection: Any, text: str, *, beta: bool) -> tuple[str, Any, list[str]]:
    await connection.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    await connection.response.create(response={"metadata": {"turn": "1"}})
    said, seen = "", []
    delta = "response.text.delta" if beta else "response.output_text.delta"
    async for event in connection:
        seen.append(event.type)
        if event.type == delta:
            said += event.delta
        if event.type == "response.done":
            return said, event.response, seen
    raise AssertionError("no response.done")


@pytest.mark.parametrize("model", MODELS)
async def test_openai_sdk_ga_text_turn(stack: Stack, model: str) -> None:
    async with stack.client().realtime.connect(model=model) as connection:
        created = await connection.recv()
        assert created.type == "session.created"
        assert created.session.type == "realtime"
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"], "instructions": "Be brief."})
        updated = await connection.recv()
        assert updated.type == "session.updated"
        assert updated.session.output_modalities == ["text"]
        said, response, seen = await text_turn(connection, "hello from GA", beta=False)
    assert said == "You said: hello from GA"
    assert response.status == "completed"
    assert response.metadata == {"turn": "1"}
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert "conversation.item.created" not in seen
    assert seen[:3] == ["conversation.item.added", "conversation.item.done", "response.created"]
    setup = stack.emulator.session().setup
    assert setup.system_instruction == "Be brief."


@pytest.mark.parametrize("model", MODELS)
async def test_openai_sdk_beta_text_turn(stack: Stack, model: str) -> None:
    async with stack.client().beta.realtime.connect(model=model) as connection:
        created = await connection.recv()
        assert created.type == "session.created"
        assert (await connection.recv()).type == "conversation.created"
        await connection.session.update(session={"modalities": ["text"], "instructions": "Be brief.", "temperature": 0.7})
        updated = await connection.recv()
        assert updated.session.modalities == ["text"]
        assert updated.session.temperature == 0.7
        said, response, seen = await text_turn(connection, "hello from beta", beta=True)
    assert said == "You said: hello from beta"
    assert response.status == "completed"
    assert "conversation.item.added" not in seen
    assert seen[0] == "conversation.item.created"
    assert stack.emulator.session().setup.raw["generationConfig"]["temperature"] == 0.7


@pytest.mark.parametrize("model", MODELS)
async def test_agents_sdk_text_turn(stack: Stack, model: str) -> None:
    agent = RealtimeAgent(name="assistant", instructions="Answer briefly.")
    runner = RealtimeRunner(agent)
    session = await runner.run(
        model_config={"url": f"{stack.gateway.ws_url}/realtime?model={model}", "api_key": MASTER_KEY}
    )
    transcript = ""
    errors: list[Any] = []
    async with session:
        await session.send_message("hello agents")
        async with asyncio.timeout(20):
            async for event in session:
                if event.type == "error":
                    errors.append(event.error)
                if event.type == "history_updated":
                    for item in event.history:
                        if getattr(item, "role", None) == "assistant":
                            for part in item.content:
                                transcript = getattr(part, "transcript", None) or getattr(part, "text", None) or transcript
                if event.type == "agent_end":
                    break
    assert errors == []
    assert transcript == "You said: hello agents"
    assert stack.emulator.session().setup.system_instruction == "Answer briefly."


async def test_vertex_path_uses_the_service_account_token_and_quota_project(stack: Stack) -> None:
    async with stack.client().realtime.connect(model="vertex-live") as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await text_turn(connection, "token please", beta=False)
    session = stack.emulator.session()
    assert session.flavour.value == "vertex"
    assert session.setup.raw["model"] == "projects/vertex-proj/locations/us-central1/publishers/google/models/gemini-live-2.5-flash"
    assert session.setup.modalities == ("TEXT",)  # a half-cascade model answers in text
    assert len(stack.emulator.state.access_tokens) == 1


async def test_a_wrong_key_or_model_is_refused_before_the_upgrade(stack: Stack) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        url = f"{stack.gateway.url}/v1/realtime"
        bad_key = await http.get(url, params={"model": "gpt-realtime"}, headers={"Authorization": "Bearer nope", "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"})
        assert bad_key.status == 401
        assert (await bad_key.json())["error"]["code"] == "invalid_api_key"
        no_model = await http.get(url, headers={"Authorization": f"Bearer {MASTER_KEY}"})
        assert no_model.status == 400
        unknown = await http.get(url, params={"model": "gpt-4o"}, headers={"api-key": MASTER_KEY})
        assert unknown.status == 404
        assert (await unknown.json())["error"]["code"] == "model_not_found"


async def test_the_quota_project_of_the_credentials_reaches_vertex(stack: Stack) -> None:
    async with stack.client().realtime.connect(model="vertex-live") as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await text_turn(connection, "quota", beta=False)
    assert stack.emulator.session().user_project == "billing-proj"


async def test_tokens_are_reused_until_close_to_expiry_then_refreshed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_GEMINI_KEY", "studio-key")
    for ttl, expected_tokens in ((3600, 1), (120, 2)):
        # A token that expires within the refresh margin (five minutes) is refreshed before use.
        emulator_config = EmulatorConfig(api_key="studio-key", turn_complete_after_playback=False, access_token_ttl_s=ttl)
        async with EmulatorServer(emulator_config) as emulator:
            async with Gateway(load_config(write_config(tmp_path, emulator)), port=0) as gateway:
                client = Stack(emulator, gateway).client()
                for _ in range(2):
                    async with client.realtime.connect(model="vertex-live") as connection:
                        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
                        await text_turn(connection, "again", beta=False)
            assert len(emulator.state.access_tokens) == expected_tokens


async def test_an_unreachable_upstream_fails_the_response_and_closes_with_1011(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        f"model_list: [{{model_name: m, litellm_params: {{model: gemini/gemini-3.8-live, api_key: k, api_base: 'http://127.0.0.1:{dead_port}'}}}}]"
    )
    async with Gateway(load_config(config_file), port=0) as gateway:
        client = AsyncOpenAI(api_key="x", websocket_base_url=gateway.ws_url)
        async with client.realtime.connect(model="m") as connection:
            await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]})
            await connection.response.create()
            events = []
            import websockets

            with pytest.raises(websockets.ConnectionClosed) as closed:
                async for event in connection:
                    events.append(event)
    error = next(e for e in events if e.type == "error")
    assert error.error.code == "upstream_closed_1011"
    assert "cannot reach Gemini Live at ws://127.0.0.1:" in error.error.message
    assert next(e for e in events if e.type == "response.done").response.status == "failed"
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1011
