"""One conversation through twenty goAways and five dropped connections, streaming audio the whole
time, over real sockets (issue 7): no error, every turn answered, every byte once."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from livegate.audio.resample import Resampler
from livegate.config import load_config
from livegate.emulator import voice
from livegate.emulator.script import Fault, Scenario
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway

TURNS = 26  # 25 faults, one after each answer but the last: 20 goAways and 5 drops
DROPS = {4, 9, 14, 19, 24}  # the other twenty answers are followed by a goAway


def cycle() -> bytes:
    """A short spoken word and half a second of silence, 24 kHz PCM16."""
    return voice.speak("hi", 24000) + bytes(24000)


async def test_a_conversation_survives_twenty_go_aways_and_five_drops(tmp_path: Path) -> None:
    config = EmulatorConfig(record_audio=True, turn_complete_after_playback=False)
    async with EmulatorServer(config) as emulator:
        key_file = tmp_path / "sa.json"
        emulator.write_service_account(key_file)
        config_file = tmp_path / "config.yaml"
        config_file.write_text(
            "model_list:\n  - model_name: voice\n    litellm_params:\n"
            "      model: vertex_ai/gemini-live-2.5-flash-native-audio\n      vertex_project: emulated-project\n"
            f"      vertex_location: us-central1\n      vertex_credentials: {key_file}\n      api_base: {emulator.http_url}\n"
        )
        async with Gateway(load_config(config_file), port=0) as gateway:
            client = AsyncOpenAI(api_key="any", websocket_base_url=gateway.ws_url)
            sent = bytearray()
            answers: list[str] = []
            errors: list[Any] = []
            stop = asyncio.Event()
            async with client.realtime.connect(model="voice") as connection:
                await connection.session.update(
                    session={"type": "realtime", "output_modalities": ["text"], "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 200}}}}
                )

                async def stream() -> None:
                    frames = cycle()
                    loop = asyncio.get_running_loop()
                    start, index = loop.time(), 0
                    while not stop.is_set():
                        offset = index * 960 % len(frames)
                        frame = frames[offset : offset + 960]
                        sent.extend(frame)
                        await connection.input_audio_buffer.append(audio=base64.b64encode(frame).decode())
                        index += 1
                        await asyncio.sleep(max(0.0, start + index * 0.02 - loop.time()))

                streamer = asyncio.create_task(stream())
                async with asyncio.timeout(60):
                    async for event in connection:
                        if event.type == "error":
                            errors.append(event.error)
                        if event.type == "response.done":
                            answers.append(event.response.output[0].content[0].text if event.response.output else "")
                            if len(answers) == TURNS:
                                break
                            fault = Fault(when="seconds", action="drop") if len(answers) in DROPS else Fault(when="seconds", action="go_away", time_left_s=5)
                            # One fault per connection: the previous one's switch (deferred while the user
                            # was speaking) must have happened, else this one hits a socket already closing.
                            while emulator.session().counters.connections < len(answers) or not emulator.inject(fault):  # noqa: ASYNC110 - polls the emulator, which has no event for it
                                await asyncio.sleep(0.01)
                stop.set()
                await streamer
                await asyncio.sleep(0.5)  # the last frames reach the emulator
            session = emulator.session()
    assert errors == []
    assert answers == ["You said: hi"] * TURNS
    assert len(emulator.state.sessions) == 1
    assert session.counters.go_aways == 20
    assert session.counters.resumptions == TURNS - 1  # a fault after each answer but the last
    resampler = Resampler(24000, 16000)
    expected = b"".join(resampler.process(bytes(sent[i : i + 960])) for i in range(0, len(sent), 960))
    assert bytes(session.audio[16000]) == expected  # converted, no byte lost, none twice


async def test_six_typed_turns_through_a_1011_at_the_start_of_every_second_reply(tmp_path: Path) -> None:
    faults = (Fault(when="reply", at=2, action="close", code=1011, repeat=True),)
    async with EmulatorServer(EmulatorConfig(scenario=Scenario(faults=faults))) as emulator:
        config_file = tmp_path / "config.yaml"
        config_file.write_text(
            "model_list:\n  - model_name: gpt-realtime\n    litellm_params:\n"
            f"      model: gemini/gemini-3.8-live\n      api_key: any\n      api_base: {emulator.http_url}\n"
        )
        async with Gateway(load_config(config_file), port=0) as gateway:
            client = AsyncOpenAI(api_key="any", websocket_base_url=gateway.ws_url)
            answers, kinds = [], []
            async with client.realtime.connect(model="gpt-realtime") as connection:
                await connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
                for n in range(6):
                    await connection.conversation.item.create(
                        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"question number {n}"}]}
                    )
                    await connection.response.create()
                    async with asyncio.timeout(15):
                        async for event in connection:
                            kinds.append(event.type)
                            if event.type == "response.done":
                                answers.append(event.response.output[0].content[0].text if event.response.output else "")
                                break
    assert answers == [f"You said: question number {n}" for n in range(6)]
    assert "error" not in kinds
    session = next(iter(emulator.state.sessions.values()))
    assert session.counters.resumptions >= 3
    assert [h.text for h in session.history if h.role == "user"] == [f"question number {n}" for n in range(6)]
