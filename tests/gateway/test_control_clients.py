"""Conversation control with real clients over real sockets (issue 6): an Agents SDK tool, cancel,
truncate, delete, retrieve, manual turns, an image, and session.update mid-conversation."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimeRunner
from openai import AsyncOpenAI

from livegate.config import embedded_config
from livegate.emulator import voice
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway

TOOL_CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    TOOL_CALLS.append(city)
    return f"Sunny in {city}"


def png() -> str:
    """A real 1x1 PNG, as a data URL."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    body = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    body += chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(body).decode()


async def stack(**config: Any) -> AsyncIterator[tuple[EmulatorServer, AsyncOpenAI, Gateway]]:
    config.setdefault("turn_complete_after_playback", False)
    async with EmulatorServer(EmulatorConfig(**config)) as emulator, Gateway(embedded_config(emulator.url), port=0) as gateway:
        yield emulator, AsyncOpenAI(api_key="any", websocket_base_url=gateway.ws_url), gateway


@pytest.fixture
async def fast() -> AsyncIterator[tuple[EmulatorServer, AsyncOpenAI, Gateway]]:
    async for value in stack():
        yield value


@pytest.fixture
async def paced() -> AsyncIterator[tuple[EmulatorServer, AsyncOpenAI, Gateway]]:
    async for value in stack(audio_pace=1.0, latency_ms=200):
        yield value


async def until(connection: Any, kind: str, limit: float = 10) -> list[Any]:
    events = []
    async with asyncio.timeout(limit):
        async for event in connection:
            events.append(event)
            if event.type == kind:
                return events
    raise AssertionError(kind)


async def user(connection: Any, text: str) -> None:
    await connection.conversation.item.create(item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})


async def test_agents_sdk_runs_a_function_tool_end_to_end(fast: tuple[EmulatorServer, AsyncOpenAI, Gateway]) -> None:
    emulator, _, gateway = fast
    TOOL_CALLS.clear()
    agent = RealtimeAgent(name="assistant", instructions="Use your tools.", tools=[get_weather])
    session = await RealtimeRunner(agent).run(model_config={"url": f"{gateway.ws_url}/realtime?model=gemini-2.5-flash-native-audio-preview-12-2025", "api_key": "any"})
    transcripts: list[str] = []
    async with session:
        await session.send_message("What is the weather? get_weather city=Paris")
        async with asyncio.timeout(20):
            async for event in session:
                assert event.type != "error", event
                if event.type == "history_updated":
                    transcripts = [
                        getattr(part, "transcript", None) or ""
                        for item in event.history
                        if getattr(item, "role", None) == "assistant"
                        for part in item.content
                    ]
                if any("Sunny in Paris" in t for t in transcripts):
                    break
    assert TOOL_CALLS == ["Paris"]  # called with the right arguments
    history = emulator.session().history
    assert history[-2].function_responses[0]["response"] == {"output": "Sunny in Paris"}  # its output reached Gemini
    assert any(t == 'Here is what I found: get_weather returned {"output":"Sunny in Paris"}.' for t in transcripts)  # the reply uses it


async def test_cancel_during_a_text_reply(paced: tuple[EmulatorServer, AsyncOpenAI, Gateway]) -> None:
    _, client, _ = paced
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await user(connection, "tell me everything")
        await connection.response.create()
        created = (await until(connection, "response.created"))[-1].response
        await connection.response.cancel()
        done = (await until(connection, "response.done"))[-1].response
        assert (done.id, done.status, done.status_details.reason) == (created.id, "cancelled", "client_cancelled")
        await connection.response.cancel(event_id="again")
        error = (await until(connection, "error"))[-1].error
        assert (error.code, error.event_id) == ("response_cancel_not_active", "again")
        await user(connection, "next")
        await connection.response.create()
        after = await until(connection, "response.done")
    assert not [e for e in after if getattr(e, "response_id", None) == created.id]
    assert after[-1].response.status == "completed"


async def test_cancel_during_audio_and_truncate_what_was_played(paced: tuple[EmulatorServer, AsyncOpenAI, Gateway]) -> None:
    _, client, _ = paced
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await user(connection, "a long story please")
        await connection.response.create()
        events = await until(connection, "response.output_audio.delta")
        item_id = events[-1].item_id
        await asyncio.sleep(0.3)
        await connection.response.cancel()
        events += await until(connection, "response.done")
        assert events[-1].response.status == "cancelled"
        played = sum(len(base64.b64decode(e.delta)) for e in events if e.type == "response.output_audio.delta") / 48
        spoken = events[-1].response.output[0].content[0].transcript
        await connection.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=100)
        truncated = (await until(connection, "conversation.item.truncated"))[-1]
        assert (truncated.item_id, truncated.audio_end_ms) == (item_id, 100)
        await connection.conversation.item.retrieve(item_id=item_id)
        retrieved = (await until(connection, "conversation.item.retrieved"))[-1].item
        # The transcript is cut in proportion to the audio the client says it played.
        assert retrieved.content[0].transcript == spoken[: round(len(spoken) * 100 / played)]
        assert len(retrieved.content[0].transcript) < len(spoken)
        await connection.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=int(played) + 10_000, event_id="too-far")
        error = (await until(connection, "error"))[-1].error
        assert (error.code, error.param, error.event_id) == ("invalid_value", "audio_end_ms", "too-far")


