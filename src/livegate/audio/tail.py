"""The end of a byte stream: appended at the back, let go from the front.

What is let go stays in place until it outweighs what is kept (or passes ``SLACK_BYTES``), and only
then is the kept part moved to the front: keeping the last second of audio costs one move of that
second per second, not one per frame as ``del buffer[:cut]`` on every frame does.
"""

from __future__ import annotations

__all__ = ["SLACK_BYTES", "Tail"]

SLACK_BYTES = 1 << 20  # let-go bytes held at most, however much is kept


class Tail:
    __slots__ = ("_data", "_start")

    def __init__(self) -> None:
        self._data = bytearray()
        self._start = 0  # bytes of _data let go

    def __len__(self) -> int:
        return len(self._data) - self._start

    def __bytes__(self) -> bytes:
        return self.slice(0, len(self))

    def append(self, data: bytes) -> None:
        self._data += data

    def drop(self, count: int) -> None:
        """Lets go of the first ``count >= 0`` bytes kept (of all, when fewer are kept)."""
        self._start = min(self._start + count, len(self._data))
        if self._start > min(len(self._data) - self._start, SLACK_BYTES):
            del self._data[: self._start]
            self._start = 0

    def slice(self, lo: int, hi: int) -> bytes:
        """``bytes(kept[lo:hi])``, for ``0 <= lo <= hi``."""
        with memoryview(self._data) as view:
            return bytes(view[self._start + lo : self._start + hi])

    def clear(self) -> None:
        self._data.clear()
        self._start = 0
