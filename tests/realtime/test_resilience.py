"""Sessions that survive (issue 7), pure: goAway, dropped connections, Gemini's close codes, transparent
resumption without loss or duplication, and Gemini's session limit with and without compression."""

from __future__ import annotations

import base64
import json
from typing import Any

from livegate.audio.resample import Resampler
from livegate.emulator.script import Fault
from livegate.emulator.state import EmulatorConfig
from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.realtime.translator import CloseClient, StartUpstream, Translator
from tests.bridge import T0, Bridge, counter_ids, types

STUDIO = UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live")
VERTEX = UpstreamRoute(Flavour.VERTEX, "gemini-live-2.5-flash-native-audio", project="p", location="us-central1")


def bridge(route: UpstreamRoute = STUDIO, **config: Any) -> Bridge:
    config.setdefault("turn_complete_after_playback", False)
    b = Bridge(route, config=EmulatorConfig(record_audio=True, **config))
    b.pump()
    b.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
    return b


def say(b: Bridge, text: str) -> list[dict[str, Any]]:
    b.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
    return b.send({"type": "response.create"}) + b.pump(1)


def reply(events: list[dict[str, Any]]) -> str:
    return next(e["text"] for e in events if e["type"] == "response.output_text.done")


def inject(b: Bridge, fault: Fault) -> list[dict[str, Any]]:
    assert b.upstream is not None
    b.upstream.inject(fault, b.now)
    return b.pump()


def audio(b: Bridge, count: int, start: int = 0) -> bytes:
    sent = b""
    for i in range(start, start + count):
        frame = bytes([i % 251 + 1]) * 960  # distinct frames: a lost or repeated one shows in the bytes
        sent += frame
        b.translator.receive_client_event(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(frame).decode()}), b.now)
    return sent


def session_of(b: Bridge):  # type: ignore[no-untyped-def]
    return next(iter(b.state.sessions.values()))


def test_go_away_between_turns_resumes_on_a_new_connection_at_once() -> None:
    b = bridge()
    say(b, "one")
    events = inject(b, Fault(when="seconds", action="go_away", time_left_s=30))
    assert "error" not in types(events)
    session = session_of(b)
    assert (session.counters.connections, session.counters.resumptions) == (2, 1)
    assert reply(say(b, "two")) == "You said: two"
    assert [h.text for h in session.history] == ["one", "You said: one", "two", "You said: two"]


def test_upstream_connections_count_the_first_connection_and_each_reconnect() -> None:
    b = bridge()
    assert b.translator.upstream_connections == 0  # a session.update alone opens nothing
    say(b, "one")
    assert b.translator.upstream_connections == 1
    inject(b, Fault(when="seconds", action="go_away", time_left_s=30))
    assert b.translator.upstream_connections == session_of(b).counters.connections == 2
    assert b.translator.generation == 1  # the reconnects only


def test_a_session_ended_before_its_first_content_counts_no_upstream_connection() -> None:
    b = bridge()
    b.translator.end("idle_timeout", "No client event for 1 seconds: the session is closed.", 1000)
    assert b.translator.upstream_connections == 0


def test_go_away_during_a_reply_waits_for_its_end() -> None:
    b = bridge(audio_pace=1.0)
    b.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a long story please"}]}})
    b.send({"type": "response.create"})
    b.pump(0.2)
    inject(b, Fault(when="seconds", action="go_away", time_left_s=30))
    assert session_of(b).counters.connections == 1  # the reply goes on...
    events = b.pump(5)
    assert types(events).count("response.done") == 1
    assert events[-1]["type"] == "response.done" or "response.done" in types(events)
    assert session_of(b).counters.connections == 2  # ...and the switch follows it


def test_go_away_with_a_near_deadline_switches_in_time_even_mid_reply() -> None:
    b = bridge(audio_pace=1.0, turn_complete_after_playback=True)
    b.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x" * 200}]}})
    b.send({"type": "response.create"})
    b.pump(0.2)
    inject(b, Fault(when="seconds", action="go_away", time_left_s=2))
    events = b.pump(1.5)
    assert "error" not in types(events)
    assert session_of(b).counters.connections == 2  # before the 1011 that ends a connection after goAway
    assert b.closed is None


def test_a_dropped_connection_is_resumed_and_the_conversation_goes_on() -> None:
    b = bridge()
    say(b, "before the drop")
    events = inject(b, Fault(when="seconds", action="drop"))
    assert "error" not in types(events)
    assert reply(say(b, "after the drop")) == "You said: after the drop"
    session = session_of(b)
    assert session.counters.resumptions == 1
    assert [h.text for h in session.history][:2] == ["before the drop", "You said: before the drop"]


def test_vertex_frames_lost_in_a_drop_are_replayed_once() -> None:
    b = bridge(VERTEX)
    say(b, "start")
    sent = audio(b, 10)
    b.pump()
    # The connection dies with frames on the wire: Gemini never sees them.
    assert b.upstream is not None
    b.upstream.inject(Fault(when="seconds", action="drop"), b.now)
    sent += audio(b, 5, start=10)  # sent into the dead connection, before livegate notices
    b.pump()
    sent += audio(b, 5, start=15)
    b.pump()
    session = session_of(b)
    assert session.counters.resumptions == 1
    resampler = Resampler(24000, 16000)
    expected = b"".join(resampler.process(sent[i : i + 960]) for i in range(0, len(sent), 960))
    assert bytes(session.audio[16000]) == expected  # every frame once: none lost, none twice


