"""The conformance checker on hand-built event lists: whole valid turns pass, each broken invariant is
reported. No sockets, no gateway."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from tests.conformance.invariants import assert_conformant, check

_ids = itertools.count(1)


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": f"event_{next(_ids):04d}", **fields}


def user_item(item_id: str, text: str, *, beta: bool = False) -> dict[str, Any]:
    item = {"id": item_id, "type": "message", "status": "completed", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return {"object": "realtime.item", **item} if beta else item


def assistant_item(item_id: str, text: str, status: str, *, beta: bool = False) -> dict[str, Any]:
    content = [{"type": "text" if beta else "output_text", "text": text}] if text else []
    item = {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}
    return {"object": "realtime.item", **item} if beta else item


def response(response_id: str, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    usage = {
        "total_tokens": 12,
        "input_tokens": 5,
        "output_tokens": 7,
        "input_token_details": {"text_tokens": 5, "audio_tokens": 0, "cached_tokens": 0},
        "output_token_details": {"text_tokens": 7, "audio_tokens": 0},
    }
    body: dict[str, Any] = {"object": "realtime.response", "id": response_id, "status": status, "status_details": None, "output": output}
    if status != "in_progress":
        body["usage"] = usage
    return body


def text_reply(response_id: str, user_id: str, item_id: str, text: str, *, beta: bool) -> list[dict[str, Any]]:
    """One assistant text response after ``user_id``, as openai-realtime.md §5.1 writes it."""
    ids = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
    final = assistant_item(item_id, text, "completed", beta=beta)
    delta, done = ("response.text.delta", "response.text.done") if beta else ("response.output_text.delta", "response.output_text.done")
    appeared = (
        [ev("conversation.item.created", previous_item_id=user_id, item=assistant_item(item_id, "", "in_progress", beta=beta))]
        if beta
        else [ev("conversation.item.added", previous_item_id=user_id, item=assistant_item(item_id, "", "in_progress"))]
    )
    return [
        ev("response.created", response=response(response_id, "in_progress", [])),
        ev("response.output_item.added", response_id=response_id, output_index=0, item=assistant_item(item_id, "", "in_progress", beta=beta)),
        *appeared,
        ev("response.content_part.added", **ids, part={"type": "text", "text": ""}),
        ev(delta, **ids, delta=text[:4]),
        ev(delta, **ids, delta=text[4:]),
        ev(done, **ids, text=text),
        ev("response.content_part.done", **ids, part={"type": "text", "text": text}),
        ev("response.output_item.done", response_id=response_id, output_index=0, item=final),
        *([] if beta else [ev("conversation.item.done", previous_item_id=user_id, item=final)]),
        ev("response.done", response=response(response_id, "completed", [final])),
    ]


def ga_text_turn() -> list[dict[str, Any]]:
    user = user_item("item_user", "hello")
    return [
        ev("session.created", session={"type": "realtime", "id": "sess_1", "object": "realtime.session"}),
        ev("conversation.item.added", previous_item_id=None, item=user),
        ev("conversation.item.done", previous_item_id=None, item=user),
        *text_reply("resp_1", "item_user", "item_reply", "You said: hello", beta=False),
        ev("rate_limits.updated", rate_limits=[{"name": "tokens", "limit": 40000, "remaining": 39000, "reset_seconds": 1.5}]),
    ]


def beta_text_turn() -> list[dict[str, Any]]:
    return [
        ev("session.created", session={"id": "sess_1", "object": "realtime.session", "modalities": ["text"]}),
        ev("conversation.created", conversation={"id": "conv_1", "object": "realtime.conversation"}),
        ev("conversation.item.created", previous_item_id=None, item=user_item("item_user", "hello", beta=True)),
        *text_reply("resp_1", "item_user", "item_reply", "You said: hello", beta=True),
    ]


def spoken_turn_prefix() -> list[dict[str, Any]]:
    """Server VAD: speech_started names the user item that committed introduces later (§5.2)."""
    user = {"id": "item_voice", "type": "message", "status": "completed", "role": "user", "content": [{"type": "input_audio", "transcript": None}]}
    return [
        ev("input_audio_buffer.speech_started", audio_start_ms=200, item_id="item_voice"),
        ev("input_audio_buffer.speech_stopped", audio_end_ms=1400, item_id="item_voice"),
        ev("input_audio_buffer.committed", previous_item_id=None, item_id="item_voice"),
        ev("conversation.item.added", previous_item_id=None, item=user),
        ev("conversation.item.done", previous_item_id=None, item=user),
    ]


def index_of(events: list[dict[str, Any]], kind: str) -> int:
    return next(i for i, e in enumerate(events) if e["type"] == kind)


def only(violations: list[str], *fragments: str) -> None:
    assert len(violations) == len(fragments), violations
    for violation, fragment in zip(violations, fragments, strict=True):
        assert fragment in violation, (fragment, violations)


def test_a_valid_ga_text_turn_passes() -> None:
    assert check(ga_text_turn(), beta=False) == []
    assert_conformant(ga_text_turn(), beta=False)


def test_a_valid_beta_text_turn_passes() -> None:
    assert check(beta_text_turn(), beta=True) == []


def test_a_spoken_turn_whose_id_speech_started_introduced_passes() -> None:
    events = [*spoken_turn_prefix(), *text_reply("resp_1", "item_voice", "item_reply", "You said: hi", beta=False)]
    assert check(events, beta=False) == []


def test_truncate_and_delete_of_known_items_pass() -> None:
    events = [
        *ga_text_turn(),
        ev("conversation.item.truncated", item_id="item_reply", content_index=0, audio_end_ms=100),
        ev("conversation.item.deleted", item_id="item_user"),
    ]
    assert check(events, beta=False) == []


def test_an_event_missing_a_required_field_is_reported_with_the_pydantic_error() -> None:
    events = ga_text_turn()
    del events[index_of(events, "response.output_text.delta")]["delta"]
    only(check(events, beta=False), "(response.output_text.delta): does not validate as ResponseTextDeltaEvent: delta: Field required [missing]")


def test_a_field_of_the_wrong_type_is_reported() -> None:
    events = beta_text_turn()
    events[index_of(events, "response.content_part.added")]["content_index"] = "zero"
    only(check(events, beta=True), "content_index: Input should be a valid integer")


def test_a_beta_event_type_on_ga_is_unknown() -> None:
    events = ga_text_turn()
    events[index_of(events, "response.output_text.delta")]["type"] = "response.text.delta"
    only(check(events, beta=False), "(response.text.delta): not a GA server event type")


def test_a_ga_event_type_on_beta_is_unknown() -> None:
    events = beta_text_turn()
    events.insert(3, ev("conversation.item.done", previous_item_id=None, item=user_item("item_user", "hello", beta=True)))
    only(check(events, beta=True), "(conversation.item.done): not a beta server event type")


def test_a_made_up_event_type_is_unknown() -> None:
    events = [*ga_text_turn(), ev("response.thinking.delta", delta="hmm")]
    only(check(events, beta=False), "(response.thinking.delta): not a GA server event type")


def test_a_response_created_without_response_done_is_reported() -> None:
    events = ga_text_turn()
    del events[index_of(events, "response.done")]
    only(check(events, beta=False), "resp_1 never gets its response.done")


def test_a_response_done_without_response_created_is_reported() -> None:
    events = ga_text_turn()
    events.append(ev("response.done", response=response("resp_ghost", "completed", [])))
    only(check(events, beta=False), "resp_ghost done without a response.created before it")


def test_a_second_response_done_for_one_response_is_reported() -> None:
    events = ga_text_turn()
    events.append(copy.deepcopy(events[index_of(events, "response.done")]))
    only(check(events, beta=False), "resp_1 done a second time")


def test_a_response_done_before_its_response_created_is_reported() -> None:
    events = beta_text_turn()
    done = events.pop(index_of(events, "response.done"))
    events.insert(index_of(events, "response.created"), done)
    violations = check(events, beta=True)
    assert "resp_1 done without a response.created before it" in violations[0]
    assert any("resp_1 never gets its response.done" in v for v in violations)


def test_a_delta_after_response_done_is_reported() -> None:
    events = ga_text_turn()
    late = copy.deepcopy(events[index_of(events, "response.output_text.delta")])
    events.insert(index_of(events, "response.done") + 1, late)
    only(check(events, beta=False), "(response.output_text.delta): names resp_1 after its response.done")


def test_an_output_item_before_response_created_is_reported() -> None:
    events = beta_text_turn()
    early = events.pop(index_of(events, "response.output_item.added"))
    events.insert(index_of(events, "response.created"), early)
    only(check(events, beta=True), "(response.output_item.added): names resp_1 before its response.created")


def test_function_call_arguments_after_response_done_are_reported() -> None:
    events = ga_text_turn()
    events.append(
        ev("response.function_call_arguments.done", response_id="resp_1", item_id="item_reply", output_index=0, call_id="call_1", name="f", arguments="{}")
    )
    only(check(events, beta=False), "(response.function_call_arguments.done): names resp_1 after its response.done")


def test_two_responses_in_progress_at_once_are_reported() -> None:
    events = ga_text_turn()
    second = text_reply("resp_2", "item_reply", "item_reply_2", "And again", beta=False)
    events[index_of(events, "response.done") : index_of(events, "response.done")] = second[:1]  # resp_2 created before resp_1 is done
    events += second[1:]
    only(check(events, beta=False), "resp_2 created while resp_1 is still in progress")


def test_back_to_back_responses_pass() -> None:
    events = [*ga_text_turn(), *text_reply("resp_2", "item_reply", "item_reply_2", "And again", beta=False)]
    assert check(events, beta=False) == []


def test_a_content_event_of_an_unknown_item_is_reported() -> None:
    events = ga_text_turn()
    events[index_of(events, "response.content_part.added")]["item_id"] = "item_nowhere"
    only(check(events, beta=False), "(response.content_part.added): refers to item item_nowhere, which no earlier event introduced")


def test_an_unknown_previous_item_id_is_reported() -> None:
    events = beta_text_turn()
    events[index_of(events, "conversation.item.created")]["previous_item_id"] = "item_before_time"
    only(check(events, beta=True), "refers to item item_before_time")


def test_an_item_referred_to_before_it_is_introduced_is_reported() -> None:
    events = ga_text_turn()
    part = events.pop(index_of(events, "response.content_part.added"))
    events.insert(index_of(events, "response.output_item.added"), part)
    only(check(events, beta=False), "(response.content_part.added): refers to item item_reply")


def test_a_response_done_listing_an_unknown_output_item_is_reported() -> None:
    events = ga_text_turn()
    events[index_of(events, "response.done")]["response"]["output"].append(assistant_item("item_phantom", "boo", "completed"))
    only(check(events, beta=False), "(response.done): refers to item item_phantom")


@pytest.mark.parametrize("kind", ["conversation.item.truncated", "conversation.item.deleted"])
def test_truncating_or_deleting_an_unknown_item_is_reported(kind: str) -> None:
    fields = {"content_index": 0, "audio_end_ms": 100} if kind.endswith("truncated") else {}
    events = [*ga_text_turn(), ev(kind, item_id="item_never", **fields)]
    only(check(events, beta=False), f"({kind}): refers to item item_never")


def test_transcription_of_an_uncommitted_item_is_reported() -> None:
    events = [
        *spoken_turn_prefix(),
        ev("conversation.item.input_audio_transcription.completed", item_id="item_other", content_index=0, transcript="hi", usage={"type": "duration", "seconds": 1}),
    ]
    only(check(events, beta=False), "refers to item item_other")


def test_a_response_done_still_in_progress_is_reported() -> None:
    events = ga_text_turn()
    events[index_of(events, "response.done")]["response"]["status"] = "in_progress"  # the SDK's model allows it
    only(check(events, beta=False), "resp_1 ends with status 'in_progress'")


def test_a_response_done_with_a_made_up_status_fails_both_checks() -> None:
    events = beta_text_turn()
    events[index_of(events, "response.done")]["response"]["status"] = "finished"
    only(check(events, beta=True), "response.status: Input should be", "resp_1 ends with status 'finished'")


def test_assert_conformant_lists_every_violation() -> None:
    events = ga_text_turn()
    del events[index_of(events, "response.done")]
    events.append(ev("response.text.delta", response_id="resp_1", item_id="item_reply", output_index=0, content_index=0, delta="x"))
    with pytest.raises(AssertionError) as raised:
        assert_conformant(events, beta=False)
    message = str(raised.value)
    assert message.startswith("2 GA protocol violation(s)")
    assert "not a GA server event type" in message
    assert "never gets its response.done" in message


def beta_session_created(model: Any) -> dict[str, Any]:
    session = {"id": "sess_1", "object": "realtime.session", "model": model, "modalities": ["text", "audio"]}
    return ev("session.created", session=session)


def test_a_beta_session_may_name_the_deployment_the_client_asked_for() -> None:
    assert check([beta_session_created("gpt-4o-realtime-preview")], beta=True) == []
    assert check([beta_session_created("vertex-live")], beta=True) == []


@pytest.mark.parametrize("model", [5, ""])
def test_a_beta_session_model_that_is_not_a_name_is_still_reported(model: Any) -> None:
    assert any("session.model" in v for v in check([beta_session_created(model)], beta=True))
