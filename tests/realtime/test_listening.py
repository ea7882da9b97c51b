"""The input audio buffer: one native call per append gives what the numpy steps give, messages,
speech events and the audio taken, whatever the split; bad base64 is refused as before."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegate.audio.ingest import ACCELERATED
from livegate.errors import ClientError
from livegate.realtime.checks import decode_base64
from livegate.realtime.listening import GEMINI_AUDIO, InputAudio, Span, SpeechStarted, audio_message

SERVER_VAD = {"type": "server_vad", "silence_duration_ms": 200}
FORMATS = ["pcm16", "g711_ulaw", "g711_alaw"]


def speech_like(fmt: str, seed: int, ms: int) -> bytes:
    """Bursts of loud noise between quiet stretches, in the client's format."""
    rng = np.random.default_rng(seed)
    rate = 24000 if fmt == "pcm16" else 8000
    levels = np.repeat(rng.choice([0, 0, 20, 4000], size=ms // 100 + 1), rate // 10)[: ms * rate // 1000]
    pcm = np.clip(rng.normal(0, 1, len(levels)) * levels, -32768, 32767).astype("<i2")
    if fmt == "pcm16":
        return pcm.tobytes()
    from livegate.audio import g711

    return (g711.ulaw_encode if fmt == "g711_ulaw" else g711.alaw_encode)(pcm.tobytes())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def run(audio: InputAudio, data: bytes, sizes: list[int], seed: int, switch_at: int, switch_to: str) -> list[Any]:
    """What a session sees: each append's message and events, the audio its turns take, its commits."""
    seen: list[Any] = []
    offset, i = 0, 0
    while offset < len(data):
        chunk = data[offset : offset + sizes[i % len(sizes)]]
        offset += len(chunk)
        message, events = audio.append(b64(chunk), send=(seed >> (i % 31)) & 1 == 1)
        seen.append((message, events, audio.position_ms, audio.buffered_ms(), audio.speaking))
        for event in events:
            if isinstance(event, SpeechStarted):
                seen.append(audio.take(max(0, event.ms - 300), audio.position_ms))
            else:
                seen.append(audio.take(event.ms - 700, event.ms))
        if i % 97 == 96:
            seen.append(audio.take_all())
        if i == switch_at:
            audio.change_format(switch_to)
        if i % 131 == 130:
            audio.clear()
        i += 1
    seen.append(audio.take_all())
    return seen


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(FORMATS),
    st.sampled_from([SERVER_VAD, None]),
    st.lists(st.integers(min_value=1, max_value=1500), min_size=1, max_size=20),
    st.integers(0, 2**31 - 1),
    st.integers(0, 300),
    st.sampled_from(FORMATS),
)
def test_the_native_call_and_the_numpy_steps_give_the_same_session(
    fmt: str, detection: dict[str, Any] | None, sizes: list[int], seed: int, switch_at: int, switch_to: str
) -> None:
    assert ACCELERATED, "the C kernel was not built (setup.py); CI builds it"
    data = speech_like(fmt, seed, 4000)
    fast = run(InputAudio(fmt, detection), data, sizes, seed, switch_at, switch_to)
    reference = run(InputAudio(fmt, detection, accelerated=False), data, sizes, seed, switch_at, switch_to)
    assert fast == reference


@pytest.mark.parametrize("accelerated", [True, False])
def test_the_message_is_geminis_realtime_input_audio(accelerated: bool) -> None:
    audio = InputAudio("pcm16", SERVER_VAD, accelerated=accelerated)
    message, _ = audio.append(b64(bytes(960)), send=True)
    assert message == b'{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"' + base64.b64encode(bytes(640)) + b'"}}}'
    assert message == audio_message(bytes(640))
    assert message.startswith(GEMINI_AUDIO[0])
    assert audio.append(b64(bytes(960)), send=False) == (None, [])
    assert audio.append(b64(bytes(1)), send=True) == (None, [])  # half a sample: no PCM yet


@pytest.mark.parametrize("accelerated", [True, False])
@pytest.mark.parametrize("text", ["not base64!", "AAA", "A===", "====", "AA\nAA", "\u00e9\u00e9\u00e9\u00e9", "QUJD=QUJD"])
def test_bad_base64_is_refused_with_the_error_of_the_checks_and_nothing_kept(accelerated: bool, text: str) -> None:
    audio = InputAudio("pcm16", SERVER_VAD, accelerated=accelerated)
    audio.append(b64(bytes(960)), send=True)
    with pytest.raises(ClientError) as expected:
        decode_base64(text, "audio")
    with pytest.raises(ClientError) as got:
        audio.append(text, send=True)
    assert (got.value.message, got.value.code, got.value.param) == (expected.value.message, expected.value.code, expected.value.param)
    assert got.value.message == "Invalid 'audio': expected base64-encoded data."
    assert (audio.position_ms, audio.buffered_ms()) == (20, 20.0)


@pytest.mark.parametrize("accelerated", [True, False])
@pytest.mark.parametrize("text", ["AAAA=", "AB==", "QUJ="])
def test_base64_the_checks_take_but_not_canonical_goes_in_as_the_checks_read_it(accelerated: bool, text: str) -> None:
    audio, same = InputAudio("g711_ulaw", None, accelerated=accelerated), InputAudio("g711_ulaw", None, accelerated=accelerated)
    assert audio.append(text, send=True) == same.append(b64(decode_base64(text, "audio")), send=True)
    assert audio.take_all() == same.take_all()


def test_silence_keeps_one_second_however_long_it_lasts() -> None:
    audio = InputAudio("pcm16", SERVER_VAD)
    for _ in range(3000):  # a minute
        audio.append(b64(bytes(960)), send=False)
    assert audio.position_ms == 60_000
    assert 1000 <= audio.buffered_ms() <= 1020
    raw, pcm = audio.take_all()
    assert len(raw) == 48 * 1000 and len(pcm) == 32 * 1000


class _Bytearray:
    """The buffer Span replaced: a bytearray that drops its front (the reference for the chunked one)."""

    def __init__(self, per_ms: int, align: int) -> None:
        self.per_ms, self.align, self.start_ms, self.data = per_ms, align, 0.0, bytearray()

    def drop_before(self, ms: float) -> None:
        if ms > self.start_ms:
            cut = int((ms - self.start_ms) * self.per_ms)
            cut -= cut % self.align
            del self.data[:cut]
            self.start_ms += cut / self.per_ms

    def slice(self, from_ms: float, to_ms: float) -> bytes:
        lo = max(0, int((from_ms - self.start_ms) * self.per_ms))
        hi = max(lo, int((to_ms - self.start_ms) * self.per_ms))
        lo, hi = lo - lo % self.align, hi - hi % self.align
        return bytes(self.data[lo:hi])


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([(48, 2), (8, 1), (32, 2)]),
    st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.binary(max_size=300)),
            st.tuples(st.just("drop"), st.floats(-5, 200, allow_nan=False)),
            st.tuples(st.just("slice"), st.floats(-5, 200, allow_nan=False), st.floats(-5, 200, allow_nan=False)),
            st.tuples(st.just("whole")),
        ),
        max_size=40,
    ),
)
def test_a_span_keeps_and_cuts_audio_as_one_bytearray_would(unit: tuple[int, int], steps: list[tuple[Any, ...]]) -> None:
    span, reference = Span(*unit), _Bytearray(*unit)
    for step in steps:
        if step[0] == "add":
            span.add(step[1])
            reference.data += step[1]
        elif step[0] == "drop":
            span.drop_before(step[1])
            reference.drop_before(step[1])
        elif step[0] == "slice":
            assert span.slice(step[1], step[2]) == reference.slice(step[1], step[2])
        else:
            assert span.whole() == bytes(reference.data)
        assert len(span) == len(reference.data) and span.start_ms == reference.start_ms
