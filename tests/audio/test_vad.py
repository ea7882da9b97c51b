"""Automatic activity detection: exact offsets, the meaning of each knob, and split-invariance."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from livegate.audio.vad import ActivityDetector, SpeechEnded, SpeechStarted, VadSettings


def tone(seconds: float, rate: int = 16000, dbfs: float = -20.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    amplitude = 10 ** (dbfs / 20) * 32767 * np.sqrt(2)
    return np.round(amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()


def silence(seconds: float, rate: int = 16000) -> bytes:
    return b"\0\0" * int(seconds * rate)


SETTINGS = VadSettings(threshold_dbfs=-50.0, prefix_ms=20, silence_ms=500)
UTTERANCE = silence(0.5) + tone(1.0) + silence(0.7)


def test_speech_start_and_end_at_exact_samples() -> None:
    detector = ActivityDetector(SETTINGS, 16000)
    assert detector.feed(UTTERANCE) == [SpeechStarted(8000), SpeechEnded(24000)]


def test_prefix_padding_is_the_speech_needed_before_start_is_committed() -> None:
    short = silence(0.2) + tone(0.05) + silence(0.6)
    assert ActivityDetector(SETTINGS, 16000).feed(short)[0] == SpeechStarted(3200)
    strict = VadSettings(-50.0, prefix_ms=100, silence_ms=500)
    assert ActivityDetector(strict, 16000).feed(short) == []


def test_silence_duration_is_the_quiet_needed_before_end_is_committed() -> None:
    long_pause = VadSettings(-50.0, 20, silence_ms=800)
    assert ActivityDetector(long_pause, 16000).feed(UTTERANCE) == [SpeechStarted(8000)]


def test_low_start_sensitivity_ignores_quiet_speech() -> None:
    quiet = silence(0.1) + tone(0.5, dbfs=-44) + silence(0.6)
    high = VadSettings.from_setup("START_SENSITIVITY_HIGH", "", None, None, default_start="", default_end="END_SENSITIVITY_HIGH")
    low = VadSettings.from_setup("START_SENSITIVITY_LOW", "", None, None, default_start="", default_end="END_SENSITIVITY_HIGH")
    assert ActivityDetector(high, 16000).feed(quiet)[0] == SpeechStarted(1600)
    assert ActivityDetector(low, 16000).feed(quiet) == []


def test_defaults_follow_the_sensitivities() -> None:
    settings = VadSettings.from_setup("START_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_UNSPECIFIED", None, None,
                                      default_start="START_SENSITIVITY_LOW", default_end="END_SENSITIVITY_LOW")
    assert settings == VadSettings(threshold_dbfs=-38.0, prefix_ms=60, silence_ms=1000)


def test_offsets_count_at_the_declared_rate() -> None:
    detector = ActivityDetector(SETTINGS, 8000)
    assert detector.feed(silence(0.5, 8000) + tone(1.0, 8000) + silence(0.7, 8000)) == [SpeechStarted(4000), SpeechEnded(12000)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=4000), min_size=1, max_size=60))
def test_events_do_not_depend_on_how_the_stream_is_split(sizes: list[int]) -> None:
    detector = ActivityDetector(SETTINGS, 16000)
    events, offset, i = [], 0, 0
    while offset < len(UTTERANCE):
        size = sizes[i % len(sizes)] * 2
        events += detector.feed(UTTERANCE[offset : offset + size])
        offset += size
        i += 1
    assert events == [SpeechStarted(8000), SpeechEnded(24000)]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(min_value=-70, max_value=-10))
def test_the_c_kernel_and_the_numpy_reference_decide_alike(seed: int, threshold: float) -> None:
    rng = np.random.default_rng(seed)
    levels = rng.choice([0, 50, 300, 3000], size=80)
    pcm = np.concatenate([rng.normal(0, level + 1e-9, 160) for level in levels]).astype("<i2").tobytes()
    settings = VadSettings(threshold, 20, 100)
    assert ActivityDetector(settings, 16000).feed(pcm) == ActivityDetector(settings, 16000, accelerated=False).feed(pcm)
