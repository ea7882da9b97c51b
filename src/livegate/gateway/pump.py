"""One client connection pumped through the translator to Gemini Live and back.

No protocol knowledge here (STYLE.md §2): frames in, the clock, frames out, in order. The audio path
is synchronous (issue 14): a frame arrives in a picows callback, goes through the translator, and
what it produced is written before the callback returns, with no task, lock or event per frame.
Tasks exist only for what waits: opening a Gemini connection, and the session's own end.

Backpressure goes through: a client that stops reading pauses the reading of its Gemini connection,
and a Gemini connection that stops reading pauses the reading of the client (the transports'
high-water marks). A client paused for ``write_timeout_s`` is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from livegate.errors import UpstreamError
from livegate.gateway.metrics import Traffic
from livegate.gateway.upstream import HANDSHAKE_TIMEOUT_S, UpstreamConnector
from livegate.realtime.translator import CloseClient, CloseUpstream, SendUpstream, StartUpstream

__all__ = ["Core", "Messages", "Pump", "Settled"]

log = logging.getLogger("livegate.session")

CLOSE_WAIT_S = 5.0  # after livegate's close frame, how long the peer has to answer with its own
TEXT = WSMsgType.TEXT


class Settled(Protocol):
    """A response as accounting reads it."""

    id: str
    status: str
    usage: dict[str, Any] | None


class Core(Protocol):
    """What the pump drives: the OpenAI translator (realtime.translator) or the native Gemini Live
    front (gemini.front). Sans-I/O both; the pump moves their frames and keeps their clock."""

    @property
    def notices(self) -> list[str]: ...
    @property
    def faults(self) -> list[tuple[str, Exception]]: ...
    @property
    def errors(self) -> Counter[str]: ...

    @property
    def reconnects(self) -> Counter[str]: ...
    @property
    def generation(self) -> int: ...
    @property
    def reconnect_reason(self) -> str: ...
    @property
    def upstream_connections(self) -> int: ...
    @property
    def settled(self) -> bool: ...
    @property
    def session_id(self) -> str: ...
    def receive_client_frame(self, data: str | bytes, now: float) -> bytes | None: ...
    def receive_upstream_message(self, data: bytes | str, now: float, generation: int | None = None) -> None: ...
    def receive_upstream_closed(self, code: int, reason: str, now: float, generation: int | None = None) -> None: ...
    def actions_to_upstream(self) -> Sequence[StartUpstream | SendUpstream | CloseUpstream]: ...
    def events_to_client(self) -> Sequence[bytes | CloseClient]: ...
    def finished_responses(self, *, final: bool = False) -> Sequence[Settled]: ...
    def drain_faults(self) -> list[tuple[str, Exception]]: ...
    def next_deadline(self) -> float | None: ...
    def tick(self, now: float) -> None: ...
    def end(self, code: str, message: str, close: int) -> None: ...


class Pump:
    def __init__(
        self,
        translator: Core,
        connector: UpstreamConnector | Callable[[StartUpstream], UpstreamConnector],
        *,
        write_timeout_s: float = 30.0,
        on_response: Callable[[Any], None] | None = None,
        observe_latency: Callable[[float], None] | None = None,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.translator = translator
        self.connector = connector
        self.write_timeout_s = write_timeout_s
        self.on_response = on_response
        self.observe_latency = observe_latency
        self.max_message_bytes = max_message_bytes
        self.traffic = Traffic()
        self.client: WSTransport | None = None
        self.upstream: WSTransport | None = None
        self._upstream_generation = 0
        self._connecting: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[None] = self._loop.create_future()
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._client_paused_at: float | None = None
        self._later: asyncio.TimerHandle | None = None  # the stall watchdog, or the close handshake's limit
        self._upstream_paused = False
        self._partial: bytearray | None = None  # a fragmented client message (RFC 6455 §5.4)

    # ---- the client's socket (ClientListener's callbacks) ------------------------------------

    def client_connected(self, transport: WSTransport) -> None:
        self.client = transport
        self.drain()

    def client_frame(self, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is TEXT or kind is WSMsgType.BINARY:
            if frame.fin:
                self.client_message(frame.get_payload_as_bytes())
            else:
                self._partial = bytearray(frame.get_payload_as_memoryview())
        elif kind is WSMsgType.CONTINUATION:
            partial = self._partial
            if partial is None:
                return  # picows refuses a continuation with nothing to continue (RFC 6455 §5.4)
            partial += frame.get_payload_as_memoryview()
            if len(partial) > self.max_message_bytes:
                self._partial = None
                self._close_client(1009, "message too big")
            elif frame.fin:
                self._partial = None
                self.client_message(bytes(partial))
        elif kind is WSMsgType.CLOSE:
            self._closing = True
            assert self.client is not None
            self.client.send_close(frame.get_close_code())  # the close handshake (RFC 6455 §5.5.1)
            self.client.disconnect()

    def client_message(self, data: bytes) -> None:
        """A whole client message: a WebSocket's, or a WebRTC call's data channel's (gateway.calls)."""
        traffic = self.traffic
        traffic.client_in_frames += 1
        traffic.client_in_bytes += len(data)
        self.deliver(self.translator.receive_client_frame(data, time.time()))

    def deliver(self, message: bytes | None) -> None:
        """What the translator made of client input: its one Gemini message, sent now, or (None) a drain."""
        if message is None:
            self.drain()
            return
        # An append that made one Gemini message and nothing else: no deadline moved earlier and nothing
        # else waits, so it is the whole drain.
        upstream = self.upstream
        if upstream is not None:
            traffic = self.traffic
            traffic.upstream_out_frames += 1
            traffic.upstream_out_bytes += len(message)
            upstream.send(TEXT, message)

    def client_disconnected(self) -> None:
        self._closing = True
        self.client = None
        for handle in (self._timer, self._later):
            if handle is not None:
                handle.cancel()
        self._timer = self._later = None
        self._drop_upstream()
        self._account(final=True)
        if not self.ended.done():
            self.ended.set_result(None)

    def client_paused(self) -> None:
        self._client_paused_at = time.monotonic()
        if self._later is None:
            self._later = self._loop.call_later(self.write_timeout_s, self._check_stall, self._client_paused_at)
        if self.upstream is not None:
            self.upstream.underlying_transport.pause_reading()

    def client_resumed(self) -> None:
        self._client_paused_at = None
        if self._later is not None and not self._closing:
            self._later.cancel()
            self._later = None
        if self.upstream is not None:
            self.upstream.underlying_transport.resume_reading()

    def _check_stall(self, since: float) -> None:
        self._later = None
        if self._client_paused_at == since and self.client is not None:
            log.warning("client not reading for %.0f s: session closed", self.write_timeout_s)
            self._closing = True
            self.client.disconnect(graceful=False)

    # ---- draining the translator -------------------------------------------------------------

    def drain(self) -> None:
        """Everything the translator produced, written now, in its order."""
        translator = self.translator
        actions = translator.actions_to_upstream()
        if actions:
            self._to_upstream(actions)
        events = translator.events_to_client()
        if events:
            self._to_client(events)
        if translator.settled:
            self._account()
        if translator.notices or translator.faults:
            self._report()
        deadline = translator.next_deadline()
        if deadline is not None and (self._timer_at is None or deadline < self._timer_at) and not self._closing:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = self._loop.call_later(max(0.0, deadline - time.time()), self._tick)

    def _tick(self) -> None:
        """The translator's next deadline (goAway switches, reconnect backoff, timeouts); one that has
        moved later since it was set finds nothing due, and the next one is set."""
        self._timer = self._timer_at = None
        if not self._closing:
            self.translator.tick(time.time())
            self.drain()

    def _to_upstream(self, actions: Sequence[StartUpstream | SendUpstream | CloseUpstream]) -> None:
        traffic = self.traffic
        for action in actions:
            if type(action) is SendUpstream:
                upstream = self.upstream
                if upstream is not None:
                    traffic.upstream_out_frames += 1
                    traffic.upstream_out_bytes += len(action.frame)
                    upstream.send(TEXT, action.frame)
            elif isinstance(action, StartUpstream):
                task = self._loop.create_task(self._connect(action))
                self._connecting.add(task)
                task.add_done_callback(self._connecting.discard)
            else:
                self._drop_upstream()  # a new setup follows: Gemini refuses to resume while the old socket is open

    def _to_client(self, events: Sequence[bytes | CloseClient]) -> None:
        client = self.client
        if client is None:
            return
        traffic = self.traffic
        for event in events:
            if type(event) is bytes:
                traffic.client_out_frames += 1
                traffic.client_out_bytes += len(event)
                client.send(TEXT, event)
            else:
                assert isinstance(event, CloseClient)
                self._close_client(event.code, event.reason)
                return

    def _close_client(self, code: int, reason: str) -> None:
        self._closing = True
        client = self.client
        if client is not None:
            client.send_close(cast(WSCloseCode, code), reason.encode()[:123])  # a close reason is at most 123 bytes (RFC 6455 §5.5)
            if self._later is not None:
                self._later.cancel()
            self._later = self._loop.call_later(CLOSE_WAIT_S, client.disconnect)

    def _account(self, *, final: bool = False) -> None:
        if self.on_response is not None:
            for response in self.translator.finished_responses(final=final):
                self.on_response(response)

    def _report(self) -> None:
        translator = self.translator
        for notice in translator.notices:
            log.warning("hint: %s", notice)
        translator.notices.clear()
        for where, exc in translator.drain_faults():
            # The traceback's frames, never the exception's text: it may quote a frame's payload.
            trace = "".join(traceback.format_tb(exc.__traceback__))
            log.error("internal error handling %s: %s (the session goes on)\n%s", where, type(exc).__name__, trace.rstrip())

    # ---- the Gemini connection ---------------------------------------------------------------

    async def _connect(self, start: StartUpstream) -> None:
        generation = start.generation
        try:
            connector = self.connector if isinstance(self.connector, UpstreamConnector) else self.connector(start)
            upstream = await connector.connect(start.location, lambda: UpstreamListener(self, generation))
        except UpstreamError as exc:
            if not self._closing:
                self.translator.receive_upstream_closed(exc.code, exc.reason, time.time(), generation)
                self.drain()
            return
        if self._closing or generation != self.translator.generation:
            upstream.send_close(WSCloseCode.GOING_AWAY)
            upstream.disconnect()
            return
        self._drop_upstream()
        self.upstream = upstream
        self._upstream_generation = generation
        if self._client_paused_at is not None:
            upstream.underlying_transport.pause_reading()
        # Gemini Live: the first message is setup (gemini-live.md §4.1).
        upstream.send(TEXT, start.setup)
        if generation > 1 or start.location is not None:
            where = f" in {start.location}" if start.location else ""
            why = f" ({self.translator.reconnect_reason})" if generation > 1 else ""
            log.info("upstream connection %d%s%s", generation, where, why)
        self.drain()

    def upstream_frame(self, generation: int, data: bytes) -> None:
        arrived = time.perf_counter()
        traffic = self.traffic
        traffic.upstream_in_frames += 1
        traffic.upstream_in_bytes += len(data)
        self.translator.receive_upstream_message(data, time.time(), generation)
        self.drain()
        if self.observe_latency is not None:
            self.observe_latency(time.perf_counter() - arrived)

    def upstream_closed(self, generation: int, code: int, reason: str) -> None:
        if generation == self._upstream_generation:
            self.upstream = None
            if self._upstream_paused and self.client is not None:
                self._upstream_paused = False
                self.client.underlying_transport.resume_reading()
        if not self._closing:
            self.translator.receive_upstream_closed(code, reason, time.time(), generation)
            self.drain()

    def upstream_paused(self, generation: int) -> None:
        if generation == self._upstream_generation and self.client is not None:
            self._upstream_paused = True
            self.client.underlying_transport.pause_reading()

    def upstream_resumed(self, generation: int) -> None:
        if generation == self._upstream_generation and self._upstream_paused and self.client is not None:
            self._upstream_paused = False
            self.client.underlying_transport.resume_reading()

    def _drop_upstream(self) -> None:
        upstream, self.upstream = self.upstream, None
        self._upstream_generation = 0  # its close is not reported: the translator has moved on
        if upstream is not None and not upstream.is_disconnected:
            upstream.send_close(WSCloseCode.OK)
            upstream.disconnect()

    # ---- the session's life ------------------------------------------------------------------

    async def run(self) -> None:
        """Until the client's socket is gone; then every Gemini connection is closed."""
        try:
            await asyncio.shield(self.ended)
        finally:
            self._closing = True
            self._drop_upstream()
            if self._connecting:
                # A connection being opened is let finish and then closed (_connect): picows leaves the
                # socket of a cancelled handshake open, until Gemini's keepalive gives up on it.
                _, pending = await asyncio.wait(set(self._connecting), timeout=HANDSHAKE_TIMEOUT_S)
                for task in pending:
                    task.cancel()
            if self.client is not None:
                self.client.disconnect(graceful=False)

    def shut_down(self) -> None:
        """Graceful shutdown: the client learns why, then the socket closes with 1001 (going away)."""
        self.translator.end("server_shutdown", "livegate is shutting down; reconnect to continue.", 1001)
        self.drain()

    def end(self, code: str, message: str, close: int) -> None:
        self.translator.end(code, message, close)
        self.drain()


