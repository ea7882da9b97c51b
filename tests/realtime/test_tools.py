"""Function calling through the translator and the emulated service (openai-realtime.md §5.3,
gemini-live.md §6.4): the exact OpenAI sequence for every order Gemini models answer in."""

from __future__ import annotations

from typing import Any

import pytest

from livegate.emulator.models import ToolOrder
from livegate.emulator.state import EmulatorConfig
from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from tests.bridge import Bridge, types

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
CLOCK = {"type": "function", "name": "get_time", "description": "Time", "parameters": {"type": "object", "properties": {}}}
MODELS = {
    "2.5 blocking": ("gemini-2.5-flash-native-audio-preview-12-2025", None),
    "3.1 blocking, waits for the result": ("gemini-3.1-flash-live-preview", ToolOrder.AFTER_RESPONSE),
    "3.8 non-blocking": ("gemini-3.8-live", None),
}
CALL_SEQUENCE = [
    "response.output_item.added",
    "conversation.item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "conversation.item.done",
]


def tool_bridge(model: str = "gemini-2.5-flash-native-audio-preview-12-2025", order: ToolOrder | None = None, beta: bool = False, **session: Any) -> Bridge:
    bridge = Bridge(UpstreamRoute(Flavour.AI_STUDIO, model), beta=beta, config=EmulatorConfig(turn_complete_after_playback=False, tool_order=order))
    bridge.pump()
    if beta:
        bridge.send({"type": "session.update", "session": {"modalities": ["text"], "tools": [WEATHER, CLOCK], **session}})
    else:
        bridge.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER, CLOCK], **session}})
    return bridge


def ask(bridge: Bridge, text: str) -> list[dict[str, Any]]:
    bridge.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
    return bridge.send({"type": "response.create"}) + bridge.pump(1)


def answer(bridge: Bridge, call_id: str, output: str) -> list[dict[str, Any]]:
    bridge.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call_id, "output": output}})
    return bridge.send({"type": "response.create"}) + bridge.pump(1)


@pytest.mark.parametrize("case", list(MODELS))
def test_a_call_and_its_answer_in_every_order_gemini_uses(case: str) -> None:
    model, order = MODELS[case]
    bridge = tool_bridge(model, order)
    events = ask(bridge, "get_weather city=Paris")
    kinds = types(events)
    assert kinds[0] == "response.created"
    call_at = kinds.index("response.output_item.added", kinds.index("response.created") + (5 if "non-blocking" in case else 0))
    assert kinds[call_at : call_at + 6] == CALL_SEQUENCE
    assert kinds[call_at + 6 :] == ["response.done"]  # the response ends with the call: the client runs the tool
    added, delta, done = events[call_at], events[call_at + 2], events[call_at + 3]
    assert added["item"] == {"id": added["item"]["id"], "type": "function_call", "status": "in_progress", "name": "get_weather", "call_id": done["call_id"], "arguments": ""}
    assert delta["delta"] == done["arguments"] == '{"city":"Paris"}'
    assert done["name"] == "get_weather"
    assert done["call_id"].startswith("call_") and len(done["call_id"]) <= 32
    assert events[-1]["response"]["output"][-1]["type"] == "function_call"
    assert events[-1]["response"]["output"][-1]["status"] == "completed"
    reply = answer(bridge, done["call_id"], '{"temp_c": 21}')
    assert types(reply)[0] == "response.created"
    assert types(reply).count("response.done") == 1
    text = next(e["text"] for e in reply if e["type"] == "response.output_text.done")
    assert text == 'Here is what I found: get_weather returned {"temp_c":21}.'
    sent = [f for f in bridge.sent_upstream if "toolResponse" in f]
    gemini_id = next(iter(bridge.state.sessions.values())).history[-2].function_responses[0]["id"]
    assert sent == [{"toolResponse": {"functionResponses": [{"id": gemini_id, "name": "get_weather", "response": {"temp_c": 21}}]}}]


def test_two_calls_in_one_turn_and_their_answers() -> None:
    bridge = tool_bridge()
    events = ask(bridge, "get time and get weather")
    calls = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [c["name"] for c in calls] == ["get_time", "get_weather"]
    assert [e["output_index"] for e in calls] == [0, 1]
    for call in calls:
        bridge.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call["call_id"], "output": "done"}})
    reply = bridge.send({"type": "response.create"}) + bridge.pump(1)
    assert next(e["text"] for e in reply if e["type"] == "response.output_text.done") == (
        'Here is what I found: get_time returned {"output":"done"}; get_weather returned {"output":"done"}.'
    )


def test_beta_call_done_has_no_name() -> None:
    bridge = tool_bridge(beta=True)
    events = ask(bridge, "get weather")
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert "name" not in done
    assert "conversation.item.created" in types(events)


def test_tool_choice_none_answers_gemini_and_the_client_sees_no_call() -> None:
    bridge = tool_bridge(tool_choice="none")
    events = ask(bridge, "get weather")
    assert "response.function_call_arguments.done" not in types(events)
    refusal = next(f for f in bridge.sent_upstream if "toolResponse" in f)["toolResponse"]["functionResponses"][0]
    assert refusal["response"] == {"error": "Function calling is disabled (tool_choice is none)."}
    assert next(e["text"] for e in events if e["type"] == "response.output_text.done").startswith("Here is what I found: get_weather returned")


@pytest.mark.parametrize(("choice", "sentence"), [("required", "Always answer by calling one of the functions you were given."), ({"type": "function", "name": "get_time"}, "Answer by calling the function get_time.")])
def test_required_and_named_tool_choice_become_instructions(choice: object, sentence: str) -> None:
    bridge = tool_bridge(tool_choice=choice, instructions="Be kind.")
    ask(bridge, "hello")
    assert bridge.sent_upstream[0]["setup"]["systemInstruction"]["parts"][0]["text"] == f"Be kind.\n\n{sentence}"


def test_an_answer_to_a_call_gemini_cancelled_is_not_sent() -> None:
    bridge = tool_bridge("gemini-3.1-flash-live-preview", ToolOrder.AFTER_RESPONSE)
    call_id = next(e for e in ask(bridge, "get weather") if e["type"] == "response.function_call_arguments.done")["call_id"]
    ask(bridge, "never mind")  # the user moves on: Gemini cancels the pending call
    session = next(iter(bridge.state.sessions.values()))
    assert session.counters.tool_cancellations == 1
    late = answer(bridge, call_id, "too late")
    assert not [f for f in bridge.sent_upstream if "toolResponse" in f]
    assert bridge.closed is None  # the session goes on
    assert types(late)[0] == "response.created"
    assert types(late)[-1] == "response.done"
