"""A WebRTC call's core (realtime.call) around the translator and the emulated service in memory:
audio on the tracks and never as deltas, output_audio_buffer.* as OpenAI sends them on WebRTC, and
the server's own cut and truncation on barge-in, cancel and clear (openai-realtime.md §5.4, §8)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegate.emulator import voice
from livegate.emulator.state import EmulatorConfig
from livegate.realtime.call import FRAME_BYTES
from tests.bridge import Bridge, types

SILENCE = bytes(FRAME_BYTES)
USER_TEXT = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "tell me a long story please"}]}
AUDIO_DELTAS = ("response.output_audio.delta", "response.audio.delta")


def call_bridge(*, beta: bool = False, session: dict[str, Any] | None = None, **emulator: Any) -> Bridge:
    emulator.setdefault("audio_pace", 1.0)
    bridge = Bridge(beta=beta, call=True, config=EmulatorConfig(record_audio=True, **emulator))
    bridge.pump()
    if session is not None:
        bridge.send({"type": "session.update", "session": session})
    return bridge


class Player:
    """The outbound track and the microphone, 20 ms at a time, on the bridge's clock."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.frames: list[bytes | None] = []  # what each pull gave
        self.events: list[dict[str, Any]] = []
        self.step_of: list[int] = []  # for each event, how many pulls had been made when it came

    def run(self, seconds: float, mic: bytes = b"") -> list[dict[str, Any]]:
        bridge, call = self.bridge, self.bridge.call
        assert call is not None
        out: list[dict[str, Any]] = []
        for step in range(round(seconds / 0.02)):
            chunk = mic[step * FRAME_BYTES : (step + 1) * FRAME_BYTES]
            bridge.microphone(chunk.ljust(FRAME_BYTES, b"\0"))
            self.frames.append(call.pull())
            new = bridge.pump(0.02)
            self.step_of += [len(self.frames)] * len(new)
            out += new
        self.events += out
        return out

    @property
    def played(self) -> bytes:
        return b"".join(frame for frame in self.frames if frame is not None)


def reply_deltas(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] in AUDIO_DELTAS)


@pytest.mark.parametrize("beta", [False, True])
def test_a_typed_turn_plays_on_the_track_what_a_websocket_client_gets_as_deltas(beta: bool) -> None:
    websocket = Bridge(beta=beta, config=EmulatorConfig(audio_pace=1.0))
    websocket.pump()
    websocket.send({"type": "conversation.item.create", "item": USER_TEXT})
    expected = reply_deltas(websocket.send({"type": "response.create"}) + websocket.pump(8))

    bridge = call_bridge(beta=beta)
    bridge.send({"type": "conversation.item.create", "item": USER_TEXT})
    bridge.send({"type": "response.create"})
    player = Player(bridge)
    events = player.run(8)
    kinds = types(events)
    assert not any(kind in AUDIO_DELTAS for kind in kinds)
    assert player.played.rstrip(b"\0") == expected.rstrip(b"\0")
    assert voice.hear(player.played, 24000) == voice.hear(expected, 24000) != ""
    # started once its audio begins to play; stopped once it has all played, after response.done.
    assert kinds.count("output_audio_buffer.started") == kinds.count("output_audio_buffer.stopped") == 1
    started, stopped, done = (kinds.index(k) for k in ("output_audio_buffer.started", "output_audio_buffer.stopped", "response.done"))
    assert "response.content_part.added" in types(bridge.events[: bridge.events.index(events[started])])
    assert done < stopped
    response_id = events[done]["response"]["id"]
    assert events[started]["response_id"] == events[stopped]["response_id"] == response_id
    assert events[done]["response"]["output"][0]["content"][0]["transcript"]
    assert "output_audio_buffer.cleared" not in kinds and "conversation.item.truncated" not in kinds
    assert player.frames[-1] is None  # silence once it has played


def speak_to(player: Player, seconds: float = 0.6) -> None:
    player.run(seconds)  # the reply plays for a while
    assert any(frame is not None for frame in player.frames)


def playing_a_long_reply(session: dict[str, Any] | None = None) -> tuple[Bridge, Player]:
    """A call whose reply has played for a while, Gemini still making it."""
    bridge = call_bridge(session=session, turn_complete_after_playback=True)
    bridge.send({"type": "conversation.item.create", "item": USER_TEXT})
    bridge.send({"type": "response.create"})
    player = Player(bridge)
    speak_to(player)
    return bridge, player


