"""The OpenAI Realtime session object: defaults, ``session.update`` merging and validation, and its
rendering in the GA and beta shapes (openai-realtime.md §3).

One internal model in the GA shape serves both dialects (§3.6): a beta update is first mapped to a
GA patch, and a beta ``session.created``/``updated`` is rendered back from the GA session.
"""

from __future__ import annotations

import copy
from typing import Any

from livegate.errors import ClientError
from livegate.realtime.checks import check_session

__all__ = ["AUDIO_FORMATS", "Session", "audio_format_name"]

# OpenAI Realtime (§9): the three audio formats, by their beta names and GA objects.
AUDIO_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_FORMAT_NAMES = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}

SERVER_VAD_DEFAULTS = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 200,  # the real server's default (§3.2), not the documented 500
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
SEMANTIC_VAD_DEFAULTS = {"type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True}

GA_FIELDS = {
    "type", "model", "output_modalities", "instructions", "audio", "tools", "tool_choice", "max_output_tokens",
    "tracing", "truncation", "prompt", "include", "reasoning", "parallel_tool_calls", "object", "id", "expires_at",
}  # fmt: skip
BETA_FIELDS = {
    "model", "modalities", "instructions", "voice", "input_audio_format", "output_audio_format",
    "input_audio_transcription", "input_audio_noise_reduction", "turn_detection", "tools", "tool_choice",
    "temperature", "max_response_output_tokens", "speed", "tracing", "client_secret", "object", "id", "expires_at",
    "include",
}  # fmt: skip
SESSION_LIFETIME_S = 3600  # real sessions last at most 60 minutes (§1.5)


def audio_format_name(fmt: dict[str, Any]) -> str:
    """"pcm16", "g711_ulaw" or "g711_alaw" for a GA format object."""
    return _FORMAT_NAMES[fmt["type"]]


def _invalid(message: str, param: str, code: str = "invalid_value") -> ClientError:
    return ClientError(message, code=code, param=param)


class Session:
    """The effective session of one connection, kept in the GA shape."""

    def __init__(self, model: str, session_id: str, created_at: float) -> None:
        self.temperature: float | None = None  # beta only; Gemini takes it too
        self.ga: dict[str, Any] = {
            "type": "realtime",
            "object": "realtime.session",
            "id": session_id,
            "model": model,
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "truncation": "auto",
            "prompt": None,
            "expires_at": int(created_at) + SESSION_LIFETIME_S,
            "audio": {
                "input": {
                    "format": dict(AUDIO_FORMATS["pcm16"]),
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": dict(SERVER_VAD_DEFAULTS),
                },
                "output": {"format": dict(AUDIO_FORMATS["pcm16"]), "voice": "alloy", "speed": 1.0},
            },
            "include": None,
        }

    # ---- reading ---------------------------------------------------------------------------

    @property
    def audio_output(self) -> bool:
        return "audio" in self.ga["output_modalities"]

    @property
    def instructions(self) -> str:
        return str(self.ga["instructions"] or "")

    @property
    def input_format(self) -> str:
        return audio_format_name(self.ga["audio"]["input"]["format"])

    @property
    def output_format(self) -> str:
        return audio_format_name(self.ga["audio"]["output"]["format"])

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        detection: dict[str, Any] | None = self.ga["audio"]["input"]["turn_detection"]
        return detection

    @property
    def transcription(self) -> dict[str, Any] | None:
        transcription: dict[str, Any] | None = self.ga["audio"]["input"]["transcription"]
        return transcription

    @property
    def voice(self) -> str:
        voice = self.ga["audio"]["output"]["voice"]
        return str(voice.get("id", "")) if isinstance(voice, dict) else str(voice)

    @property
    def tools(self) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = self.ga["tools"]
        return tools

    @property
    def max_output_tokens(self) -> int | None:
        value = self.ga["max_output_tokens"]
        return None if value == "inf" else int(value)

    # ---- updating --------------------------------------------------------------------------

    def update(self, patch: Any, *, beta: bool) -> set[str]:
        """Merge a ``session.update``'s session; return the GA top-level fields it changed.

        Nothing is changed when the update is refused (openai-realtime.md §4.6: no session.updated).
        """
        if not isinstance(patch, dict):
            raise _invalid("Invalid type for 'session': expected an object.", "session", "invalid_type")
        ga_patch, temperature = self._beta_to_ga(patch) if beta else (self._check_ga(patch), None)
        merged = copy.deepcopy(self.ga)
        model = ga_patch.get("model")
        if model is not None and not isinstance(model, str):
            raise _invalid("Invalid type for 'session.model': expected a string.", "session.model", "invalid_type")
        for key, value in ga_patch.items():
            if key == "audio":
                _merge_audio(merged["audio"], value)
            elif key not in ("model", "object", "id", "expires_at", "type"):
                # OpenAI Realtime: clients routinely resend `model`; it is accepted and not changed.
                merged[key] = value
        _validate(merged)
        changed = {key for key in merged if merged[key] != self.ga[key]}
        if temperature is not None and temperature != self.temperature:
            changed.add("temperature")
            self.temperature = temperature
        self.ga = merged
        return changed

    def _check_ga(self, patch: dict[str, Any]) -> dict[str, Any]:
        kind = patch.get("type")
        if kind is None:
            raise _invalid("Missing required parameter: 'session.type'.", "session.type", "missing_required_parameter")
        if kind == "transcription":
            raise _invalid("Transcription sessions are not supported by livegate.", "session.type")
        if kind != "realtime":
            raise _invalid(f"Invalid value: '{kind}'. Supported values are: 'realtime' and 'transcription'.", "session.type")
        for key in patch:
            if key not in GA_FIELDS:
                raise _invalid(f"Unknown parameter: 'session.{key}'.", f"session.{key}", "unknown_parameter")
        return patch

    def _beta_to_ga(self, patch: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
        """Beta flat fields to a GA patch (openai-realtime.md §3.6)."""
        ga: dict[str, Any] = {}
        audio_in: dict[str, Any] = {}
        audio_out: dict[str, Any] = {}
        temperature = None
        for key, value in patch.items():
            if key not in BETA_FIELDS:
                raise _invalid(f"Unknown parameter: 'session.{key}'.", f"session.{key}", "unknown_parameter")
            if key == "modalities":
                if not isinstance(value, list) or not all(m in ("audio", "text") for m in value) or "text" not in value:
                    raise _invalid("Invalid modalities: expected ['text'] or ['audio', 'text'].", "session.modalities")
                ga["output_modalities"] = ["audio"] if "audio" in value else ["text"]
            elif key in ("input_audio_format", "output_audio_format"):
                if not isinstance(value, str) or value not in AUDIO_FORMATS:
                    raise _invalid(
                        f"Invalid value: '{value}'. Supported values are: 'pcm16', 'g711_ulaw', and 'g711_alaw'.", f"session.{key}"
                    )
                (audio_in if key.startswith("input") else audio_out)["format"] = dict(AUDIO_FORMATS[value])
            elif key == "voice":
                audio_out["voice"] = value
            elif key == "speed":
                audio_out["speed"] = value
            elif key == "input_audio_transcription":
                audio_in["transcription"] = value
            elif key == "input_audio_noise_reduction":
                audio_in["noise_reduction"] = value
            elif key == "turn_detection":
                audio_in["turn_detection"] = value
            elif key == "max_response_output_tokens":
                ga["max_output_tokens"] = value
            elif key == "tool_choice":
                ga["tool_choice"] = {"type": "function", "name": value} if value not in ("auto", "none", "required") else value
            elif key == "temperature":
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 2.0:
                    raise _invalid("Invalid 'session.temperature': expected a number from 0.6 to 1.2.", "session.temperature")
                temperature = float(value)
            elif key not in ("client_secret", "object", "id", "expires_at"):
                ga[key] = value
        if audio_in or audio_out:
            ga["audio"] = {"input": audio_in, "output": audio_out}
        return ga, temperature

    # ---- rendering -------------------------------------------------------------------------

    def render(self, *, beta: bool) -> dict[str, Any]:
        if not beta:
            return copy.deepcopy(self.ga)
        ga = self.ga
        audio_in, audio_out = ga["audio"]["input"], ga["audio"]["output"]
        tool_choice = ga["tool_choice"]
        if isinstance(tool_choice, dict):
            tool_choice = tool_choice.get("name", "auto")
        return {
            "id": ga["id"],
            "object": "realtime.session",
            "model": ga["model"],
            "expires_at": ga["expires_at"],
            "modalities": ["audio", "text"] if self.audio_output else ["text"],
            "instructions": ga["instructions"],
            "voice": audio_out["voice"],
            "turn_detection": copy.deepcopy(audio_in["turn_detection"]),
            "input_audio_format": audio_format_name(audio_in["format"]),
            "output_audio_format": audio_format_name(audio_out["format"]),
            "input_audio_transcription": copy.deepcopy(audio_in["transcription"]),
            "input_audio_noise_reduction": copy.deepcopy(audio_in["noise_reduction"]),
            "tools": copy.deepcopy(ga["tools"]),
            "tool_choice": tool_choice,
            "temperature": 0.8 if self.temperature is None else self.temperature,
            "max_response_output_tokens": ga["max_output_tokens"],
            "speed": audio_out["speed"],
            "tracing": ga["tracing"],
        }


def _merge_audio(audio: dict[str, Any], patch: Any) -> None:
    if not isinstance(patch, dict):
        raise _invalid("Invalid type for 'session.audio': expected an object.", "session.audio", "invalid_type")
    for side in patch:
        if side not in ("input", "output"):
            raise _invalid(f"Unknown parameter: 'session.audio.{side}'.", f"session.audio.{side}", "unknown_parameter")
        values = patch[side]
        if not isinstance(values, dict):
            raise _invalid(f"Invalid type for 'session.audio.{side}': expected an object.", f"session.audio.{side}", "invalid_type")
        allowed = {"format", "transcription", "noise_reduction", "turn_detection"} if side == "input" else {"format", "voice", "speed"}
        for key, value in values.items():
            if key not in allowed:
                raise _invalid(f"Unknown parameter: 'session.audio.{side}.{key}'.", f"session.audio.{side}.{key}", "unknown_parameter")
            if key == "turn_detection" and isinstance(value, dict):
                value = _complete_turn_detection(value)
            audio[side][key] = value


def _complete_turn_detection(value: dict[str, Any]) -> dict[str, Any]:
    # The real server echoes the whole object with its defaults filled in (openai-realtime.md §3.2).
    kind = value.get("type", "server_vad")
    if kind == "server_vad":
        return SERVER_VAD_DEFAULTS | value
    if kind == "semantic_vad":
        return SEMANTIC_VAD_DEFAULTS | value
    raise _invalid(
        f"Invalid value: '{kind}'. Supported values are: 'server_vad' and 'semantic_vad'.",
        "session.audio.input.turn_detection.type",
    )


def _validate(ga: dict[str, Any]) -> None:
    modalities = ga["output_modalities"]
    if modalities not in (["audio"], ["text"]):
        raise _invalid(
            "Invalid 'session.output_modalities': expected ['audio'] or ['text'] (both at once is not supported).",
            "session.output_modalities",
        )
    if not isinstance(ga["instructions"], str):
        raise _invalid("Invalid type for 'session.instructions': expected a string.", "session.instructions", "invalid_type")
    for side in ("input", "output"):
        fmt = ga["audio"][side]["format"]
        param = f"session.audio.{side}.format"
        if not isinstance(fmt, dict) or not isinstance(fmt.get("type"), str) or fmt["type"] not in _FORMAT_NAMES:
            raise _invalid("Invalid audio format: expected audio/pcm, audio/pcmu or audio/pcma.", param)
        if fmt["type"] == "audio/pcm" and fmt.get("rate", 24000) != 24000:
            raise _invalid("Invalid 'rate': audio/pcm is 24000 Hz.", f"{param}.rate")
        ga["audio"][side]["format"] = dict(AUDIO_FORMATS[_FORMAT_NAMES[fmt["type"]]])
    detection = ga["audio"]["input"]["turn_detection"]
    if detection is not None and not isinstance(detection, dict):
        raise _invalid("Invalid type for 'session.audio.input.turn_detection'.", "session.audio.input.turn_detection", "invalid_type")
    tools = ga["tools"]
    if not isinstance(tools, list):
        raise _invalid("Invalid type for 'session.tools': expected an array.", "session.tools", "invalid_type")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise _invalid("Only function tools are supported by livegate.", f"session.tools[{i}].type")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise _invalid(f"Missing required parameter: 'session.tools[{i}].name'.", f"session.tools[{i}].name", "missing_required_parameter")
        if "parameters" in tool and not isinstance(tool["parameters"], dict):
            raise _invalid(f"Invalid type for 'session.tools[{i}].parameters': expected an object.", f"session.tools[{i}].parameters", "invalid_type")
    choice = ga["tool_choice"]
    if choice not in ("auto", "none", "required") and not (
        isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str)
    ):
        raise _invalid("Invalid 'session.tool_choice': expected auto, none, required or a function.", "session.tool_choice")
    limit = ga["max_output_tokens"]
    if limit != "inf" and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 4096):
        raise _invalid("Invalid 'session.max_output_tokens': expected an integer from 1 to 4096 or 'inf'.", "session.max_output_tokens")
    check_session(ga)
