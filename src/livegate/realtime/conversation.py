"""The conversation as the client sees it (openai-realtime.md §4.1): items in order, each placed by
``previous_item_id``, kept in the GA shape and rendered in the client's dialect."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from livegate.errors import ClientError
from livegate.realtime.checks import decode_base64, image_blob

__all__ = ["Conversation", "normalize_item", "render_item"]

_USER_PARTS = {"input_text", "input_audio", "input_image"}
_ASSISTANT_PARTS = {"output_text": "output_text", "text": "output_text", "output_audio": "output_audio", "audio": "output_audio"}
_BETA_PARTS = {"output_text": "text", "output_audio": "audio"}


def _bad(message: str, param: str, code: str = "invalid_value") -> ClientError:
    return ClientError(message, code=code, param=param)


def normalize_item(item: dict[str, Any], new_id: Callable[[], str], *, beta: bool = False) -> dict[str, Any]:
    """A client's ``conversation.item.create`` item, checked and in the GA shape with an id. Beta has no
    ``input_image`` (openai-realtime.md §4.1)."""
    kind = item.get("type", "message")
    if not isinstance(kind, str):
        raise _bad("Invalid type for 'item.type': expected a string.", "item.type", "invalid_type")
    item_id = item.get("id")
    if item_id is not None and (not isinstance(item_id, str) or not item_id or len(item_id) > 64):
        raise _bad("Invalid 'item.id': expected a string of 1 to 64 characters.", "item.id")
    out: dict[str, Any] = {"id": item_id or new_id(), "type": kind}
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", "system"):
            raise _bad(f"Invalid value: '{role}'. Supported values are: 'user', 'assistant', and 'system'.", "item.role")
        content = item.get("content")
        if not isinstance(content, list) or not content:
            raise _bad("Invalid 'item.content': expected a non-empty array.", "item.content", "invalid_type")
        out |= {"status": "completed", "role": role, "content": [_part(role, p, i, beta) for i, p in enumerate(content)]}
    elif kind == "function_call":
        for name in ("call_id", "name"):
            if not isinstance(item.get(name), str) or not item[name]:
                raise _bad(f"Missing required parameter: 'item.{name}'.", f"item.{name}", "missing_required_parameter")
        arguments = item.get("arguments", "")
        if not isinstance(arguments, str):
            raise _bad("Invalid type for 'item.arguments': expected a string.", "item.arguments", "invalid_type")
        out |= {"status": "completed", "name": item["name"], "call_id": item["call_id"], "arguments": arguments}
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str) or not item["call_id"]:
            raise _bad("Missing required parameter: 'item.call_id'.", "item.call_id", "missing_required_parameter")
        if not isinstance(item.get("output"), str):
            raise _bad("Invalid type for 'item.output': expected a string.", "item.output", "invalid_type")
        out |= {"status": "completed", "call_id": item["call_id"], "output": item["output"]}
    else:
        raise _bad(
            f"Invalid value: '{kind}'. Supported values are: 'message', 'function_call', and 'function_call_output'.",
            "item.type",
        )
    return out


def _part(role: str, part: Any, index: int, beta: bool) -> dict[str, Any]:
    param = f"item.content[{index}]"
    if not isinstance(part, dict):
        raise _bad(f"Invalid type for '{param}': expected an object.", param, "invalid_type")
    kind = part.get("type")
    if not isinstance(kind, str):
        raise _bad(f"Invalid type for '{param}.type': expected a string.", f"{param}.type", "invalid_type")
    if role in ("user", "system"):
        allowed = {"input_text"} if role == "system" else _USER_PARTS - {"input_image"} if beta else _USER_PARTS
        if kind not in allowed:
            raise _bad(f"Invalid value: '{kind}'. Supported values are: {', '.join(sorted(allowed))}.", f"{param}.type")
        if kind == "input_text":
            return {"type": "input_text", "text": _text(part, "text", param)}
        if kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise _bad("Invalid 'image_url': expected a data URL of a JPEG or PNG image.", f"{param}.image_url")
            image_blob(url, f"{param}.image_url")  # Gemini closes the session (1007) on what it cannot read
            detail = part.get("detail", "auto")
            if detail not in ("auto", "low", "high") or not isinstance(detail, str):
                raise _bad(f"Invalid value for '{param}.detail': expected 'auto', 'low' or 'high'.", f"{param}.detail")
            return {"type": "input_image", "image_url": url, "detail": detail}
        audio = part.get("audio")
        if audio is not None:
            if not isinstance(audio, str):
                raise _bad("Invalid type for 'audio': expected a base64 string.", f"{param}.audio", "invalid_type")
            decode_base64(audio, f"{param}.audio")
        transcript = part.get("transcript")
        if transcript is not None and not isinstance(transcript, str):
            raise _bad(f"Invalid type for '{param}.transcript': expected a string.", f"{param}.transcript", "invalid_type")
        return {"type": "input_audio", "audio": audio, "transcript": transcript}
    ga_kind = _ASSISTANT_PARTS.get(str(kind))
    if ga_kind is None:
        raise _bad(f"Invalid value: '{kind}'. Supported values are: output_text, output_audio.", f"{param}.type")
    if ga_kind == "output_audio":
        if part.get("audio"):
            raise _bad("Assistant audio cannot be created; send its transcript instead.", f"{param}.audio")
        return {"type": "output_audio", "transcript": _text(part, "transcript", param)}
    return {"type": "output_text", "text": _text(part, "text", param)}


def _text(part: dict[str, Any], name: str, param: str) -> str:
    value = part.get(name)
    if not isinstance(value, str):
        raise _bad(f"Invalid type for '{param}.{name}': expected a string.", f"{param}.{name}", "invalid_type")
    return value


def render_item(item: dict[str, Any], *, beta: bool, with_audio: bool = False) -> dict[str, Any]:
    """An item for the client: never with audio bytes except in ``conversation.item.retrieved`` (§4.1)."""
    out = copy.deepcopy(item)
    if "content" in out:
        for part in out["content"]:
            if not with_audio:
                part.pop("audio", None)
            if beta:
                part["type"] = _BETA_PARTS.get(part["type"], part["type"])
    if beta:
        out = {"id": out.pop("id"), "object": "realtime.item"} | out
    return out


class Conversation:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def index(self, item_id: str) -> int:
        for i, item in enumerate(self.items):
            if item["id"] == item_id:
                return i
        return -1

    def get(self, item_id: str) -> dict[str, Any] | None:
        i = self.index(item_id)
        return self.items[i] if i >= 0 else None

    def insert(self, item: dict[str, Any], previous_item_id: str | None) -> str | None:
        """Place ``item`` (absent or null: at the end; "root": first; an id: after it); return the id
        of the item before it, or None when it is first."""
        if self.index(item["id"]) >= 0:
            raise _bad(f"Item with id '{item['id']}' already exists.", "item.id")
        if previous_item_id is None:
            position = len(self.items)
        elif previous_item_id == "root":
            position = 0
        else:
            before = self.index(previous_item_id)
            if before < 0:
                raise _bad(f"Item with id '{previous_item_id}' not found.", "previous_item_id")
            position = before + 1
        self.items.insert(position, item)
        return self.items[position - 1]["id"] if position else None

    def previous_id(self, item_id: str) -> str | None:
        i = self.index(item_id)
        return self.items[i - 1]["id"] if i > 0 else None

    def delete(self, item_id: str) -> bool:
        i = self.index(item_id)
        if i < 0:
            return False
        del self.items[i]
        return True
