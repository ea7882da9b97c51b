"""Streaming polyphase resampling between the rates of the two protocols (8, 16 and 24 kHz).

A Kaiser-windowed sinc prototype, quantised to integer taps. Samples are PCM16 integers, so every
product and every partial sum is an integer below 2**53 and float64 arithmetic is exact whatever order
BLAS sums in: the output does not depend on how the input stream was split into frames, bit for bit.
The filter is causal with no look-ahead buffering: outputs leave as soon as their newest input has
arrived, and the only latency is the filter's group delay (1 to 2 ms).

Why not a library: libsoxr (python-soxr 1.1) is split-invariant only in float32 and holds back
16 ms (24 to 16 kHz, HQ) to 96 ms (8 to 16 kHz) of audio before it emits any; libsamplerate
(samplerate 0.2.4) costs 37 to 280 us of CPU per 20 ms frame. Measured on the project's machine;
the quality of this one is measured in tests/audio/test_resample.py and stated in the README.
"""

from __future__ import annotations

from functools import cache
from math import gcd
from types import ModuleType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

_dsp: ModuleType | None
try:  # the C kernel of the same arithmetic (setup.py builds it where a compiler is available)
    from livegate.audio import _dsp
except ImportError:  # pragma: no cover - a machine without the extension runs the numpy reference
    _dsp = None

__all__ = ["ACCELERATED", "COEFFICIENT_BITS", "Kernel", "Resampler", "group_delay_s", "kernel"]
ACCELERATED = _dsp is not None

TAPS_PER_SPAN = 32  # prototype length: this many taps per sample of the faster side
COEFFICIENT_BITS = 20  # taps in Q20: 16-bit samples times 21-bit taps, 96 terms: below 2**43, exact in float64
KAISER_BETA = 8.6  # about 85 dB of stopband attenuation
PASSBAND = 0.90  # the cut-off, as a fraction of the lower Nyquist frequency


def _length(up: int, down: int) -> int:
    return TAPS_PER_SPAN * max(up, down)


@cache
def _design(up: int, down: int) -> tuple[npt.NDArray[np.float64], ...]:
    """The prototype's ``up`` phases, as integer-valued float64 taps."""
    length = _length(up, down)
    cutoff = PASSBAND * 0.5 / max(up, down)  # in cycles per sample of the upsampled stream
    n = np.arange(length) - (length - 1) / 2
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(length, KAISER_BETA)
    taps *= up / taps.sum()  # unity gain after zero-stuffing by `up`
    quantised = np.round(taps * (1 << COEFFICIENT_BITS))
    return tuple(quantised[phase::up].copy() for phase in range(up))


class Kernel(NamedTuple):
    """What the C kernel takes: output j of a block of ``up`` uses the newest input ``offsets[j]`` after
    the block's first, with the ``span`` taps of phase ``(j * down) % up``; ``taps`` holds the phases in
    order, each reversed (oldest sample first), as float64."""

    up: int
    down: int
    span: int
    offsets: tuple[int, ...]
    taps: bytes


@cache
@cache
def kernel(in_rate: int, out_rate: int) -> Kernel:
    common = gcd(in_rate, out_rate)
    up, down = out_rate // common, in_rate // common
    phases = _design(up, down)
    taps = np.concatenate([phase[::-1] for phase in phases]).astype("<f8").tobytes()
    return Kernel(up, down, len(phases[0]), tuple(j * down // up for j in range(up)), taps)


def group_delay_s(in_rate: int, out_rate: int) -> float:
    common = gcd(in_rate, out_rate)
    up, down = out_rate // common, in_rate // common
    return (_length(up, down) - 1) / 2 / (in_rate * up)


class Resampler:
    """PCM16 in at ``in_rate``, PCM16 out at ``out_rate``, one frame at a time.

    Outputs come in blocks of ``up`` for every ``down`` input samples; a block is produced as soon as
    its newest input has arrived, so a 20 ms frame at any of the three rates yields its outputs at once.
    """

    def __init__(self, in_rate: int, out_rate: int, *, accelerated: bool = ACCELERATED) -> None:
        common = gcd(in_rate, out_rate)
        self.in_rate, self.out_rate = in_rate, out_rate
        self.up, self.down = out_rate // common, in_rate // common
        self.identity = in_rate == out_rate
        self._phases = _design(self.up, self.down) if not self.identity else ()
        self._span = len(self._phases[0]) if self._phases else 0
        # Offset of each output of a block from the block's first input (output j needs input j*down//up).
        self._offsets = [j * self.down // self.up for j in range(self.up)]
        # A pending block may need up to `down` inputs from before the last frame, plus the filter span.
        self._keep = self._span - 1 + self.down
        self._history = np.zeros(self._keep, dtype=np.float64)
        self._consumed = 0  # input samples received
        self._blocks = 0  # blocks of output produced
        self._accelerated = accelerated and _dsp is not None and not self.identity
        if self._accelerated:
            self._kernel = kernel(in_rate, out_rate)
            self._history_pcm = bytes(2 * self._keep)

    def process(self, pcm: bytes) -> bytes:
        if self.identity or not pcm:
            return pcm
        if self._accelerated:
            return self._process_c(pcm)
        return self._process_numpy(pcm)

    def _complete_blocks(self) -> int:
        # Block k is complete once input k*down + offsets[-1] has arrived.
        return max(0, (self._consumed - 1 - self._offsets[-1]) // self.down + 1)

    def _process_c(self, pcm: bytes) -> bytes:
        assert _dsp is not None
        buffer = self._history_pcm + pcm
        start = self._consumed - self._keep
        self._consumed += len(pcm) // 2
        blocks = self._complete_blocks()
        self._history_pcm = buffer[len(buffer) - 2 * self._keep :]
        count = blocks - self._blocks
        if count <= 0:
            return b""
        k = self._kernel
        out: bytes = _dsp.polyphase(buffer, k.taps, k.up, k.down, k.span, COEFFICIENT_BITS, k.offsets, self._blocks, count, start)
        self._blocks = blocks
        return out

    def _process_numpy(self, pcm: bytes) -> bytes:
        frame = np.frombuffer(pcm, dtype="<i2")
        buffer = np.concatenate((self._history, frame))
        start = self._consumed - self._keep  # stream index of buffer[0]
        self._consumed += len(frame)
        blocks = self._complete_blocks()
        count = blocks - self._blocks
        self._history = buffer[len(buffer) - self._keep :]
        if count <= 0:
            return b""
        out = np.empty((count, self.up), dtype=np.float64)
        for j, offset in enumerate(self._offsets):
            taps = self._phases[(j * self.down) % self.up]
            newest = self._blocks * self.down + offset  # stream index of the newest input of the first output
            # np.convolve(valid)[m] ends at buffer[m + span - 1]: every output of this phase is one of them.
            first = newest - start - (self._span - 1)
            valid = np.convolve(buffer[first:], taps, "valid")
            out[:, j] = valid[: (count - 1) * self.down + 1 : self.down]
        self._blocks = blocks
        flat = out.reshape(-1)
        flat *= 1.0 / (1 << COEFFICIENT_BITS)
        np.rint(flat, out=flat)
        np.clip(flat, -32768, 32767, out=flat)
        return flat.astype("<i2").tobytes()

    def reset(self) -> None:
        self._history[:] = 0
        if self._accelerated:
            self._history_pcm = bytes(2 * self._keep)
        self._consumed = self._blocks = 0
