"""OpenAI Realtime client events (openai-realtime.md §2.1, §2.3), one frozen dataclass each.

``parse_client_event`` turns one frame into an event or raises ``ClientError`` with the code, param
and ``event_id`` that the ``error`` event must carry (§4.6). ``input_audio_buffer.append``, the hot
path, is recognised before any other work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from livegate.errors import ClientError
from livegate.realtime.checks import type_name

__all__ = [
    "ClientEvent",
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemRetrieve",
    "ConversationItemTruncate",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "OutputAudioBufferClear",
    "ResponseCancel",
    "ResponseCreate",
    "SessionUpdate",
    "parse_client_event",
]


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    session: dict[str, Any]
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class InputAudioBufferAppend:
    audio: str = field(repr=False)  # base64, decoded by the audio path
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class InputAudioBufferCommit:
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class InputAudioBufferClear:
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutputAudioBufferClear:
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationItemCreate:
    item: dict[str, Any]
    previous_item_id: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationItemRetrieve:
    item_id: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationItemTruncate:
    item_id: str
    content_index: int
    audio_end_ms: int
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationItemDelete:
    item_id: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseCreate:
    response: dict[str, Any]
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseCancel:
    response_id: str | None = None
    event_id: str | None = None


ClientEvent = (
    SessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | OutputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemRetrieve
    | ConversationItemTruncate
    | ConversationItemDelete
    | ResponseCreate
    | ResponseCancel
)

CLIENT_EVENT_TYPES = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "output_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
)
MAX_EVENT_ID = 512


def parse_client_event(data: str | bytes) -> ClientEvent:
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ClientError(
            f"We could not parse the JSON body of your request. ({exc.msg})", code="invalid_json"
        ) from None
    if not isinstance(event, dict):
        raise ClientError("Invalid event: expected a JSON object.", code="invalid_type")
    event_id = event.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or len(event_id) > MAX_EVENT_ID):
        raise ClientError("Invalid 'event_id': expected a string of at most 512 characters.", code="invalid_value", param="event_id")
    kind = event.get("type")
    if kind == "input_audio_buffer.append":
        audio = event.get("audio")
        if not isinstance(audio, str):
            raise _missing_or_type(event, "audio", "a string", event_id)
        return InputAudioBufferAppend(audio, event_id)
    try:
        return _parse(kind, event, event_id)
    except ClientError as exc:
        exc.event_id = event_id
        raise


def _parse(kind: Any, event: dict[str, Any], event_id: str | None) -> ClientEvent:
    match kind:
        case "session.update":
            return SessionUpdate(_object(event, "session", event_id), event_id)
        case "input_audio_buffer.commit":
            return InputAudioBufferCommit(event_id)
        case "input_audio_buffer.clear":
            return InputAudioBufferClear(event_id)
        case "output_audio_buffer.clear":
            return OutputAudioBufferClear(event_id)
        case "conversation.item.create":
            previous = event.get("previous_item_id")
            if previous is not None and not isinstance(previous, str):
                raise _missing_or_type(event, "previous_item_id", "a string", event_id)
            return ConversationItemCreate(_object(event, "item", event_id), previous, event_id)
        case "conversation.item.retrieve":
            return ConversationItemRetrieve(_string(event, "item_id", event_id), event_id)
        case "conversation.item.delete":
            return ConversationItemDelete(_string(event, "item_id", event_id), event_id)
        case "conversation.item.truncate":
            return ConversationItemTruncate(
                _string(event, "item_id", event_id),
                _integer(event, "content_index", event_id),
                _integer(event, "audio_end_ms", event_id),
                event_id,
            )
        case "response.create":
            response = event.get("response")
            if response is None:
                response = {}
            if not isinstance(response, dict):
                raise _missing_or_type(event, "response", "an object", event_id)
            return ResponseCreate(response, event_id)
        case "response.cancel":
            response_id = event.get("response_id")
            if response_id is not None and not isinstance(response_id, str):
                raise _missing_or_type(event, "response_id", "a string", event_id)
            return ResponseCancel(response_id, event_id)
    if kind is None:
        raise ClientError("Missing required parameter: 'type'.", code="missing_required_parameter", param="type", event_id=event_id)
    supported = ", ".join(f"'{t}'" for t in CLIENT_EVENT_TYPES)
    raise ClientError(f"Invalid value: '{kind}'. Supported values are: {supported}.", code="invalid_value", param="type", event_id=event_id)


def _missing_or_type(event: dict[str, Any], name: str, expected: str, event_id: str | None) -> ClientError:
    if event.get(name) is None:
        return ClientError(f"Missing required parameter: '{name}'.", code="missing_required_parameter", param=name, event_id=event_id)
    got = type_name(event[name])
    return ClientError(
        f"Invalid type for '{name}': expected {expected}, but got {got} instead.", code="invalid_type", param=name, event_id=event_id
    )


def _object(event: dict[str, Any], name: str, event_id: str | None) -> dict[str, Any]:
    value = event.get(name)
    if not isinstance(value, dict):
        raise _missing_or_type(event, name, "an object", event_id)
    return value


def _string(event: dict[str, Any], name: str, event_id: str | None) -> str:
    value = event.get(name)
    if not isinstance(value, str):
        raise _missing_or_type(event, name, "a string", event_id)
    return value


def _integer(event: dict[str, Any], name: str, event_id: str | None) -> int:
    value = event.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _missing_or_type(event, name, "a non-negative integer", event_id)
    return value
