"""Checks of client values as OpenAI Realtime refuses them (openai-realtime.md §3, §4.6), and as
Gemini Live would refuse them once sent (gemini-live.md §4.3, §7: a 1007 ends the whole session).
Every refusal is a ``ClientError`` with OpenAI's code and the ``param`` it names; the session goes on."""

from __future__ import annotations

import binascii
import re
from typing import Any

from livegate.errors import ClientError

__all__ = [
    "check_metadata",
    "check_session",
    "decode_base64",
    "image_blob",
    "split_data_url",
    "type_name",
]

# OpenAI: function names are [a-zA-Z0-9_-], at most 64. Gemini: they start with a letter or an
# underscore and may hold dots and colons too (FunctionDeclaration.name). Names must satisfy both.
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_IMAGE_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_EAGERNESS = ("low", "medium", "high", "auto")
_NOISE_REDUCTION = ("near_field", "far_field")
_INCLUDE = ("item.input_audio_transcription.logprobs",)
_SERVER_VAD = {"type", "threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms", "create_response", "interrupt_response"}
_SEMANTIC_VAD = {"type", "eagerness", "create_response", "interrupt_response"}
_KINDS = {str: "a string", dict: "an object", list: "an array", int: "an integer", float: "a number", bool: "a boolean"}


def _invalid(message: str, param: str, code: str = "invalid_value") -> ClientError:
    return ClientError(message, code=code, param=param)


def type_name(value: Any) -> str:
    """How OpenAI's errors name a JSON value's type."""
    return "null" if value is None else _KINDS.get(type(value), "another type")


def _type_error(param: str, expected: str, value: Any) -> ClientError:
    got = type_name(value)
    return _invalid(f"Invalid type for '{param}': expected {expected}, but got {got} instead.", param, "invalid_type")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: Any, param: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(param, "an integer", value)
    if value < 0:
        raise _invalid(f"Invalid '{param}': expected a non-negative integer, got {value}.", param)


def _boolean(value: Any, param: str) -> None:
    if not isinstance(value, bool):
        raise _type_error(param, "a boolean", value)


def _number_in(value: Any, param: str, low: float, high: float) -> None:
    if not _is_number(value):
        raise _type_error(param, "a number", value)
    if not low <= value <= high:
        raise _invalid(f"Invalid '{param}': expected a number from {low:g} to {high:g}, got {value}.", param)