class ClientListener(WSListener):
    """picows's callbacks for the client's socket, straight into the pump."""

    def __init__(self, pump: Pump) -> None:
        self.pump = pump

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.pump.client_connected(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.pump.client_frame(frame)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.pump.client_disconnected()

    def pause_writing(self) -> None:
        self.pump.client_paused()

    def resume_writing(self) -> None:
        self.pump.client_resumed()


class Messages(WSListener):
    """picows's frames as whole messages (RFC 6455 §5.4): ``message`` for each, ``close_frame`` for the
    peer's close, answered with the close handshake (§5.5.1)."""

    _partial: bytearray | None = None

    def message(self, data: bytes) -> None:
        raise NotImplementedError

    def close_frame(self, frame: WSFrame) -> None:
        pass

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.BINARY or kind is TEXT:  # Gemini sends its JSON in binary frames
            if frame.fin:
                self.message(frame.get_payload_as_bytes())
            else:
                self._partial = bytearray(frame.get_payload_as_memoryview())
        elif kind is WSMsgType.CONTINUATION and self._partial is not None:
            self._partial += frame.get_payload_as_memoryview()
            if frame.fin:
                data, self._partial = bytes(self._partial), None
                self.message(data)
        elif kind is WSMsgType.CLOSE:
            self.close_frame(frame)
            transport.send_close(frame.get_close_code())
            transport.disconnect()


class UpstreamListener(Messages):
    """picows's callbacks for one Gemini connection; its generation tells a left connection's frames apart."""

    def __init__(self, pump: Pump, generation: int) -> None:
        self.pump = pump
        self.generation = generation
        self._close: tuple[int, str] | None = None

    def message(self, data: bytes) -> None:
        self.pump.upstream_frame(self.generation, data)

    def close_frame(self, frame: WSFrame) -> None:
        code = int(cast(int, frame.get_close_code()))  # any code, 4000s included: picows's enum is a C int
        self._close = (code or 1005, frame.get_close_reason() or "")

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        code, reason = self._close or (1006, "")
        self.pump.upstream_closed(self.generation, code, reason)

    def pause_writing(self) -> None:
        self.pump.upstream_paused(self.generation)

    def resume_writing(self) -> None:
        self.pump.upstream_resumed(self.generation)
