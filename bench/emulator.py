"""The Gemini Live emulator on picows callbacks: the benchmark's upstream.

The same ``Connection`` and ``EmulatorState`` as livegate.emulator.server (the whole model: setup,
the voice activity detector, turns, replies at their scheduled times), behind a thinner shell. The
emulator runs in the load generator's process, on the generator's core, and at 300 sessions it takes
in 15,000 audio messages a second, so its shell counts: here a message is one callback, fed to the
connection, and what is due is sent at once with a synchronous ``transport.send``; a timer per
connection wakes it for its next deadline. Measured at 300 sessions against the floor, this shell
kept the harness's core 61-63 % busy and its timer 1-2 ms late at p99, where aiohttp's (a writer task
woken per message) took 72 % and ran 4 ms late. Arrival times are ``time.time()`` when the message's
frame reaches the callback.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_create_server,
)

from bench.wsframes import Reassembly, answer_close
from livegate.emulator.connection import Close, Connection, Drop, SendFrame
from livegate.emulator.routes import Credentials, Route, credentials_from, route_for_path
from livegate.emulator.server import MAX_CLIENT_FRAME
from livegate.emulator.state import EmulatorConfig, EmulatorState

__all__ = ["PicowsEmulator"]


def _ids() -> Callable[[str], str]:
    counter = itertools.count(1)
    return lambda kind: f"{kind}-{next(counter)}-{secrets.token_hex(6)}"


class _Pump(WSListener):
    def __init__(self, state: EmulatorState, route: Route, credentials: Credentials) -> None:
        self.state = state
        self.route = route
        self.credentials = credentials
        self.reassembly = Reassembly()
        self.connection: Connection | None = None
        self.transport: WSTransport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timer_due = 0.0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.connection = Connection(self.state, self.route, self.credentials, time.time())
        self._pump()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        now = time.time()
        if frame.msg_type is WSMsgType.CLOSE:
            answer_close(transport, frame)
            return
        if frame.msg_type is WSMsgType.PING or frame.msg_type is WSMsgType.PONG:
            return  # picows answers pings at once (the bench sets no pong delay)
        message = self.reassembly.feed(frame)
        if message is not None and self.connection is not None:
            self.connection.receive(message[1], now)
            self._pump()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.connection is not None:
            self.connection.connection_lost(time.time())

    def _wake(self) -> None:
        self.timer = None
        self._pump()

    def _pump(self) -> None:
        connection, transport = self.connection, self.transport
        assert connection is not None and transport is not None
        for action in connection.actions(time.time()):
            if isinstance(action, SendFrame):
                transport.send(WSMsgType.BINARY, action.data)
            elif isinstance(action, Close):
                try:
                    code = WSCloseCode(action.code)
                except ValueError:
                    code = WSCloseCode.INTERNAL_ERROR
                transport.send_close(code, action.reason.encode())
                transport.disconnect()
                return
            elif isinstance(action, Drop):
                transport.disconnect(graceful=False)
                return
        deadline = connection.next_deadline()
        if deadline is None or (self.timer is not None and self.timer_due <= deadline):
            return
        if self.timer is not None:
            self.timer.cancel()
        self.timer_due = deadline
        self.timer = asyncio.get_running_loop().call_later(max(0.0, deadline - time.time()), self._wake)


class PicowsEmulator:
    """``await PicowsEmulator(config).start()``, then dial ``url``; ``state`` holds every session."""

    def __init__(self, config: EmulatorConfig, host: str = "127.0.0.1") -> None:
        self.state = EmulatorState(config, ids=_ids())
        self.host = host
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _route(self, request: WSUpgradeRequest) -> _Pump | None:
        path, _, query = request.path.decode().partition("?")
        route = route_for_path(path)
        if route is None:
            return None  # 404
        headers = {k.lower(): v for k, v in request.headers.items()}
        return _Pump(self.state, route, credentials_from(headers, dict(parse_qsl(query))))

    async def start(self) -> None:
        # A backlog for a few hundred sessions dialling at once (asyncio's default is 100).
        self._server = await ws_create_server(self._route, self.host, self.port, max_frame_size=MAX_CLIENT_FRAME, backlog=1024)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
