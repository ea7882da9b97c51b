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