def cut_checks(player: Player, events: list[dict[str, Any]], reason: str) -> dict[str, Any]:
    """The cut response's done, then cleared, then the item truncated where it stopped playing."""
    kinds = types(events)
    done = kinds.index("response.done")
    cancelled = events[done]["response"]
    assert cancelled["status"] == "cancelled" and cancelled["status_details"]["reason"] == reason
    cleared = kinds.index("output_audio_buffer.cleared")
    truncated = kinds.index("conversation.item.truncated")
    assert done < cleared < truncated
    assert events[cleared]["response_id"] == cancelled["id"]
    item_id = cancelled["output"][0]["id"]
    assert events[truncated]["item_id"] == item_id
    return {"item_id": item_id, "audio_end_ms": events[truncated]["audio_end_ms"], "response_id": cancelled["id"]}


def test_a_barge_in_cuts_playout_at_once_and_the_server_truncates_where_it_stopped() -> None:
    bridge, player = playing_a_long_reply()
    events = player.run(4, mic=voice.speak("stop", 24000) + bytes(48000))
    kinds = types(events)
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index("response.done")
    cut = cut_checks(player, events, "turn_detected")
    # Everything pulled before the cut was played; the truncation says exactly that much.
    cut_at = next(i for i, e in enumerate(player.events) if e["type"] == "output_audio_buffer.cleared")
    played_ms = 20 * sum(frame is not None for frame in player.frames[: player.step_of[cut_at]])
    assert cut["audio_end_ms"] == played_ms > 500
    # The answer to "stop" plays after; nothing more of the cut reply.
    answer = [e for e in events if e["type"] == "response.done"][-1]["response"]
    assert answer["status"] == "completed" and answer["output"][0]["content"][0]["transcript"] == "You said: stop"
    started = [e["response_id"] for e in events if e["type"] == "output_audio_buffer.started"]
    assert started == [answer["id"]]
    item = next(e for e in bridge.send({"type": "conversation.item.retrieve", "item_id": cut["item_id"]}) if e["type"] == "conversation.item.retrieved")
    assert item["item"]["content"][0]["transcript"] != ""  # cut where it stopped, not emptied


def test_the_clients_clear_cancels_the_reply_then_clears_and_truncates() -> None:
    bridge, player = playing_a_long_reply()
    played_ms = 20 * sum(frame is not None for frame in player.frames)
    events = bridge.send({"type": "output_audio_buffer.clear", "event_id": "evt_clear"})
    cut = cut_checks(player, events, "client_cancelled")
    assert cut["audio_end_ms"] == played_ms
    after = player.run(1)
    assert all(frame is None for frame in player.frames[-50:])
    assert not any(e.get("response_id") == cut["response_id"] for e in after)


def test_response_cancel_cuts_playout_too() -> None:
    bridge, player = playing_a_long_reply()
    cut_checks(player, bridge.send({"type": "response.cancel"}), "client_cancelled")
    player.run(0.5)
    assert all(frame is None for frame in player.frames[-25:])


def test_a_clear_with_nothing_playing_is_answered_with_cleared() -> None:
    bridge = call_bridge()
    assert types(bridge.send({"type": "output_audio_buffer.clear"})) == ["output_audio_buffer.cleared"]


def test_a_reply_that_has_all_played_is_not_cut_or_truncated_by_later_speech() -> None:
    bridge = call_bridge()
    bridge.send({"type": "conversation.item.create", "item": {**USER_TEXT, "content": [{"type": "input_text", "text": "hi"}]}})
    bridge.send({"type": "response.create"})
    player = Player(bridge)
    player.run(4)
    assert "output_audio_buffer.stopped" in types(player.events)
    events = player.run(3, mic=voice.speak("again", 24000) + bytes(48000))
    kinds = types(events)
    assert "input_audio_buffer.speech_started" in kinds
    assert "output_audio_buffer.cleared" not in kinds and "conversation.item.truncated" not in kinds


def test_interrupt_response_false_lets_the_reply_play_on() -> None:
    session = {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "interrupt_response": False}}}}
    _, player = playing_a_long_reply(session)
    events = player.run(3, mic=voice.speak("hey", 24000) + bytes(24000))
    kinds = types(events)
    assert "input_audio_buffer.speech_started" in kinds
    assert "output_audio_buffer.cleared" not in kinds


