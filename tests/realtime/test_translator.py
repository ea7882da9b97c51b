"""The translator, pure: exact event sequences (openai-realtime.md §5) and every error path, wired to
the emulated service in memory."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.realtime.translator import CloseClient, SendUpstream, StartUpstream, Translator
from tests.bridge import T0, Bridge, counter_ids, types

USER_HI = {"type": "conversation.item.create", "item": {"id": "msg_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}
TEXT_SESSION = {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
VERTEX_TEXT = UpstreamRoute(Flavour.VERTEX, "gemini-live-2.5-flash", project="p", location="us-central1")


def test_ga_text_turn_is_the_exact_sequence_of_the_reference() -> None:
    bridge = Bridge()
    bridge.pump()
    bridge.send(TEXT_SESSION)
    added = bridge.send(USER_HI)
    user = {"id": "msg_1", "type": "message", "status": "completed", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    assert added == [
        {"type": "conversation.item.added", "event_id": "event_005", "previous_item_id": None, "item": user},
        {"type": "conversation.item.done", "event_id": "event_006", "previous_item_id": None, "item": user},
    ]
    events = bridge.send({"type": "response.create", "response": {"metadata": {"k": "v"}}})
    ids = {"response_id": "resp_007", "item_id": "item_009", "output_index": 0, "content_index": 0}
    in_progress = {"id": "item_009", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    done_item = in_progress | {"status": "completed", "content": [{"type": "output_text", "text": "You said: hi"}]}
    envelope = {
        "object": "realtime.response",
        "id": "resp_007",
        "conversation_id": "conv_002",
        "output_modalities": ["text"],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
        "metadata": {"k": "v"},
    }
    usage = {
        "total_tokens": 30,
        "input_tokens": 1,
        "output_tokens": 29,
        "input_token_details": {
            "text_tokens": 1, "audio_tokens": 0, "image_tokens": 0, "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": 14, "audio_tokens": 15},
    }  # fmt: skip
    assert events == [
        {"type": "response.created", "event_id": "event_008", "response": envelope | {"status": "in_progress", "status_details": None, "output": [], "usage": None}},
        {"type": "response.output_item.added", "event_id": "event_010", "response_id": "resp_007", "output_index": 0, "item": in_progress},
        {"type": "conversation.item.added", "event_id": "event_011", "previous_item_id": "msg_1", "item": in_progress},
        {"type": "response.content_part.added", "event_id": "event_012", **ids, "part": {"type": "text", "text": ""}},
        {"type": "response.output_text.delta", "event_id": "event_013", **ids, "delta": "You"},
        {"type": "response.output_text.delta", "event_id": "event_014", **ids, "delta": " said:"},
        {"type": "response.output_text.delta", "event_id": "event_015", **ids, "delta": " hi"},
        {"type": "response.output_text.done", "event_id": "event_016", **ids, "text": "You said: hi"},
        {"type": "response.content_part.done", "event_id": "event_017", **ids, "part": {"type": "text", "text": "You said: hi"}},
        {"type": "response.output_item.done", "event_id": "event_018", "response_id": "resp_007", "output_index": 0, "item": done_item},
        {"type": "conversation.item.done", "event_id": "event_019", "previous_item_id": "msg_1", "item": done_item},
        {"type": "response.done", "event_id": "event_020", "response": envelope | {"status": "completed", "status_details": None, "output": [done_item], "usage": usage}},
    ]


def test_setup_goes_out_with_the_first_content_and_content_waits_for_setup_complete() -> None:
    translator = Translator(route=UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live"), model="m", beta=False, ids=counter_ids(), now=T0)
    translator.receive_client_event(json.dumps({"type": "session.update", "session": {"type": "realtime", "instructions": "Be terse."}}), T0)
    assert translator.actions_to_upstream() == []
    translator.receive_client_event(json.dumps(USER_HI), T0)
    assert translator.actions_to_upstream() == []  # an item alone does not need the upstream
    translator.receive_client_event('{"type": "response.create"}', T0)
    [start] = translator.actions_to_upstream()
    assert isinstance(start, StartUpstream)
    setup = json.loads(start.setup)["setup"]
    assert setup["systemInstruction"] == {"role": "user", "parts": [{"text": "Be terse."}]}
    translator.receive_upstream_message(b'{"setupComplete": {}}', T0)
    [content] = translator.actions_to_upstream()
    assert isinstance(content, SendUpstream)
    assert json.loads(content.frame) == {"clientContent": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}], "turnComplete": True}}


def test_beta_text_turn_uses_beta_names_and_one_created_event_per_item() -> None:
    bridge = Bridge(beta=True)
    assert types(bridge.pump()) == ["session.created", "conversation.created"]
    updated = bridge.send({"type": "session.update", "session": {"modalities": ["text"], "voice": "verse", "tool_choice": "get_time", "temperature": 0.9}})
    session = updated[0]["session"]
    assert session["modalities"] == ["text"]
    assert session["tool_choice"] == "get_time"
    assert (session["voice"], session["temperature"], session["input_audio_format"]) == ("verse", 0.9, "pcm16")
    assert "type" not in session and "audio" not in session
    assert types(bridge.send(USER_HI)) == ["conversation.item.created"]
    events = bridge.send({"type": "response.create"})
    assert types(events) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.created",
        "response.content_part.added",
        "response.text.delta",
        "response.text.delta",
        "response.text.delta",
        "response.text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ]
    final = events[-1]["response"]["output"][0]
    assert final["object"] == "realtime.item"
    assert final["content"] == [{"type": "text", "text": "You said: hi"}]
    assert bridge.sent_upstream[0]["setup"]["generationConfig"]["temperature"] == 0.9


def test_audio_output_streams_audio_and_transcript_deltas() -> None:
    bridge = Bridge()
    bridge.send(USER_HI)
    events = bridge.send({"type": "response.create"})
    kinds = types(events)
    assert kinds[3] == "response.content_part.added"
    assert events[3]["part"] == {"type": "audio", "transcript": ""}
    assert "response.output_audio.delta" in kinds
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta") == "You said: hi"
    assert kinds[-6:] == [
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    assert events[-1]["response"]["output"][0]["content"] == [{"type": "output_audio", "transcript": "You said: hi"}]


def test_text_only_client_on_a_half_cascade_vertex_model_asks_for_text() -> None:
    bridge = Bridge(VERTEX_TEXT)
    bridge.send(TEXT_SESSION)
    bridge.send(USER_HI)
    events = bridge.send({"type": "response.create"})
    assert bridge.sent_upstream[0]["setup"]["generationConfig"] == {"responseModalities": ["TEXT"]}
    assert bridge.sent_upstream[0]["setup"]["model"] == "projects/p/locations/us-central1/publishers/google/models/gemini-live-2.5-flash"
    assert events[-2]["item"]["content"] == [{"type": "output_text", "text": "You said: hi"}]


def test_items_keep_client_ids_and_previous_item_id_placement() -> None:
    bridge = Bridge()
    bridge.send(USER_HI)
    second = bridge.send({"type": "conversation.item.create", "previous_item_id": "root", "item": {"id": "sys_1", "type": "message", "role": "system", "content": [{"type": "input_text", "text": "rules"}]}})
    assert second[0]["previous_item_id"] is None
    third = bridge.send({"type": "conversation.item.create", "previous_item_id": "sys_1", "item": {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "ok"}]}})
    assert third[0]["previous_item_id"] == "sys_1"
    assert third[0]["item"]["content"] == [{"type": "output_text", "text": "ok"}]
    assert [i["id"] for i in bridge.translator.conversation.items] == ["sys_1", third[0]["item"]["id"], "msg_1"]


def test_retrieve_and_delete() -> None:
    bridge = Bridge()
    bridge.pump()
    bridge.send(USER_HI)
    retrieved = bridge.send({"type": "conversation.item.retrieve", "item_id": "msg_1"})
    assert retrieved[0]["type"] == "conversation.item.retrieved"
    assert retrieved[0]["item"]["id"] == "msg_1"
    assert bridge.send({"type": "conversation.item.delete", "item_id": "msg_1", "event_id": "del_1"})[0] == {
        "type": "conversation.item.deleted", "event_id": "event_007", "item_id": "msg_1",
    }  # fmt: skip
    missing = bridge.send({"type": "conversation.item.retrieve", "item_id": "msg_1", "event_id": "rci_msg_1"})
    assert missing[0]["error"] == {
        "type": "invalid_request_error", "code": "item_retrieve_invalid_item_id",
        "message": "Item with item_id not found: msg_1", "param": "item_id", "event_id": "rci_msg_1",
    }  # fmt: skip


def error_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    [event] = events
    assert event["type"] == "error"
    assert event["event_id"].startswith("event_")
    return dict(event["error"])


@pytest.mark.parametrize(
    ("frame", "code", "param", "message"),
    [
        ("{not json", "invalid_json", None, "We could not parse the JSON body of your request."),
        ('["a"]', "invalid_type", None, "Invalid event: expected a JSON object."),
        ('{"type": "conversation.item.frobnicate", "event_id": "e1"}', "invalid_value", "type", "Invalid value: 'conversation.item.frobnicate'."),
        ('{"event_id": "e1"}', "missing_required_parameter", "type", "Missing required parameter: 'type'."),
        ('{"type": "conversation.item.create", "event_id": "e1"}', "missing_required_parameter", "item", "Missing required parameter: 'item'."),
        ('{"type": "conversation.item.create", "item": "hi", "event_id": "e1"}', "invalid_type", "item", "Invalid type for 'item': expected an object, but got a string instead."),
        ('{"type": "input_audio_buffer.append", "audio": 7, "event_id": "e1"}', "invalid_type", "audio", "Invalid type for 'audio'"),
        ('{"type": "conversation.item.truncate", "item_id": "x", "content_index": 0, "event_id": "e1"}', "missing_required_parameter", "audio_end_ms", "Missing required parameter"),
        ('{"type": "session.update", "session": {"type": "realtime", "voice_speed": 2}, "event_id": "e1"}', "unknown_parameter", "session.voice_speed", "Unknown parameter: 'session.voice_speed'."),
        ('{"type": "session.update", "session": {"output_modalities": ["text"]}, "event_id": "e1"}', "missing_required_parameter", "session.type", "Missing required parameter: 'session.type'."),
        ('{"type": "session.update", "session": {"type": "realtime", "output_modalities": ["audio", "text"]}, "event_id": "e1"}', "invalid_value", "session.output_modalities", "Invalid 'session.output_modalities'"),
        ('{"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}, "event_id": "e1"}', "invalid_value", "session.audio.input.format.rate", "Invalid 'rate'"),
        ('{"type": "session.update", "session": {"type": "realtime", "max_output_tokens": 0}, "event_id": "e1"}', "invalid_value", "session.max_output_tokens", "Invalid 'session.max_output_tokens'"),
        ('{"type": "session.update", "session": {"type": "realtime", "tools": [{"type": "function"}]}, "event_id": "e1"}', "missing_required_parameter", "session.tools[0].name", "Missing required parameter"),
        ('{"type": "conversation.item.create", "item": {"type": "message", "role": "robot", "content": []}, "event_id": "e1"}', "invalid_value", "item.role", "Invalid value: 'robot'"),
        ('{"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text"}]}, "event_id": "e1"}', "invalid_type", "item.content[0].text", "Invalid type for 'item.content[0].text'"),
        ('{"type": "conversation.item.create", "previous_item_id": "nope", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}, "event_id": "e1"}', "invalid_value", "previous_item_id", "Item with id 'nope' not found."),
        ('{"type": "conversation.item.delete", "item_id": "nope", "event_id": "e1"}', "item_delete_invalid_item_id", "item_id", "Item with item_id not found: nope"),
        ('{"type": "response.create", "response": {"tools": [{"type": "function", "name": "f"}]}, "event_id": "e1"}', "unsupported_parameter", "response.tools", "'tools' is part of Gemini's session setup"),
        ('{"type": "response.create", "response": {"tool_choice": "required"}, "event_id": "e1"}', "unsupported_parameter", "response.tool_choice", "'tool_choice' is part of Gemini's session setup"),
        ('{"type": "response.create", "response": {"conversation": "none"}, "event_id": "e1"}', "unsupported_parameter", "response.conversation", "Gemini Live keeps one conversation"),
        ('{"type": "response.cancel", "event_id": "e1"}', "response_cancel_not_active", None, "Cancellation failed: no active response found"),
        ('{"type": "conversation.item.truncate", "item_id": "msg_x", "content_index": 0, "audio_end_ms": 10, "event_id": "e1"}', "item_truncate_invalid_item_id", "item_id", "Item with item_id not found"),
    ],
)
def test_bad_client_events_get_an_error_event_and_the_session_goes_on(frame: str, code: str, param: str | None, message: str) -> None:
    bridge = Bridge()
    bridge.pump()
    error = error_of(bridge.send(frame))
    assert error["code"] == code
    assert error["param"] == param
    assert error["message"].startswith(message)
    assert error["event_id"] == ("e1" if '"e1"' in frame else None)
    # The session goes on: a normal turn still works.
    bridge.send(USER_HI)
    assert types(bridge.send({"type": "response.create"}))[-1] == "response.done"


def test_a_refused_session_update_changes_nothing() -> None:
    bridge = Bridge()
    before = bridge.translator.session.render(beta=False)
    bridge.send({"type": "session.update", "session": {"type": "realtime", "instructions": "new", "max_output_tokens": "lots"}})
    assert bridge.translator.session.render(beta=False) == before


def test_explicit_nulls_are_not_set_and_clients_may_resend_model_and_tracing() -> None:
    bridge = Bridge()
    bridge.pump()
    updated = bridge.send({"type": "session.update", "session": {"type": "realtime", "model": "gpt-realtime-2.1", "tracing": "auto", "truncation": "disabled", "include": None}})
    session = updated[0]["session"]
    assert (session["model"], session["tracing"], session["truncation"]) == ("gpt-realtime", "auto", "disabled")
    bridge.send(USER_HI)
    assert types(bridge.send({"type": "response.create", "response": {"instructions": None, "tools": None, "conversation": "auto"}}))[-1] == "response.done"


def test_turn_detection_is_echoed_with_its_defaults() -> None:
    bridge = Bridge()
    bridge.pump()
    updated = bridge.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}}}}})
    assert updated[0]["session"]["audio"]["input"]["turn_detection"] == {"type": "semantic_vad", "eagerness": "low", "create_response": True, "interrupt_response": True}


def test_a_second_response_create_while_one_is_active_is_refused() -> None:
    bridge = Bridge()
    bridge.send(USER_HI)
    bridge.translator.receive_client_event('{"type": "response.create"}', bridge.now)
    bridge.translator.receive_client_event('{"type": "response.create", "event_id": "again"}', bridge.now)
    out = [json.loads(e) for e in bridge.translator.events_to_client() if isinstance(e, bytes)]
    error = out[-1]["error"]
    assert error["code"] == "conversation_already_has_active_response"
    assert error["event_id"] == "again"
    assert error["message"].startswith("Conversation already has an active response in progress: resp_")


def test_fields_gemini_never_sees_apply_at_once_after_setup() -> None:
    bridge = Bridge()
    bridge.send(USER_HI)
    bridge.send({"type": "response.create"})
    assert types(bridge.send({"type": "session.update", "session": {"type": "realtime", "tracing": "auto"}})) == ["session.updated"]
    assert len(bridge.state.sessions) == 1


def test_upstream_close_fails_the_response_reports_the_reason_and_closes_the_client() -> None:
    bridge = Bridge(UpstreamRoute(Flavour.AI_STUDIO, "gemini-0-retired"))
    bridge.send(USER_HI)
    events = bridge.send({"type": "response.create"})
    assert types(events) == ["response.created", "response.done", "error"]
    assert events[1]["response"]["status"] == "failed"
    assert events[1]["response"]["status_details"]["error"]["code"] == "upstream_closed_1008"
    assert events[2]["error"]["type"] == "invalid_request_error"
    assert events[2]["error"]["message"].startswith("Gemini Live closed the connection (1008): models/gemini-0-retired is not found")
    assert bridge.closed is not None
    assert bridge.closed.code == 1008


@pytest.mark.parametrize(("gemini", "client"), [(1007, 1011), (1008, 1008)])
def test_final_upstream_close_codes_map_to_client_close_codes(gemini: int, client: int) -> None:
    translator = Translator(route=UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live"), model="m", beta=False, ids=counter_ids(), now=T0)
    translator.events_to_client()
    translator.receive_upstream_closed(gemini, "Request contains an invalid argument.", T0)
    *events, close = translator.events_to_client()
    assert close == CloseClient(client, "Request contains an invalid argument.")
    assert json.loads(events[0])["error"]["code"] == f"upstream_closed_{gemini}"
    translator.receive_upstream_closed(gemini, "again", T0)
    assert translator.events_to_client() == []


def test_every_server_event_id_starts_with_event() -> None:
    bridge = Bridge()
    bridge.send(USER_HI)
    bridge.send({"type": "response.create"})
    assert all(e["event_id"].startswith("event_") for e in bridge.events)


fuzz_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=12,
)
CLIENT_TYPES = [
    "session.update", "input_audio_buffer.append", "input_audio_buffer.commit", "input_audio_buffer.clear",
    "conversation.item.create", "conversation.item.retrieve", "conversation.item.truncate", "conversation.item.delete",
    "response.create", "response.cancel", "output_audio_buffer.clear", "nonsense",
]  # fmt: skip
fuzz_frames = st.one_of(
    st.builds(lambda t, body: json.dumps({"type": t, **body}), st.sampled_from(CLIENT_TYPES), st.dictionaries(st.sampled_from(["session", "item", "audio", "item_id", "response", "previous_item_id", "content_index", "audio_end_ms", "event_id"]), fuzz_values, max_size=3)),
    st.text(max_size=40),
    st.binary(max_size=40),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fuzz_frames, min_size=1, max_size=4))
def test_random_client_frames_never_crash_the_translator_and_errors_keep_the_session(frames: list[str | bytes]) -> None:
    translator = Translator(route=UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live"), model="m", beta=False, ids=counter_ids(), now=T0)
    translator.events_to_client()
    for frame in frames:
        translator.receive_client_event(frame, T0)
        for event in translator.events_to_client():
            assert not isinstance(event, CloseClient)  # a client's mistake never ends its session
            assert json.loads(event)["event_id"].startswith("event_")
