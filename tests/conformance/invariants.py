"""What every run of the OpenAI Realtime protocol keeps, checked in one place over the server events a
client saw (openai-realtime.md §2, §4, §5). Pure: a list of events in, a list of violations out.

- Each event validates against the openai SDK's own pydantic model for its dialect; a type the
  dialect's union does not know is a violation.
- Every ``response.created`` gets exactly one ``response.done`` with the same id, after it; no
  ``response.done`` without its ``response.created``.
- No event naming a ``response_id`` comes before that response's ``response.created`` or after its
  ``response.done``.
- At most one response is in progress at a time.
- Every item id an event refers to was introduced earlier (``conversation.item.added`` /
  ``.created``, ``response.output_item.added``, ``input_audio_buffer.committed`` or
  ``input_audio_buffer.speech_started``, whose id names the item committed later).
- ``response.done`` ends with completed, cancelled, failed or incomplete.
"""

from __future__ import annotations

from typing import Annotated, Any, Union, get_args

import pydantic
from openai.types.beta.realtime import realtime_server_event as beta_events
from openai.types.realtime import realtime_server_event as ga_events

__all__ = ["FINAL_STATUSES", "assert_conformant", "check"]

FINAL_STATUSES = frozenset({"completed", "cancelled", "failed", "incomplete"})

# Events that bring an item id into the conversation (speech_started: the item committed later).
_INTRODUCE_ITEM = frozenset(
    {
        "conversation.item.added",
        "conversation.item.created",
        "response.output_item.added",
        "input_audio_buffer.committed",
        "input_audio_buffer.speech_started",
    }
)


class _Dialect:
    def __init__(self, name: str, server_event: Any) -> None:
        # The SDK annotates its union with its own PropertyInfo, which pydantic does not read: make
        # the discriminator pydantic's, so that each event is checked against the model of its type.
        union = get_args(server_event)[0]
        self.name = name
        self.models = {get_args(m.model_fields["type"].annotation)[0]: m for m in get_args(union)}
        self.adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(
            Annotated[Union[tuple(self.models.values())], pydantic.Field(discriminator="type")]  # noqa: UP007
        )


_GA = _Dialect("GA", ga_events.RealtimeServerEvent)
_BETA = _Dialect("beta", beta_events.RealtimeServerEvent)


def check(events: list[dict[str, Any]], *, beta: bool) -> list[str]:
    """Every violation of the invariants above in ``events`` (server events, in the order received)."""
    dialect = _BETA if beta else _GA
    violations: list[str] = []
    created: dict[str, int] = {}  # response id -> index of its response.created
    done: dict[str, int] = {}  # response id -> index of its response.done
    in_progress: str | None = None
    items: set[str] = set()

    for index, event in enumerate(events):
        kind = event.get("type") if isinstance(event, dict) else None
        where = f"event {index} ({kind})"
        if not isinstance(kind, str):
            violations.append(f"event {index}: not an event object with a string type: {event!r:.200}")
            continue
        if kind not in dialect.models:
            violations.append(f"{where}: not a {dialect.name} server event type")
        else:
            try:
                dialect.adapter.validate_python(event)
            except pydantic.ValidationError as exc:
                errors = [e for e in exc.errors(include_url=False) if not (beta and _deployment_name(e))]
                if errors:
                    described = "; ".join(_error(e) for e in errors)
                    violations.append(f"{where}: does not validate as {dialect.models[kind].__name__}: {described}")

        # OpenAI Realtime: every response.created gets exactly one response.done (§5.4).
        response = event.get("response") if kind in ("response.created", "response.done") else None
        response_id = response.get("id") if isinstance(response, dict) else None
        if kind == "response.created":
            if not isinstance(response_id, str):
                violations.append(f"{where}: response without an id")
            elif response_id in created:
                violations.append(f"{where}: {response_id} created a second time (first at event {created[response_id]})")
            else:
                if in_progress is not None:
                    violations.append(f"{where}: {response_id} created while {in_progress} is still in progress")
                created[response_id] = index
                in_progress = response_id
        elif kind == "response.done":
            status = response.get("status") if isinstance(response, dict) else None
            if status not in FINAL_STATUSES:
                violations.append(f"{where}: {response_id} ends with status {status!r}, not one of {sorted(FINAL_STATUSES)}")
            if not isinstance(response_id, str):
                violations.append(f"{where}: response without an id")
            elif response_id not in created:
                violations.append(f"{where}: {response_id} done without a response.created before it")
            elif response_id in done:
                violations.append(f"{where}: {response_id} done a second time (first at event {done[response_id]})")
            else:
                done[response_id] = index
                if in_progress == response_id:
                    in_progress = None

        named = event.get("response_id")
        if isinstance(named, str):
            if named not in created:
                violations.append(f"{where}: names {named} before its response.created")
            elif named in done:
                violations.append(f"{where}: names {named} after its response.done (event {done[named]})")

        introduced, referenced = _item_ids(kind, event)
        for item_id in referenced:
            if item_id not in items:
                violations.append(f"{where}: refers to item {item_id}, which no earlier event introduced")
        items.update(introduced)

    for response_id, index in created.items():
        if response_id not in done:
            violations.append(f"event {index} (response.created): {response_id} never gets its response.done")
    return violations


def assert_conformant(events: list[dict[str, Any]], *, beta: bool) -> None:
    violations = check(events, beta=beta)
    if violations:
        dialect = "beta" if beta else "GA"
        listed = "\n".join(f"  - {v}" for v in violations)
        raise AssertionError(f"{len(violations)} {dialect} protocol violation(s) in {len(events)} events:\n{listed}")


def _item_ids(kind: str, event: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The item ids ``event`` introduces and the ones it refers to."""
    introduced: list[str] = []
    referenced: list[str] = []
    if kind in _INTRODUCE_ITEM:
        own = event.get("item_id") if kind.startswith("input_audio_buffer.") else _id(event.get("item"))
        if own is not None:
            introduced.append(own)
    else:
        referenced += [i for i in (event.get("item_id"), _id(event.get("item"))) if isinstance(i, str)]
    previous = event.get("previous_item_id")
    if isinstance(previous, str):
        referenced.append(previous)
    if kind in ("response.created", "response.done"):
        response = event.get("response")
        output = response.get("output") if isinstance(response, dict) else None
        referenced += [i for i in map(_id, output if isinstance(output, list) else []) if i is not None]
    return introduced, referenced


def _id(item: Any) -> str | None:
    value = item.get("id") if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


def _error(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"][1:]) or "(event)"  # [0] is the type tag
    return f"{location}: {error['msg']} [{error['type']}]"


def _deployment_name(error: Any) -> bool:
    """The one deliberate difference: the beta types allow only OpenAI's own names in session.model, and
    livegate echoes the deployment name the client asked for (a Gemini model id, say), which clients
    compare with what they asked for. Any other string, or any other error, is still a violation."""
    return tuple(error["loc"][-2:]) == ("session", "model") and error["type"] == "literal_error" and isinstance(error["input"], str) and bool(error["input"])