def _optional_object(value: Any, param: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise _type_error(param, "an object or null", value)
    return value


def _one_of(value: Any, param: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        shown = value if isinstance(value, str | int | float | bool) else type_name(value)
        raise _invalid(f"Invalid value: '{shown}'. Supported values are: {', '.join(repr(a) for a in allowed)}.", param)


def decode_base64(data: str, param: str) -> bytes:
    """Standard base64, padded, ASCII only, as OpenAI takes audio and images: anything else is refused
    rather than silently read as empty or shortened."""
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"Invalid '{param}': expected base64-encoded data.", param) from None


def split_data_url(url: str) -> tuple[str, str]:
    """A data URL's MIME type and its data, as written."""
    head, _, data = url.partition(",")
    return head.removeprefix("data:").removesuffix(";base64"), data


def image_blob(url: str, param: str) -> tuple[str, str]:
    """A data URL's MIME type and base64 data, checked as Gemini takes images: JPEG or PNG bytes."""
    mime, data = split_data_url(url)
    if mime not in _IMAGE_MAGIC or not url.partition(",")[0].endswith(";base64") or not data:
        raise _invalid("Invalid 'image_url': expected a base64 data URL of a JPEG or PNG image.", param)
    raw = decode_base64(data, param)
    if not raw.startswith(_IMAGE_MAGIC[mime]):
        raise _invalid(f"Invalid 'image_url': the data is not a {mime.removeprefix('image/').upper()} image.", param)
    return mime, data


def check_metadata(value: Any, param: str) -> None:
    """OpenAI's metadata: at most 16 pairs, keys of at most 64 characters, string values of at most 512."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise _type_error(param, "an object or null", value)
    if len(value) > 16:
        raise _invalid(f"Invalid '{param}': at most 16 key-value pairs.", param)
    for key, entry in value.items():
        if len(key) > 64:
            raise _invalid(f"Invalid '{param}': keys are at most 64 characters.", param)
        if not isinstance(entry, str) or len(entry) > 512:
            raise _type_error(f"{param}.{key[:64]}", "a string of at most 512 characters", entry)


def check_session(ga: dict[str, Any]) -> None:
    """The fields of a merged GA session that its own validation in session.py leaves to this module."""
    model = ga["model"]
    if not isinstance(model, str):
        raise _type_error("session.model", "a string", model)
    audio_in, audio_out = ga["audio"]["input"], ga["audio"]["output"]
    _check_turn_detection(audio_in["turn_detection"])
    transcription = _optional_object(audio_in["transcription"], "session.audio.input.transcription")
    if transcription is not None:
        for key, value in transcription.items():
            param = f"session.audio.input.transcription.{key}"
            if key not in ("model", "language", "prompt"):
                raise _invalid(f"Unknown parameter: '{param}'.", param, "unknown_parameter")
            if value is not None and not isinstance(value, str):
                raise _type_error(param, "a string", value)
    noise = _optional_object(audio_in["noise_reduction"], "session.audio.input.noise_reduction")
    if noise is not None:
        _one_of(noise.get("type"), "session.audio.input.noise_reduction.type", _NOISE_REDUCTION)
    voice = audio_out["voice"]
    if isinstance(voice, dict):
        voice = voice.get("id")
    if not isinstance(voice, str) or not voice:
        raise _type_error("session.audio.output.voice", "a voice name", audio_out["voice"])
    _number_in(audio_out["speed"], "session.audio.output.speed", 0.25, 1.5)
    include = ga["include"]
    if include is not None:
        if not isinstance(include, list):
            raise _type_error("session.include", "an array or null", include)
        for i, entry in enumerate(include):
            _one_of(entry, f"session.include[{i}]", _INCLUDE)
    tracing = ga["tracing"]
    if tracing is not None and tracing != "auto" and not isinstance(tracing, dict):
        raise _type_error("session.tracing", "'auto', an object or null", tracing)
    truncation = ga["truncation"]
    if isinstance(truncation, dict):
        _one_of(truncation.get("type"), "session.truncation.type", ("retention_ratio",))
        _number_in(truncation.get("retention_ratio"), "session.truncation.retention_ratio", 0.0, 1.0)
    elif truncation not in ("auto", "disabled") or not isinstance(truncation, str):
        raise _type_error("session.truncation", "'auto', 'disabled' or an object", truncation)
    prompt = _optional_object(ga["prompt"], "session.prompt")
    if prompt is not None and not isinstance(prompt.get("id"), str):
        raise _type_error("session.prompt.id", "a string", prompt.get("id"))
    if "parallel_tool_calls" in ga:
        _boolean(ga["parallel_tool_calls"], "session.parallel_tool_calls")
    if "reasoning" in ga:
        _optional_object(ga["reasoning"], "session.reasoning")
    _check_tools(ga["tools"])


def _check_turn_detection(detection: Any) -> None:
    if detection is None:
        return
    base = "session.audio.input.turn_detection"
    allowed = _SEMANTIC_VAD if detection.get("type") == "semantic_vad" else _SERVER_VAD
    for key, value in detection.items():
        param = f"{base}.{key}"
        if value is None and key != "type":
            continue  # explicit nulls are "not set" (clients serialise their optional fields)
        if key not in allowed:
            raise _invalid(f"Unknown parameter: '{param}'.", param, "unknown_parameter")
        if key == "threshold":
            _number_in(value, param, 0.0, 1.0)
        elif key in ("prefix_padding_ms", "silence_duration_ms") or key == "idle_timeout_ms":
            _integer(value, param)
        elif key in ("create_response", "interrupt_response"):
            _boolean(value, param)
        elif key == "eagerness":
            _one_of(value, param, _EAGERNESS)


def _check_tools(tools: list[Any]) -> None:
    names: set[str] = set()
    for i, tool in enumerate(tools):
        base = f"session.tools[{i}]"
        name = tool["name"]
        if not _FUNCTION_NAME.fullmatch(name):
            raise _invalid(
                f"Invalid '{base}.name': '{name[:80]}'. Function names are 1 to 64 letters, digits, underscores or "
                "dashes, and Gemini requires the first to be a letter or an underscore.",
                f"{base}.name",
            )
        if name in names:
            raise _invalid(f"Invalid '{base}.name': '{name}' is declared twice.", f"{base}.name")
        names.add(name)
        description = tool.get("description")
        if description is not None and not isinstance(description, str):
            raise _type_error(f"{base}.description", "a string", description)
        parameters = tool.get("parameters")
        if isinstance(parameters, dict) and parameters.get("type", "object") != "object":
            raise _invalid(f"Invalid '{base}.parameters': a function's parameters are a JSON Schema of type 'object'.", f"{base}.parameters")
