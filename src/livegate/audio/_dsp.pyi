def polyphase(
    samples: bytes,
    taps: bytes,
    up: int,
    down: int,
    span: int,
    bits: int,
    offsets: tuple[int, ...],
    first: int,
    blocks: int,
    start: int,
) -> bytes: ...
def energies(samples: bytes, frame: int) -> list[int]: ...

class Ingest:
    def __init__(
        self,
        table: bytes | None,
        taps: bytes,
        up: int,
        down: int,
        span: int,
        bits: int,
        offsets: tuple[int, ...],
        frame: int,
        prefix: bytes,
        suffix: bytes,
        carry_sum: int = 0,
        carry_count: int = 0,
        /,
    ) -> None: ...
    def push(self, text: str, send: bool, /) -> tuple[bytes | None, bytes, bytes, list[int]] | None: ...
    def push_event(self, frame: bytes, send: bool, /) -> tuple[bytes | None, bytes, bytes, list[int]] | None: ...
    @property
    def carry(self) -> tuple[int, int]: ...
