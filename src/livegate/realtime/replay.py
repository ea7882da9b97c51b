"""Client messages sent upstream, numbered as Gemini counts them, until Gemini says it consumed them.

Vertex AI with ``sessionResumption.transparent`` reports ``lastConsumedClientMessageIndex``
(gemini-live.md §5.2, §6.5): after a reconnect, exactly the messages after that index are sent again,
so nothing is lost and nothing is sent twice. Where no index comes (AI Studio, or Vertex without it),
the translator acknowledges what a completed turn consumed, and the rest goes again.
"""

from __future__ import annotations

from collections import deque

__all__ = ["ReplayLog"]

MAX_ENTRIES = 3000  # a minute of 20 ms audio frames; older ones are let go (and may be lost on a drop)


class ReplayLog:
    def __init__(self) -> None:
        self._entries: deque[tuple[int, bytes]] = deque()
        self.next_index = 0  # Gemini counts client messages after setup from 0

    def __len__(self) -> int:
        return len(self._entries)

    def sent(self, frame: bytes) -> None:
        self._entries.append((self.next_index, frame))
        self.next_index += 1
        if len(self._entries) > MAX_ENTRIES:
            self._entries.popleft()

    @property
    def acknowledged(self) -> int:
        """The index of the last message acknowledged (or let go): the ones after it are kept."""
        return self.next_index - len(self._entries) - 1

    def restart(self) -> None:
        """A new Gemini session counts from 0 again, and has nothing to replay."""
        self._entries.clear()
        self.next_index = 0

    def acknowledge(self, index: int) -> None:
        while self._entries and self._entries[0][0] <= index:
            self._entries.popleft()

    def unconsumed(self, index: int) -> list[bytes]:
        """After a reconnect: the frames to send again; they will be counted from ``index + 1``."""
        self.acknowledge(index)
        frames = [frame for _, frame in self._entries]
        self._entries.clear()
        self.next_index = index + 1
        return frames
