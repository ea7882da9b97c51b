"""``python -m bench.ingest``: CPU per client audio frame, the steps before issue 14 part 3 against
the one native call (not a test: a figure for the README and the commit that changes it).

Two levels, each over 20 ms frames of speech-like audio as a client sends them (base64 text):
- the frame itself: decode_base64, InputConverter.convert, ActivityDetector.feed and the message
  built in Python, against Ingest.push and ActivityDetector.judge on its energies;
- the input buffer: the same plus InputAudio's bookkeeping as it was, against InputAudio.append.
The steps call the C kernels as built now (_dsp.polyphase, _dsp.energies): what differs is all
that goes around them.
"""

from __future__ import annotations

import argparse
import base64
import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from livegate.audio import g711
from livegate.audio.formats import InputConverter, bytes_per_ms
from livegate.audio.ingest import ACCELERATED, Ingest
from livegate.audio.vad import ActivityDetector, SpeechEnded
from livegate.realtime.checks import decode_base64
from livegate.realtime.listening import (
    GEMINI_AUDIO,
    KEEP_BEFORE_SPEECH_MS,
    MAX_UTTERANCE_MS,
    PCM16K_BYTES_PER_MS,
    InputAudio,
    SpeechStarted,
    SpeechStopped,
    detector_settings,
)

DETECTION = {"type": "server_vad", "silence_duration_ms": 500}


def frames(fmt: str, count: int, seed: int = 1) -> list[str]:
    """Half-second bursts of noise at speech level or near silence, cut into 20 ms frames, base64."""
    rng = np.random.default_rng(seed)
    rate = 24000 if fmt == "pcm16" else 8000
    levels = np.repeat(rng.choice([10.0, 3000.0], size=count // 25 + 1), rate // 2)[: count * rate // 50]
    pcm = np.clip(rng.normal(0, 1, len(levels)) * levels, -32768, 32767).astype("<i2").tobytes()
    data = pcm if fmt == "pcm16" else g711.ulaw_encode(pcm)
    step = len(data) // count
    return [base64.b64encode(data[i * step : (i + 1) * step]).decode("ascii") for i in range(count)]


class Steps:
    """The frame as it went before: one Python step after another."""

    def __init__(self, fmt: str) -> None:
        self.converter = InputConverter(fmt)
        self.detector = ActivityDetector(detector_settings(DETECTION), 16000)

    def __call__(self, text: str) -> Any:
        raw = decode_base64(text, "audio")
        pcm = self.converter.convert(raw)
        events = self.detector.feed(pcm)
        message = GEMINI_AUDIO[0] + base64.b64encode(pcm) + GEMINI_AUDIO[1] if pcm else None
        return message, raw, pcm, events


class OneCall:
    def __init__(self, fmt: str) -> None:
        self.detector = ActivityDetector(detector_settings(DETECTION), 16000)
        self.ingest = Ingest(fmt, self.detector.frame, GEMINI_AUDIO)

    def __call__(self, text: str) -> Any:
        done = self.ingest.push(text, True)
        assert done is not None
        return done[0], self.detector.judge(done[3])


class OldInputAudio:
    """InputAudio.append as it was (git show 1cae521:src/livegate/realtime/listening.py)."""

    def __init__(self, fmt: str) -> None:
        self.format = fmt
        self.steps = Steps(fmt)
        self._bytes_per_ms = bytes_per_ms(fmt)
        self._samples = 0
        self._raw, self._raw_start_ms = bytearray(), 0.0
        self._pcm, self._pcm_start_ms = bytearray(), 0.0
        self.speaking = False

    def __call__(self, text: str) -> Any:
        message, raw, pcm, found = self.steps(text)
        self._raw += raw
        self._pcm += pcm
        self._samples += len(pcm) // 2
        events: list[SpeechStarted | SpeechStopped] = []
        for event in found:
            self.speaking = not isinstance(event, SpeechEnded)
            events.append(SpeechStopped(event.sample // 16) if isinstance(event, SpeechEnded) else SpeechStarted(event.sample // 16))
        ms = self._samples // 16 - (MAX_UTTERANCE_MS if self.speaking else KEEP_BEFORE_SPEECH_MS)
        if ms > self._raw_start_ms:
            cut = int((ms - self._raw_start_ms) * self._bytes_per_ms)
            cut -= cut % (2 if self.format == "pcm16" else 1)
            del self._raw[:cut]
            self._raw_start_ms += cut / self._bytes_per_ms
        if ms > self._pcm_start_ms:
            cut = int((ms - self._pcm_start_ms) * PCM16K_BYTES_PER_MS) & ~1
            del self._pcm[:cut]
            self._pcm_start_ms += cut / PCM16K_BYTES_PER_MS
        return message, events


class NewInputAudio:
    def __init__(self, fmt: str) -> None:
        self.audio = InputAudio(fmt, DETECTION)

    def __call__(self, text: str) -> Any:
        return self.audio.append(text, send=True)


def per_frame_us(paths: list[Callable[[str], Callable[[str], Any]]], fmt: str, texts: list[str], repeats: int) -> list[float]:
    """µs per frame of each path. The paths go through the frames side by side, a block at a time in
    turn, and each block counts at the best of its ``repeats`` runs: the machine is shared, and what
    another process takes from one block falls on one path once, not on the figure."""
    block = 500
    blocks = range(0, len(texts), block)
    best = [[float("inf")] * len(blocks) for _ in paths]
    for _ in range(repeats):
        steps = [make(fmt) for make in paths]
        gc.collect()
        for b, offset in enumerate(blocks):
            chunk = texts[offset : offset + block]
            order = list(enumerate(steps)) if b % 2 == 0 else list(enumerate(steps))[::-1]
            for p, step in order:
                start = time.perf_counter_ns()
                for text in chunk:
                    step(text)
                best[p][b] = min(best[p][b], time.perf_counter_ns() - start)
    return [sum(times) / len(texts) / 1000 for times in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20000, help="20 ms frames per run (default 20000: 400 s)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not ACCELERATED:
        raise SystemExit("the C kernel is not built: python3 setup.py build_ext --inplace")
    print(f"{args.frames} frames of 20 ms, each block of 500 at its best of {args.repeats}, µs per frame")
    print(f"{'':32} {'steps':>8} {'one call':>9} {'ratio':>7}")
    for fmt, label in (("pcm16", "pcm16 24 kHz"), ("g711_ulaw", "G.711 µ-law 8 kHz")):
        texts = frames(fmt, args.frames)
        # The two paths say the same thing before they are timed.
        assert [m for m, *_ in map(Steps(fmt), texts[:500])] == [m for m, _ in map(OneCall(fmt), texts[:500])]
        for level, old, new in (("frame", Steps, OneCall), ("input buffer", OldInputAudio, NewInputAudio)):
            before, after = per_frame_us([old, new], fmt, texts, args.repeats)
            print(f"{label + ', ' + level:32} {before:8.2f} {after:9.2f} {before / after:6.1f}x")


if __name__ == "__main__":
    main()
