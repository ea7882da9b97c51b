"""OpenAI Realtime audio formats (openai-realtime.md §9) to Gemini Live's PCM16 and back
(gemini-live.md §8): input becomes 16 kHz PCM16, the rate Gemini is native at; output arrives as
24 kHz PCM16, passed through for pcm16 and encoded for G.711 at 8 kHz."""

from __future__ import annotations

from livegate.audio import g711
from livegate.audio.resample import ACCELERATED, Resampler

__all__ = ["GEMINI_INPUT_RATE", "GEMINI_OUTPUT_RATE", "InputConverter", "OutputConverter", "bytes_per_ms"]

GEMINI_INPUT_RATE = 16000
GEMINI_OUTPUT_RATE = 24000
RATES = {"pcm16": 24000, "g711_ulaw": 8000, "g711_alaw": 8000}
_DECODE = {"g711_ulaw": g711.ulaw_decode, "g711_alaw": g711.alaw_decode}
_ENCODE = {"g711_ulaw": g711.ulaw_encode, "g711_alaw": g711.alaw_encode}


def bytes_per_ms(fmt: str) -> int:
    """48 for pcm16 at 24 kHz, 8 for G.711 (openai-realtime.md §9)."""
    return 48 if fmt == "pcm16" else 8


class InputConverter:
    """Client audio in ``fmt`` to 16 kHz PCM16, one append at a time."""

    def __init__(self, fmt: str, *, accelerated: bool = ACCELERATED) -> None:
        self.format = fmt
        self.rate = RATES[fmt]
        self._decode = _DECODE.get(fmt)
        self._resampler = Resampler(self.rate, GEMINI_INPUT_RATE, accelerated=accelerated)
        self._torn = b""  # half a PCM16 sample, kept for the next append

    def convert(self, data: bytes) -> bytes:
        if self._decode is not None:
            data = self._decode(data)
        else:
            if self._torn:
                data = self._torn + data
            cut = len(data) - len(data) % 2
            data, self._torn = data[:cut], data[cut:]
        return self._resampler.process(data)


class OutputConverter:
    """Gemini's 24 kHz PCM16 to the client's ``fmt``."""

    def __init__(self, fmt: str) -> None:
        self.format = fmt
        self._encode = _ENCODE.get(fmt)
        self._resampler = Resampler(GEMINI_OUTPUT_RATE, RATES[fmt]) if self._encode is not None else None

    @property
    def passthrough(self) -> bool:
        return self._encode is None

    def convert(self, pcm: bytes) -> bytes:
        if self._encode is None or self._resampler is None:
            return pcm
        return self._encode(self._resampler.process(pcm))
