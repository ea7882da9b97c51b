"""Parsing client frames: the verbatim frames google-genai 3.4.0 sends (gemini-live.md Appendix A)
are golden data, and proto3-JSON leniency holds at every depth."""

from __future__ import annotations

import json

import pytest

from livegate.emulator.messages import (
    ActivityEnd,
    ActivityStart,
    AudioChunk,
    AudioStreamEnd,
    ClientContent,
    ContextUpdate,
    FunctionDeclaration,
    FunctionResponse,
    Setup,
    TextInput,
    ToolResponse,
    Turn,
    VideoFrame,
    parse_client_message,
)
from livegate.emulator.wire import b64decode, encode_frame, normalize
from livegate.errors import GeminiClientError

FULL_SETUP = """{"setup": {"model": "models/gemini-2.5-flash-native-audio-preview-12-2025",
 "generationConfig": {"responseModalities": ["AUDIO"], "temperature": 0.7, "topP": 0.9, "topK": 40.0, "maxOutputTokens": 256,
   "mediaResolution": "MEDIA_RESOLUTION_LOW", "seed": 7,
   "speechConfig": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}, "language_code": "en-US"},
   "thinkingConfig": {"include_thoughts": false, "thinking_budget": 0}, "enableAffectiveDialog": true},
 "systemInstruction": {"parts": [{"text": "You are helpful."}], "role": "user"},
 "tools": [{"googleSearch": {}}, {"codeExecution": {}},
   {"functionDeclarations": [{"description": "Get weather", "name": "get_weather",
     "parameters_json_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
     "behavior": "NON_BLOCKING"}]}],
 "sessionResumption": {"handle": "prev-handle"}, "inputAudioTranscription": {}, "outputAudioTranscription": {},
 "realtimeInputConfig": {"automatic_activity_detection": {"disabled": false, "start_of_speech_sensitivity": "START_SENSITIVITY_LOW",
   "end_of_speech_sensitivity": "END_SENSITIVITY_HIGH", "prefix_padding_ms": 20, "silence_duration_ms": 500},
   "activity_handling": "START_OF_ACTIVITY_INTERRUPTS", "turn_coverage": "TURN_INCLUDES_ONLY_ACTIVITY"},
 "contextWindowCompression": {"trigger_tokens": 25600, "sliding_window": {"target_tokens": 12800}},
 "proactivity": {"proactive_audio": true}}}"""


def test_the_sdks_full_setup_parses_with_every_field() -> None:
    setup = parse_client_message(FULL_SETUP)
    assert isinstance(setup, Setup)
    assert setup.model == "models/gemini-2.5-flash-native-audio-preview-12-2025"
    assert setup.modalities == ("AUDIO",)
    assert setup.system_instruction == "You are helpful."
    assert setup.functions == (
        FunctionDeclaration(
            "get_weather",
            "Get weather",
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "NON_BLOCKING",
        ),
    )
    assert setup.other_tools == ("googleSearch", "codeExecution")
    assert (setup.start_sensitivity, setup.end_sensitivity) == ("START_SENSITIVITY_LOW", "END_SENSITIVITY_HIGH")
    assert (setup.prefix_padding_ms, setup.silence_duration_ms) == (20, 500)
    assert setup.input_transcription and setup.output_transcription
    assert setup.resumption and setup.resumption_handle == "prev-handle"
    assert setup.compression and setup.compression_trigger_tokens == 25600
    assert (setup.include_thoughts, setup.thinking_budget, setup.voice) == (False, 0, "Kore")
    # Snake-case sub-objects come out camel-cased; user keys inside schemas keep their spelling.
    assert setup.raw["realtimeInputConfig"]["automaticActivityDetection"]["silenceDurationMs"] == 500
    assert setup.raw["tools"][2]["functionDeclarations"][0]["parametersJsonSchema"]["properties"] == {"city": {"type": "string"}}


def test_vertex_speech_config_casing_parses_too() -> None:
    frame = {"setup": {"model": "m", "generationConfig": {"speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voice_name": "Kore"}}, "languageCode": "en-US"}}}}
    setup = parse_client_message(json.dumps(frame), vertex=True)
    assert isinstance(setup, Setup) and setup.voice == "Kore"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (
            '{"client_content": {"turns": [{"parts": [{"text": "hi"}, {"inlineData": {"data": "AAE=", "mime_type": "image/jpeg"}}], "role": "user"}], "turnComplete": false}}',
            ClientContent((Turn("user", "hi", images=1),), False),
        ),
        ('{"realtime_input": {"audio": {"data": "AAECAw==", "mime_type": "audio/pcm;rate=16000"}}}', AudioChunk(b"\x00\x01\x02\x03", 16000, "audio/pcm;rate=16000")),
        ('{"realtime_input": {"video": {"data": "_9j_", "mime_type": "image/jpeg"}}}', VideoFrame(b"\xff\xd8\xff", "image/jpeg")),
        ('{"realtime_input": {"text": "typed text"}}', TextInput("typed text")),
        ('{"realtime_input": {"activityStart": {}}}', ActivityStart()),
        ('{"realtime_input": {"activityEnd": {}}}', ActivityEnd()),
        ('{"realtime_input": {"audioStreamEnd": true}}', AudioStreamEnd()),
        ('{"realtime_input": {"mediaChunks": [{"data": "AAE=", "mime_type": "audio/pcm"}]}}', AudioChunk(b"\x00\x01", 16000, "audio/pcm")),
        (
            '{"tool_response": {"functionResponses": [{"id": "fc-1", "name": "get_weather", "response": {"output": {"temp_c": 21}}}]}}',
            ToolResponse((FunctionResponse("fc-1", "get_weather", {"output": {"temp_c": 21}}),)),
        ),
        (
            '{"contextUpdate": {"systemInstruction": {"parts": [{"text": "new instr"}], "role": "user"}, "tools": {"tools": []}}}',
            ContextUpdate("new instr", ()),
        ),
        ('{"client_content": {"turns": [{"parts": [{"text": "go"}], "role": "user"}], "turnComplete": true}}', ClientContent((Turn("user", "go"),), True)),
    ],
)
def test_later_frames_of_the_sdk_parse_to_typed_messages(frame: str, expected: object) -> None:
    assert parse_client_message(frame) == expected


