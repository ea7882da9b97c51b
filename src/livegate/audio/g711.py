"""G.711 µ-law and A-law (ITU-T G.711), as lookup tables built once from the standard's segment
formulas (the same algorithm as the reference g711.c that Python's audioop used)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["ALAW_SAMPLES", "ULAW_SAMPLES", "alaw_decode", "alaw_encode", "ulaw_decode", "ulaw_encode"]

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159


def _ulaw_to_linear(code: int) -> int:
    u = ~code & 0xFF
    t = ((u & 0x0F) << 3) + _ULAW_BIAS
    t <<= (u & 0x70) >> 4
    return _ULAW_BIAS - t if u & 0x80 else t - _ULAW_BIAS


def _alaw_to_linear(code: int) -> int:
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    segment = (a & 0x70) >> 4
    if segment == 0:
        t += 8
    elif segment == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (segment - 1)
    return t if a & 0x80 else -t


def _segments(values: npt.NDArray[np.int64], ends: tuple[int, ...]) -> npt.NDArray[np.int64]:
    return np.searchsorted(np.asarray(ends), values, side="left")


def _ulaw_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int64) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = _segments(magnitude, (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF))
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _alaw_table() -> npt.NDArray[np.uint8]:
    pcm = np.arange(-32768, 32768, dtype=np.int64) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = _segments(magnitude, (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF))
    shift = np.where(segment < 2, 1, segment)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> shift) & 0x0F))
    return ((code ^ mask) & 0xFF).astype(np.uint8)


_ULAW_DECODE = np.array([_ulaw_to_linear(c) for c in range(256)], dtype="<i2")
_ALAW_DECODE = np.array([_alaw_to_linear(c) for c in range(256)], dtype="<i2")
# The 256 codes' samples as int16 LE, for the C kernel (livegate.audio.ingest).
ULAW_SAMPLES = _ULAW_DECODE.tobytes()
ALAW_SAMPLES = _ALAW_DECODE.tobytes()
_ULAW_ENCODE = _ulaw_table()  # indexed by the PCM16 sample + 32768
_ALAW_ENCODE = _alaw_table()


def ulaw_decode(data: bytes) -> bytes:
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)].tobytes()


def alaw_decode(data: bytes) -> bytes:
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)].tobytes()


def ulaw_encode(pcm: bytes) -> bytes:
    return _ULAW_ENCODE[np.frombuffer(pcm, dtype="<i2").astype(np.int32) + 32768].tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    return _ALAW_ENCODE[np.frombuffer(pcm, dtype="<i2").astype(np.int32) + 32768].tobytes()
