"""Hostile input on the pure core (issue 13): every bad client frame gets an OpenAI ``error`` event with
OpenAI's code and param and the session goes on; nothing Gemini would refuse reaches it (the emulator
is strict: it closes with 1007 as Gemini does); no Gemini message, however malformed, ends a session;
a bug met while handling one event becomes a ``server_error`` and the session goes on.

Property runs use the hypothesis profile in tests/conftest.py: a few thousand examples in CI, many more
with HYPOTHESIS_PROFILE=long."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livegate.emulator.state import EmulatorConfig
from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.realtime.translator import CloseClient
from tests.bridge import Bridge, types
from tests.conformance.invariants import check

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(16)).decode()
USER_HI = {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}
TOOL = {"type": "function", "name": "get_weather", "description": "The weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def bridge(*, beta: bool = False) -> Bridge:
    b = Bridge(UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live"), beta=beta, config=EmulatorConfig(turn_complete_after_playback=False))
    b.pump()
    return b


def answers_a_normal_turn(b: Bridge) -> bool:
    mark = len(b.events)
    b.send(USER_HI)
    b.send({"type": "response.create"})
    b.pump(2)
    done = [e["response"] for e in b.events[mark:] if e["type"] == "response.done"]
    return len(done) == 1 and done[0]["status"] == "completed"


def refused_by_gemini(b: Bridge) -> list[str]:
    return [e["error"]["code"] for e in b.events if e["type"] == "error" and e["error"]["code"].startswith("upstream_closed")]


def ga(session: dict[str, Any]) -> dict[str, Any]:
    return {"type": "session.update", "session": {"type": "realtime", **session}}


BAD_FRAMES = [
    pytest.param({"type": "input_audio_buffer.append", "audio": "é"}, "invalid_value", "audio", id="audio-not-ascii"),
    pytest.param({"type": "input_audio_buffer.append", "audio": "!!!!"}, "invalid_value", "audio", id="audio-not-base64"),
    pytest.param({"type": "input_audio_buffer.append", "audio": "AAA"}, "invalid_value", "audio", id="audio-unpadded"),
    pytest.param(
        {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": ["input_text"], "text": "x"}]}},
        "invalid_type", "item.content[0].type", id="part-type-list",
    ),
    pytest.param(
        {"type": "conversation.item.create", "item": {"type": "message", "role": "assistant", "content": [{"type": {"a": 1}, "text": "x"}]}},
        "invalid_type", "item.content[0].type", id="part-type-object",
    ),
    pytest.param({"type": "conversation.item.create", "item": {"type": {}, "role": "user", "content": []}}, "invalid_type", "item.type", id="item-type-object"),
    pytest.param(
        {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,!!!"}]}},
        "invalid_value", "item.content[0].image_url", id="image-not-base64",
    ),
    pytest.param(
        {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}},
        "invalid_value", "item.content[0].image_url", id="image-not-png",
    ),
    pytest.param(
        {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": "!!"}]}},
        "invalid_value", "item.content[0].audio", id="item-audio-not-base64",
    ),
    pytest.param(ga({"audio": {"input": {"format": {"type": {}}}}}), "invalid_value", "session.audio.input.format", id="format-type-object"),
    pytest.param(ga({"tools": [TOOL | {"description": 5}]}), "invalid_type", "session.tools[0].description", id="tool-description-int"),
    pytest.param(ga({"tools": [TOOL | {"name": ""}]}), "missing_required_parameter", "session.tools[0].name", id="tool-name-empty"),
    pytest.param(ga({"tools": [TOOL | {"name": "get weather"}]}), "invalid_value", "session.tools[0].name", id="tool-name-space"),
    pytest.param(ga({"tools": [TOOL | {"name": "1st"}]}), "invalid_value", "session.tools[0].name", id="tool-name-digit-first"),
    pytest.param(ga({"tools": [TOOL | {"name": "x" * 65}]}), "invalid_value", "session.tools[0].name", id="tool-name-too-long"),
    pytest.param(ga({"tools": [TOOL, TOOL]}), "invalid_value", "session.tools[1].name", id="tool-twice"),
    pytest.param(ga({"tools": [TOOL | {"parameters": {"type": "string"}}]}), "invalid_value", "session.tools[0].parameters", id="tool-parameters-not-object"),
    pytest.param(
        ga({"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": "x"}}}}),
        "invalid_type", "session.audio.input.turn_detection.silence_duration_ms", id="silence-string",
    ),
    pytest.param(
        ga({"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 7}}}}),
        "invalid_value", "session.audio.input.turn_detection.threshold", id="threshold-7",
    ),
    pytest.param(
        ga({"audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "very"}}}}),
        "invalid_value", "session.audio.input.turn_detection.eagerness", id="eagerness",
    ),
    pytest.param(ga({"audio": {"input": {"transcription": 5}}}), "invalid_type", "session.audio.input.transcription", id="transcription-5"),
    pytest.param(ga({"audio": {"input": {"noise_reduction": "x"}}}), "invalid_type", "session.audio.input.noise_reduction", id="noise-string"),
    pytest.param(
        ga({"audio": {"input": {"noise_reduction": {"type": "loud"}}}}), "invalid_value", "session.audio.input.noise_reduction.type", id="noise-type",
    ),
    pytest.param(ga({"audio": {"output": {"speed": "fast"}}}), "invalid_type", "session.audio.output.speed", id="speed-fast"),
    pytest.param(ga({"audio": {"output": {"speed": 9}}}), "invalid_value", "session.audio.output.speed", id="speed-9"),
    pytest.param(ga({"audio": {"output": {"voice": 3}}}), "invalid_type", "session.audio.output.voice", id="voice-number"),
    pytest.param(ga({"include": 1}), "invalid_type", "session.include", id="include-number"),
    pytest.param(ga({"include": ["everything"]}), "invalid_value", "session.include[0]", id="include-unknown"),
    pytest.param(ga({"tracing": 1}), "invalid_type", "session.tracing", id="tracing-number"),
    pytest.param(ga({"truncation": 1}), "invalid_type", "session.truncation", id="truncation-number"),
    pytest.param(ga({"prompt": 1}), "invalid_type", "session.prompt", id="prompt-number"),
    pytest.param(ga({"model": 1}), "invalid_type", "session.model", id="model-number"),
    pytest.param({"type": "response.create", "response": {"banana": 1}}, "unknown_parameter", "response.banana", id="response-unknown"),
    pytest.param({"type": "response.create", "response": {"instructions": 5}}, "invalid_type", "response.instructions", id="response-instructions"),
    pytest.param({"type": "response.create", "response": {"output_modalities": ["smell"]}}, "invalid_value", "response.output_modalities", id="response-modalities"),
    pytest.param({"type": "response.create", "response": {"metadata": []}}, "invalid_type", "response.metadata", id="response-metadata-list"),
    pytest.param({"type": "response.create", "response": {"metadata": {"k": 1}}}, "invalid_type", "response.metadata.k", id="response-metadata-value"),
    pytest.param({"type": "session.update", "session": {"modalities": [["text"]]}}, "invalid_value", "session.modalities", id="beta-modalities-nested"),
    pytest.param({"type": "session.update", "session": {"input_audio_format": {}}}, "invalid_value", "session.input_audio_format", id="beta-format-object"),
    pytest.param({"type": "session.update", "session": {"speed": "fast"}}, "invalid_type", "session.audio.output.speed", id="beta-speed"),
]


@pytest.mark.parametrize(("frame", "code", "param"), BAD_FRAMES)
def test_a_bad_frame_gets_openai_s_error_and_the_session_still_answers(frame: dict[str, Any], code: str, param: str) -> None:
    beta = frame["type"] == "session.update" and "type" not in frame["session"]
    b = bridge(beta=beta)
    upstream = len(b.sent_upstream)
    events = b.send({**frame, "event_id": "evt_bad"})
    errors = [e["error"] for e in events if e["type"] == "error"]
    assert [(e["code"], e["param"], e["event_id"]) for e in errors] == [(code, param, "evt_bad")]
    assert "session.updated" not in types(events)
    assert b.sent_upstream[upstream:] == []  # nothing of it reached Gemini
    assert answers_a_normal_turn(b)
    assert refused_by_gemini(b) == [] and b.closed is None


def test_a_good_image_still_goes_to_gemini_as_a_video_frame() -> None:
    b = bridge()
    b.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": PNG}]}})
    assert [next(iter(f["realtimeInput"])) for f in b.sent_upstream if "realtimeInput" in f] == ["video"]
    assert answers_a_normal_turn(b) and refused_by_gemini(b) == []


def test_explicit_nulls_in_turn_detection_and_transcription_are_not_set() -> None:
    b = bridge()
    detection = {"type": "semantic_vad", "eagerness": "auto", "threshold": None, "create_response": True, "interrupt_response": None}
    events = b.send(ga({"audio": {"input": {"turn_detection": detection, "transcription": {"model": "whisper-1", "language": None}}}}))
    assert types(events) == ["session.updated"]


def test_an_internal_error_in_one_event_is_a_server_error_and_the_session_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    b = bridge()

    def broken(*_: Any) -> None:
        raise KeyError("a secret payload")

    monkeypatch.setattr(b.translator.turns, "clear", broken)
    events = b.send({"type": "input_audio_buffer.clear", "event_id": "evt_1"})
    assert [(e["error"]["code"], e["error"]["type"], e["error"]["event_id"]) for e in events if e["type"] == "error"] == [
        ("server_error", "server_error", "evt_1")
    ]
    assert "secret" not in json.dumps(events)
    faults = b.translator.drain_faults()
    assert [(where, type(exc)) for where, exc in faults] == [("InputAudioBufferClear", KeyError)]
    assert answers_a_normal_turn(b) and b.closed is None


def test_repeated_internal_errors_end_the_session_with_an_error_and_1011(monkeypatch: pytest.MonkeyPatch) -> None:
    b = bridge()
    monkeypatch.setattr(b.translator.turns, "clear", lambda: 1 / 0)
    for _ in range(5):
        b.send({"type": "input_audio_buffer.clear"})
    assert b.closed is not None and b.closed.code == 1011
    assert b.events[-1]["type"] == "error" and b.events[-1]["error"]["code"] == "server_error"


# ---- properties --------------------------------------------------------------------------------

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=16),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=16,
)
VALID_EVENTS: list[dict[str, Any]] = [
    USER_HI,
    {"type": "response.create", "response": {"metadata": {"k": "v"}, "instructions": "be brief"}},
    {"type": "response.cancel"},
    ga({"instructions": "hello", "tools": [TOOL], "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.5}}}}),
    {"type": "session.update", "session": {"modalities": ["text"], "voice": "alloy", "input_audio_format": "pcm16"}},
    {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(960)).decode()},
    {"type": "input_audio_buffer.commit"},
    {"type": "input_audio_buffer.clear"},
    {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": PNG}]}},
    {"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_1", "output": "{}"}},
    {"type": "conversation.item.create", "item": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}},
    {"type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0, "audio_end_ms": 10},
    {"type": "conversation.item.delete", "item_id": "item_1"},
    {"type": "conversation.item.retrieve", "item_id": "item_1"},
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> str | bytes:
    """A valid event with one part replaced, deleted or added, or its JSON cut short, or noise."""
    event = copy.deepcopy(draw(st.sampled_from(VALID_EVENTS)))
    how = draw(st.sampled_from(["replace", "delete", "add", "truncate", "noise", "random"]))
    if how == "noise":
        return draw(st.binary(max_size=64))
    if how == "random":
        return json.dumps(draw(values))
    if how == "truncate":
        text = json.dumps(event)
        return text[: draw(st.integers(0, len(text) - 1))]
    path = draw(st.sampled_from(_paths(event)[1:]))
    parent: Any = event
    for key in path[:-1]:
        parent = parent[key]
    if how == "replace":
        parent[path[-1]] = draw(values)
    elif how == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=12))] = draw(values)
    else:
        parent.append(draw(values))
    return json.dumps(event)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frames=st.lists(mutated(), min_size=1, max_size=6), beta=st.booleans())
def test_mutated_and_broken_client_events_never_end_the_session_nor_reach_gemini_refused(frames: list[str | bytes], beta: bool) -> None:
    b = bridge(beta=beta)
    for frame in frames:
        b.translator.receive_client_event(frame, b.now)
        b.pump(0.05)
    b.send({"type": "response.cancel"})  # whatever a frame started is stopped, as a client would
    b.pump(3)
    assert b.closed is None
    assert b.translator.drain_faults() == []  # no bug met: every bad frame was refused by a check
    assert refused_by_gemini(b) == []  # the strict emulator closes with 1007 on what Gemini refuses
    assert answers_a_normal_turn(b)
    assert check(b.events, beta=beta) == []


gemini_values = values | st.sampled_from([True, False, "", "AAAA", "é", [], {}, "-1", "1e309", "50s", "NaNs"])
SERVER_CONTENT_FIELDS = [
    "modelTurn", "generationComplete", "turnComplete", "interrupted", "inputTranscription", "outputTranscription",
    "turnCompleteReason", "waitingForInput", "groundingMetadata", "interimInputTranscription",
]  # fmt: skip
parts = st.lists(
    st.fixed_dictionaries({}, optional={"text": gemini_values, "thought": gemini_values, "inlineData": st.fixed_dictionaries({}, optional={"mimeType": gemini_values, "data": gemini_values}) | gemini_values}) | gemini_values,
    max_size=3,
)
server_content = st.fixed_dictionaries(
    {},
    optional={
        "modelTurn": st.fixed_dictionaries({}, optional={"role": gemini_values, "parts": parts | gemini_values}) | gemini_values,
        "generationComplete": gemini_values,
        "interrupted": gemini_values,
        "inputTranscription": st.fixed_dictionaries({}, optional={"text": gemini_values, "finished": gemini_values}) | gemini_values,
        "outputTranscription": st.fixed_dictionaries({}, optional={"text": gemini_values}) | gemini_values,
        "turnCompleteReason": gemini_values,
        "unknownField": gemini_values,
    },
)
server_messages = st.fixed_dictionaries(
    {},
    optional={
        "serverContent": server_content | gemini_values,
        "toolCall": st.fixed_dictionaries({}, optional={"functionCalls": st.lists(st.fixed_dictionaries({}, optional={"id": gemini_values, "name": gemini_values | st.just("get_weather"), "args": gemini_values}) | gemini_values, max_size=2) | gemini_values}) | gemini_values,
        "toolCallCancellation": st.fixed_dictionaries({}, optional={"ids": gemini_values}) | gemini_values,
        "usageMetadata": st.dictionaries(st.sampled_from(["promptTokenCount", "responseTokenCount", "candidatesTokenCount", "promptTokensDetails", "responseTokensDetails", "thoughtsTokenCount"]), gemini_values, max_size=4) | gemini_values,
        "sessionResumptionUpdate": st.fixed_dictionaries({}, optional={"newHandle": gemini_values, "resumable": gemini_values, "lastConsumedClientMessageIndex": gemini_values}) | gemini_values,
        "goAway": st.fixed_dictionaries({}, optional={"timeLeft": gemini_values}) | gemini_values,
        "voiceActivity": gemini_values,
        "setupComplete": gemini_values,
    },
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messages=st.lists(server_messages | values.map(lambda v: {"serverContent": v}), min_size=1, max_size=6), beta=st.booleans(), raw=st.booleans())
def test_malformed_gemini_messages_never_end_the_session(messages: list[Any], beta: bool, raw: bool) -> None:
    b = bridge(beta=beta)
    b.send({"type": "session.update", "session": {"tools": [TOOL]} if beta else {"type": "realtime", "tools": [TOOL]}})
    b.send(USER_HI)
    b.send({"type": "response.create"})  # a response is in progress when the garbage arrives
    for message in messages:
        data = json.dumps(message).encode()
        b.translator.receive_upstream_message(data[: len(data) // 2] if raw else data, b.now)
        b.pump(0.01)
    # Gemini ends every turn with a turnComplete: one closes whatever the garbage opened.
    b.translator.receive_upstream_message(b'{"serverContent": {"turnComplete": true}}', b.now)
    b.pump(5)
    b.translator.receive_upstream_message(b'{"serverContent": {"turnComplete": true}}', b.now)
    b.pump(1)
    assert not any(isinstance(e, CloseClient) for e in b.translator.events_to_client())
    assert b.closed is None
    assert b.translator.drain_faults() == []
    assert check(b.events, beta=beta) == []
    assert answers_a_normal_turn(b)
