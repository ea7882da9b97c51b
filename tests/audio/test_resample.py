"""The resampler: exact vectors, output independent of how the input is split, and measured quality."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegate.audio.resample import Resampler, group_delay_s

PATHS = [(24000, 16000), (8000, 16000), (24000, 8000), (16000, 24000)]


def sweep(rate: int, seconds: float, f0: float, f1: float, delay: float = 0.0) -> npt.NDArray[np.float64]:
    """A linear chirp, evaluated exactly at any rate and delay: the reference for quality."""
    t = np.arange(int(rate * seconds)) / rate - delay
    return 0.5 * np.sin(2 * np.pi * (f0 * t + 0.5 * (f1 - f0) / seconds * t * t))


def pcm(x: npt.NDArray[np.float64]) -> bytes:
    return np.round(x * 32767).astype("<i2").tobytes()


def run(resampler: Resampler, data: bytes, frame_bytes: int) -> bytes:
    return b"".join(resampler.process(data[i : i + frame_bytes]) for i in range(0, len(data), frame_bytes))


def snr_db(rin: int, rout: int, top: float) -> float:
    x = pcm(sweep(rin, 2.0, 100, top))
    y = np.frombuffer(run(Resampler(rin, rout), x, rin // 50 * 2), "<i2") / 32767
    ref = sweep(rout, 2.0, 100, top, delay=group_delay_s(rin, rout))
    edge = rout // 20
    error = y[edge:-edge] - ref[edge:-edge]
    return float(10 * np.log10(np.sum(ref[edge:-edge] ** 2) / np.sum(error**2)))


@pytest.mark.parametrize(
    ("rin", "rout", "top", "floor_db"),
    [(24000, 16000, 6000, 85.0), (8000, 16000, 3000, 84.0), (24000, 8000, 3000, 85.0), (16000, 24000, 6000, 85.0)],
)
def test_a_sweep_comes_out_at_the_quantisation_floor_across_the_passband(rin: int, rout: int, top: float, floor_db: float) -> None:
    # The numbers stated in the README: 16-bit quantisation alone gives about 87 dB for this sweep.
    assert snr_db(rin, rout, top) >= floor_db


@pytest.mark.parametrize(("rin", "rout"), PATHS)
def test_twenty_ms_frames_give_exactly_the_samples_of_the_new_rate(rin: int, rout: int) -> None:
    resampler = Resampler(rin, rout)
    frame = bytes(rin // 50 * 2)
    assert [len(resampler.process(frame)) for _ in range(3)] == [rout // 50 * 2] * 3


def test_exact_vectors_of_an_impulse_and_dc() -> None:
    resampler = Resampler(8000, 16000)
    impulse = np.zeros(160, dtype="<i2")
    impulse[0] = 16384
    out = np.frombuffer(resampler.process(impulse.tobytes()), "<i2")
    assert len(out) == 320
    assert int(np.argmax(out)) == 31  # the group delay: 31.5 samples at 16 kHz, peaks at 31 and 32
    assert abs(int(out.sum()) - 2 * 16384) <= 64  # unity gain: every input sample becomes two outputs
    dc = np.frombuffer(Resampler(24000, 16000).process((np.ones(4800, "<i2") * 1000).tobytes()), "<i2")
    assert set(dc[200:].tolist()) == {1000}


def test_full_scale_does_not_wrap_around() -> None:
    square = np.tile(np.r_[np.full(12, 32767), np.full(12, -32768)], 200).astype("<i2").tobytes()
    out = np.frombuffer(Resampler(24000, 16000).process(square), "<i2")
    assert out.max() == 32767 and out.min() == -32768  # clipped, never wrapped


def test_equal_rates_pass_through() -> None:
    assert Resampler(16000, 16000).process(b"\x01\x02") == b"\x01\x02"


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(PATHS), st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=40), st.integers(0, 2**32 - 1))
def test_output_does_not_depend_on_how_the_input_is_split(path: tuple[int, int], sizes: list[int], seed: int) -> None:
    rin, rout = path
    signal = np.random.default_rng(seed).integers(-32768, 32767, rin // 5, dtype=np.int64).astype("<i2").tobytes()
    whole = Resampler(rin, rout).process(signal)
    parts, split, offset, i = [], Resampler(rin, rout), 0, 0
    while offset < len(signal):
        size = sizes[i % len(sizes)] * 2
        parts.append(split.process(signal[offset : offset + size]))
        offset += size
        i += 1
    joined = b"".join(parts)
    assert joined == whole[: len(joined)]
    assert len(whole) - len(joined) <= 2 * (split.up - 1)  # at most one unfinished block waits


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(PATHS), st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=30), st.integers(0, 2**32 - 1))
def test_the_c_kernel_and_the_numpy_reference_give_the_same_bytes(path: tuple[int, int], sizes: list[int], seed: int) -> None:
    from livegate.audio.resample import ACCELERATED

    assert ACCELERATED, "the C kernel was not built (setup.py); CI builds it"
    rin, rout = path
    signal = np.random.default_rng(seed).integers(-32768, 32767, rin // 5, dtype=np.int64).astype("<i2").tobytes()
    fast, reference = Resampler(rin, rout), Resampler(rin, rout, accelerated=False)
    offset, i = 0, 0
    while offset < len(signal):
        size = sizes[i % len(sizes)] * 2
        chunk = signal[offset : offset + size]
        assert fast.process(chunk) == reference.process(chunk)
        offset += size
        i += 1


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
    st.sampled_from([2**14, 2**18, 2**20]),  # 40 taps below 2**20 always fit the kernel's int32 halves
)
def test_the_c_kernel_sums_exactly_and_rounds_half_to_even(up: int, down: int, span: int, seed: int, scale: int) -> None:
    from livegate.audio import _dsp

    rng = np.random.default_rng(seed)
    taps = rng.integers(-scale, scale, up * span)
    samples = rng.choice([-32768, -32767, -1, 0, 1, 32767], 200) if seed % 3 == 0 else rng.integers(-32768, 32768, 200)
    offsets = tuple(j * down // up for j in range(up))
    start, first = -5, (span + 10) // down
    blocks = (200 + start - offsets[-1]) // down - first
    out = _dsp.polyphase(samples.astype("<i2").tobytes(), taps.astype("<f8").tobytes(), up, down, span, 20, offsets, first, blocks, start)
    expected = []
    for b in range(first, first + blocks):
        for j in range(up):
            oldest = b * down + offsets[j] - start - span + 1
            acc = sum(int(h) * int(x) for h, x in zip(taps[(j * down) % up * span :][:span], samples[oldest : oldest + span], strict=True))
            expected.append(min(32767, max(-32768, round(Fraction(acc, 2**20)))))  # round(): half to even
    assert np.frombuffer(out, "<i2").tolist() == expected


def test_the_c_kernel_rounds_ties_to_even() -> None:
    from livegate.audio import _dsp

    samples = np.arange(-9, 10, dtype="<i2")
    halves = _dsp.polyphase(samples.tobytes(), np.array([2.0**19]).tobytes(), 1, 1, 1, 20, (0,), 0, 19, 0)
    assert np.frombuffer(halves, "<i2").tolist() == [-4, -4, -4, -3, -2, -2, -2, -1, 0, 0, 0, 1, 2, 2, 2, 3, 4, 4, 4]
    assert np.frombuffer(halves, "<i2").tolist() == np.rint(samples / 2).astype(int).tolist()


def test_taps_too_large_for_exact_sums_are_refused() -> None:
    from livegate.audio import _dsp

    with pytest.raises(ValueError, match="exact sum"):
        _dsp.polyphase(bytes(400), np.full(96, 2.0**30).tobytes(), 1, 1, 96, 20, (0,), 100, 1, 0)
    with pytest.raises(ValueError, match="integers"):
        _dsp.polyphase(bytes(400), np.full(4, 0.5).tobytes(), 1, 1, 4, 20, (0,), 100, 1, 0)
