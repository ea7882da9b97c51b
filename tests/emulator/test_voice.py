"""The emulator's voice: it hears what it speaks, at any rate and through telephone companding."""

from __future__ import annotations

import numpy as np
import pytest

from livegate.emulator import voice

SENTENCE = 'what is the weather in paris? {"temp_c": 21}'


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
def test_speech_is_heard_back_at_any_rate(rate: int) -> None:
    pcm = b"\0\0" * (rate // 10) + voice.speak(SENTENCE, rate) + b"\0\0" * (rate // 5)
    assert voice.hear(pcm, rate) == SENTENCE


def test_reply_audio_lasts_as_long_as_its_text() -> None:
    assert len(voice.speak("abcd", 24000)) == 4 * 1200 * 2


def test_speech_survives_mu_law_companding() -> None:
    x = np.frombuffer(voice.speak(SENTENCE, 8000), "<i2") / 32768
    companded = np.sign(x) * np.log1p(255 * np.abs(x)) / np.log1p(255)
    quantised = np.round(companded * 127) / 127
    expanded = np.sign(quantised) * (256 ** np.abs(quantised) - 1) / 255
    assert voice.hear((expanded * 32767).astype("<i2").tobytes(), 8000) == SENTENCE


def test_upper_case_and_unknown_characters_take_their_spoken_form() -> None:
    assert voice.spoken_form("Héllo, World") == "h llo, world"
    assert voice.hear(voice.speak("Héllo, World", 16000), 16000) == "h llo, world"


def test_noise_and_silence_are_not_heard_as_words() -> None:
    noise = np.random.default_rng(7).normal(0, 4000, 16000).astype("<i2").tobytes()
    assert voice.hear(noise, 16000) is None
    assert voice.hear(b"\0\0" * 16000, 16000) is None
    assert voice.speak("", 16000) == b""


def test_two_utterances_with_a_pause_are_two_words_groups() -> None:
    pcm = voice.speak("hello", 16000) + b"\0\0" * 4000 + voice.speak("there", 16000)
    assert voice.hear(pcm, 16000) == "hello there"