def test_1011_is_retried_with_backoff_and_given_up_after_the_last_attempt() -> None:
    translator = Translator(route=STUDIO, model="m", beta=False, ids=counter_ids(), now=T0)
    translator.receive_client_event(json.dumps({"type": "response.create"}), T0)
    translator.actions_to_upstream()
    translator.events_to_client()
    now, delays = T0, []
    for _ in range(5):
        translator.receive_upstream_closed(1011, "Internal error encountered.", now)
        deadline = translator.next_deadline()
        assert deadline is not None
        delays.append(round(deadline - now, 2))
        now = deadline
        translator.tick(now)
        assert isinstance(translator.actions_to_upstream()[-1], StartUpstream)
        assert translator.events_to_client() == []  # the client notices nothing
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0]
    translator.receive_upstream_closed(1011, "Internal error encountered.", now)
    *events, close = translator.events_to_client()
    assert close == CloseClient(1011, "Internal error encountered.")
    error = json.loads(events[-1])["error"]
    assert error["message"] == "Gemini Live closed the connection (1011): Internal error encountered. (after 5 attempts to reconnect)"


def test_attempts_are_counted_afresh_after_a_completed_turn() -> None:
    b = bridge()
    for _ in range(8):
        say(b, "hi")
        inject(b, Fault(when="seconds", action="close", code=1011))
    assert b.closed is None
    assert session_of(b).counters.resumptions == 8


def test_1007_is_final_with_googles_reason() -> None:
    b = bridge()
    say(b, "x")
    events = inject(b, Fault(when="seconds", action="close", code=1007, reason="Request contains an invalid argument."))
    assert events[-1]["error"]["message"] == "Gemini Live closed the connection (1007): Request contains an invalid argument."
    assert b.closed == CloseClient(1011, "Request contains an invalid argument.")


def test_1008_for_a_model_not_served_carries_a_hint() -> None:
    b = Bridge(UpstreamRoute(Flavour.VERTEX, "gemini-live-2.5-flash-native-audio", project="p", location="global"))
    b.pump()
    events = say(b, "x")
    message = events[-1]["error"]["message"]
    assert message.startswith("Gemini Live closed the connection (1008): Publisher model")
    assert message.endswith("Hint: Vertex AI does not serve gemini-live-2.5-flash-native-audio in global: check the model name and vertex_location.")


def test_a_refused_handle_falls_back_to_a_fresh_session_seeded_from_the_mirror() -> None:
    b = bridge()
    say(b, "the code is 42")
    b.translator.link.resumption_handle = "handle-that-gemini-forgot"
    inject(b, Fault(when="seconds", action="drop"))
    assert reply(say(b, "and now")) == "You said: and now"
    sessions = list(b.state.sessions.values())
    assert len(sessions) == 2
    assert [h.text for h in sessions[1].history][:2] == ["the code is 42", "You said: the code is 42"]


def test_without_compression_the_session_limit_ends_the_conversation() -> None:
    route = UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live", compression=False)
    b = bridge(route, session_limit_s=30)
    say(b, "hello")
    events = b.pump(31)
    assert events[-1]["error"]["code"] == "upstream_closed_1008"
    assert b.closed is not None


def test_with_compression_the_conversation_outlives_the_session_limit() -> None:
    b = bridge(session_limit_s=30)
    for minute in range(3):
        assert reply(say(b, f"minute {minute}")) == f"You said: minute {minute}"
        b.pump(31)
    assert b.closed is None
    assert session_of(b).setup.compression


def test_drop_mid_reply_asks_gemini_again() -> None:
    b = bridge(audio_pace=1.0)
    b.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "tell me something long"}]}})
    b.send({"type": "response.create"})
    b.pump(0.2)
    inject(b, Fault(when="seconds", action="drop"))
    events = b.pump(5)
    assert "error" not in types(events)
    assert types(events).count("response.done") == 1
    assert b.closed is None


def test_an_idle_session_is_closed_with_the_reason() -> None:
    route = STUDIO
    b = Bridge(route, config=EmulatorConfig(turn_complete_after_playback=False))
    b.translator.idle_timeout_s = 30
    b.pump()
    say(b, "hi")
    events = b.pump(31)
    assert events[-1]["error"]["code"] == "idle_timeout"
    assert b.closed == CloseClient(1000, "No client event for 30 seconds: the session is closed.")


def test_a_session_ends_at_its_maximum_duration() -> None:
    translator = Translator(route=STUDIO, model="m", beta=False, ids=counter_ids(), now=T0, max_session_s=60)
    translator.events_to_client()
    assert translator.next_deadline() == T0 + 60
    translator.tick(T0 + 60)
    *events, close = translator.events_to_client()
    assert json.loads(events[-1])["error"]["code"] == "session_expired"
    assert close == CloseClient(1000, "The session reached its maximum duration.")


def test_a_frame_over_the_limit_gets_an_error_and_the_session_goes_on() -> None:
    translator = Translator(route=STUDIO, model="m", beta=False, ids=counter_ids(), now=T0, max_frame_bytes=1000)
    translator.events_to_client()
    translator.receive_client_event("x" * 1001, T0)
    [event] = translator.events_to_client()
    assert json.loads(event)["error"]["code"] == "frame_too_large"
    translator.receive_client_event('{"type": "session.update", "session": {"type": "realtime"}}', T0)
    assert json.loads(translator.events_to_client()[0])["type"] == "session.updated"
