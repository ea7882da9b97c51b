"""The WebSocket framing the benchmark's picows code does itself (RFC 6455 §5): client frames built and
masked once, so sending one is a single socket write, and messages put back together from fragments."""

from __future__ import annotations

import os

from picows import WSCloseCode, WSFrame, WSMsgType, WSProtocolError, WSTransport

__all__ = ["Reassembly", "answer_close", "client_frame"]

TEXT = 0x1


def client_frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One whole, masked client frame (§5.2): FIN, the opcode, the length, the key, the masked payload."""
    # RFC 6455 §5.3: a client masks every frame. The key is drawn once, when the frame is built.
    key = os.urandom(4)
    size = len(payload)
    if size < 126:
        length = bytes([0x80 | size])
    elif size < 1 << 16:
        length = bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + size.to_bytes(8, "big")
    stream = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")
    return bytes([0x80 | opcode]) + length + key + masked


class Reassembly:
    """RFC 6455 §5.4: a message is one TEXT or BINARY frame, or one without FIN and CONTINUATION frames up
    to the one with FIN; control frames may come in between, and never come here."""

    __slots__ = ("_kind", "_parts")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._kind: WSMsgType | None = None

    def feed(self, frame: WSFrame) -> tuple[WSMsgType, bytes] | None:
        """The message this data frame completes, with its type; None while it is still in pieces."""
        kind = frame.msg_type
        if kind is WSMsgType.CONTINUATION:
            if self._kind is None:
                raise WSProtocolError(WSCloseCode.PROTOCOL_ERROR, "CONTINUATION frame with no message to continue")
            self._parts.append(frame.get_payload_as_bytes())
            if not frame.fin:
                return None
            message = (self._kind, b"".join(self._parts))
            self._parts, self._kind = [], None
            return message
        if self._kind is not None:
            raise WSProtocolError(WSCloseCode.PROTOCOL_ERROR, "a new message began before the last one ended")
        if frame.fin:
            return kind, frame.get_payload_as_bytes()
        self._kind = kind
        self._parts = [frame.get_payload_as_bytes()]
        return None


def answer_close(transport: WSTransport, frame: WSFrame) -> None:
    """RFC 6455 §5.5.1: a CLOSE is answered with a CLOSE (the code echoed), then the TCP connection ends."""
    if not transport.is_close_frame_sent:
        code = frame.get_close_code()  # an int for the codes (3000 to 4999) that have no WSCloseCode
        echo = isinstance(code, WSCloseCode) and code not in (WSCloseCode.NO_INFO, WSCloseCode.ABNORMAL_CLOSURE)
        transport.send_close(code if echo else WSCloseCode.OK)
    transport.disconnect()
