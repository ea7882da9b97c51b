"""The WebSockets of the data plane: picows, callback-driven, on the connection aiohttp accepted.

aiohttp parses every request on the port, so HTTP and WebSocket share one host and port (the openai
SDK derives its WebSocket URL from ``base_url``) and every refusal happens before the upgrade with
OpenAI's JSON bodies. An accepted ``/v1/realtime`` upgrade is then handed to picows: its frame layer
is C, calls back synchronously for every frame and sends without awaiting, which is what keeps the
audio path free of task switches (issue 14; the measurements are in the README).

The hand-over is what picows's own ``ws_connect`` does after a proxy's CONNECT: a new protocol is set
on the live transport and told it is connected. aiohttp is told the connection is gone (its handler
forgets the transport without closing it), and picows reads the upgrade request, already validated by
aiohttp, from a copy holding only the headers the handshake uses (RFC 6455 §4.2.1).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from picows import WSListener, WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from picows.picows import WSProtocol  # type: ignore[attr-defined]  # public in picows.api's use, not in its stub

__all__ = ["HANDSHAKE_HEADERS", "PICOWS_LOG", "READ_BUFFER_BYTES", "hand_over"]

# picows's own logger says "New connection accepted" at INFO for every connection; only its warnings
# and errors reach livegate's logs.
logging.getLogger("livegate.websocket").setLevel(logging.WARNING)
# An adapter, not a Logger: picows gives a Logger a child of its own for every connection (a kilobyte
# or two a socket), and an adapter none.
PICOWS_LOG = logging.LoggerAdapter(logging.getLogger("livegate.websocket"), {})
# A socket's read buffer starts small and grows to the largest frame it has read (an audio frame is
# 5 to 20 KiB): an idle session holds little.
READ_BUFFER_BYTES = 4096
HANDSHAKE_HEADERS = ("host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version")


def hand_over(
    request: web.Request, listener: WSListener, *, protocol: str | None, max_frame_bytes: int, ping_s: float
) -> bool:
    """Answer ``request``'s upgrade with picows and ``listener``: False if the client has gone already."""
    transport = request.transport
    handler = request.protocol
    if transport is None or transport.is_closing():
        return False
    response = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": protocol} if protocol else None)

    def accept(upgrade: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
        return WSUpgradeResponseWithListener(response, listener)

    websocket = WSProtocol(
        None, None, False, accept, PICOWS_LOG,
        True,  # a listener's exception closes the socket with 1011 (livegate's listeners catch their own)
        None,  # the handshake is complete when picows has read the request below
        True, ping_s, ping_s / 2,  # ping a client silent for ping_s; close it if no pong in half that
        1,  # WSAutoPingStrategy.PING_WHEN_IDLE
        True,  # answer pings
        max_frame_bytes, None, READ_BUFFER_BYTES,
    )  # fmt: skip
    # Frames a client sent before it saw the 101 (RFC 6455 §4.1 says wait; not every client does).
    early = getattr(handler, "_message_tail", b"") if getattr(handler, "_upgraded", False) else b""
    handler.transport = None  # aiohttp's handler forgets the transport: its connection_lost must not close it
    handler.connection_lost(None)
    transport.set_protocol(websocket)
    websocket.connection_made(transport)
    _feed(websocket, _upgrade_request(request) + early)
    transport.resume_reading()  # aiohttp pauses reading after an upgrade request until its handler is done
    return True


def _upgrade_request(request: web.Request) -> bytes:
    lines = [b"GET / HTTP/1.1"]  # the path and its query (a ?key= too) are aiohttp's business, done
    lines += [name + b": " + value for name, value in request.raw_headers if name.lower().decode("latin-1") in HANDSHAKE_HEADERS]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _feed(protocol: Any, data: bytes) -> None:
    """Bytes into an asyncio BufferedProtocol, as the event loop would deliver them."""
    view = memoryview(data)
    while view:
        buffer = protocol.get_buffer(len(view))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        protocol.buffer_updated(size)
        view = view[size:]
