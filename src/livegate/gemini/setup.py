"""The Gemini Live ``setup`` for an OpenAI Realtime session (gemini-live.md §4.3; mapping in
docs/mapping.md). Canonical camelCase, as Google's documentation writes it (§4.2)."""

from __future__ import annotations

from typing import Any

from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.realtime.session import Session

__all__ = ["OPENAI_VOICES", "build_setup", "gemini_voice", "upstream_modality"]

# OpenAI voice names (openai-realtime.md §3.1) to Gemini prebuilt voices (gemini-live.md §8).
# Gemini voice names pass through unchanged.
OPENAI_VOICES = {
    "alloy": "Kore",
    "ash": "Charon",
    "ballad": "Orus",
    "coral": "Aoede",
    "echo": "Puck",
    "sage": "Leda",
    "shimmer": "Zephyr",
    "verse": "Fenrir",
    "marin": "Sulafat",
    "cedar": "Gacrux",
}


def gemini_voice(voice: str) -> str:
    return OPENAI_VOICES.get(voice.lower(), voice)


def upstream_modality(route: UpstreamRoute, session: Session) -> str:
    """AUDIO or TEXT. Native-audio models speak only, so a text-only client gets the transcript of
    the audio reply as its text (gemini-live.md §8 "Response modality")."""
    if session.audio_output or route.info.native_audio:
        return "AUDIO"
    return "TEXT"


def build_setup(route: UpstreamRoute, session: Session, *, handle: str | None = None) -> dict[str, Any]:
    modality = upstream_modality(route, session)
    generation: dict[str, Any] = {"responseModalities": [modality]}
    if session.temperature is not None:
        generation["temperature"] = session.temperature
    if session.max_output_tokens is not None:
        generation["maxOutputTokens"] = session.max_output_tokens
    if modality == "AUDIO":
        generation["speechConfig"] = {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": gemini_voice(session.voice)}}}
    setup: dict[str, Any] = {"model": route.model_name, "generationConfig": generation}
    if session.instructions:
        setup["systemInstruction"] = {"role": "user", "parts": [{"text": session.instructions}]}
    functions = [_declaration(tool) for tool in session.tools]
    if functions:
        setup["tools"] = [{"functionDeclarations": functions}]
    setup["realtimeInputConfig"] = _realtime_input_config(session.turn_detection)
    if session.transcription is not None:
        setup["inputAudioTranscription"] = {}
    if modality == "AUDIO":
        # The spoken words of a native-audio model arrive only as output transcription (§12).
        setup["outputAudioTranscription"] = {}
    resumption: dict[str, Any] = {"handle": handle} if handle else {}
    if route.flavour is Flavour.VERTEX:
        resumption["transparent"] = True
    setup["sessionResumption"] = resumption
    return {"setup": setup}


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        declaration["description"] = tool["description"]
    if tool.get("parameters"):
        # JSON Schema as OpenAI clients write it, without conversion to the OpenAPI subset.
        declaration["parametersJsonSchema"] = tool["parameters"]
    return declaration


def _realtime_input_config(detection: dict[str, Any] | None) -> dict[str, Any]:
    if detection is None:
        # turn_detection: null is manual turn taking: activityStart / activityEnd (gemini-live.md §4.5).
        return {"automaticActivityDetection": {"disabled": True}}
    activity: dict[str, Any] = {"disabled": False}
    if detection.get("type") == "server_vad":
        if isinstance(detection.get("prefix_padding_ms"), int):
            activity["prefixPaddingMs"] = detection["prefix_padding_ms"]
        if isinstance(detection.get("silence_duration_ms"), int):
            activity["silenceDurationMs"] = detection["silence_duration_ms"]
    config: dict[str, Any] = {"automaticActivityDetection": activity}
    if detection.get("interrupt_response") is False:
        config["activityHandling"] = "NO_INTERRUPTION"
    return config
