"""What the emulated model says, and the scenarios and faults tests script it with.

The default script is one anyone can predict: it answers the user's words with "You said: <words>";
when the words name a function declared in the session's tools it calls that function, arguments
filled from the schema (or from ``name=value`` pairs in the words), and once the results are back it
answers with them. A scenario overrides single turns and schedules faults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from livegate.emulator.messages import FunctionDeclaration
from livegate.errors import ConfigError

__all__ = [
    "SCENARIOS",
    "Call",
    "Fault",
    "Plan",
    "Scenario",
    "ScriptedTurn",
    "fill_arguments",
    "load_scenario",
    "plan_reply",
]

FAULT_TRIGGERS = ("setup", "turn", "reply", "message", "seconds")
FAULT_ACTIONS = ("close", "drop", "delay", "slow_pong", "go_away")


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Plan:
    text: str
    calls: tuple[Call, ...] = ()


@dataclass(frozen=True, slots=True)
class ScriptedTurn:
    reply: str | None = None
    calls: tuple[Call, ...] = ()


@dataclass(frozen=True, slots=True)
class Fault:
    """At the ``at``-th ``when`` event of a session (or ``at`` seconds into a connection), do ``action``.

    ``when``: setup (a connection's setupComplete), turn (a user turn begins its reply), reply (the first
    frame of that reply went out), message (client messages), seconds (connection age). A fault fires
    once per session, or on every connection with ``repeat``.
    """

    when: str
    action: str
    at: float = 1
    code: int = 1011
    reason: str = "Internal error encountered."
    ms: float = 0.0
    time_left_s: float = 1.0
    repeat: bool = False


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str = "echo"
    turns: Mapping[int, ScriptedTurn] = field(default_factory=dict)
    faults: tuple[Fault, ...] = ()
    latency_ms: float | None = None


SCENARIOS: dict[str, Scenario] = {
    "echo": Scenario(),
    # Every third turn the upstream fails as the real service sometimes does (gemini-live.md §7).
    "flaky": Scenario(
        name="flaky",
        faults=tuple(Fault(when="turn", at=n, action="close", repeat=False) for n in (3, 6, 9, 12)),
    ),
}


def load_scenario(spec: str) -> Scenario:
    """A named scenario, or a YAML/JSON file describing one."""
    if spec in SCENARIOS:
        return SCENARIOS[spec]
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"--scenario: {spec!r} is neither a named scenario ({', '.join(SCENARIOS)}) nor a file")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read scenario: {exc}") from None
    return scenario_from_dict(data, str(path))


def scenario_from_dict(data: Any, source: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a scenario is a mapping with 'turns' and/or 'faults'")
    unknown = set(data) - {"name", "turns", "faults", "latency_ms"}
    if unknown:
        raise ConfigError(f"{source}: unknown scenario field(s): {', '.join(sorted(unknown))}")
    turns: dict[int, ScriptedTurn] = {}
    for key, spec in (data.get("turns") or {}).items():
        where = f"{source}: turns.{key}"
        if not isinstance(key, int) or key < 1 or not isinstance(spec, dict):
            raise ConfigError(f"{where}: turns are numbered from 1 and map to {{reply: ..., call: ...}}")
        calls = spec.get("call") or spec.get("calls") or []
        calls = [calls] if isinstance(calls, dict) else calls
        if not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in calls):
            raise ConfigError(f"{where}: each call needs a name")
        turns[key] = ScriptedTurn(
            reply=spec.get("reply"), calls=tuple(Call(c["name"], dict(c.get("args") or {})) for c in calls)
        )
    faults = []
    for i, spec in enumerate(data.get("faults") or []):
        where = f"{source}: faults[{i}]"
        if not isinstance(spec, dict) or spec.get("when") not in FAULT_TRIGGERS or spec.get("action") not in FAULT_ACTIONS:
            raise ConfigError(
                f"{where}: needs when ({'|'.join(FAULT_TRIGGERS)}) and action ({'|'.join(FAULT_ACTIONS)})"
            )
        try:
            faults.append(Fault(**spec))
        except TypeError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    latency = data.get("latency_ms")
    return Scenario(str(data.get("name", source)), turns, tuple(faults), float(latency) if latency is not None else None)


def plan_reply(
    scenario: Scenario,
    turn: int,
    user_text: str,
    functions: Sequence[FunctionDeclaration],
    results: Sequence[tuple[str, Any]] = (),
) -> Plan:
    """What the model says for the ``turn``-th user turn, or after the tool ``results`` came back."""
    if results:
        said = "; ".join(f"{name} returned {orjson.dumps(value).decode()}" for name, value in results)
        return Plan(f"Here is what I found: {said}.")
    scripted = scenario.turns.get(turn)
    if scripted is not None and (scripted.reply is not None or scripted.calls):
        return Plan(scripted.reply or "", scripted.calls)
    words = user_text.lower()
    named = []
    for decl in functions:
        for spelling in {decl.name.lower(), decl.name.lower().replace("_", " ")}:
            position = words.find(spelling)
            if position >= 0:
                named.append((position, decl))
                break
    if named:
        pairs = dict(re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", user_text))
        return Plan("", tuple(Call(d.name, fill_arguments(d.parameters, pairs)) for _, d in sorted(named, key=lambda n: n[0])))
    return Plan(f"You said: {user_text}" if user_text else "I did not catch that.")


def fill_arguments(schema: Mapping[str, Any] | None, given: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Arguments for a function declared with ``schema``: given values first, then the schema's own
    default, example or first enum value, then a fixed value of the declared type."""
    if not schema:
        return {}
    value = _fill(schema, given or {}, "")
    return value if isinstance(value, dict) else {}


def _fill(schema: Mapping[str, Any], given: Mapping[str, str], name: str) -> Any:
    kind = str(schema.get("type", "object" if "properties" in schema else "string")).lower()
    if name in given:
        return _coerce(given[name].strip('"'), kind)
    for key in ("default", "example"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties") or {}
        return {prop: _fill(sub if isinstance(sub, dict) else {}, given, prop) for prop, sub in props.items()}
    if kind == "array":
        items = schema.get("items")
        return [_fill(items, given, name)] if isinstance(items, dict) else []
    return _coerce("", kind)


def _coerce(text: str, kind: str) -> Any:
    if kind == "integer":
        return int(text) if re.fullmatch(r"-?\d+", text) else 1
    if kind == "number":
        try:
            return float(text) if text else 1.5
        except ValueError:
            return 1.5
    if kind == "boolean":
        return text.lower() != "false"
    if kind == "null":
        return None
    return text or "example"
