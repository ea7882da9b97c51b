"""Typed Gemini Live client messages (gemini-live.md §4), parsed from one frame.

``parse_client_message`` turns one WebSocket frame into one of the dataclasses of ``ClientMessage``.
Audio, the hot path, is recognised before any normalisation; everything else goes through the schema
of ``wire``. Errors are ``GeminiClientError`` with the close code and reason the real service uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from livegate.emulator.wire import INVALID_ARGUMENT, b64decode, decode_json, normalize, snake
from livegate.errors import GeminiClientError

__all__ = [
    "ActivityEnd",
    "ActivityStart",
    "AudioChunk",
    "AudioStreamEnd",
    "ClientContent",
    "ClientMessage",
    "ContextUpdate",
    "FunctionDeclaration",
    "FunctionResponse",
    "Setup",
    "TextInput",
    "ToolResponse",
    "Turn",
    "VideoFrame",
    "parse_client_message",
    "parse_setup",
]

UNION_FIELDS = ("setup", "clientContent", "realtimeInput", "toolResponse", "contextUpdate")
_UNION_KEYS = {name: name for name in UNION_FIELDS} | {
    "client_content": "clientContent",
    "realtime_input": "realtimeInput",
    "tool_response": "toolResponse",
    "context_update": "contextUpdate",
}
_RATE = re.compile(r"rate=(\d+)")
DEFAULT_INPUT_RATE = 16000


@dataclass(frozen=True, slots=True)
class FunctionDeclaration:
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None
    behavior: str = "BEHAVIOR_UNSPECIFIED"


@dataclass(frozen=True, slots=True)
class Setup:
    model: str
    raw: dict[str, Any]
    modalities: tuple[str, ...] = ()
    system_instruction: str = ""
    functions: tuple[FunctionDeclaration, ...] = ()
    other_tools: tuple[str, ...] = ()
    vad_disabled: bool = False
    start_sensitivity: str = "START_SENSITIVITY_UNSPECIFIED"
    end_sensitivity: str = "END_SENSITIVITY_UNSPECIFIED"
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    activity_handling: str = "ACTIVITY_HANDLING_UNSPECIFIED"
    input_transcription: bool = False
    output_transcription: bool = False
    resumption: bool = False
    resumption_handle: str = ""
    transparent: bool = False
    compression_trigger_tokens: int | None = None
    compression: bool = False
    include_thoughts: bool | None = None
    thinking_budget: int | None = None
    max_output_tokens: int | None = None
    voice: str = ""


@dataclass(frozen=True, slots=True)
class Turn:
    role: str
    text: str
    images: int = 0


@dataclass(frozen=True, slots=True)
class ClientContent:
    turns: tuple[Turn, ...]
    turn_complete: bool


@dataclass(frozen=True, slots=True)
class AudioChunk:
    data: bytes = field(repr=False)
    rate: int
    mime_type: str


@dataclass(frozen=True, slots=True)
class VideoFrame:
    data: bytes = field(repr=False)
    mime_type: str


@dataclass(frozen=True, slots=True)
class TextInput:
    text: str


@dataclass(frozen=True, slots=True)
class ActivityStart:
    pass


@dataclass(frozen=True, slots=True)
class ActivityEnd:
    pass


@dataclass(frozen=True, slots=True)
class AudioStreamEnd:
    pass


@dataclass(frozen=True, slots=True)
class FunctionResponse:
    id: str
    name: str
    response: Any
    scheduling: str = "SCHEDULING_UNSPECIFIED"
    will_continue: bool = False


@dataclass(frozen=True, slots=True)
class ToolResponse:
    responses: tuple[FunctionResponse, ...]


@dataclass(frozen=True, slots=True)
class ContextUpdate:
    system_instruction: str | None
    functions: tuple[FunctionDeclaration, ...] | None


ClientMessage = (
    Setup
    | ClientContent
    | AudioChunk
    | VideoFrame
    | TextInput
    | ActivityStart
    | ActivityEnd
    | AudioStreamEnd
    | ToolResponse
    | ContextUpdate
)


def invalid(reason: str) -> GeminiClientError:
    return GeminiClientError(INVALID_ARGUMENT, reason)


def parse_client_message(data: bytes | str, *, strict: bool = True, vertex: bool = False) -> ClientMessage:
    obj = decode_json(data)
    if not isinstance(obj, dict):
        raise invalid("Invalid JSON payload received. Expected an object at 'request'.")
    keys = [_UNION_KEYS.get(key, key) for key in obj]
    present = [key for key in keys if key in UNION_FIELDS]
    if len(present) > 1:
        # Proto3 JSON: the fields of BidiGenerateContentClientMessage are one oneof.
        raise invalid(
            f"Invalid JSON payload received. Oneof field 'message_type' is already set. Cannot set '{present[1]}'"
        )
    if not present:
        if strict and obj:
            unknown = next(iter(obj))
            raise invalid(f'Invalid JSON payload received. Unknown name "{unknown}": Cannot find field.')
        raise invalid("Request contains an invalid argument.")
    kind = present[0]
    if kind == "realtimeInput":
        fast = _fast_audio(next(iter(obj.values())) if len(obj) == 1 else None)
        if fast is not None:
            return fast
    message = normalize(obj, "clientMessage", [], strict=strict, vertex=vertex)[kind]
    if not isinstance(message, dict):
        raise invalid(f"Invalid JSON payload received. Expected an object at '{snake(kind)}'.")
    if kind == "setup":
        return parse_setup(message)
    if kind == "clientContent":
        return _client_content(message)
    if kind == "realtimeInput":
        return _realtime_input(message)
    if kind == "toolResponse":
        return _tool_response(message)
    return _context_update(message)


def _fast_audio(body: Any) -> AudioChunk | None:
    # The hot path: {"realtimeInput": {"audio": {"data": ..., "mimeType": ...}}} in either casing.
    if not isinstance(body, dict) or len(body) != 1:
        return None
    blob = body.get("audio")
    if not isinstance(blob, dict) or len(blob) != 2:
        return None
    mime = blob.get("mimeType", blob.get("mime_type"))
    data = blob.get("data")
    if not isinstance(mime, str) or not isinstance(data, str):
        return None
    return _audio(data, mime, "realtime_input.audio")


def _audio(data: str, mime: str, where: str) -> AudioChunk:
    if not mime.startswith("audio/"):
        raise invalid(f"Unsupported mime type for {where}: {mime}")
    match = _RATE.search(mime)
    rate = int(match.group(1)) if match else DEFAULT_INPUT_RATE
    if not 4000 <= rate <= 48000:
        raise invalid(f"Unsupported sample rate in {where}.mime_type: {mime}")
    pcm = b64decode(data, f"{where}.data")
    if len(pcm) % 2:
        raise invalid(f"Invalid audio data at '{where}.data': PCM16 needs an even number of bytes.")
    return AudioChunk(pcm, rate, mime)


def _realtime_input(body: dict[str, Any]) -> ClientMessage:
    if len(body) != 1:
        # BidiGenerateContentRealtimeInput: one field per message (gemini-live.md §4.5).
        raise invalid("Request contains an invalid argument.")
    name, value = next(iter(body.items()))
    if name in ("audio", "video"):
        blob = _blob(value, f"realtime_input.{name}")
        if name == "audio":
            return _audio(blob[0], blob[1], "realtime_input.audio")
        if not blob[1].startswith("image/"):
            raise invalid(f"Unsupported mime type for realtime_input.video: {blob[1]}")
        return VideoFrame(b64decode(blob[0], "realtime_input.video.data"), blob[1])
    if name == "mediaChunks":
        if not isinstance(value, list) or not value:
            raise invalid("Request contains an invalid argument.")
        data, mime = _blob(value[0], "realtime_input.media_chunks[0]")
        if mime.startswith("image/"):
            return VideoFrame(b64decode(data, "realtime_input.media_chunks[0].data"), mime)
        return _audio(data, mime, "realtime_input.media_chunks[0]")
    if name == "text":
        if not isinstance(value, str):
            raise invalid(f"Invalid value at 'realtime_input.text' (TYPE_STRING), {value!r}")
        return TextInput(value)
    if name == "activityStart":
        return ActivityStart()
    if name == "activityEnd":
        return ActivityEnd()
    if name == "audioStreamEnd":
        return AudioStreamEnd()
    raise invalid("Request contains an invalid argument.")


def _blob(value: Any, where: str) -> tuple[str, str]:
    if not isinstance(value, dict) or not isinstance(value.get("data"), str):
        raise invalid(f"Invalid value at '{where}.data' (TYPE_BYTES)")
    mime = value.get("mimeType")
    if not isinstance(mime, str) or not mime:
        raise invalid(f"{where}.mime_type is required.")
    return value["data"], mime


def _text_of(content: Any, where: str) -> tuple[str, int]:
    if not isinstance(content, dict):
        raise invalid(f"Invalid value at '{where}'")
    texts: list[str] = []
    images = 0
    for i, part in enumerate(content.get("parts") or []):
        if not isinstance(part, dict):
            raise invalid(f"Invalid value at '{where}.parts[{i}]'")
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif "inlineData" in part:
            data, mime = _blob(part["inlineData"], f"{where}.parts[{i}].inline_data")
            b64decode(data, f"{where}.parts[{i}].inline_data.data")
            if mime.startswith("audio/"):
                # Google's ADK: audio in clientContent corrupts the session; the service refuses it here.
                raise invalid(f"Audio is not supported in {where}.parts[{i}]; send it as realtime_input.audio.")
            images += 1
    return "".join(texts), images


def _client_content(body: dict[str, Any]) -> ClientContent:
    turns: list[Turn] = []
    for i, content in enumerate(body.get("turns") or []):
        text, images = _text_of(content, f"client_content.turns[{i}]")
        role = content.get("role") or "user"
        if role not in ("user", "model"):
            raise invalid(f"Please use a valid role: user, model. Got '{role}' at client_content.turns[{i}].role")
        turns.append(Turn(role, text, images))
    return ClientContent(tuple(turns), _bool(body.get("turnComplete", False), "client_content.turn_complete"))


def _tool_response(body: dict[str, Any]) -> ToolResponse:
    responses: list[FunctionResponse] = []
    for i, item in enumerate(body.get("functionResponses") or []):
        where = f"tool_response.function_responses[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"Invalid value at '{where}'")
        response = item.get("response", {})
        if not isinstance(response, dict):
            raise invalid(f"Invalid value at '{where}.response' (type.googleapis.com/google.protobuf.Struct), {response!r}")
        responses.append(
            FunctionResponse(
                id=_str(item.get("id", ""), f"{where}.id"),
                name=_str(item.get("name", ""), f"{where}.name"),
                response=response,
                scheduling=_enum(item.get("scheduling", "SCHEDULING_UNSPECIFIED"), f"{where}.scheduling", _SCHEDULING),
                will_continue=_bool(item.get("willContinue", False), f"{where}.will_continue"),
            )
        )
    return ToolResponse(tuple(responses))


def _context_update(body: dict[str, Any]) -> ContextUpdate:
    instruction = None
    if "systemInstruction" in body:
        instruction = _text_of(body["systemInstruction"], "context_update.system_instruction")[0]
    functions = None
    if "tools" in body:
        functions = _functions(body["tools"].get("tools") or [], "context_update.tools.tools")[0]
    return ContextUpdate(instruction, functions)


_MODALITIES = ("MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO", "VIDEO")
_START = ("START_SENSITIVITY_UNSPECIFIED", "START_SENSITIVITY_HIGH", "START_SENSITIVITY_LOW")
_END = ("END_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_HIGH", "END_SENSITIVITY_LOW")
_HANDLING = ("ACTIVITY_HANDLING_UNSPECIFIED", "START_OF_ACTIVITY_INTERRUPTS", "NO_INTERRUPTION")
_BEHAVIOR = ("BEHAVIOR_UNSPECIFIED", "BLOCKING", "NON_BLOCKING")
_SCHEDULING = ("SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT")


def parse_setup(body: dict[str, Any]) -> Setup:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("setup.model is required.")
    generation = body.get("generationConfig") or {}
    modalities = tuple(
        _enum(m, f"setup.generation_config.response_modalities[{i}]", _MODALITIES)
        for i, m in enumerate(_list(generation.get("responseModalities", []), "setup.generation_config.response_modalities"))
    )
    functions, other_tools = _functions(body.get("tools") or [], "setup.tools")
    realtime = body.get("realtimeInputConfig") or {}
    aad = realtime.get("automaticActivityDetection") or {}
    resumption = body.get("sessionResumption")
    compression = body.get("contextWindowCompression")
    thinking = generation.get("thinkingConfig") or {}
    voice = ((generation.get("speechConfig") or {}).get("voiceConfig") or {}).get("prebuiltVoiceConfig") or {}
    where = "setup.realtime_input_config.automatic_activity_detection"
    return Setup(
        model=model,
        raw=body,
        modalities=modalities,
        system_instruction=_text_of(body["systemInstruction"], "setup.system_instruction")[0]
        if "systemInstruction" in body
        else "",
        functions=functions,
        other_tools=other_tools,
        vad_disabled=_bool(aad.get("disabled", False), f"{where}.disabled"),
        start_sensitivity=_enum(aad.get("startOfSpeechSensitivity", _START[0]), f"{where}.start_of_speech_sensitivity", _START),
        end_sensitivity=_enum(aad.get("endOfSpeechSensitivity", _END[0]), f"{where}.end_of_speech_sensitivity", _END),
        prefix_padding_ms=_opt_int(aad.get("prefixPaddingMs"), f"{where}.prefix_padding_ms"),
        silence_duration_ms=_opt_int(aad.get("silenceDurationMs"), f"{where}.silence_duration_ms"),
        activity_handling=_enum(
            realtime.get("activityHandling", _HANDLING[0]), "setup.realtime_input_config.activity_handling", _HANDLING
        ),
        input_transcription="inputAudioTranscription" in body,
        output_transcription="outputAudioTranscription" in body,
        resumption=isinstance(resumption, dict),
        resumption_handle=_str((resumption or {}).get("handle", ""), "setup.session_resumption.handle"),
        transparent=_bool((resumption or {}).get("transparent", False), "setup.session_resumption.transparent"),
        compression=isinstance(compression, dict),
        compression_trigger_tokens=_opt_int((compression or {}).get("triggerTokens"), "setup.context_window_compression.trigger_tokens"),
        include_thoughts=_opt_bool(thinking.get("includeThoughts"), "setup.generation_config.thinking_config.include_thoughts"),
        thinking_budget=_opt_int(thinking.get("thinkingBudget"), "setup.generation_config.thinking_config.thinking_budget"),
        max_output_tokens=_opt_int(generation.get("maxOutputTokens"), "setup.generation_config.max_output_tokens"),
        voice=_str(voice.get("voiceName", ""), "setup.generation_config.speech_config.voice_config.prebuilt_voice_config.voice_name"),
    )


def _functions(tools: Any, where: str) -> tuple[tuple[FunctionDeclaration, ...], tuple[str, ...]]:
    functions: list[FunctionDeclaration] = []
    others: list[str] = []
    for i, tool in enumerate(_list(tools, where)):
        if not isinstance(tool, dict):
            raise invalid(f"Invalid value at '{where}[{i}]'")
        for kind, value in tool.items():
            if kind != "functionDeclarations":
                others.append(kind)
                continue
            for j, decl in enumerate(_list(value, f"{where}[{i}].function_declarations")):
                at = f"{where}[{i}].function_declarations[{j}]"
                name = decl.get("name") if isinstance(decl, dict) else None
                if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}", name):
                    raise invalid(
                        f"* GenerateContentRequest.{at}.name: Invalid function name. Must start with a letter or an "
                        "underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), "
                        "with a maximum length of 64."
                    )
                if name in {f.name for f in functions}:
                    raise invalid(f"* GenerateContentRequest.{at}.name: Duplicate function declaration: {name}")
                params = decl.get("parametersJsonSchema", decl.get("parameters"))
                functions.append(
                    FunctionDeclaration(
                        name=name,
                        description=_str(decl.get("description", ""), f"{at}.description"),
                        parameters=params if isinstance(params, dict) else None,
                        behavior=_enum(decl.get("behavior", _BEHAVIOR[0]), f"{at}.behavior", _BEHAVIOR),
                    )
                )
    return tuple(functions), tuple(others)


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(f"Invalid value at '{where}' (TYPE_LIST), {value!r}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise invalid(f"Invalid value at '{where}' (TYPE_STRING), {value!r}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"Invalid value at '{where}' (TYPE_BOOL), {value!r}")
    return value


def _opt_bool(value: Any, where: str) -> bool | None:
    return None if value is None else _bool(value, where)


def _opt_int(value: Any, where: str) -> int | None:
    # Proto3 JSON: integers arrive as numbers, numeric strings or integral floats.
    if value is None:
        return None
    if isinstance(value, bool):
        raise invalid(f"Invalid value at '{where}' (TYPE_INT32), {value}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise invalid(f"Invalid value at '{where}' (TYPE_INT32), {value!r}")


def _enum(value: Any, where: str, allowed: tuple[str, ...]) -> str:
    # The service is believed to accept upper-case enum names only (gemini-live.md §11.2).
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(allowed):
        return allowed[value]
    if not isinstance(value, str) or value not in allowed:
        raise invalid(f'Invalid value at \'{where}\' (TYPE_ENUM), "{value}"')
    return value