def test_an_append_on_a_call_is_refused_and_the_call_goes_on() -> None:
    bridge = call_bridge()
    events = bridge.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(SILENCE).decode(), "event_id": "evt_1"})
    assert types(events) == ["error"]
    assert events[0]["error"]["code"] == "unsupported_event" and events[0]["error"]["event_id"] == "evt_1"
    bridge.send({"type": "conversation.item.create", "item": USER_TEXT})
    assert "response.created" in types(bridge.send({"type": "response.create"}))


@pytest.mark.parametrize("fmt", [{"type": "audio/pcm", "rate": 24000}, {"type": "audio/pcmu"}, {"type": "audio/pcma"}])
def test_speech_on_the_microphone_is_heard_in_any_session_input_format(fmt: dict[str, Any]) -> None:
    session = {"type": "realtime", "audio": {"input": {"format": fmt, "transcription": {"model": "whisper-1"}}}}
    bridge = call_bridge(session=session)
    player = Player(bridge)
    events = player.run(5, mic=bytes(9600) + voice.speak("hi there", 24000) + bytes(48000))
    kinds = types(events)
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index("input_audio_buffer.speech_stopped") < kinds.index("response.done")
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["output"][0]["content"][0]["transcript"] == "You said: hi there"
    assert voice.hear(player.played, 24000) == "you said: hi there"


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.sampled_from([
            {"type": "conversation.item.create", "item": USER_TEXT}, {"type": "response.create"}, {"type": "response.cancel"},
            {"type": "output_audio_buffer.clear"}, {"type": "input_audio_buffer.append", "audio": "AAAA"},
            {"type": "conversation.item.truncate", "item_id": "item_x", "content_index": 0, "audio_end_ms": 10},
            {"type": "output_audio_buffer.clear", "event_id": 5}, "not json", "[]", '{"type": null}',
        ])),
        st.tuples(st.just("play"), st.integers(1, 40)),
        st.tuples(st.just("speak"), st.sampled_from(["stop", "hello"])),
    ),
    max_size=14,
)


@settings(max_examples=40, deadline=None)
@given(OPS)
def test_any_sequence_keeps_the_call_whole(ops: list[tuple[str, Any]]) -> None:
    """Whatever the client sends and however the tracks run: no exception, no audio delta, and every
    started is ended by one stopped or cleared, for the same response."""
    bridge = call_bridge(turn_complete_after_playback=True)
    player = Player(bridge)
    for op, arg in ops:
        if op == "event":
            bridge.send(arg)
        elif op == "play":
            player.run(arg * 0.02)
        else:
            player.run(1, mic=voice.speak(arg, 24000))
    player.run(6)
    assert bridge.translator.faults == []
    kinds = types(bridge.events)
    assert not any(kind in AUDIO_DELTAS for kind in kinds)
    open_response = None
    for event in bridge.events:
        if event["type"] == "output_audio_buffer.started":
            assert open_response is None
            open_response = event["response_id"]
        elif event["type"] in ("output_audio_buffer.stopped", "output_audio_buffer.cleared") and open_response is not None:
            assert event["response_id"] == open_response
            open_response = None
    assert open_response is None
    assert orjson.loads(orjson.dumps(bridge.events)) == bridge.events


def test_a_barge_in_cuts_a_reply_whose_response_is_done_but_still_playing() -> None:
    """Gemini makes audio faster than it plays: response.done comes while the track has seconds left,
    and speech cuts that playout too, as OpenAI's server does."""
    bridge = call_bridge(audio_pace=0.0, turn_complete_after_playback=False)
    bridge.send({"type": "conversation.item.create", "item": USER_TEXT})
    bridge.send({"type": "response.create"})
    assert bridge.events[-1]["type"] == "response.done" and bridge.events[-1]["response"]["status"] == "completed"
    player = Player(bridge)
    speak_to(player)
    assert bridge.call is not None and bridge.call.playing
    events = player.run(3, mic=voice.speak("stop", 24000) + bytes(48000))
    kinds = types(events)
    speech, cleared, truncated = (kinds.index(k) for k in ("input_audio_buffer.speech_started", "output_audio_buffer.cleared", "conversation.item.truncated"))
    assert speech < cleared < truncated
    played_ms = 20 * sum(frame is not None for frame in player.frames[: player.step_of[len(player.events) - len(events) + cleared]])
    assert events[truncated]["audio_end_ms"] == played_ms
    assert "output_audio_buffer.stopped" not in kinds[:cleared]
