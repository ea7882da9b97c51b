"""Gemini Live wire format, as the real service reads and writes it.

Client frames are proto3 JSON (gemini-live.md §4.2): every field under its lowerCamelCase or its
snake_case name at any depth, enums as upper-case strings, int64 as numbers or strings, integral floats
for integers, bytes in either base64 alphabet with or without padding. Server frames (§5.1) are
pretty-printed camelCase JSON with defaults omitted, int64 and durations as strings.

Normalisation is schema-driven: ``SCHEMA`` names every message and the fields each may carry, so that
user-defined keys (function arguments, JSON schemas, labels) keep their spelling while proto fields are
camel-cased, and so that an unknown field is reported with the path the real service would name.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson

from livegate.errors import GeminiClientError

__all__ = [
    "INVALID_ARGUMENT",
    "SCHEMA",
    "b64decode",
    "b64encode",
    "decode_json",
    "encode_frame",
    "normalize",
    "proto_path",
]

INVALID_ARGUMENT = 1007
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011

# A field maps to the schema of its value: a message name, OPAQUE (kept as sent: user maps, JSON
# values), or LEAF (a scalar, enum or list of scalars). Lists are recognised by value.
OPAQUE = "opaque"
LEAF = "leaf"
SCHEMA_OBJECT = "schemaObject"  # OpenAPI subset Schema: `properties` is a map of user names

SCHEMA: dict[str, dict[str, str]] = {
    "clientMessage": {
        "setup": "setup",
        "clientContent": "clientContent",
        "realtimeInput": "realtimeInput",
        "toolResponse": "toolResponse",
        "contextUpdate": "contextUpdate",
    },
    "setup": {
        "model": LEAF,
        "generationConfig": "generationConfig",
        "systemInstruction": "content",
        "tools": "tool",
        "realtimeInputConfig": "realtimeInputConfig",
        "sessionResumption": "sessionResumption",
        "contextWindowCompression": "contextWindowCompression",
        "inputAudioTranscription": "audioTranscriptionConfig",
        "outputAudioTranscription": "audioTranscriptionConfig",
        "proactivity": "proactivity",
        "historyConfig": "historyConfig",
        "explicitVadSignal": LEAF,
        "avatarConfig": OPAQUE,
        "safetySettings": "safetySetting",
        "labels": OPAQUE,
    },
    "generationConfig": {
        "responseModalities": LEAF,
        "temperature": LEAF,
        "topP": LEAF,
        "topK": LEAF,
        "maxOutputTokens": LEAF,
        "seed": LEAF,
        "candidateCount": LEAF,
        "presencePenalty": LEAF,
        "frequencyPenalty": LEAF,
        "mediaResolution": LEAF,
        "speechConfig": "speechConfig",
        "thinkingConfig": "thinkingConfig",
        "enableAffectiveDialog": LEAF,
        "translationConfig": "translationConfig",
    },
    "speechConfig": {
        "voiceConfig": "voiceConfig",
        "languageCode": LEAF,
        "multiSpeakerVoiceConfig": OPAQUE,
    },
    "voiceConfig": {
        "prebuiltVoiceConfig": "prebuiltVoiceConfig",
        "replicatedVoiceConfig": OPAQUE,
        "voice": LEAF,
    },
    "prebuiltVoiceConfig": {"voiceName": LEAF},
    "thinkingConfig": {"thinkingBudget": LEAF, "includeThoughts": LEAF, "thinkingLevel": LEAF},
    "translationConfig": {"targetLanguageCode": LEAF, "echoTargetLanguage": LEAF},
    "content": {"role": LEAF, "parts": "part"},
    "part": {
        "text": LEAF,
        "thought": LEAF,
        "thoughtSignature": LEAF,
        "inlineData": "blob",
        "fileData": "fileData",
        "functionCall": "functionCall",
        "functionResponse": "functionResponse",
        "executableCode": OPAQUE,
        "codeExecutionResult": OPAQUE,
        "videoMetadata": OPAQUE,
    },
    "blob": {"data": LEAF, "mimeType": LEAF, "displayName": LEAF},
    "fileData": {"fileUri": LEAF, "mimeType": LEAF, "displayName": LEAF},
    "functionCall": {"id": LEAF, "name": LEAF, "args": OPAQUE},
    "functionResponse": {
        "id": LEAF,
        "name": LEAF,
        "response": OPAQUE,
        "parts": OPAQUE,
        "willContinue": LEAF,
        "scheduling": LEAF,
    },
    "tool": {
        "functionDeclarations": "functionDeclaration",
        "googleSearch": OPAQUE,
        "googleSearchRetrieval": OPAQUE,
        "codeExecution": OPAQUE,
        "urlContext": OPAQUE,
        "googleMaps": OPAQUE,
        "retrieval": OPAQUE,
        "enterpriseWebSearch": OPAQUE,
        "computerUse": OPAQUE,
        "fileSearch": OPAQUE,
    },
    "functionDeclaration": {
        "name": LEAF,
        "description": LEAF,
        "parameters": SCHEMA_OBJECT,
        "parametersJsonSchema": OPAQUE,
        "response": SCHEMA_OBJECT,
        "responseJsonSchema": OPAQUE,
        "behavior": LEAF,
    },
    "realtimeInputConfig": {
        "automaticActivityDetection": "automaticActivityDetection",
        "activityHandling": LEAF,
        "turnCoverage": LEAF,
        "interimTranscriptTimestampEnabled": LEAF,
    },
    "automaticActivityDetection": {
        "disabled": LEAF,
        "startOfSpeechSensitivity": LEAF,
        "endOfSpeechSensitivity": LEAF,
        "prefixPaddingMs": LEAF,
        "silenceDurationMs": LEAF,
    },
    "sessionResumption": {"handle": LEAF, "transparent": LEAF},
    "contextWindowCompression": {"triggerTokens": LEAF, "slidingWindow": "slidingWindow"},
    "slidingWindow": {"targetTokens": LEAF},
    "audioTranscriptionConfig": {
        "languageCodes": LEAF,
        "customVocabulary": OPAQUE,
        "wordTimestamp": LEAF,
        "diarization": LEAF,
        "mode": LEAF,
        "sourceText": LEAF,
        "languageAuto": OPAQUE,
        "languageHints": OPAQUE,
        "adaptationPhrases": OPAQUE,
    },
    "proactivity": {"proactiveAudio": LEAF, "proactiveVideo": LEAF},
    "historyConfig": {"initialHistoryInClientContent": LEAF},
    "safetySetting": {"category": LEAF, "threshold": LEAF, "method": LEAF},
    "clientContent": {"turns": "content", "turnComplete": LEAF},
    "realtimeInput": {
        "audio": "blob",
        "video": "blob",
        "text": LEAF,
        "activityStart": OPAQUE,
        "activityEnd": OPAQUE,
        "audioStreamEnd": LEAF,
        "mediaChunks": "blob",
    },
    "toolResponse": {"functionResponses": "functionResponse"},
    "contextUpdate": {"systemInstruction": "content", "tools": "toolsWrapper"},
    "toolsWrapper": {"tools": "tool"},
}

# Fields that exist on one backend only (gemini-live.md §4.3, §1.3): the other rejects them as unknown.
VERTEX_ONLY = {("setup", "explicitVadSignal"), ("sessionResumption", "transparent"), ("setup", "avatarConfig")}

_SNAKE_PART = re.compile(r"_([a-z0-9])")
_CAMEL_PART = re.compile(r"(?<!^)([A-Z])")


def camel(name: str) -> str:
    return _SNAKE_PART.sub(lambda m: m.group(1).upper(), name) if "_" in name else name


def snake(name: str) -> str:
    return _CAMEL_PART.sub(lambda m: "_" + m.group(1).lower(), name)


def proto_path(parts: list[str]) -> str:
    """A field path as Google's errors print it: proto (snake_case) names with indices, dot-joined."""
    return ".".join(parts)


