"""The response rule of responses.py at real client timing, pure (issue 12): one response.created and one
response.done per response.create on every model's tool order, with Gemini's turnComplete as late as the
real service sends it; usage settled for every response; turns never lost or repeated across reconnects."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from livegate.audio.resample import Resampler
from livegate.emulator import voice
from livegate.emulator.script import Fault, Scenario
from livegate.emulator.state import EmulatorConfig
from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.gemini.usage import openai_usage
from tests.bridge import Bridge, types

STUDIO_38 = UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live")
ROUTES = [
    pytest.param(STUDIO_38, id="3.8"),
    pytest.param(UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.1-flash-live-preview"), id="3.1"),
    pytest.param(UpstreamRoute(Flavour.AI_STUDIO, "gemini-2.5-flash-native-audio-preview-12-2025"), id="2.5-native"),
    pytest.param(
        UpstreamRoute(Flavour.VERTEX, "gemini-live-2.5-flash-native-audio", project="p", location="us-central1"),
        id="vertex-2.5-native",
    ),
    pytest.param(UpstreamRoute(Flavour.VERTEX, "gemini-live-2.5-flash", project="p", location="us-central1"), id="vertex-half-cascade"),
]
DIALECTS = [pytest.param(False, id="ga"), pytest.param(True, id="beta")]
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def bridge(route: UpstreamRoute = STUDIO_38, *, beta: bool = False, session: dict[str, Any] | None = None, **config: Any) -> Bridge:
    # The real service's timing: audio faster than real time, turnComplete after it would have played
    # (gemini-live.md §6.2); EmulatorConfig's default, which tests/bridge.py turns off.
    config.setdefault("turn_complete_after_playback", True)
    b = Bridge(route, beta=beta, config=EmulatorConfig(**config))
    b.pump()
    if session is not None:
        b.send({"type": "session.update", "session": session if beta else {"type": "realtime", **session}})
    return b


def until(b: Bridge, kind: str, mark: int, limit: float = 20.0) -> list[dict[str, Any]]:
    """Pump in 10 ms steps until an event of ``kind`` has arrived since ``b.events[mark]``, and return
    the events since then: a client that acts the instant it arrives."""
    end = b.now + limit
    while kind not in types(b.events[mark:]):
        if b.now >= end:
            raise AssertionError(f"no {kind} within {limit} s: {types(b.events[mark:])}")
        b.pump(0.01)
    return b.events[mark:]


def next_done(b: Bridge, mark: int, limit: float = 20.0) -> dict[str, Any]:
    """The first response.done since ``b.events[mark]``, as soon as it arrives."""
    return next(e["response"] for e in until(b, "response.done", mark, limit) if e["type"] == "response.done")


def user_text(b: Bridge, text: str) -> None:
    b.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})


def said(response: dict[str, Any]) -> str:
    return " ".join(
        part.get("transcript") or part.get("text") or "" for item in response["output"] if item["type"] == "message" for part in item["content"]
    )


def responses(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    created = [e["response"]["id"] for e in events if e["type"] == "response.created"]
    done = [e["response"] for e in events if e["type"] == "response.done"]
    assert [r["id"] for r in done] == created, "every response.created has exactly one response.done, in order"
    return done


@pytest.mark.parametrize("beta", DIALECTS)
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("delay", [0.0, 2.0], ids=["at_once", "after_2s"])
def test_a_tool_answer_gets_exactly_one_response_holding_the_answer(route: UpstreamRoute, beta: bool, delay: float) -> None:
    b = bridge(route, beta=beta, session={"tools": [WEATHER]})
    user_text(b, "what is the get_weather in Paris")
    b.send({"type": "response.create"})
    first = next_done(b, 0)
    call = next(item for item in first["output"] if item["type"] == "function_call")
    b.pump(delay)
    mark = len(b.events)
    b.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call["call_id"], "output": '{"temp_c": 21}'}})
    b.send({"type": "response.create"})
    next_done(b, mark)
    b.pump(10)
    done = responses(b.events)
    assert len(done) == 2, [said(r) for r in done]
    assert done[1]["status"] == "completed"
    assert "Here is what I found" in said(done[1])
    assert "error" not in types(b.events)


@pytest.mark.parametrize("beta", DIALECTS)
def test_a_cancelled_response_is_billed_with_the_usage_of_its_turn(beta: bool) -> None:
    b = bridge(beta=beta)
    user_text(b, "tell me a long story about the sea and the sky")
    b.send({"type": "response.create"})
    until(b, "response.output_audio.delta" if not beta else "response.audio.delta", 0)
    b.send({"type": "response.cancel"})
    b.pump(15)
    session = next(iter(b.state.sessions.values()))
    billed = b.translator.finished_responses()
    assert [r.status for r in billed] == ["cancelled"]
    assert billed[0].usage == openai_usage(session.usage_sent[-1])
    assert billed[0].usage["output_tokens"] > 0


@pytest.mark.parametrize("beta", DIALECTS)
def test_an_interrupted_response_is_billed_with_the_usage_of_its_turn(beta: bool) -> None:
    b = bridge(beta=beta)
    user_text(b, "tell me a long story about the sea and the sky")
    b.send({"type": "response.create"})
    until(b, "response.output_audio.delta" if not beta else "response.audio.delta", 0)
    user_text(b, "stop")
    b.send({"type": "response.cancel"})
    b.send({"type": "response.create"})
    b.pump(15)
    assert [r["status"] for r in responses(b.events)] == ["cancelled", "completed"]
    session = next(iter(b.state.sessions.values()))
    billed = b.translator.finished_responses()
    assert [r.status for r in billed] == ["cancelled", "completed"]
    assert [r.usage for r in billed] == [openai_usage(u) for u in session.usage_sent]


@pytest.mark.parametrize("beta", DIALECTS)
@pytest.mark.parametrize("words", [2, 60])
def test_a_text_only_response_is_done_when_its_text_is_complete(beta: bool, words: int) -> None:
    session = {"modalities": ["text"]} if beta else {"output_modalities": ["text"]}
    b = bridge(beta=beta, session=session)
    user_text(b, " ".join(["word"] * words))
    b.send({"type": "response.create"})
    started = b.now
    done = next_done(b, 0)
    assert b.now - started < 0.5  # the audio of 60 words plays for 20 s; its text is there at once
    assert "You said: word" in said(done)
    b.pump(30)  # Gemini's turnComplete, with the usage, comes after the playback time
    billed = b.translator.finished_responses()
    assert len(billed) == 1 and billed[0].usage is not None and billed[0].usage["output_tokens"] > 0
    assert len(responses(b.events)) == 1, "no response after the text-only one"


def test_usage_in_a_frame_of_its_own_belongs_to_the_turn_before_it() -> None:
    b = bridge(usage_standalone=True)
    for text in ("one", "two"):
        mark = len(b.events)
        user_text(b, text)
        b.send({"type": "response.create"})
        next_done(b, mark)
    b.pump(5)
    session = next(iter(b.state.sessions.values()))
    billed = b.translator.finished_responses()
    assert [r.usage for r in billed] == [openai_usage(u) for u in session.usage_sent]


def test_a_tool_answer_at_once_with_standalone_usage_bills_each_response_its_own_turn() -> None:
    b = bridge(usage_standalone=True, session={"tools": [WEATHER]})
    user_text(b, "what is the get_weather in Paris")
    b.send({"type": "response.create"})
    call = next(item for item in next_done(b, 0)["output"] if item["type"] == "function_call")
    mark = len(b.events)
    b.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call["call_id"], "output": "{}"}})
    b.send({"type": "response.create"})
    next_done(b, mark)
    b.pump(10)
    session = next(iter(b.state.sessions.values()))
    assert [r.usage for r in b.translator.finished_responses()] == [openai_usage(u) for u in session.usage_sent]


def spoken(text: str, lead: float = 0.3, tail: float = 1.2) -> bytes:
    return b"\0\0" * int(24000 * lead) + voice.speak(text, 24000) + b"\0\0" * int(24000 * tail)


def stream(b: Bridge, pcm: bytes, frame_ms: int = 20) -> tuple[list[dict[str, Any]], bytes]:
    step = 48 * frame_ms
    events: list[dict[str, Any]] = []
    for offset in range(0, len(pcm), step):
        events += b.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[offset : offset + step]).decode()})
        events += b.pump(frame_ms / 1000)
    return events, pcm


def test_a_barge_in_with_manual_turns_sends_no_bare_activity_start_and_no_empty_item() -> None:
    b = bridge(session={"audio": {"input": {"turn_detection": None, "transcription": {"model": "whisper-1"}}}})
    events: list[dict[str, Any]] = []
    for text in ("tell me a long story about the sea and the sky and the rivers and the forests and the hills", "what is the time"):
        events += stream(b, spoken(text, tail=0.2))[0]
        events += b.send({"type": "input_audio_buffer.commit"})
        events += b.send({"type": "response.create"})
        events += b.pump(1.0)  # the first reply is still playing when the second turn is committed
    events += b.pump(15)
    frames = [next(iter(f.get("realtimeInput", {"other": 0}))) for f in b.sent_upstream[1:]]
    starts = [i for i, f in enumerate(frames) if f == "activityStart"]
    assert len(starts) == 2 and all(frames[i + 1] == "audio" for i in starts), "each activityStart opens the turn's audio"
    assert frames.count("activityEnd") == 2
    items = [e["item"] for e in events if e["type"] == "conversation.item.done" and e["item"]["role"] == "user"]
    transcripts = [e["transcript"] for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert len(items) == 2 and len(transcripts) == 2 and all(transcripts), transcripts
    assert [r["status"] for r in responses(b.events)] == ["cancelled", "completed"]


@pytest.mark.parametrize(
    "route",
    [
        pytest.param(STUDIO_38, id="ai_studio"),
        pytest.param(UpstreamRoute(Flavour.VERTEX, "gemini-live-2.5-flash-native-audio", project="p", location="us-central1"), id="vertex"),
    ],
)
def test_a_1011_at_the_start_of_every_second_reply_loses_no_typed_turn(route: UpstreamRoute) -> None:
    faults = (Fault(when="reply", at=2, action="close", code=1011, repeat=True),)
    b = bridge(route, session={"output_modalities": ["text"]}, scenario=Scenario(faults=faults))
    answers = []
    for n in range(6):
        mark = len(b.events)
        user_text(b, f"question number {n}")
        b.send({"type": "response.create"})
        answers.append(said(next_done(b, mark)))
    b.pump(5)
    assert answers == [f"You said: question number {n}" for n in range(6)]
    assert "error" not in types(b.events)
    session = next(iter(b.state.sessions.values()))
    assert session.counters.resumptions >= 3
    # Each question is in Gemini's context once, followed by its one answer.
    assert [h.text for h in session.history if h.role == "user"] == [f"question number {n}" for n in range(6)]


def test_vertex_without_a_consumed_index_never_replays_an_answered_turn() -> None:
    route = UpstreamRoute(Flavour.VERTEX, "gemini-live-2.5-flash-native-audio", project="p", location="us-central1")
    b = bridge(route, consumed_index=False, session={"output_modalities": ["text"]})
    user_text(b, "hello there")
    b.send({"type": "response.create"})
    next_done(b, 0)
    b.pump(5)
    for _ in range(3):
        assert b.upstream is not None
        b.upstream.inject(Fault(when="seconds", action="go_away", time_left_s=30), b.now)
        b.pump(3)
    session = next(iter(b.state.sessions.values()))
    assert session.counters.resumptions == 3
    assert types(b.events).count("response.created") == 1
    assert session.counters.user_turns == 1


def test_a_voice_conversation_through_repeated_1011s_and_drops_loses_no_turn_and_no_audio() -> None:
    faults = (
        Fault(when="reply", at=2, action="close", code=1011, repeat=True),
        Fault(when="seconds", at=7.3, action="drop", repeat=True),
    )
    b = bridge(record_audio=True, scenario=Scenario(faults=faults), session={"audio": {"input": {"transcription": {"model": "whisper-1"}}}})
    sent = b""
    events: list[dict[str, Any]] = []
    questions = [f"question {word}" for word in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango")]
    for question in questions:
        more, pcm = stream(b, spoken(question, tail=1.6))
        events += more
        sent += pcm
    events += b.pump(10)
    session = next(iter(b.state.sessions.values()))
    answered = [said(r) for r in responses(b.events) if r["status"] == "completed"]
    assert session.counters.resumptions >= 10
    for question in questions:
        assert sum(voice.spoken_form(question) in a for a in answered) == 1, (question, answered)
    resampler = Resampler(24000, 16000)
    expected = b"".join(resampler.process(sent[i : i + 960]) for i in range(0, len(sent), 960))
    assert bytes(session.audio[16000]) == expected, "every audio frame in Gemini's state once: none lost, none twice"
    assert "error" not in types(b.events)




@pytest.mark.parametrize("route", ROUTES)
def test_response_tool_choice_auto_is_the_session_s_and_none_refuses_calls_in_one_response(route: UpstreamRoute) -> None:
    b = bridge(route, session={"tools": [WEATHER]})
    user_text(b, "what is the get_weather in Paris")
    b.send({"type": "response.create", "response": {"tool_choice": "auto"}})  # LiveKit sends it every time
    first = next_done(b, 0)
    assert any(item["type"] == "function_call" for item in first["output"])
    b.pump(10)
    mark = len(b.events)
    user_text(b, "and the get_weather in Rome")
    b.send({"type": "response.create", "response": {"tool_choice": "none"}})
    second = next_done(b, mark)
    b.pump(10)
    # No call reaches the client; 3.8 speaks before it calls ("Let me check."), so a message may precede the answer.
    assert {item["type"] for item in second["output"]} == {"message"}
    assert "Function calling is disabled" in said(second)
    assert len(responses(b.events)) == 2 and "error" not in types(b.events)


@pytest.mark.parametrize("late", [False, True], ids=["before_turn_complete", "after_turn_complete"])
def test_an_input_transcription_after_turn_complete_still_fills_the_user_item(late: bool) -> None:
    b = bridge(input_transcription_late=late, session={"audio": {"input": {"transcription": {"model": "whisper-1"}}}})
    stream(b, spoken("what is the time"))
    b.pump(5)
    completed = [e for e in b.events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert [e["transcript"] for e in completed] == ["what is the time"]
    assert [r["status"] for r in responses(b.events)] == ["completed"]


@pytest.mark.parametrize("late", [False, True], ids=["before_turn_complete", "after_turn_complete"])
def test_a_barge_in_is_answered_and_each_transcript_lands_on_its_own_item(late: bool) -> None:
    b = bridge(input_transcription_late=late, session={"audio": {"input": {"transcription": {"model": "whisper-1"}}}})
    stream(b, spoken("tell me a long story please", tail=0.8))
    stream(b, spoken("stop", lead=0.0, tail=1.5))
    b.pump(8)
    assert [(r["status"], said(r)) for r in responses(b.events)] == [
        ("cancelled", "You said: tell me a long story please"),
        ("completed", "You said: stop"),
    ]
    committed = [e["item_id"] for e in b.events if e["type"] == "input_audio_buffer.committed"]
    completed = {e["item_id"]: e["transcript"] for e in b.events if e["type"] == "conversation.item.input_audio_transcription.completed"}
    assert [completed[item] for item in committed] == ["tell me a long story please", "stop"]
