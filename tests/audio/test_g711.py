"""G.711 against the reference implementation (the one in Python's audioop) for every value, and
the converters between OpenAI formats and Gemini's PCM16."""

from __future__ import annotations

import warnings

import numpy as np

from livegate.audio import g711
from livegate.audio.formats import InputConverter, OutputConverter, bytes_per_ms

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # deprecated in 3.11, the reference G.711 implementation of the standard library

EVERY_SAMPLE = np.arange(-32768, 32768, dtype="<i2").tobytes()
EVERY_CODE = bytes(range(256))


def test_ulaw_matches_the_reference_for_every_sample_and_code() -> None:
    assert g711.ulaw_encode(EVERY_SAMPLE) == audioop.lin2ulaw(EVERY_SAMPLE, 2)
    assert g711.ulaw_decode(EVERY_CODE) == audioop.ulaw2lin(EVERY_CODE, 2)


def test_alaw_matches_the_reference_for_every_sample_and_code() -> None:
    assert g711.alaw_encode(EVERY_SAMPLE) == audioop.lin2alaw(EVERY_SAMPLE, 2)
    assert g711.alaw_decode(EVERY_CODE) == audioop.alaw2lin(EVERY_CODE, 2)


def test_known_codes() -> None:
    # G.711: µ-law 0xFF and A-law 0xD5 are the smallest positive steps; silence encodes to them.
    assert g711.ulaw_encode(b"\x00\x00") == b"\xff"
    assert g711.alaw_encode(b"\x00\x00") == b"\xd5"
    assert np.frombuffer(g711.ulaw_decode(b"\x00\x80"), "<i2").tolist() == [-32124, 32124]
    assert np.frombuffer(g711.alaw_decode(b"\x55\xd5"), "<i2").tolist() == [-8, 8]


def test_input_converters_make_16k_pcm16_of_every_format() -> None:
    twenty_ms = {"pcm16": 960, "g711_ulaw": 160, "g711_alaw": 160}
    for fmt, size in twenty_ms.items():
        converter = InputConverter(fmt)
        assert len(converter.convert(bytes(size))) == 640, fmt
        assert bytes_per_ms(fmt) * 20 == size


def test_a_torn_pcm16_sample_waits_for_its_other_byte() -> None:
    converter = InputConverter("pcm16")
    whole = InputConverter("pcm16").convert(bytes(range(200)) * 6)
    torn = converter.convert((bytes(range(200)) * 6)[:599]) + converter.convert((bytes(range(200)) * 6)[599:])
    assert torn == whole


def test_output_converters() -> None:
    pcm = (np.sin(np.arange(480) / 5) * 8000).astype("<i2").tobytes()
    assert OutputConverter("pcm16").convert(pcm) == pcm
    assert OutputConverter("pcm16").passthrough
    assert len(OutputConverter("g711_ulaw").convert(pcm)) == 160
    assert len(OutputConverter("g711_alaw").convert(pcm)) == 160
