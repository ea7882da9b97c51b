"""Migrating from LiteLLM (issue 12): LiteLLM answers every user item at once, OpenAI only on
response.create. ``respond_to_user_items`` gives LiteLLM's behaviour to clients written for it, per
deployment or for the whole gateway; without it, a user item left waiting gets a hint in the log."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets

from livegate.config import load_config
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway
from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from tests.bridge import Bridge, types

SEED_CLIENT = Path(__file__).parent / "seeds" / "litellm_websocket_client.py"


def config_file(tmp_path: Path, emulator: EmulatorServer, *, gateway_wide: str = "", deployment: str = "") -> Path:
    key_file = tmp_path / "sa.json"
    emulator.write_service_account(key_file, project="your-gcp-project-id")
    path = tmp_path / "config.yaml"
    path.write_text(
        f"""
model_list:
  - model_name: vertex-gemini-live
    litellm_params:
      model: vertex_ai/gemini-live-2.5-flash
      vertex_project: your-gcp-project-id
      vertex_location: us-central1
      vertex_credentials: {key_file}
      api_base: {emulator.http_url}
{deployment}
general_settings:
  master_key: sk-your-key
{gateway_wide}
"""
    )
    return path


@pytest.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(EmulatorConfig()) as server:
        yield server


async def run_seed_client(gateway: Gateway) -> str:
    source = SEED_CLIENT.read_text().replace("ws://localhost:4000", gateway.ws_url.removesuffix("/v1"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", source, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, output.decode()
    return output.decode()


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"gateway_wide": "  respond_to_user_items: true"}, id="general_settings"),
        pytest.param({"deployment": "      respond_to_user_items: true"}, id="deployment"),
    ],
)
async def test_the_seed_litellm_client_gets_its_reply_with_the_setting(
    tmp_path: Path, emulator: EmulatorServer, where: dict[str, str]
) -> None:
    async with Gateway(load_config(config_file(tmp_path, emulator, **where)), port=0) as gateway:
        output = await run_seed_client(gateway)
    assert output.startswith("session.created: sess_")
    assert output.rstrip().endswith("[done]")
    session = next(iter(emulator.state.sessions.values()))
    assert [h.text for h in session.history] == ["Say hello in one sentence.", "You said: Say hello in one sentence."]


async def test_without_the_setting_a_waiting_user_item_is_hinted_at_in_the_log(
    tmp_path: Path, emulator: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="livegate.session")
    async with Gateway(load_config(config_file(tmp_path, emulator)), port=0) as gateway:
        url = gateway.ws_url.removesuffix("/v1") + "/realtime?model=vertex-gemini-live"
        async with websockets.connect(url, additional_headers={"api-key": "sk-your-key"}) as ws:
            await ws.recv()
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            seen = []
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(6):
                    async for raw in ws:
                        seen.append(json.loads(raw)["type"])
            assert "response.created" not in seen  # OpenAI's semantics: no response without response.create
    hints = [r.getMessage() for r in caplog.records if "respond_to_user_items" in r.getMessage()]
    assert len(hints) == 1, hints


def test_the_setting_answers_user_messages_and_tool_outputs_without_response_create() -> None:
    b = Bridge(UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live"))
    b.translator.respond_to_user_items = True
    b.pump()
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    b.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "tools": [tool]}})
    b.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "get_weather in Paris"}]}})
    b.pump(2)
    call = next(e["item"] for e in b.events if e["type"] == "response.output_item.done" and e["item"]["type"] == "function_call")
    b.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call["call_id"], "output": "{}"}})
    b.pump(5)
    done = [e["response"] for e in b.events if e["type"] == "response.done"]
    assert len(done) == 2 and types(b.events).count("response.created") == 2
    assert "Here is what I found" in done[1]["output"][0]["content"][0]["text"]
    assert b.translator.notices == []


def test_a_user_item_left_waiting_is_hinted_at_once() -> None:
    b = Bridge()
    b.pump()
    b.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})
    b.pump(4.9)
    assert b.translator.notices == []
    b.pump(0.2)
    assert len(b.translator.notices) == 1 and "respond_to_user_items: true" in b.translator.notices[0]
    b.translator.notices.clear()
    b.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})
    b.pump(10)
    assert b.translator.notices == []  # once a session
