"""Real-time voice with the official openai SDK, GA and beta, over real sockets: every OpenAI audio
format through the gateway to the emulator and back."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai import AsyncOpenAI

from livegate.audio import g711
from livegate.audio.resample import Resampler
from livegate.config import embedded_config
from livegate.emulator import voice
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway

RATES = {"pcm16": 24000, "g711_ulaw": 8000, "g711_alaw": 8000}
GA_FORMATS = {"pcm16": {"type": "audio/pcm", "rate": 24000}, "g711_ulaw": {"type": "audio/pcmu"}, "g711_alaw": {"type": "audio/pcma"}}
ENCODE = {"pcm16": lambda pcm: pcm, "g711_ulaw": g711.ulaw_encode, "g711_alaw": g711.alaw_encode}
DECODE = {"pcm16": lambda data: data, "g711_ulaw": g711.ulaw_decode, "g711_alaw": g711.alaw_decode}


@pytest.fixture
async def stack() -> AsyncIterator[tuple[EmulatorServer, AsyncOpenAI]]:
    config = EmulatorConfig(record_audio=True, turn_complete_after_playback=False)
    async with EmulatorServer(config) as emulator, Gateway(embedded_config(emulator.url), port=0) as gateway:
        yield emulator, AsyncOpenAI(api_key="any", websocket_base_url=gateway.ws_url)


async def stream_in_real_time(connection: Any, data: bytes, fmt: str) -> None:
    step = RATES[fmt] // 50 * (2 if fmt == "pcm16" else 1)  # 20 ms frames, paced by the clock
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index, offset in enumerate(range(0, len(data), step)):
        await connection.input_audio_buffer.append(audio=base64.b64encode(data[offset : offset + step]).decode())
        await asyncio.sleep(max(0.0, start + (index + 1) * 0.02 - loop.time()))


async def collect_turn(connection: Any) -> list[Any]:
    events = []
    async with asyncio.timeout(15):
        async for event in connection:
            events.append(event)
            if event.type == "response.done":
                return events
    raise AssertionError("no response.done")


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
@pytest.mark.parametrize("fmt", list(RATES))
async def test_spoken_turn_in_every_format(stack: tuple[EmulatorServer, AsyncOpenAI], fmt: str, beta: bool) -> None:
    emulator, client = stack
    rate = RATES[fmt]
    pcm = b"\0\0" * (rate // 5) + voice.speak("what is the weather", rate) + b"\0\0" * rate
    realtime = client.beta.realtime if beta else client.realtime
    async with realtime.connect(model="gpt-realtime") as connection:
        if beta:
            await connection.session.update(session={"input_audio_format": fmt, "output_audio_format": fmt, "input_audio_transcription": {"model": "whisper-1"}})
        else:
            formats = GA_FORMATS[fmt]
            await connection.session.update(
                session={"type": "realtime", "audio": {"input": {"format": formats, "transcription": {"model": "whisper-1"}}, "output": {"format": formats}}}
            )
        sender = asyncio.create_task(stream_in_real_time(connection, ENCODE[fmt](pcm), fmt))
        events = await collect_turn(connection)
        await sender
    kinds = [e.type for e in events]
    assert kinds[:3] == ["session.created", "conversation.created", "session.updated"] if beta else kinds[:2] == ["session.created", "session.updated"]
    for name in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed"):
        assert name in kinds
    completed = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
    assert completed.transcript == "what is the weather"
    delta, transcript_delta = ("response.audio.delta", "response.audio_transcript.delta") if beta else ("response.output_audio.delta", "response.output_audio_transcript.delta")
    reply = DECODE[fmt](b"".join(base64.b64decode(e.delta) for e in events if e.type == delta))
    assert voice.hear(reply, rate) == "you said: what is the weather"
    assert "".join(e.delta for e in events if e.type == transcript_delta) == "You said: what is the weather"
    done = events[-1].response
    assert done.status == "completed"
    assert done.usage.output_token_details.audio_tokens > 0
    assert done.usage.input_token_details.audio_tokens > 0
    # Every input sample reached Gemini, converted to 16 kHz.
    session = emulator.session()
    expected = Resampler(rate, 16000).process(DECODE[fmt](ENCODE[fmt](pcm)))
    assert bytes(session.audio[16000]) == expected
    assert session.counters.audio_bytes_by_rate == {16000: len(pcm) // 2 * 16000 // rate * 2}


async def test_barge_in_over_real_sockets() -> None:
    config = EmulatorConfig(audio_pace=1.0)
    async with EmulatorServer(config) as emulator, Gateway(embedded_config(emulator.url), port=0) as gateway:
        client = AsyncOpenAI(api_key="any", websocket_base_url=gateway.ws_url)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            await connection.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "please tell me a rather long story"}]}
            )
            await connection.response.create()
            events: list[Any] = []
            async with asyncio.timeout(15):
                async for event in connection:
                    events.append(event)
                    if event.type == "response.output_audio.delta":
                        break
                await stream_in_real_time(connection, voice.speak("stop", 24000) + bytes(24000 * 2), "pcm16")
                async for event in connection:
                    events.append(event)
                    if event.type == "response.done" and event.response.status == "completed":
                        break
    kinds = [e.type for e in events]
    cancelled = next(e.response for e in events if e.type == "response.done")
    assert cancelled.status == "cancelled"
    assert cancelled.status_details.reason == "turn_detected"
    cut = kinds.index("response.done")
    assert kinds.index("input_audio_buffer.speech_started") < cut
    assert not [e for e in events[cut + 1 :] if getattr(e, "response_id", None) == cancelled.id]
    assert events[-1].response.output[0].content[0].transcript == "You said: stop"
    assert emulator.session().counters.interruptions == 1
