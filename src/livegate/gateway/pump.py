"""One client connection pumped through the translator to Gemini Live and back.

No protocol knowledge here (STYLE.md §2): frames in, the clock, frames out, in order. One lock
serialises draining, so frames leave in the order the translator produced them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.client_ws import ClientWebSocketResponse

from livegate.errors import UpstreamError
from livegate.gateway.metrics import Traffic
from livegate.gateway.upstream import UpstreamConnector
from livegate.realtime.responses import Response
from livegate.realtime.translator import CloseClient, CloseUpstream, SendUpstream, StartUpstream, Translator

__all__ = ["Pump"]

log = logging.getLogger("livegate.session")


class Pump:
    def __init__(
        self,
        client: web.WebSocketResponse,
        translator: Translator,
        connector: UpstreamConnector,
        *,
        write_timeout_s: float = 30.0,
        on_response: Callable[[Response], Coroutine[Any, Any, None]] | None = None,
        observe_latency: Callable[[float], None] | None = None,
    ) -> None:
        self.on_response = on_response
        self.observe_latency = observe_latency
        self.traffic = Traffic()
        self.client = client
        self.write_timeout_s = write_timeout_s
        self._writing_since: float | None = None  # a send to the client that has not returned
        self.translator = translator
        self.connector = connector
        self.upstream: ClientWebSocketResponse | None = None
        self._upstream_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closing = False
        self._wake = asyncio.Event()  # the translator's deadlines may have changed
        self._accounting: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        timer = asyncio.create_task(self._timer())
        try:
            await self.flush()
            while not self._closing:
                message = await self.client.receive()
                if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
                    traffic = self.traffic
                    traffic.client_in_frames += 1
                    traffic.client_in_bytes += len(message.data)
                    self.translator.receive_client_event(message.data, time.time())
                    await self.flush()
                elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        finally:
            self._closing = True
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
            await self._close_upstream()
            self._account(final=True)
            while self._accounting:
                await asyncio.wait(set(self._accounting))

    async def _timer(self) -> None:
        """Calls the translator's tick when its next deadline comes (goAway switches, reconnect backoff)."""
        loop = asyncio.get_running_loop()
        while not self._closing:
            self._wake.clear()
            if self._writing_since is not None and time.monotonic() - self._writing_since > self.write_timeout_s:
                log.warning("client not reading for %.0f s: session closed", self.write_timeout_s)
                self._closing = True
                transport = self.client._req.transport if self.client._req is not None else None
                if transport is not None:
                    transport.abort()
                return
            deadline = self.translator.next_deadline()
            if self._writing_since is not None:
                stall = time.time() + self.write_timeout_s / 4
                deadline = stall if deadline is None else min(deadline, stall)
            if deadline is None:
                await self._wake.wait()
                continue
            delay = deadline - time.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(loop.time() + delay):
                        await self._wake.wait()
                continue
            self.translator.tick(time.time())
            await self.flush()

    async def flush(self) -> None:
        self._wake.set()
        await self._flush()
        self._account()
        notices = self.translator.notices
        if notices:
            for notice in notices:
                log.warning("hint: %s", notice)
            notices.clear()
        if self.translator.faults:
            for where, exc in self.translator.drain_faults():
                # The traceback's frames, never the exception's text: it may quote a frame's payload.
                trace = "".join(traceback.format_tb(exc.__traceback__))
                log.error("internal error handling %s: %s (the session goes on)\n%s", where, type(exc).__name__, trace.rstrip())

    def _account(self, *, final: bool = False) -> None:
        """Finished responses are recorded in tasks of their own: the audio path never waits for the
        database, and a client that hangs up cannot cancel the bill (run() waits for them)."""
        if self.on_response is not None:
            for response in self.translator.finished_responses(final=final):
                task = asyncio.create_task(self.on_response(response))
                self._accounting.add(task)
                task.add_done_callback(self._accounted)

    def _accounted(self, task: asyncio.Task[None]) -> None:
        self._accounting.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("usage of a response not recorded: %s", task.exception())

    async def _flush(self) -> None:
        async with self._lock:
            for action in self.translator.actions_to_upstream():
                if isinstance(action, StartUpstream):
                    self._upstream_task = asyncio.create_task(self._run_upstream(action.setup, action.generation, action.location))
                elif isinstance(action, SendUpstream):
                    if self.upstream is not None and not self.upstream.closed:
                        self.traffic.upstream_out_frames += 1
                        self.traffic.upstream_out_bytes += len(action.frame)
                        try:  # noqa: SIM105 (the audio path: try costs nothing, contextlib.suppress an object a frame)
                            await self.upstream.send_frame(action.frame, WSMsgType.TEXT)
                        except ConnectionError:
                            pass  # the connection is going down: its reader reports the close, and the translator reconnects
                elif isinstance(action, CloseUpstream) and self.upstream is not None and not self.upstream.closed:
                    # A new setup follows: Gemini refuses to resume while the old socket is open.
                    with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
                        await self.upstream.close()
            for event in self.translator.events_to_client():
                if isinstance(event, CloseClient):
                    self._closing = True
                    await self.client.close(code=event.code, message=event.reason.encode()[:123])
                    return
                if not self.client.closed:
                    # A client that stops reading fills its socket buffer, then this send waits: the watchdog
                    # in _timer ends such a session (memory stays bounded by aiohttp's writer limit meanwhile).
                    self._writing_since = time.monotonic()
                    self.traffic.client_out_frames += 1
                    self.traffic.client_out_bytes += len(event)
                    await self.client.send_str(event)
                    self._writing_since = None

    async def _run_upstream(self, setup: bytes, generation: int, location: str | None) -> None:
        try:
            upstream = await self.connector.connect(location)
        except UpstreamError as exc:
            self.translator.receive_upstream_closed(exc.code, exc.reason, time.time(), generation)
            await self.flush()
            return
        self.upstream = upstream
        code, reason = 1006, ""
        try:
            # Gemini Live: the first message is setup (gemini-live.md §4.1); clients send text frames.
            await upstream.send_frame(setup, WSMsgType.TEXT)
            if generation > 1 or location is not None:
                where = f" in {location}" if location else ""
                why = f" ({self.translator.reconnect_reason})" if generation > 1 else ""
                log.info("upstream connection %d%s%s", generation, where, why)
            while True:
                message = await upstream.receive()
                if message.type is WSMsgType.BINARY or message.type is WSMsgType.TEXT:
                    arrived = time.perf_counter()
                    self.traffic.upstream_in_frames += 1
                    self.traffic.upstream_in_bytes += len(message.data)
                    self.translator.receive_upstream_message(message.data, time.time(), generation)
                    await self.flush()
                    if self.observe_latency is not None:
                        self.observe_latency(time.perf_counter() - arrived)
                elif message.type is WSMsgType.CLOSE:
                    code, reason = int(message.data), str(message.extra or "")
                    break
                else:
                    code = upstream.close_code or 1006
                    break
        except (TimeoutError, ConnectionError) as exc:
            log.info("upstream connection lost: %s", exc)
        if not self._closing:
            self.translator.receive_upstream_closed(code, reason, time.time(), generation)
            await self.flush()

    async def shut_down(self) -> None:
        """Graceful shutdown: the client learns why, then the socket closes with 1001 (going away)."""
        self.translator.end("server_shutdown", "livegate is shutting down; reconnect to continue.", 1001)
        await self.flush()

    async def _close_upstream(self, wait: bool = True) -> None:
        task, self._upstream_task = self._upstream_task, None
        if self.upstream is not None and not self.upstream.closed:
            with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
                await self.upstream.close()
        if task is not None and wait and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
