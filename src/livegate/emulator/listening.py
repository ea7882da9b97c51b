"""The input audio stream turned into utterances, as Gemini's activity detection does (gemini-live.md
§4.5, §6.2): with automatic detection by the energy detector of ``vad``; with detection disabled
between ``activityStart`` and ``activityEnd``; ``audioStreamEnd`` ends speech in progress."""

from __future__ import annotations

from dataclasses import dataclass, field

from livegate.audio.vad import ActivityDetector, SpeechEnded, VadSettings

__all__ = ["Listener", "SpeechBegan", "Utterance"]

LEAD_SECONDS = 0.1  # keep this much before the committed start, where the onset lies
PRE_ROLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class SpeechBegan:
    """The user started speaking: a barge-in when the model is answering."""


@dataclass(frozen=True, slots=True)
class Utterance:
    pcm: bytes = field(repr=False)
    rate: int


class Listener:
    def __init__(self, settings: VadSettings, *, manual: bool) -> None:
        self.settings = settings
        self.manual = manual
        self.rate = 16000
        self._detector: ActivityDetector | None = None
        self._audio = bytearray()
        self._base = 0  # stream sample index of self._audio[0]
        self._speech_start = 0
        self._activity_open = False

    def audio(self, pcm: bytes, rate: int) -> list[SpeechBegan | Utterance]:
        if self.manual:
            self.rate = rate
            if self._activity_open:
                self._audio.extend(pcm)
            return []
        if self._detector is None or self._detector.rate != rate:
            self._detector = ActivityDetector(self.settings, rate)
            self.rate = rate
            self._audio.clear()
            self._base = 0
        self._audio.extend(pcm)
        heard: list[SpeechBegan | Utterance] = []
        for event in self._detector.feed(pcm):
            if isinstance(event, SpeechEnded):
                heard.append(self._utterance(event.sample))
            else:
                self._speech_start = event.sample
                heard.append(SpeechBegan())
        if not self._detector.speaking:
            keep = int(rate * PRE_ROLL_SECONDS) * 2
            if len(self._audio) > 2 * keep:
                drop = len(self._audio) - keep
                del self._audio[:drop]
                self._base += drop // 2
        return heard

    def activity_start(self) -> None:
        self._activity_open = True
        self._audio.clear()

    def activity_end(self) -> Utterance | None:
        if not self._activity_open:
            return None
        self._activity_open = False
        utterance = Utterance(bytes(self._audio), self.rate)
        self._audio.clear()
        return utterance if utterance.pcm else None

    def stream_end(self) -> Utterance | None:
        """``audioStreamEnd`` flushes: speech in progress ends at the last sample received."""
        if self._detector is None or not self._detector.speaking:
            return None
        self._detector.reset()
        return self._utterance(self._base + len(self._audio) // 2)

    def _utterance(self, end_sample: int) -> Utterance:
        lead = int(self.rate * LEAD_SECONDS)
        start = max(0, (self._speech_start - lead - self._base) * 2)
        end = max(start, (end_sample - self._base) * 2)
        return Utterance(bytes(self._audio[start:end]), self.rate)