async def test_delete_and_retrieve(fast: tuple[EmulatorServer, AsyncOpenAI, Gateway]) -> None:
    _, client, _ = fast
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await connection.conversation.item.create(item={"id": "keep", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "keep me"}]})
        await connection.conversation.item.create(item={"id": "drop", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "drop me"}]})
        await connection.conversation.item.delete(item_id="drop")
        deleted = (await until(connection, "conversation.item.deleted"))[-1]
        assert deleted.item_id == "drop"
        await connection.conversation.item.retrieve(item_id="keep")
        assert (await until(connection, "conversation.item.retrieved"))[-1].item.content[0].text == "keep me"
        await connection.conversation.item.retrieve(item_id="drop", event_id="rci_drop")
        error = (await until(connection, "error"))[-1].error
        assert (error.code, error.event_id) == ("item_retrieve_invalid_item_id", "rci_drop")
        await connection.response.create()
        await until(connection, "response.done")


async def test_manual_commit_and_clear(fast: tuple[EmulatorServer, AsyncOpenAI, Gateway]) -> None:
    emulator, client, _ = fast
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}})
        await connection.input_audio_buffer.append(audio=base64.b64encode(voice.speak("forget this", 24000)).decode())
        await connection.input_audio_buffer.clear()
        await until(connection, "input_audio_buffer.cleared")
        await connection.input_audio_buffer.append(audio=base64.b64encode(voice.speak("manual turn", 24000)).decode())
        await connection.input_audio_buffer.commit()
        await until(connection, "input_audio_buffer.committed")
        await connection.response.create()
        events = await until(connection, "response.done")
    assert next(e.text for e in events if e.type == "response.output_text.done") == "You said: manual turn"
    assert emulator.session().history[0].text == "manual turn"


async def test_an_image_turn_reaches_gemini_as_video(fast: tuple[EmulatorServer, AsyncOpenAI, Gateway]) -> None:
    emulator, client, _ = fast
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await connection.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": png()}, {"type": "input_text", "text": "what is this"}]}
        )
        await connection.response.create()
        events = await until(connection, "response.done")
    assert emulator.session().counters.video_frames == 1
    assert events[-1].response.usage.input_token_details.image_tokens == 258


async def test_session_update_mid_conversation_keeps_the_conversation(fast: tuple[EmulatorServer, AsyncOpenAI, Gateway]) -> None:
    emulator, client, _ = fast
    weather = {"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    async with client.realtime.connect(model="gemini-2.5-flash-native-audio-preview-12-2025") as connection:
        await connection.session.update(session={"type": "realtime", "output_modalities": ["text"], "instructions": "First rules."})
        await user(connection, "my name is Ada")
        await connection.response.create()
        await until(connection, "response.done")
        await connection.session.update(session={"type": "realtime", "instructions": "Second rules.", "tools": [weather]})
        updated = (await until(connection, "session.updated"))[-1].session
        assert updated.instructions == "Second rules."
        await user(connection, "still there?")
        await connection.response.create()
        events = await until(connection, "response.done")
    assert next(e.text for e in events if e.type == "response.output_text.done") == "You said: still there?"
    session = emulator.session()
    assert session.setup.system_instruction == "Second rules."  # the new setup...
    assert [f.name for f in session.setup.functions] == ["get_weather"]
    assert [h.text for h in session.history][:2] == ["my name is Ada", "You said: my name is Ada"]  # ...and the old turns
    assert session.counters.resumptions == 1


@pytest.mark.parametrize("model", ["gpt-realtime", "gemini-2.5-flash-native-audio-preview-12-2025"], ids=["3.8-default", "2.5"])
async def test_agents_sdk_tool_turn_at_real_timing_is_one_agent_turn_per_response(model: str) -> None:
    """The Agents SDK answers the tool the instant response.done arrives, while Gemini's turnComplete is
    still to come (it waits for the playback of the speech before the call): no empty turn, no agent_end
    between two agent_starts, and the answer in the response the SDK asked for."""
    TOOL_CALLS.clear()
    seen: list[str] = []
    answers: list[str] = []
    tool_responses = 0
    async for emulator, _, gateway in stack(turn_complete_after_playback=True):
        agent = RealtimeAgent(name="assistant", instructions="Use your tools.", tools=[get_weather])
        session = await RealtimeRunner(agent).run(model_config={"url": f"{gateway.ws_url}/realtime?model={model}", "api_key": "any"})
        async with session:
            await session.send_message("What is the weather? get_weather city=Paris")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(20) as limit:
                    await watch(session, seen, answers, limit)
        tool_responses = emulator.session().counters.tool_responses
    assert TOOL_CALLS == ["Paris"]
    # The first response holds the call (after the speech before it, on 3.8); the second the answer.
    first = "done:2" if model == "gpt-realtime" else "done:1"
    assert seen == ["created", "agent_start", first, "agent_end", "tool_start", "tool_end", "created", "agent_start", "done:1", "agent_end"], seen
    assert any("Here is what I found" in a for a in answers)
    assert tool_responses == 1


async def watch(session: Any, seen: list[str], answers: list[str], limit: asyncio.Timeout) -> None:
    """Record the responses and the agent's turns; once the answer is in, one more second of them (Gemini's
    late turnComplete comes then: nothing more may follow)."""
    async for event in session:
        assert event.type != "error", event
        if event.type == "raw_model_event" and getattr(event.data, "type", "") == "raw_server_event":
            raw = event.data.data
            if raw.get("type") == "response.done":
                seen.append(f"done:{len(raw['response']['output'])}")
                answers += [p.get("transcript") or "" for item in raw["response"]["output"] if item["type"] == "message" for p in item["content"]]
                if any("Here is what I found" in a for a in answers):
                    limit.reschedule(asyncio.get_running_loop().time() + 1.0)
            elif raw.get("type") == "response.created":
                seen.append("created")
        elif event.type in ("agent_start", "agent_end", "tool_start", "tool_end"):
            seen.append(event.type)
