"""The emulator's deterministic voice, which it can also hear.

The emulator is a test double, not a model: it speaks by turning each character of its reply into one
50 ms tone (a phase-continuous FSK "voice" in the telephone band, 400 to 3150 Hz), so a reply's audio
lasts as long as its text. ``hear`` decodes such audio back into text at any sample rate, through
resampling and G.711 companding, so a test can speak words to the emulator (``speak("what is the
weather")``) and the emulator answers what it heard. Audio it cannot decode (real speech, noise) is
heard as a transcript of its duration.
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
import numpy.typing as npt

__all__ = ["ALPHABET", "SYMBOL_SECONDS", "hear", "speak", "spoken_form"]

ALPHABET = " abcdefghijklmnopqrstuvwxyz0123456789.,?!'-:;\"(){}[]_/=+%"
SYMBOL_SECONDS = 0.05
BASE_HZ = 400.0
STEP_HZ = 50.0  # two bins of the 40 ms analysis window: the tones are orthogonal
GUARD_SECONDS = 0.005
WINDOW_SECONDS = SYMBOL_SECONDS - 2 * GUARD_SECONDS
AMPLITUDE = 0.25
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}


def spoken_form(text: str) -> str:
    """The text as the voice renders it: lower case, unknown characters as spaces."""
    return "".join(ch if ch in _INDEX else " " for ch in text.lower())


# speak and hear are pure, and the emulator says and hears the same few phrases over and over (a test
# suite; the benchmark's hundred turns a second): the last few answers are kept.
@lru_cache(maxsize=64)
def speak(text: str, rate: int = 24000, amplitude: float = AMPLITUDE) -> bytes:
    """PCM16 little-endian mono audio of ``text`` at ``rate``."""
    symbols = [_INDEX[ch] for ch in spoken_form(text)]
    if not symbols:
        return b""
    per_symbol = round(rate * SYMBOL_SECONDS)
    freqs = np.repeat(BASE_HZ + STEP_HZ * np.asarray(symbols, dtype=np.float64), per_symbol)
    phase = 2 * np.pi * np.cumsum(freqs) / rate
    phase -= phase[0]
    pcm = np.round(np.sin(phase) * amplitude * 32767).astype("<i2")
    return pcm.tobytes()


@cache
def _basis(rate: int) -> npt.NDArray[np.complex128]:
    n = round(rate * WINDOW_SECONDS)
    t = np.arange(n) / rate
    freqs = BASE_HZ + STEP_HZ * np.arange(len(ALPHABET))
    return np.exp(-2j * np.pi * np.outer(t, freqs))


@lru_cache(maxsize=64)
def hear(pcm: bytes, rate: int) -> str | None:
    """Decode audio made by ``speak``; None when it is not the emulator's voice."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    segments = _loud_segments(x, rate)
    if not segments:
        return None
    per_symbol = round(rate * SYMBOL_SECONDS)
    guard = round(rate * GUARD_SECONDS)
    basis = _basis(rate)
    window = basis.shape[0]
    words: list[str] = []
    confident = total = 0
    for start, end in segments:
        count = max(1, round((end - start) / per_symbol))
        starts = start + guard + per_symbol * np.arange(count)
        starts = starts[starts + window <= len(x)]
        if not len(starts):
            continue
        frames = x[starts[:, None] + np.arange(window)]
        # Two real products: numpy multiplies float64 by complex128 without BLAS, a hundred times slower.
        power = np.hypot(frames @ basis.real, frames @ basis.imag)
        best = np.argmax(power, axis=1)
        ordered = np.sort(power, axis=1)
        confident += int(np.sum(ordered[:, -1] > 3 * ordered[:, -2]))
        total += len(best)
        words.append("".join(ALPHABET[i] for i in best.tolist()))
    if not total or confident < 0.9 * total:
        return None
    return " ".join(words)


def _loud_segments(x: npt.NDArray[np.float64], rate: int) -> list[tuple[int, int]]:
    """Sample ranges where the signal is on, split at gaps of at least one symbol of silence."""
    block = max(1, rate // 1000)
    usable = len(x) // block * block
    if not usable:
        return []
    peak = np.max(np.abs(x[:usable].reshape(-1, block)), axis=1)
    on = peak > 0.02 * 32768
    segments: list[tuple[int, int]] = []
    gap_blocks = round(SYMBOL_SECONDS * 1000)
    i, n = 0, len(on)
    while i < n:
        if not on[i]:
            i += 1
            continue
        start_block = i
        last_on = i
        while i < n and (on[i] or i - last_on < gap_blocks):
            if on[i]:
                last_on = i
            i += 1
        start = _onset(x, start_block * block, block)
        segments.append((start, (last_on + 1) * block))
    return segments


def _onset(x: npt.NDArray[np.float64], around: int, block: int) -> int:
    # The first sample above a tenth of the tone's amplitude: within a fraction of a millisecond of the
    # true start, well inside the 5 ms guard of each symbol.
    lo = max(0, around - block)
    hi = min(len(x), around + 2 * block)
    above = np.nonzero(np.abs(x[lo:hi]) > 0.1 * AMPLITUDE * 32768)[0]
    return lo + int(above[0]) if len(above) else around
