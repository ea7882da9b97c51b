"""LiveKit's OpenAI realtime plugin (livekit-plugins-openai) through the gateway to the emulator, over
real sockets on 127.0.0.1, with the emulator on the real service's timing (turnComplete after the
reply's audio has played out). The plugin's RealtimeSession is driven the way LiveKit's AgentActivity
drives it, without a LiveKit room or server: chat context and tools pushed with update_chat_ctx and
update_tools, replies asked for with generate_reply(), and a tool's output sent back, once the
generation that called it is done, as update_chat_ctx plus generate_reply()."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from livekit.agents import llm
from livekit.plugins.openai.realtime import RealtimeModel, RealtimeSession

from livegate.config import Deployment, GatewayConfig
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway
from livegate.gemini.models import DEFAULT_MODEL, Flavour
from livegate.gemini.route import UpstreamRoute

NATIVE_AUDIO_25 = "gemini-2.5-flash-native-audio-preview-12-2025"
# The name the client asks for, and the Gemini Live model the gateway serves it with.
ROUTES = {"gpt-realtime": DEFAULT_MODEL, NATIVE_AUDIO_25: NATIVE_AUDIO_25}
MODELS = [pytest.param("gpt-realtime", id=DEFAULT_MODEL), pytest.param(NATIVE_AUDIO_25, id=NATIVE_AUDIO_25)]
# LiveKit's default is ["text", "audio"] (output_modalities ["audio"], the text from the transcript).
MODALITIES = [pytest.param(["text"], id="text"), pytest.param(["text", "audio"], id="audio")]
LIMIT_S = 20.0  # the plugin gives up on generate_reply() after 10 s; this bounds the rest
SETTLE_S = 0.5  # after the last reply, how long an unrequested response has to show up


@llm.function_tool
async def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


@dataclass
class Stack:
    emulator: EmulatorServer
    gateway: Gateway
    http: aiohttp.ClientSession


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    # turn_complete_after_playback is the real service's timing (and EmulatorConfig's default);
    # test_control_clients.stack() turns it off, so this builds its own.
    async with EmulatorServer(EmulatorConfig(api_key="studio-key", turn_complete_after_playback=True)) as emulator:
        deployments = {
            name: Deployment(name, UpstreamRoute(Flavour.AI_STUDIO, model_id), api_key="studio-key", api_base=emulator.url)
            for name, model_id in ROUTES.items()
        }
        config = GatewayConfig(deployments=deployments, source="(test_livekit)")
        async with Gateway(config, port=0) as gateway, aiohttp.ClientSession() as http:
            yield Stack(emulator, gateway, http)


@dataclass
class Watch:
    """What the session reported besides the futures: every generation, every error, and every raw
    server event (for the failure messages)."""

    generations: list[llm.GenerationCreatedEvent] = field(default_factory=list)
    errors: list[llm.RealtimeModelError] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def trace(self) -> str:
        """The server events that make up the conversation, one a line."""
        lines = []
        for event in self.events:
            kind = event["type"]
            if kind in ("response.created", "response.done"):
                lines.append(f"{kind} {event['response'].get('id')} {event['response'].get('status')}")
            elif kind in ("response.output_item.added", "response.output_item.done", "conversation.item.added"):
                item = event.get("item", {})
                lines.append(f"{kind} {item.get('type')} {item.get('name') or item.get('role') or ''} {item.get('id')}")
            elif kind in ("response.output_text.done", "response.output_audio_transcript.done"):
                lines.append(f"{kind} {event.get('text', event.get('transcript'))!r}")
            elif kind == "error":
                lines.append(f"{kind} {event.get('error')}")
        return "\n".join(lines)


@contextlib.asynccontextmanager
async def livekit(stack: Stack, model: str, modalities: list[Any]) -> AsyncIterator[tuple[RealtimeSession, Watch]]:
    # LiveKit appends "/realtime" to a base URL ending in /v1 and adds ?model=; http becomes ws.
    realtime_model = RealtimeModel(
        model=model, base_url=stack.gateway.url + "/v1", api_key="any", modalities=modalities, http_session=stack.http
    )
    session = realtime_model.session()
    watch = Watch()
    session.on("generation_created", watch.generations.append)
    session.on("error", watch.errors.append)
    session.on("openai_server_event_received", watch.events.append)
    try:
        yield session, watch
    finally:
        await session.aclose()
        await realtime_model.aclose()


async def say(session: RealtimeSession, text: str) -> None:
    """A user text turn, as AgentActivity._realtime_reply_task(user_input=...) adds it."""
    chat_ctx = session.chat_ctx.copy()
    chat_ctx.add_message(role="user", content=text)
    await session.update_chat_ctx(chat_ctx)


async def collect(generation: llm.GenerationCreatedEvent) -> tuple[str, list[llm.FunctionCall]]:
    """Everything a generation carried: its messages' text, and its function calls. Both streams
    close at response.done."""

    async def text() -> str:
        parts: list[str] = []
        async for message in generation.message_stream:
            async for delta in message.text_stream:
                parts.append(delta)
            async for _ in message.audio_stream:
                pass
        return "".join(parts)

    async def calls() -> list[llm.FunctionCall]:
        return [call async for call in generation.function_stream]

    async with asyncio.timeout(LIMIT_S):
        return await asyncio.gather(text(), calls())


@pytest.fixture
def plugin_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The plugin logs, and swallows, what it fails to handle: those records are failures too."""
    caplog.set_level(logging.WARNING, logger="livekit.agents")
    return caplog


