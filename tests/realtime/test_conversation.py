"""Conversation items as clients create them (openai-realtime.md §4.1) and as they are rendered."""

from __future__ import annotations

import base64
import itertools

import pytest

from livegate.errors import ClientError
from livegate.realtime.conversation import Conversation, normalize_item, render_item

ids = itertools.count(1)

PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(8)).decode()


def new_id() -> str:
    return f"item_{next(ids)}"


def test_every_item_kind_is_normalized_to_the_ga_shape() -> None:
    image = normalize_item({"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": PNG}]}, new_id)
    assert image["content"] == [{"type": "input_image", "image_url": PNG, "detail": "auto"}]
    audio = normalize_item({"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": "AAAA"}]}, new_id)
    assert audio["content"] == [{"type": "input_audio", "audio": "AAAA", "transcript": None}]
    call = normalize_item({"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}, new_id)
    assert call == {"id": call["id"], "type": "function_call", "status": "completed", "name": "f", "call_id": "call_1", "arguments": "{}"}
    output = normalize_item({"id": "out_1", "type": "function_call_output", "call_id": "call_1", "output": "42"}, new_id)
    assert output == {"id": "out_1", "type": "function_call_output", "status": "completed", "call_id": "call_1", "output": "42"}
    spoken = normalize_item({"type": "message", "role": "assistant", "content": [{"type": "audio", "transcript": "hi"}]}, new_id)
    assert spoken["content"] == [{"type": "output_audio", "transcript": "hi"}]


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"type": "message", "role": "system", "content": [{"type": "input_image", "image_url": PNG}]}, "item.content[0].type"),
        ({"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}, "item.content[0].image_url"),
        ({"type": "message", "role": "assistant", "content": [{"type": "output_audio", "audio": "AAAA", "transcript": "x"}]}, "item.content[0].audio"),
        ({"type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "x"}]}, "item.content[0].type"),
        ({"type": "message", "role": "user", "content": ["hi"]}, "item.content[0]"),
        ({"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": 5}]}, "item.content[0].audio"),
        ({"type": "function_call", "name": "f"}, "item.call_id"),
        ({"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}, "item.arguments"),
        ({"type": "function_call_output", "output": "x"}, "item.call_id"),
        ({"type": "function_call_output", "call_id": "c", "output": {"a": 1}}, "item.output"),
        ({"type": "item_reference", "id": "x"}, "item.type"),
        ({"id": "", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}, "item.id"),
    ],
)
def test_bad_items_are_refused_by_param(item: dict[str, object], param: str) -> None:
    with pytest.raises(ClientError) as raised:
        normalize_item(item, new_id)
    assert raised.value.param == param


def test_beta_rendering_and_audio_bytes_only_on_retrieve() -> None:
    item = normalize_item({"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": "AAAA"}]}, new_id)
    assert "audio" not in render_item(item, beta=False)["content"][0]
    assert render_item(item, beta=False, with_audio=True)["content"][0]["audio"] == "AAAA"
    reply = {"id": "a", "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]}
    beta = render_item(reply, beta=True)
    assert list(beta)[:2] == ["id", "object"]
    assert beta["object"] == "realtime.item"
    assert beta["content"] == [{"type": "text", "text": "x"}]


def test_placement_duplicates_and_deletion() -> None:
    conversation = Conversation()
    assert conversation.insert({"id": "a"}, None) is None
    assert conversation.insert({"id": "b"}, None) == "a"
    assert conversation.insert({"id": "c"}, "a") == "a"
    assert conversation.insert({"id": "r"}, "root") is None
    assert [i["id"] for i in conversation.items] == ["r", "a", "c", "b"]
    assert conversation.previous_id("c") == "a"
    assert conversation.previous_id("r") is None
    with pytest.raises(ClientError, match="already exists"):
        conversation.insert({"id": "a"}, None)
    assert conversation.delete("c")
    assert not conversation.delete("c")
