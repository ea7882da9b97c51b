"""The config.yaml of seed 000 (LiteLLM's Vertex AI Gemini Live page) starts `livegate serve` as it is,
with only `api_base` added to reach the emulator; credentials come from application default
credentials, as the seed says (GOOGLE_APPLICATION_CREDENTIALS)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import websockets
from openai import AsyncOpenAI

from livegate.emulator.server import EmulatorServer
from tests.net import free_port, wait_for_port

SEED_CONFIG = """\
model_list:
  - model_name: vertex-gemini-live
    litellm_params:
      model: vertex_ai/gemini-2.0-flash-live-001
      vertex_project: your-gcp-project-id
      vertex_location: us-east4 # or any supported region, or "global"
      api_base: {api_base}
general_settings:
  master_key: sk-your-key
"""


async def test_the_seed_config_starts_the_gateway_and_reaches_vertex(tmp_path: Path) -> None:
    async with EmulatorServer() as emulator:
        key_file = tmp_path / "sa-key.json"
        emulator.write_service_account(key_file, project="your-gcp-project-id")
        config = tmp_path / "config.yaml"
        config.write_text(SEED_CONFIG.format(api_base=emulator.http_url))
        port = free_port()
        env = dict(os.environ, GOOGLE_APPLICATION_CREDENTIALS=str(key_file))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "livegate", "serve", "--config", str(config), "--port", str(port),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            await wait_for_port(port)
            client = AsyncOpenAI(api_key="sk-your-key", websocket_base_url=f"ws://127.0.0.1:{port}/v1")
            async with client.realtime.connect(model="vertex-gemini-live") as connection:
                assert (await connection.recv()).type == "session.created"
                await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
                await connection.conversation.item.create(
                    item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
                )
                await connection.response.create()
                events = []
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    async for event in connection:
                        events.append(event)
        finally:
            process.terminate()
            output, _ = await asyncio.wait_for(process.communicate(), 10)
    # The real service retired gemini-2.0-flash-live-001 (gemini-live.md §10): Vertex refuses it with
    # 1008, which reaches the client as a failed response, an error event with Google's reason, and a close.
    done = next(e for e in events if e.type == "response.done")
    assert done.response.status == "failed"
    error = next(e for e in events if e.type == "error")
    assert error.error.code == "upstream_closed_1008"
    assert "Publisher model `projects/your-gcp-project-id/locations/us-east4/publishers/google/models/gemini-2.0-flash-live-001` was no" in error.error.message  # Google cuts reasons at 123 bytes
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    log = output.decode()
    assert "model vertex-gemini-live -> vertex/gemini-2.0-flash-live-001" in log
    assert len(emulator.state.access_tokens) == 1  # the ADC service account was exchanged for a token


async def test_the_same_config_with_a_live_model_answers(tmp_path: Path) -> None:
    async with EmulatorServer() as emulator:
        key_file = tmp_path / "sa-key.json"
        emulator.write_service_account(key_file, project="your-gcp-project-id")
        config = tmp_path / "config.yaml"
        text = SEED_CONFIG.format(api_base=emulator.http_url).replace("gemini-2.0-flash-live-001", "gemini-live-2.5-flash")
        config.write_text(text.replace("us-east4", "us-central1"))
        port = free_port()
        env = dict(os.environ, GOOGLE_APPLICATION_CREDENTIALS=str(key_file))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "livegate", "serve", "--config", str(config), "--port", str(port),
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await wait_for_port(port)
            async with websockets.connect(
                f"ws://127.0.0.1:{port}/realtime?model=vertex-gemini-live", additional_headers={"api-key": "sk-your-key"}
            ) as ws:
                import json

                assert json.loads(await ws.recv())["type"] == "session.created"
                await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}))
                await ws.send(json.dumps({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello in one sentence."}]}}))
                await ws.send(json.dumps({"type": "response.create"}))
                text_out = ""
                while True:
                    event = json.loads(await ws.recv())
                    if event["type"] == "response.output_text.delta":
                        text_out += event["delta"]
                    if event["type"] == "response.done":
                        break
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)
    assert text_out == "You said: Say hello in one sentence."
