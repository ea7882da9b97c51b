"""Voice through the translator and the emulated service in memory: every audio format, speech
events, transcription, barge-in and turns livegate takes itself (openai-realtime.md §5.2, §5.4)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from livegate.audio import g711
from livegate.audio.resample import Resampler
from livegate.emulator import voice
from livegate.emulator.state import EmulatorConfig
from tests.bridge import Bridge, types

FORMATS = {"pcm16": ({"type": "audio/pcm", "rate": 24000}, 24000), "g711_ulaw": ({"type": "audio/pcmu"}, 8000), "g711_alaw": ({"type": "audio/pcma"}, 8000)}
ENCODE = {"pcm16": lambda pcm: pcm, "g711_ulaw": g711.ulaw_encode, "g711_alaw": g711.alaw_encode}
DECODE = {"pcm16": lambda data: data, "g711_ulaw": g711.ulaw_decode, "g711_alaw": g711.alaw_decode}


def spoken(text: str, rate: int, lead: float = 0.3, tail: float = 1.0) -> bytes:
    return b"\0\0" * int(rate * lead) + voice.speak(text, rate) + b"\0\0" * int(rate * tail)


def voice_bridge(fmt: str = "pcm16", beta: bool = False, detection: Any = "default", transcription: bool = True, **emulator: Any) -> Bridge:
    emulator.setdefault("turn_complete_after_playback", False)
    bridge = Bridge(beta=beta, config=EmulatorConfig(record_audio=True, **emulator))
    bridge.pump()
    audio_format = FORMATS[fmt][0]
    if beta:
        session: dict[str, Any] = {"input_audio_format": fmt, "output_audio_format": fmt}
        if transcription:
            session["input_audio_transcription"] = {"model": "whisper-1"}
        if detection != "default":
            session["turn_detection"] = detection
    else:
        audio_in: dict[str, Any] = {"format": audio_format}
        if transcription:
            audio_in["transcription"] = {"model": "whisper-1"}
        if detection != "default":
            audio_in["turn_detection"] = detection
        session = {"type": "realtime", "audio": {"input": audio_in, "output": {"format": audio_format}}}
    assert types(bridge.send({"type": "session.update", "session": session})) == ["session.updated"]
    return bridge


def stream(bridge: Bridge, data: bytes, fmt: str, frame_ms: int = 20) -> list[dict[str, Any]]:
    step = FORMATS[fmt][1] // 1000 * frame_ms * (2 if fmt == "pcm16" else 1)
    events: list[dict[str, Any]] = []
    for offset in range(0, len(data), step):
        events += bridge.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(data[offset : offset + step]).decode()})
        bridge.now += frame_ms / 1000
    return events


def reply_audio(events: list[dict[str, Any]], fmt: str) -> bytes:
    return DECODE[fmt](b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] in ("response.output_audio.delta", "response.audio.delta")))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_spoken_turn_in_every_format(fmt: str) -> None:
    bridge = voice_bridge(fmt)
    rate = FORMATS[fmt][1]
    pcm = spoken("what is the time", rate)
    events = stream(bridge, ENCODE[fmt](pcm), fmt) + bridge.pump(2)
    kinds = types(events)
    assert kinds[:5] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    started, stopped = events[0], events[1]
    assert started["item_id"] == stopped["item_id"] == events[2]["item_id"] == events[3]["item"]["id"]
    assert started["audio_start_ms"] == 0  # speech at 300 ms, less 300 ms of prefix padding
    assert 1100 <= stopped["audio_end_ms"] <= 1120  # 16 characters of 50 ms from 300 ms on
    completed = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["transcript"] == "what is the time"
    assert completed["usage"] == {"type": "duration", "seconds": stopped["audio_end_ms"] / 1000}
    assert kinds.count("conversation.item.input_audio_transcription.completed") == 1
    # The emulator heard the words through the conversion, and the reply comes back in the client's format.
    session = next(iter(bridge.state.sessions.values()))
    assert session.history[0].text == "what is the time"
    heard = voice.hear(reply_audio(events, fmt), rate)
    assert heard == "you said: what is the time"
    done = events[-1]
    assert done["type"] == "response.done"
    assert done["response"]["usage"]["output_token_details"]["audio_tokens"] > 0
    assert done["response"]["usage"]["input_token_details"]["audio_tokens"] > 0
    assert done["response"]["output"][0]["content"] == [{"type": "output_audio", "transcript": "You said: what is the time"}]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_input_sample_reaches_gemini_converted_to_16k(fmt: str) -> None:
    bridge = voice_bridge(fmt, transcription=False)
    rate = FORMATS[fmt][1]
    pcm = spoken("count me", rate)
    stream(bridge, ENCODE[fmt](pcm), fmt)
    session = next(iter(bridge.state.sessions.values()))
    expected = Resampler(rate, 16000).process(DECODE[fmt](ENCODE[fmt](pcm)))
    assert session.counters.audio_bytes_by_rate == {16000: len(expected)}
    assert bytes(session.audio[16000]) == expected
    assert len(expected) == len(pcm) // 2 * 16000 // rate * 2


def test_beta_voice_events_use_beta_names() -> None:
    bridge = voice_bridge("g711_ulaw", beta=True)
    events = stream(bridge, g711.ulaw_encode(spoken("hi there", 8000)), "g711_ulaw") + bridge.pump(2)
    kinds = types(events)
    assert kinds[:4] == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "conversation.item.created"]
    assert "response.audio.delta" in kinds and "response.audio_transcript.delta" in kinds
    assert "response.output_audio.delta" not in kinds and "conversation.item.added" not in kinds
    assert voice.hear(reply_audio(events, "g711_ulaw"), 8000) == "you said: hi there"


def test_barge_in_cancels_the_reply_and_no_audio_of_it_follows() -> None:
    bridge = voice_bridge("pcm16", audio_pace=1.0, turn_complete_after_playback=True)
    bridge.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "tell me a long story please"}]}})
    before = bridge.send({"type": "response.create"}) + bridge.pump(0.3)
    assert "response.output_audio.delta" in types(before)
    during = stream(bridge, voice.speak("stop", 24000) + bytes(48000), "pcm16") + bridge.pump(3)
    kinds = types(during)
    cut = kinds.index("response.done")
    assert kinds.index("input_audio_buffer.speech_started") < cut
    assert kinds[kinds.index("input_audio_buffer.speech_started") + 1 : cut + 1] == [
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    cancelled = during[cut]["response"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert cancelled["output"][0]["status"] == "incomplete"
    assert kinds.count("response.done") == 2  # the cancelled reply, then the answer to "stop"
    cancelled_id = cancelled["id"]
    assert not any(e.get("response_id") == cancelled_id for e in during[cut + 1 :])
    answer = during[-1]["response"]
    assert answer["status"] == "completed"
    assert answer["output"][0]["content"][0]["transcript"] == "You said: stop"


def test_interrupt_response_false_lets_the_reply_finish() -> None:
    bridge = voice_bridge("pcm16", detection={"type": "server_vad", "interrupt_response": False}, audio_pace=1.0)
    assert bridge.sent_upstream == []
    bridge.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "long answer please"}]}})
    bridge.send({"type": "response.create"})
    events = stream(bridge, voice.speak("hey", 24000) + bytes(48000), "pcm16") + bridge.pump(3)
    assert bridge.sent_upstream[0]["setup"]["realtimeInputConfig"]["activityHandling"] == "NO_INTERRUPTION"
    assert "input_audio_buffer.speech_started" in types(events)
    assert next(e["response"]["status"] for e in events if e["type"] == "response.done") == "completed"


def test_manual_turns_commit_clear_and_respond_on_response_create() -> None:
    bridge = voice_bridge("pcm16", detection=None, transcription=False)
    stream(bridge, voice.speak("discard this", 24000), "pcm16")
    assert types(bridge.send({"type": "input_audio_buffer.clear"})) == ["input_audio_buffer.cleared"]
    stream(bridge, voice.speak("manual words", 24000), "pcm16")
    committed = bridge.send({"type": "input_audio_buffer.commit"})
    assert types(committed) == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    assert not any("activityEnd" in str(frame) for frame in bridge.sent_upstream)
    assert types(bridge.pump(1)) == []  # the reply waits for response.create
    events = bridge.send({"type": "response.create"}) + bridge.pump(2)
    assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "You said: manual words"
    sent = [frame.get("realtimeInput", {}) for frame in bridge.sent_upstream]
    assert bridge.sent_upstream[0]["setup"]["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": True}}
    assert [next(iter(f)) for f in sent if f and "audio" not in f] == ["activityStart", "activityEnd"]


def test_committing_too_little_audio_is_refused_with_openais_error() -> None:
    bridge = voice_bridge("pcm16", detection=None)
    stream(bridge, bytes(960 * 2), "pcm16")  # 40 ms
    [error] = bridge.send({"type": "input_audio_buffer.commit", "event_id": "c1"})
    assert error["error"]["code"] == "input_audio_buffer_commit_empty"
    assert error["error"]["message"] == (
        "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has 40.00ms of audio."
    )
    assert error["error"]["event_id"] == "c1"


def test_create_response_false_commits_on_speech_and_replies_on_request() -> None:
    bridge = voice_bridge("pcm16", detection={"type": "server_vad", "create_response": False}, transcription=False)
    events = stream(bridge, spoken("hold on", 24000), "pcm16") + bridge.pump(1)
    assert types(events) == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    reply = bridge.send({"type": "response.create"}) + bridge.pump(2)
    assert reply[-1]["response"]["output"][0]["content"][0]["transcript"] == "You said: hold on"


def test_retrieve_returns_the_users_audio_in_the_clients_format() -> None:
    bridge = voice_bridge("g711_alaw")
    data = g711.alaw_encode(spoken("keep it", 8000))
    events = stream(bridge, data, "g711_alaw") + bridge.pump(2)
    item_id = events[0]["item_id"]
    [retrieved] = bridge.send({"type": "conversation.item.retrieve", "item_id": item_id})
    audio = base64.b64decode(retrieved["item"]["content"][0]["audio"])
    start, end = events[0]["audio_start_ms"], events[1]["audio_end_ms"]
    assert audio == data[start * 8 : end * 8]
    assert retrieved["item"]["content"][0]["transcript"] == "keep it"


def test_bad_base64_audio_is_an_error_and_the_stream_goes_on() -> None:
    bridge = voice_bridge("pcm16")
    [error] = bridge.send({"type": "input_audio_buffer.append", "audio": "not base64!"})
    assert (error["error"]["code"], error["error"]["param"]) == ("invalid_value", "audio")
    events = stream(bridge, spoken("still here", 24000), "pcm16") + bridge.pump(2)
    assert events[-1]["response"]["output"][0]["content"][0]["transcript"] == "You said: still here"


def test_semantic_vad_uses_its_eagerness_silence() -> None:
    bridge = voice_bridge("pcm16", detection={"type": "semantic_vad", "eagerness": "low"})
    events = stream(bridge, spoken("slow speaker", 24000, tail=1.2), "pcm16")
    assert "input_audio_buffer.speech_stopped" not in types(events)  # low eagerness waits 1.5 s
    events = stream(bridge, bytes(24000), "pcm16")
    assert "input_audio_buffer.speech_stopped" in types(events)
    assert bridge.sent_upstream[0]["setup"]["realtimeInputConfig"]["automaticActivityDetection"]["silenceDurationMs"] == 1500


def test_changing_the_input_format_mid_session_applies_to_the_next_append() -> None:
    bridge = voice_bridge("pcm16", transcription=False)
    stream(bridge, bytes(9600), "pcm16")
    assert types(bridge.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}})) == ["session.updated"]
    stream(bridge, g711.ulaw_encode(bytes(3200)), "g711_ulaw")
    session = next(iter(bridge.state.sessions.values()))
    assert session.counters.audio_bytes_by_rate == {16000: 6400 + 6400}
