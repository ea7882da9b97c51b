"""The input audio buffer of one OpenAI Realtime session.

Every ``input_audio_buffer.append`` is decoded, converted to the 16 kHz PCM16 Gemini takes and
wrapped in the Gemini message in one native call (audio/ingest.py), whose frame energies feed
livegate's own speech detector, which Gemini does not have an equivalent event for (gemini-live.md
§6.2): it gives OpenAI's ``speech_started`` / ``speech_stopped`` with the silence and threshold that
were mapped to Gemini's own activity detection, so the two agree. Positions are milliseconds of all
audio appended in the session (openai-realtime.md §5.2). The audio of the current utterance is kept,
in the client's format for ``conversation.item.retrieve`` and at 16 kHz for turns livegate sends.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from livegate.audio.formats import bytes_per_ms
from livegate.audio.ingest import ACCELERATED, Ingest, Ingested
from livegate.audio.vad import ActivityDetector, SpeechEnded, VadSettings
from livegate.gemini.setup import EAGERNESS
from livegate.realtime.checks import decode_base64

__all__ = ["GEMINI_AUDIO", "InputAudio", "SpeechStarted", "SpeechStopped", "audio_message", "detector_settings"]

# Gemini Live: PCM16 little-endian at the rate the MIME type declares (gemini-live.md §4.5, §8); the
# base64 of the audio goes between the two.
GEMINI_AUDIO = (b'{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"', b'"}}}')

PCM16K_BYTES_PER_MS = 32
KEEP_BEFORE_SPEECH_MS = 1000  # audio kept while nobody speaks: prefix padding comes from here
MAX_UTTERANCE_MS = 300_000  # an utterance longer than five minutes keeps its last five minutes
MIN_SPEECH_MS = 20  # speech must last this long before it starts (Gemini's default prefixPaddingMs)
DEFAULT_SILENCE_MS = 500
TRIM_SLACK_MS = 200


def audio_message(pcm: bytes) -> bytes:
    return GEMINI_AUDIO[0] + base64.b64encode(pcm) + GEMINI_AUDIO[1]


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    ms: int


def detector_settings(detection: dict[str, Any]) -> VadSettings:
    """livegate's detector, tuned as the setup tuned Gemini's (gemini.setup._realtime_input_config)."""
    if detection.get("type") == "semantic_vad":
        silence = EAGERNESS.get(str(detection.get("eagerness", "auto")), EAGERNESS["auto"])[1]
        threshold = 0.5
    else:
        value = detection.get("silence_duration_ms")
        silence = value if isinstance(value, int) else DEFAULT_SILENCE_MS
        raw = detection.get("threshold")
        threshold = float(raw) if isinstance(raw, int | float) else 0.5
    # OpenAI's threshold 0..1 to an energy threshold: 0.5 is -50 dBFS, 0.8 is -38 dBFS.
    return VadSettings(threshold_dbfs=-70.0 + 40.0 * threshold, prefix_ms=MIN_SPEECH_MS, silence_ms=silence)


class Span:
    """Audio from ``start_ms`` on, kept as the frames came: an append is one reference, no copy (a
    bytearray that drops its front copies its bytes again each time it grows)."""

    __slots__ = ("_chunks", "_head", "_size", "align", "per_ms", "start_ms")

    def __init__(self, per_ms: int, align: int, start_ms: float = 0.0) -> None:
        self.per_ms = per_ms
        self.align = align  # bytes of a sample: cuts fall between samples
        self.start_ms = start_ms
        self._chunks: list[bytes] = []
        self._head = 0  # bytes of the first chunk already let go
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, chunk: bytes) -> None:
        if chunk:
            self._chunks.append(chunk)
            self._size += len(chunk)

    def drop_before(self, ms: float) -> None:
        if ms <= self.start_ms:
            return
        cut = int((ms - self.start_ms) * self.per_ms)
        cut -= cut % self.align
        self.start_ms += cut / self.per_ms
        cut = min(cut, self._size)
        self._size -= cut
        chunks, gone, head = self._chunks, 0, self._head
        while cut:
            rest = len(chunks[gone]) - head
            if cut < rest:
                head += cut
                break
            gone += 1
            head = 0
            cut -= rest
        del chunks[:gone]  # one move of the references left, however many chunks went
        self._head = head

    def slice(self, from_ms: float, to_ms: float) -> bytes:
        lo = max(0, int((from_ms - self.start_ms) * self.per_ms))
        hi = max(lo, int((to_ms - self.start_ms) * self.per_ms))
        lo, hi = lo - lo % self.align, min(hi - hi % self.align, self._size)
        if hi <= lo:
            return b""
        parts, offset = [], -self._head
        for chunk in self._chunks:
            end = offset + len(chunk)
            if end > lo:
                parts.append(memoryview(chunk)[max(0, lo - offset) : hi - offset])
            if end >= hi:
                break
            offset = end
        return b"".join(parts)

    def whole(self) -> bytes:
        if not self._head:
            return b"".join(self._chunks)
        return b"".join((memoryview(self._chunks[0])[self._head :], *self._chunks[1:]))

    def clear(self, at_ms: float) -> None:
        self._chunks.clear()
        self._head = self._size = 0
        self.start_ms = at_ms


class InputAudio:
    def __init__(self, fmt: str, detection: dict[str, Any] | None, *, accelerated: bool = ACCELERATED) -> None:
        self.format = fmt
        self._bytes_per_ms = bytes_per_ms(fmt)
        self._detector = ActivityDetector(detector_settings(detection), 16000) if detection else None
        frame = self._detector.frame if self._detector is not None else 0
        self._ingest = Ingest(fmt, frame, GEMINI_AUDIO, accelerated=accelerated)
        self._samples = 0  # 16 kHz samples produced since the session started
        self._raw = Span(self._bytes_per_ms, 2 if fmt == "pcm16" else 1)  # client-format audio
        self._pcm = Span(PCM16K_BYTES_PER_MS, 2)  # the same span at 16 kHz
        self.speaking = False

    @property
    def position_ms(self) -> int:
        return self._samples // 16

    def append(self, audio: str, *, send: bool) -> tuple[bytes | None, list[SpeechStarted | SpeechStopped]]:
        """The Gemini message carrying the 16 kHz PCM16 of ``audio`` (the client's base64) when ``send``
        and there is any, and what the detector heard in it."""
        done = self._ingest.push(audio, send)
        if done is None:
            # Not canonical base64: OpenAI's rules refuse it, or (Python 3.11 takes "AAAA=") read bytes
            # from it, which go in again in canonical form.
            raw = decode_base64(audio, "audio")
            done = self._ingest.push(base64.b64encode(raw).decode("ascii"), send)
            assert done is not None
        return self._ingested(done)

    def append_event(self, frame: bytes, *, send: bool) -> tuple[bytes | None, list[SpeechStarted | SpeechStopped]] | None:
        """``append`` of a plain append event read from its JSON by the kernel; None, and nothing
        changed, when the frame is not one (the translator parses it then)."""
        done = self._ingest.push_event(frame, send)
        return self._ingested(done) if done is not None else None

    def _ingested(self, done: Ingested) -> tuple[bytes | None, list[SpeechStarted | SpeechStopped]]:
        message, raw, pcm, energies = done
        self._raw.add(raw)
        self._pcm.add(pcm)
        self._samples += len(pcm) // 2
        events: list[SpeechStarted | SpeechStopped] = []
        if self._detector is not None and energies:
            for event in self._detector.judge(energies):
                ms = event.sample // 16
                if isinstance(event, SpeechEnded):
                    self.speaking = False
                    events.append(SpeechStopped(ms))
                else:
                    self.speaking = True
                    events.append(SpeechStarted(ms))
        self._trim()
        return message, events

    def _trim(self, slack_ms: int = TRIM_SLACK_MS) -> None:
        """What is kept: the last ``keep_ms``, give or take ``slack_ms`` more (frames trim in steps of
        it; what reads the whole buffer trims exactly first)."""
        keep_ms = MAX_UTTERANCE_MS if self.speaking else KEEP_BEFORE_SPEECH_MS
        if self._detector is None:
            keep_ms = MAX_UTTERANCE_MS  # without a detector the whole buffer waits for commit or clear
        edge = self._samples // 16 - keep_ms
        if slack_ms == 0 or edge > self._pcm.start_ms + slack_ms:
            self._drop_before(edge)

    def _drop_before(self, ms: float) -> None:
        self._raw.drop_before(ms)
        self._pcm.drop_before(ms)

    def take(self, start_ms: float, end_ms: float) -> tuple[bytes, bytes]:
        """The span's audio in the client's format and at 16 kHz; everything before ``end_ms`` is let go."""
        raw, pcm = self._raw.slice(start_ms, end_ms), self._pcm.slice(start_ms, end_ms)
        self._drop_before(end_ms)
        return raw, pcm

    def take_all(self) -> tuple[bytes, bytes]:
        """The whole buffer (manual turns: ``input_audio_buffer.commit``)."""
        self._trim(0)
        raw, pcm = self._raw.whole(), self._pcm.whole()
        self.clear()
        return raw, pcm

    def buffered_ms(self) -> float:
        self._trim(0)
        return len(self._pcm) / PCM16K_BYTES_PER_MS

    def clear(self) -> None:
        self._raw.clear(self.position_ms)
        self._pcm.clear(self.position_ms)

    def change_format(self, fmt: str) -> None:
        if fmt != self.format:
            self.format = fmt
            self._ingest.change_format(fmt)
            self._bytes_per_ms = bytes_per_ms(fmt)
            self._raw = Span(self._bytes_per_ms, 2 if fmt == "pcm16" else 1, self.position_ms)
