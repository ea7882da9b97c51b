"""A reply's words as ``serverContent`` frames: text parts for TEXT sessions; for AUDIO sessions
24 kHz PCM16 chunks of the emulator's voice with ``outputTranscription`` fragments word by word,
each fragment just before the audio in which its word begins (gemini-live.md §6.1, §6.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livegate.emulator import voice
from livegate.emulator.wire import b64encode

__all__ = ["OUTPUT_MIME", "OUTPUT_RATE", "Rendered", "render_audio", "render_text"]

OUTPUT_RATE = 24000  # gemini-live.md §8: replies are PCM16 at 24 kHz
OUTPUT_MIME = "audio/pcm;rate=24000"
TEXT_WORDS_PER_FRAME = 3


@dataclass(frozen=True, slots=True)
class Rendered:
    offset_s: float  # when to send it, after the first frame of the content
    content: dict[str, Any]  # the serverContent
    text: str = ""  # the words this frame carries, once sent


def render_text(text: str) -> list[Rendered]:
    words = text.split(" ")
    frames = []
    for i in range(0, len(words), TEXT_WORDS_PER_FRAME):
        more = i + TEXT_WORDS_PER_FRAME < len(words)
        piece = " ".join(words[i : i + TEXT_WORDS_PER_FRAME]) + (" " if more else "")
        frames.append(Rendered(0.0, {"modelTurn": {"role": "model", "parts": [{"text": piece}]}}, piece))
    return frames


def render_audio(
    text: str, *, chunk_ms: int, pace: float, transcription: bool, bundled: bool
) -> tuple[list[Rendered], float]:
    """The frames of ``text`` spoken, and how long the audio lasts. ``pace`` 0 sends it all at once."""
    pcm = voice.speak(text, OUTPUT_RATE)
    chunk = OUTPUT_RATE * 2 * chunk_ms // 1000
    starts = _word_starts(text)
    frames: list[Rendered] = []
    next_word = 0
    for index, offset in enumerate(range(0, len(pcm), chunk)):
        chunk_end_s = (offset + chunk) / 2 / OUTPUT_RATE
        fragment = ""
        while next_word < len(starts) and starts[next_word][0] * voice.SYMBOL_SECONDS < chunk_end_s:
            fragment += starts[next_word][1]
            next_word += 1
        when = index * chunk_ms / 1000 / pace if pace else 0.0
        audio = {"inlineData": {"mimeType": OUTPUT_MIME, "data": b64encode(pcm[offset : offset + chunk])}}
        content: dict[str, Any] = {"modelTurn": {"role": "model", "parts": [audio]}}
        if fragment and transcription:
            if bundled:
                content["outputTranscription"] = {"text": fragment}
            else:
                frames.append(Rendered(when, {"outputTranscription": {"text": fragment}}, fragment))
                fragment = ""
        frames.append(Rendered(when, content, fragment))
    return frames, len(pcm) / 2 / OUTPUT_RATE


def _word_starts(text: str) -> list[tuple[int, str]]:
    """(character offset, fragment) per word, each fragment with its leading space, as Gemini sends them."""
    out: list[tuple[int, str]] = []
    offset = 0
    for i, word in enumerate(text.split(" ")):
        out.append((offset, word if i == 0 else " " + word))
        offset += len(word) + 1
    return out
