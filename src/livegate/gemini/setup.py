"""The Gemini Live ``setup`` for an OpenAI Realtime session (gemini-live.md §4.3; mapping in
docs/mapping.md). Canonical camelCase, as Google's documentation writes it (§4.2)."""

from __future__ import annotations

from typing import Any

from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.realtime.session import Session

__all__ = ["EAGERNESS", "OPENAI_VOICES", "build_setup", "gemini_detects_turns", "gemini_voice", "upstream_modality"]

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
    instructions = session.instructions
    choice = session.ga["tool_choice"]
    if session.tools and choice == "required":
        # Gemini Live has no forced function calling: tool_choice becomes an instruction (docs/mapping.md).
        instructions += "\n\nAlways answer by calling one of the functions you were given."
    elif session.tools and isinstance(choice, dict):
        instructions += f"\n\nAnswer by calling the function {choice.get('name')}."
    instructions = instructions.strip()
    if instructions:
        setup["systemInstruction"] = {"role": "user", "parts": [{"text": instructions}]}
    functions = [_declaration(tool) for tool in session.tools]
    if functions:
        setup["tools"] = [{"functionDeclarations": functions}]
    setup["realtimeInputConfig"] = _realtime_input_config(session.turn_detection)
    if session.transcription is not None:
        setup["inputAudioTranscription"] = {}
    if modality == "AUDIO":
        # The spoken words of a native-audio model arrive only as output transcription (§12).
        setup["outputAudioTranscription"] = {}
    if route.compression:
        # Without it Gemini ends audio sessions after 15 minutes (gemini-live.md §8).
        setup["contextWindowCompression"] = {"slidingWindow": {}}
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


# semantic_vad's eagerness (openai-realtime.md §3.2: waits of up to 8 / 4 / 2 s) as Gemini's end-of-speech
# sensitivity and silence; livegate's own detector uses the same silence (livegate.realtime.listening).
EAGERNESS = {
    "low": ("END_SENSITIVITY_LOW", 1500),
    "medium": ("END_SENSITIVITY_HIGH", 800),
    "auto": ("END_SENSITIVITY_HIGH", 800),
    "high": ("END_SENSITIVITY_HIGH", 300),
}
LOW_START_THRESHOLD = 0.6  # server_vad threshold above which Gemini is asked for the less sensitive start


def gemini_detects_turns(detection: dict[str, Any] | None) -> bool:
    """Gemini's automatic activity detection runs unless the client takes turns itself or asked not to
    have a response created when speech stops (livegate then commits and drives activity markers)."""
    return detection is not None and detection.get("create_response", True) is not False


def _realtime_input_config(detection: dict[str, Any] | None) -> dict[str, Any]:
    if not gemini_detects_turns(detection):
        # activityStart / activityEnd come from livegate (gemini-live.md §4.5).
        return {"automaticActivityDetection": {"disabled": True}}
    assert detection is not None
    activity: dict[str, Any] = {"disabled": False}
    if detection.get("type") == "semantic_vad":
        end, silence = EAGERNESS.get(str(detection.get("eagerness", "auto")), EAGERNESS["auto"])
        activity["endOfSpeechSensitivity"] = end
        activity["silenceDurationMs"] = silence
    else:
        threshold = detection.get("threshold")
        if isinstance(threshold, int | float) and threshold > LOW_START_THRESHOLD:
            activity["startOfSpeechSensitivity"] = "START_SENSITIVITY_LOW"
        if isinstance(detection.get("silence_duration_ms"), int):
            activity["silenceDurationMs"] = detection["silence_duration_ms"]
    config: dict[str, Any] = {"automaticActivityDetection": activity}
    if detection.get("interrupt_response") is False:
        config["activityHandling"] = "NO_INTERRUPTION"
    return config
