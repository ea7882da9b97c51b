"""Automatic activity detection over PCM16 at the declared rate (gemini-live.md §4.3 realtimeInputConfig).

An energy detector on 10 ms frames. Gemini's knobs mean (Google's field documentation):
- ``prefixPaddingMs``: how long speech must last before start of speech is committed;
- ``silenceDurationMs``: how long non-speech must last before end of speech is committed;
- start sensitivity: HIGH detects quieter speech than LOW; end sensitivity: HIGH ends turns sooner.
Offsets are counted in samples, so the result does not depend on how the stream is split into chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

_dsp: ModuleType | None
try:  # the C kernel (setup.py): the same exact sums, without numpy's per-call overhead
    from livegate.audio import _dsp
except ImportError:  # pragma: no cover - a machine without the extension runs the numpy reference
    _dsp = None

__all__ = ["ActivityDetector", "FrameEnergies", "SpeechEnded", "SpeechStarted", "VadSettings"]

FRAME_MS = 10
# dBFS of a frame's RMS above which it counts as speech, per start sensitivity.
START_THRESHOLD_DBFS = {"START_SENSITIVITY_HIGH": -50.0, "START_SENSITIVITY_LOW": -38.0}
# Default silence before end of speech, per end sensitivity, when silenceDurationMs is not set.
END_SILENCE_MS = {"END_SENSITIVITY_HIGH": 500, "END_SENSITIVITY_LOW": 1000}
DEFAULT_PREFIX_MS = {"START_SENSITIVITY_HIGH": 20, "START_SENSITIVITY_LOW": 60}


@dataclass(frozen=True, slots=True)
class VadSettings:
    threshold_dbfs: float
    prefix_ms: int
    silence_ms: int

    @classmethod
    def from_setup(
        cls,
        start_sensitivity: str,
        end_sensitivity: str,
        prefix_padding_ms: int | None,
        silence_duration_ms: int | None,
        *,
        default_start: str,
        default_end: str,
    ) -> VadSettings:
        start = start_sensitivity if start_sensitivity in START_THRESHOLD_DBFS else default_start
        end = end_sensitivity if end_sensitivity in END_SILENCE_MS else default_end
        return cls(
            threshold_dbfs=START_THRESHOLD_DBFS[start],
            prefix_ms=DEFAULT_PREFIX_MS[start] if prefix_padding_ms is None else max(0, prefix_padding_ms),
            silence_ms=END_SILENCE_MS[end] if silence_duration_ms is None else max(0, silence_duration_ms),
        )


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    sample: int  # first sample of the speech, counted from the start of the stream


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    sample: int  # first sample of the silence that ended it


VadEvent = SpeechStarted | SpeechEnded


class FrameEnergies:
    """The sum of squares of every whole frame of a PCM16 stream; a frame begun waits for the rest."""

    def __init__(self, frame: int, *, accelerated: bool = True) -> None:
        self.frame = frame
        self._accelerated = accelerated and _dsp is not None
        self._pending = b""

    def feed(self, pcm: bytes) -> list[int]:
        data = self._pending + pcm if self._pending else pcm
        usable = len(data) // (2 * self.frame) * 2 * self.frame
        self._pending = data[usable:]
        if not usable:
            return []
        if self._accelerated:
            assert _dsp is not None
            energies: list[int] = _dsp.energies(data[:usable], self.frame)
            return energies
        frames = np.frombuffer(data, dtype="<i2", count=usable // 2).reshape(-1, self.frame).astype(np.int64)
        energies = np.einsum("ij,ij->i", frames, frames).tolist()
        return energies


class ActivityDetector:
    def __init__(self, settings: VadSettings, rate: int, *, accelerated: bool = True) -> None:
        self.settings = settings
        self.rate = rate
        self.frame = rate * FRAME_MS // 1000
        # The sum of squares of a 10 ms PCM16 frame at the threshold, so no log is taken per frame.
        self._threshold = (10 ** (settings.threshold_dbfs / 20) * 32768) ** 2 * self.frame
        self._energies = FrameEnergies(self.frame, accelerated=accelerated)
        self._samples = 0  # samples consumed into whole frames
        self.speaking = False
        self._run = 0  # consecutive frames against the current state
        self._run_start = 0
        # Frames a change of state must last (the settings are frozen).
        self._need_start = max(1, -(-settings.prefix_ms // FRAME_MS))
        self._need_end = max(1, -(-settings.silence_ms // FRAME_MS))

    def feed(self, pcm: bytes) -> list[VadEvent]:
        return self.judge(self._energies.feed(pcm))

    def judge(self, energies: list[int]) -> list[VadEvent]:
        """The events of the next whole frames, given their sums of squares (FrameEnergies)."""
        if not energies:
            return []
        threshold = self._threshold
        speaking = self.speaking
        if self._run == 0:
            # The usual frame: every energy on the side of the state already held changes nothing.
            for energy in energies:
                if (energy > threshold) != speaking:
                    break
            else:
                self._samples += self.frame * len(energies)
                return []
        events: list[VadEvent] = []
        need_start, need_end = self._need_start, self._need_end
        for energy in energies:
            is_loud = energy > threshold
            if is_loud != self.speaking:
                if self._run == 0:
                    self._run_start = self._samples
                self._run += 1
                if self._run >= (need_start if is_loud else need_end):
                    self.speaking = is_loud
                    self._run = 0
                    events.append(SpeechStarted(self._run_start) if is_loud else SpeechEnded(self._run_start))
            else:
                self._run = 0
            self._samples += self.frame
        return events

    def reset(self) -> None:
        self.speaking = False
        self._run = 0
