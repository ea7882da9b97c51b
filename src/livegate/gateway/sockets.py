"""aiohttp's WebSockets, with no heartbeat armed once they are closed (issue 13).

Closing from its own side, aiohttp 3.14 cancels the heartbeat, sends its close frame and reads until
the peer's (RFC 6455 §7.1.1). The arrival of that frame calls ``_on_data_received``, which arms the
heartbeat again: the timer then held the closed socket and everything it references for a ping
interval and a half (the ping, then half as long for its pong). Upstream that is every session the
client ends (90 s at the default 60 s ping); towards clients, every session the gateway ends (30 s).

``_on_data_received`` is private to aiohttp: if it is renamed, tests/gateway/test_memory.py fails.
"""

from __future__ import annotations

from aiohttp import ClientWebSocketResponse, web

__all__ = ["ClientSocket", "UpstreamSocket"]


class UpstreamSocket(ClientWebSocketResponse):
    """The connection to Gemini Live (aiohttp's client side)."""

    def _on_data_received(self) -> None:
        if not self.closed:
            super()._on_data_received()


class ClientSocket(web.WebSocketResponse):
    """The connection from an OpenAI Realtime client (aiohttp's server side)."""

    def _on_data_received(self) -> None:
        if not self.closed:
            super()._on_data_received()