def normalize(value: Any, schema: str, path: list[str], *, strict: bool, vertex: bool) -> Any:
    """Return ``value`` with every proto field name camel-cased; reject unknown fields when ``strict``."""
    if schema in (OPAQUE, LEAF):
        return value
    if isinstance(value, list):
        return [
            normalize(item, schema, [*path[:-1], f"{path[-1]}[{i}]"] if path else [f"[{i}]"], strict=strict, vertex=vertex)
            for i, item in enumerate(value)
        ]
    if schema == SCHEMA_OBJECT:
        return _normalize_schema_object(value, path)
    if not isinstance(value, dict):
        where = proto_path(path) or "request"
        raise GeminiClientError(
            INVALID_ARGUMENT,
            f"Invalid JSON payload received. Expected an object at '{where}', got {_json_kind(value)}.",
        )
    fields = SCHEMA[schema]
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = camel(key)
        sub = fields.get(name)
        if sub is not None and not vertex and (schema, name) in VERTEX_ONLY:
            sub = None
        if sub is None:
            if strict:
                where = proto_path(path) or "request"
                raise GeminiClientError(
                    INVALID_ARGUMENT,
                    f'Invalid JSON payload received. Unknown name "{key}" at \'{where}\': Cannot find field.',
                )
            continue
        if name in out:
            raise GeminiClientError(
                INVALID_ARGUMENT,
                f"Invalid JSON payload received. Duplicate field \"{snake(name)}\" at '{proto_path(path)}'.",
            )
        out[name] = normalize(item, sub, [*path, snake(name)], strict=strict, vertex=vertex)
    return out


def _normalize_schema_object(value: Any, path: list[str]) -> Any:
    # OpenAPI Schema: its own fields are proto fields, but the keys of `properties` are user names.
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = camel(key)
        if name == "properties" and isinstance(item, dict):
            out[name] = {prop: _normalize_schema_object(sub, [*path, prop]) for prop, sub in item.items()}
        elif name in ("items", "anyOf") or isinstance(item, dict):
            out[name] = (
                [_normalize_schema_object(sub, path) for sub in item]
                if isinstance(item, list)
                else _normalize_schema_object(item, path)
            )
        else:
            out[name] = item
    return out


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "null"


def decode_json(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise GeminiClientError(
            INVALID_ARGUMENT, "Invalid JSON payload received. Unexpected token."
        ) from None


def b64decode(text: Any, where: str) -> bytes:
    """Decode proto3-JSON bytes: standard or URL-safe alphabet, padded or not."""
    if not isinstance(text, str):
        raise GeminiClientError(INVALID_ARGUMENT, f"Invalid value at '{where}' (TYPE_BYTES), {text!r}")
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")
    missing = -len(text) % 4
    if missing:
        text += "=" * missing
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise GeminiClientError(
            INVALID_ARGUMENT, f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed."
        ) from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_frame(message: dict[str, Any]) -> bytes:
    """One server frame as the real service writes it (gemini-live.md §5.1, Appendix B):
    JSON with a 2-space indent and a trailing newline, sent as a binary frame."""
    return orjson.dumps(message, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