def complaints(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.levelname}: {r.getMessage()}" for r in caplog.records if r.name.startswith("livekit") and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("modalities", MODALITIES)
@pytest.mark.parametrize("model", MODELS)
async def test_livekit_generate_reply_answers_a_text_turn(
    stack: Stack, model: str, modalities: list[Any], plugin_log: pytest.LogCaptureFixture
) -> None:
    async with livekit(stack, model, modalities) as (session, watch):
        await say(session, "hello from livekit")
        async with asyncio.timeout(LIMIT_S):
            generation = await session.generate_reply()
        assert generation.user_initiated
        text, calls = await collect(generation)
        await asyncio.sleep(SETTLE_S)
    assert "You said" in text, watch.trace()
    assert calls == []
    assert watch.errors == []
    assert [g.user_initiated for g in watch.generations] == [True], watch.trace()
    assert complaints(plugin_log) == []


async def tool_round_trip(stack: Stack, model: str, modalities: list[Any], caplog: pytest.LogCaptureFixture, **reply: Any) -> None:
    """A tool call and the reply to its output, driven as AgentActivity drives it; ``reply`` goes to
    the second generate_reply()."""
    async with livekit(stack, model, modalities) as (session, watch):
        await session.update_tools([get_weather])
        await say(session, "what is the get_weather in Paris")
        async with asyncio.timeout(LIMIT_S):
            first = await session.generate_reply()
        _, calls = await collect(first)
        assert [call.name for call in calls] == ["get_weather"], watch.trace()
        # The moment the generation that called the tool is done (its streams close at
        # response.done), as AgentActivity does it: the outputs into the chat context, interrupt()
        # (a no-op unless a response is active), then generate_reply().
        outputs = [
            llm.FunctionCallOutput(call_id=call.call_id, name=call.name, output=await get_weather(**json.loads(call.arguments)), is_error=False)
            for call in calls
        ]
        chat_ctx = session.chat_ctx.copy()
        chat_ctx.items.extend(outputs)
        await session.update_chat_ctx(chat_ctx)
        session.interrupt()
        try:
            async with asyncio.timeout(LIMIT_S):
                second = await session.generate_reply(**reply)
        except llm.RealtimeError as exc:
            raise AssertionError(f"generate_reply() after the tool output failed: {exc}\n{watch.trace()}") from exc
        text, _ = await collect(second)
        await asyncio.sleep(SETTLE_S)
    assert "Here is what I found" in text, watch.trace()
    assert watch.errors == [], watch.trace()
    # Every generation was one the client asked for: nothing unrequested came between or after.
    assert [g.user_initiated for g in watch.generations] == [True, True], watch.trace()
    assert complaints(caplog) == []


@pytest.mark.parametrize("modalities", MODALITIES)
@pytest.mark.parametrize("model", MODELS)
async def test_livekit_generate_reply_after_a_tool_call_resolves_with_the_answer(
    stack: Stack, model: str, modalities: list[Any], plugin_log: pytest.LogCaptureFixture
) -> None:
    await tool_round_trip(stack, model, modalities, plugin_log)


@pytest.mark.parametrize("modalities", MODALITIES)
@pytest.mark.parametrize("model", MODELS)
async def test_livekit_tool_reply_with_tool_choice_auto_as_agent_activity_sends_it(
    stack: Stack, model: str, modalities: list[Any], plugin_log: pytest.LogCaptureFixture
) -> None:
    # AgentActivity asks for the reply to tool outputs with the per-response tool choice of the
    # outputs, "auto" unless a tool asked otherwise (ModelSettings(tool_choice=... or "auto")), and
    # the plugin puts it in response.create.response.tool_choice.
    await tool_round_trip(stack, model, modalities, plugin_log, tool_choice="auto")
