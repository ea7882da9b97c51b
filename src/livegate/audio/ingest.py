"""One client audio frame in one step (issue 14): the base64 text of an OpenAI
``input_audio_buffer.append`` in; its bytes, the 16 kHz PCM16 they become (formats.InputConverter),
the speech detector's frame energies (vad.FrameEnergies) and the upstream message carrying the PCM out.

The C kernel does it in one call; without it the same steps run in numpy, to the same bytes.
Only canonical base64 goes this way (RFC 4648 §4: padded, nothing else, unused bits zero): anything
else comes back as None, and the caller's rules decide whether it is refused or what it means.
"""

from __future__ import annotations

import base64
import binascii
from types import ModuleType
from typing import TYPE_CHECKING

from livegate.audio import g711
from livegate.audio.formats import GEMINI_INPUT_RATE, RATES, InputConverter
from livegate.audio.resample import COEFFICIENT_BITS, kernel
from livegate.audio.vad import FrameEnergies

if TYPE_CHECKING:
    from livegate.audio import _dsp as native

_dsp: ModuleType | None
try:  # the C kernel (setup.py builds it where a compiler is available)
    from livegate.audio import _dsp
except ImportError:  # pragma: no cover - a machine without the extension runs the numpy reference
    _dsp = None

__all__ = ["ACCELERATED", "Ingest", "Ingested"]
ACCELERATED = _dsp is not None

# The upstream message (None when none was asked for or no PCM came out), the client's bytes, the
# 16 kHz PCM16, and the sums of squares of the detector frames completed.
Ingested = tuple[bytes | None, bytes, bytes, list[int]]
_SAMPLES = {"g711_ulaw": g711.ULAW_SAMPLES, "g711_alaw": g711.ALAW_SAMPLES}


class Ingest:
    """Client audio in ``fmt``; ``frame``: samples per detector frame (0: no detector); the message is
    ``envelope[0]``, the base64 of the PCM, ``envelope[1]``."""

    def __init__(self, fmt: str, frame: int, envelope: tuple[bytes, bytes], *, accelerated: bool = ACCELERATED) -> None:
        self.format = fmt
        self.frame = frame
        self.envelope = envelope
        self._native = self._kernel(fmt, (0, 0)) if accelerated and _dsp is not None else None
        self._converter = InputConverter(fmt, accelerated=False) if self._native is None else None
        self._energies = FrameEnergies(frame, accelerated=False) if self._native is None and frame else None
        if self._native is not None:
            self.push = self._native.push  # type: ignore[method-assign, assignment]  # the kernel's own, one call less
            self.push_event = self._native.push_event  # type: ignore[method-assign, assignment]

    @property
    def accelerated(self) -> bool:
        return self._native is not None

    def _kernel(self, fmt: str, carry: tuple[int, int]) -> native.Ingest:
        assert _dsp is not None
        k = kernel(RATES[fmt], GEMINI_INPUT_RATE)
        prefix, suffix = self.envelope
        made: native.Ingest = _dsp.Ingest(
            _SAMPLES.get(fmt), k.taps, k.up, k.down, k.span, COEFFICIENT_BITS, k.offsets, self.frame, prefix, suffix, *carry
        )
        return made

    def push(self, text: str, send: bool) -> Ingested | None:
        """One frame; None, and nothing changed, when ``text`` is not canonical base64."""
        if self._native is not None:
            done: Ingested | None = self._native.push(text, send)
            return done
        assert self._converter is not None
        try:
            raw = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            return None
        if base64.b64encode(raw) != text.encode("ascii"):
            return None
        pcm = self._converter.convert(raw)
        energies = self._energies.feed(pcm) if self._energies is not None else []
        message = self.envelope[0] + base64.b64encode(pcm) + self.envelope[1] if send and pcm else None
        return message, raw, pcm, energies

    def push_event(self, frame: bytes, send: bool) -> Ingested | None:
        """``push`` of a plain ``input_audio_buffer.append`` read straight from its JSON, in the kernel
        (``_dsp.Ingest.push_event``); None, and nothing changed, for any other frame, and always
        without the kernel: the caller then parses it."""
        return None

    def change_format(self, fmt: str) -> None:
        """A new conversion from the next frame on; the detector frame begun goes on."""
        self.format = fmt
        if self._native is not None:
            self._native = self._kernel(fmt, self._native.carry)
            self.push = self._native.push  # type: ignore[method-assign, assignment]
            self.push_event = self._native.push_event  # type: ignore[method-assign, assignment]
        else:
            self._converter = InputConverter(fmt, accelerated=False)
