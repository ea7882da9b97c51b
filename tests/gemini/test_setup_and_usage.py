"""The Gemini setup built from an OpenAI session, and Gemini usage as OpenAI usage."""

from __future__ import annotations

from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.gemini.setup import build_setup, gemini_voice
from livegate.gemini.usage import openai_usage
from livegate.realtime.session import Session

STUDIO = UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live")
VERTEX_HALF = UpstreamRoute(Flavour.VERTEX, "gemini-live-2.5-flash", project="p", location="us-central1")


def session(**ga: object) -> Session:
    s = Session("gpt-realtime", "sess_1", 0)
    s.update({"type": "realtime", **ga}, beta=False)
    return s


def test_full_session_maps_to_a_canonical_setup() -> None:
    s = session(
        instructions="Be kind.",
        max_output_tokens=512,
        tools=[{"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        audio={"input": {"transcription": {"model": "whisper-1"}, "turn_detection": {"type": "server_vad", "silence_duration_ms": 700, "prefix_padding_ms": 100, "interrupt_response": False}}, "output": {"voice": "shimmer"}},
    )
    assert build_setup(STUDIO, s) == {
        "setup": {
            "model": "models/gemini-3.8-live",
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "maxOutputTokens": 512,
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Zephyr"}}},
            },
            "systemInstruction": {"role": "user", "parts": [{"text": "Be kind."}]},
            "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather", "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}}}]}],
            # prefix_padding_ms is audio kept before speech in OpenAI, speech needed before a start in Gemini: not mapped.
            "realtimeInputConfig": {"automaticActivityDetection": {"disabled": False, "silenceDurationMs": 700}, "activityHandling": "NO_INTERRUPTION"},
            "inputAudioTranscription": {},
            "outputAudioTranscription": {},
            "contextWindowCompression": {"slidingWindow": {}},
            "sessionResumption": {},
        }
    }


def test_compression_can_be_turned_off_per_deployment() -> None:
    setup = build_setup(UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live", compression=False), session())["setup"]
    assert "contextWindowCompression" not in setup


def test_text_output_on_half_cascade_asks_for_text_and_vertex_resumes_transparently() -> None:
    setup = build_setup(VERTEX_HALF, session(output_modalities=["text"], audio={"input": {"turn_detection": None}}), handle="h1")["setup"]
    assert setup["generationConfig"] == {"responseModalities": ["TEXT"]}
    assert "outputAudioTranscription" not in setup
    assert setup["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": True}}
    assert setup["sessionResumption"] == {"handle": "h1", "transparent": True}


def test_text_output_on_native_audio_asks_for_audio_and_its_transcript() -> None:
    setup = build_setup(STUDIO, session(output_modalities=["text"]))["setup"]
    assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert setup["outputAudioTranscription"] == {}


def test_openai_voices_map_and_gemini_voices_pass_through() -> None:
    assert [gemini_voice(v) for v in ("alloy", "Marin", "Puck", "Achernar")] == ["Kore", "Sulafat", "Puck", "Achernar"]


def test_usage_from_ai_studio_field_names() -> None:
    usage = openai_usage({
        "promptTokenCount": 147, "cachedContentTokenCount": 20, "responseTokenCount": 36, "thoughtsTokenCount": 4, "totalTokenCount": 187,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}, {"modality": "AUDIO", "tokenCount": 27}, {"modality": "VIDEO", "tokenCount": 20}],
        "cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 20}],
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 36}],
    })  # fmt: skip
    assert usage == {
        "total_tokens": 187, "input_tokens": 147, "output_tokens": 40,
        "input_token_details": {"text_tokens": 100, "audio_tokens": 27, "image_tokens": 20, "cached_tokens": 20,
                                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 20, "image_tokens": 0}},
        "output_token_details": {"text_tokens": 4, "audio_tokens": 36},
    }  # fmt: skip


def test_usage_from_vertex_field_names() -> None:
    usage = openai_usage({
        "promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7, "trafficType": "ON_DEMAND",
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}], "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 2}],
    })  # fmt: skip
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (5, 2, 7)
    assert usage["output_token_details"] == {"text_tokens": 2, "audio_tokens": 0}


def test_usage_with_nothing_known_has_every_key_as_zero() -> None:
    usage = openai_usage({"promptTokenCount": "12"})
    assert usage["input_tokens"] == 12
    assert usage["input_token_details"]["text_tokens"] == 12
    assert usage["output_token_details"] == {"text_tokens": 0, "audio_tokens": 0}


def test_vad_threshold_and_eagerness_map_to_gemini_sensitivities() -> None:
    strict = build_setup(STUDIO, session(audio={"input": {"turn_detection": {"type": "server_vad", "threshold": 0.8}}}))["setup"]
    assert strict["realtimeInputConfig"]["automaticActivityDetection"] == {
        "disabled": False, "startOfSpeechSensitivity": "START_SENSITIVITY_LOW", "silenceDurationMs": 200,
    }  # fmt: skip
    for eagerness, expected in (("low", ("END_SENSITIVITY_LOW", 1500)), ("high", ("END_SENSITIVITY_HIGH", 300)), ("auto", ("END_SENSITIVITY_HIGH", 800))):
        setup = build_setup(STUDIO, session(audio={"input": {"turn_detection": {"type": "semantic_vad", "eagerness": eagerness}}}))["setup"]
        activity = setup["realtimeInputConfig"]["automaticActivityDetection"]
        assert (activity["endOfSpeechSensitivity"], activity["silenceDurationMs"]) == expected


def test_create_response_false_hands_the_turns_to_livegate() -> None:
    setup = build_setup(STUDIO, session(audio={"input": {"turn_detection": {"type": "server_vad", "create_response": False}}}))["setup"]
    assert setup["realtimeInputConfig"] == {"automaticActivityDetection": {"disabled": True}}
