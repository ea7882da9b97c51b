"""The OpenAI session object: one GA model, both dialects (openai-realtime.md §3)."""

from __future__ import annotations

import pytest

from livegate.errors import ClientError
from livegate.realtime.session import Session


def test_created_session_has_every_key_of_the_real_ga_session() -> None:
    ga = Session("gpt-realtime", "sess_1", 1000).render(beta=False)
    assert set(ga) == {
        "type", "object", "id", "model", "output_modalities", "instructions", "tools", "tool_choice", "max_output_tokens",
        "tracing", "truncation", "prompt", "expires_at", "audio", "include",
    }  # fmt: skip
    assert ga["expires_at"] == 4600
    assert ga["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 200


def test_beta_update_maps_to_ga_and_renders_back() -> None:
    s = Session("m", "sess_1", 0)
    changed = s.update(
        {
            "modalities": ["audio", "text"],
            "voice": "sage",
            "input_audio_format": "g711_ulaw",
            "output_audio_format": "g711_alaw",
            "input_audio_transcription": {"model": "whisper-1", "language": None, "prompt": None},
            "turn_detection": None,
            "max_response_output_tokens": 100,
            "tool_choice": "required",
            "speed": 1.2,
        },
        beta=True,
    )
    assert changed == {"audio", "max_output_tokens", "tool_choice"}
    assert s.ga["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert s.ga["audio"]["output"] == {"format": {"type": "audio/pcma"}, "voice": "sage", "speed": 1.2}
    beta = s.render(beta=True)
    assert (beta["input_audio_format"], beta["output_audio_format"], beta["turn_detection"]) == ("g711_ulaw", "g711_alaw", None)
    assert beta["input_audio_transcription"] == {"model": "whisper-1", "language": None, "prompt": None}
    assert (beta["max_response_output_tokens"], beta["tool_choice"], beta["modalities"]) == (100, "required", ["audio", "text"])


def test_null_clears_and_an_empty_string_clears_instructions() -> None:
    s = Session("m", "sess_1", 0)
    s.update({"type": "realtime", "instructions": "x", "audio": {"input": {"turn_detection": None, "transcription": {"model": "whisper-1"}}}}, beta=False)
    s.update({"type": "realtime", "instructions": "", "audio": {"input": {"transcription": None}}}, beta=False)
    assert (s.instructions, s.turn_detection, s.transcription) == ("", None, None)


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"modalities": ["audio"]}, "session.modalities"),
        ({"input_audio_format": "mp3"}, "session.input_audio_format"),
        ({"temperature": "hot"}, "session.temperature"),
        ({"nonsense": 1}, "session.nonsense"),
    ],
)
def test_bad_beta_fields_are_refused_by_name(patch: dict[str, object], param: str) -> None:
    with pytest.raises(ClientError) as raised:
        Session("m", "sess_1", 0).update(patch, beta=True)
    assert raised.value.param == param


def test_transcription_sessions_and_mcp_tools_are_refused_clearly() -> None:
    with pytest.raises(ClientError, match="Transcription sessions are not supported"):
        Session("m", "s", 0).update({"type": "transcription"}, beta=False)
    with pytest.raises(ClientError, match="Only function tools"):
        Session("m", "s", 0).update({"type": "realtime", "tools": [{"type": "mcp", "server_label": "x"}]}, beta=False)