def test_tool_response_scheduling_and_will_continue() -> None:
    frame = '{"tool_response": {"functionResponses": [{"will_continue": false, "scheduling": "WHEN_IDLE", "id": "fc-2", "name": "slow", "response": {"result": "x"}}]}}'
    message = parse_client_message(frame)
    assert isinstance(message, ToolResponse)
    assert (message.responses[0].scheduling, message.responses[0].will_continue) == ("WHEN_IDLE", False)


def test_numbers_as_strings_and_integral_floats_are_integers() -> None:
    frame = {"setup": {"model": "m", "realtimeInputConfig": {"automaticActivityDetection": {"prefixPaddingMs": "20", "silenceDurationMs": 500.0}}}}
    setup = parse_client_message(json.dumps(frame))
    assert isinstance(setup, Setup) and (setup.prefix_padding_ms, setup.silence_duration_ms) == (20, 500)


def test_enums_may_arrive_as_numbers() -> None:
    setup = parse_client_message('{"setup": {"model": "m", "generationConfig": {"responseModalities": [3]}}}')
    assert isinstance(setup, Setup) and setup.modalities == ("AUDIO",)


@pytest.mark.parametrize("text", ["_9j_", "/9j/", "_9j_4A", "_9j_4A=="])
def test_base64_in_either_alphabet_padded_or_not(text: str) -> None:
    assert b64decode(text, "x")[:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("[]", "Invalid JSON payload received. Expected an object at 'request'."),
        ('{"foo": 1}', 'Invalid JSON payload received. Unknown name "foo": Cannot find field.'),
        ('{"realtimeInput": {"audio": {"data": "AA", "mimeType": "video/mp4"}}}', "Unsupported mime type for realtime_input.audio: video/mp4"),
        ('{"realtimeInput": {"audio": {"data": "@@@@", "mimeType": "audio/pcm"}}}', "Invalid value at 'realtime_input.audio.data' (TYPE_BYTES), Base64 decoding failed."),
        ('{"realtimeInput": {"text": "a", "audioStreamEnd": true}}', "Request contains an invalid argument."),
        ('{"realtimeInput": {"audio": {"data": "AAAA", "mimeType": "audio/pcm;rate=1"}}}', "Unsupported sample rate in realtime_input.audio.mime_type: audio/pcm;rate=1"),
        ('{"setup": {}}', "setup.model is required."),
        ('{"setup": {"model": "m", "tools": [{"functionDeclarations": [{"name": "1bad"}]}]}}', "* GenerateContentRequest.setup.tools[0].function_declarations[0].name: Invalid function name."),
        ('{"setup": {"model": "m", "generationConfig": {"maxOutputTokens": "lots"}}}', "Invalid value at 'setup.generation_config.max_output_tokens' (TYPE_INT32), 'lots'"),
        ('{"setup": {"model": "m", "generationConfig": {"temperature": 1, "temperature": 2}}}', None),
        ('{"clientContent": {"turns": [{"role": "system", "parts": [{"text": "x"}]}]}}', "Please use a valid role: user, model."),
        ('{"setup": {"model": "m", "systemInstruction": "text"}}', "Invalid JSON payload received. Expected an object at 'setup.system_instruction', got a string."),
    ],
)
def test_bad_frames_close_1007_with_a_google_style_reason(frame: str, reason: str | None) -> None:
    if reason is None:  # a duplicate key is the last one in JSON; the message is still valid
        assert isinstance(parse_client_message(frame), Setup)
        return
    with pytest.raises(GeminiClientError) as raised:
        parse_client_message(frame)
    assert raised.value.code == 1007
    assert raised.value.reason.startswith(reason)


def test_camel_and_snake_spellings_of_one_field_together_are_a_duplicate() -> None:
    with pytest.raises(GeminiClientError, match="Duplicate field"):
        parse_client_message('{"setup": {"model": "m", "generationConfig": {"maxOutputTokens": 1, "max_output_tokens": 2}}}')


def test_lenient_mode_ignores_unknown_fields() -> None:
    setup = parse_client_message('{"setup": {"model": "m", "futureField": {"x": 1}}}', strict=False)
    assert isinstance(setup, Setup)


def test_reasons_are_cut_to_123_bytes_on_a_character_boundary() -> None:
    error = GeminiClientError(1007, "é" * 100)
    assert len(error.reason.encode()) == 122 and error.reason == "é" * 61


def test_normalize_keeps_user_keys_in_schemas_and_arguments() -> None:
    value = {"function_declarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": {"snake_name": {"type": "STRING", "max_length": 3}}}}]}
    out = normalize(value, "tool", ["tools[0]"], strict=True, vertex=False)
    assert out == {"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": {"snake_name": {"type": "STRING", "maxLength": 3}}}}]}


def test_server_frames_are_pretty_printed_with_a_trailing_newline() -> None:
    frame = encode_frame({"sessionResumptionUpdate": {"newHandle": "h", "resumable": True}})
    assert frame == b'{\n  "sessionResumptionUpdate": {\n    "newHandle": "h",\n    "resumable": true\n  }\n}\n'
