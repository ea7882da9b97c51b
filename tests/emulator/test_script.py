"""The default script and scenario files."""

from __future__ import annotations

from pathlib import Path

import pytest

from livegate.emulator.messages import FunctionDeclaration
from livegate.emulator.script import (
    Call,
    Fault,
    Plan,
    Scenario,
    fill_arguments,
    load_scenario,
    plan_reply,
    scenario_from_dict,
)
from livegate.errors import ConfigError

WEATHER = FunctionDeclaration("get_weather", "", {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}})
ECHO = Scenario()


def test_the_model_repeats_the_users_words() -> None:
    assert plan_reply(ECHO, 1, "good morning", []) == Plan("You said: good morning")
    assert plan_reply(ECHO, 1, "", []) == Plan("I did not catch that.")


def test_naming_a_declared_function_calls_it_with_given_or_filled_arguments() -> None:
    assert plan_reply(ECHO, 1, "Get weather days=3", [WEATHER]) == Plan("", (Call("get_weather", {"city": "example", "days": 3}),))
    assert plan_reply(ECHO, 1, 'get_weather city="New York"', [WEATHER]).calls[0].args["city"] == "New York"
    assert plan_reply(ECHO, 1, "the weather", [WEATHER]) == Plan("You said: the weather")


def test_results_are_answered_in_the_models_words() -> None:
    assert plan_reply(ECHO, 1, "", [], [("f", {"output": 1})]) == Plan('Here is what I found: f returned {"output":1}.')


def test_arguments_come_from_defaults_examples_and_enums() -> None:
    schema = {
        "type": "object",
        "properties": {
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "n": {"type": "number", "default": 2.5},
            "tags": {"type": "array", "items": {"type": "string", "examples": ["x"]}},
            "nested": {"properties": {"ok": {"type": "boolean"}}},
            "nothing": {"type": "null"},
        },
    }
    assert fill_arguments(schema) == {"unit": "celsius", "n": 2.5, "tags": ["x"], "nested": {"ok": True}, "nothing": None}
    assert fill_arguments(None) == {}


def test_a_scenario_file_scripts_turns_and_faults(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "turns:\n  1: {reply: Hello}\n  2: {call: {name: get_weather, args: {city: Rome}}}\n"
        "faults:\n  - {when: turn, at: 3, action: close, code: 1011}\nlatency_ms: 15\n"
    )
    scenario = load_scenario(str(path))
    assert plan_reply(scenario, 1, "hi", []) == Plan("Hello")
    assert plan_reply(scenario, 2, "hi", []) == Plan("", (Call("get_weather", {"city": "Rome"}),))
    assert scenario.faults == (Fault(when="turn", action="close", at=3, code=1011),)
    assert scenario.latency_ms == 15.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "a scenario is a mapping"),
        ({"turns": {0: {"reply": "x"}}}, "turns are numbered from 1"),
        ({"turns": {1: {"call": {"args": {}}}}}, "each call needs a name"),
        ({"faults": [{"when": "never", "action": "close"}]}, "needs when (setup|turn|reply|message|seconds)"),
        ({"faults": [{"when": "turn", "action": "close", "colour": "red"}]}, "unexpected keyword argument 'colour'"),
        ({"steps": []}, "unknown scenario field(s): steps"),
    ],
)
def test_bad_scenarios_name_the_culprit(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=None) as raised:
        scenario_from_dict(data, "s.yaml")
    assert message in str(raised.value) and str(raised.value).startswith("s.yaml")


def test_named_scenarios_and_missing_files() -> None:
    assert load_scenario("echo") == Scenario()
    assert load_scenario("flaky").faults[0].at == 3
    with pytest.raises(ConfigError, match="neither a named scenario"):
        load_scenario("/nonexistent.yaml")
