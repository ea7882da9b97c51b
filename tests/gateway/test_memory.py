"""Memory per session returns to zero after the session ends (issue 13), whichever side closes: a
thousand text sessions over real sockets leave no socket, pump, translator or armed timer behind, and
almost no bytes; model names a client makes up leave no connector behind."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import tracemalloc
import weakref
from collections import Counter
from collections.abc import AsyncIterator

import websockets
from picows import WSCloseCode, WSFrame, WSListener, WSTransport

from livegate.config import Limits, embedded_config
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway
from livegate.gateway.pump import ClientListener, Pump, UpstreamListener
from livegate.realtime.translator import Translator

SESSIONS = 1000
WARM_UP = 100
CONCURRENT = 8
SESSION_OBJECTS = (WSTransport, ClientListener, UpstreamListener, Pump, Translator)


@contextlib.asynccontextmanager
async def stack(limits: Limits | None = None) -> AsyncIterator[tuple[EmulatorServer, Gateway]]:
    emulator = EmulatorServer(EmulatorConfig(turn_complete_after_playback=False))
    async with emulator:
        config = embedded_config(emulator.url)
        config.limits = limits or config.limits
        async with Gateway(config, port=0) as gateway:
            yield emulator, gateway


async def text_session(url: str) -> None:
    async with websockets.connect(url) as ws:

        async def until(kind: str) -> None:
            while json.loads(await ws.recv())["type"] != kind:
                pass

        await until("session.created")
        session = {"type": "realtime", "output_modalities": ["text"]}
        await ws.send(json.dumps({"type": "session.update", "session": session}))
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))
        await until("response.done")


async def idle_session(url: str) -> None:
    async with websockets.connect(url) as ws:
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await ws.recv()


async def run_sessions(gateway: Gateway, emulator: EmulatorServer, count: int) -> None:
    url = gateway.ws_url + "/realtime?model=gpt-realtime"
    left = iter(range(count))

    async def worker() -> None:
        for _ in left:
            await text_session(url)

    async with asyncio.timeout(120):
        await asyncio.gather(*(worker() for _ in range(CONCURRENT)))
        await gateway._drained.wait()  # no session is live, and the last one is accounted for
    await asyncio.sleep(0.1)  # its handler returns and aiohttp lets go of the connection
    # The emulator keeps every session for resumption, as Gemini does for two hours (gemini-live.md §8):
    # that memory is the test double's, not the gateway's.
    emulator.state.sessions.clear()
    emulator.state.handles.clear()


def live_objects() -> Counter[str]:
    gc.collect()
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        for kind in SESSION_OBJECTS:
            if isinstance(obj, kind):
                counts[kind.__name__] += 1
        if isinstance(obj, asyncio.TimerHandle) and not obj.cancelled():
            counts["armed TimerHandle"] += 1  # cancelled ones wait in the loop's heap, holding nothing
    return counts


def session_objects(counts: Counter[str]) -> dict[str, int]:
    return {kind.__name__: counts[kind.__name__] for kind in SESSION_OBJECTS if counts[kind.__name__]}


async def test_the_names_a_wildcard_serves_share_one_connector() -> None:
    async with Gateway(embedded_config("http://127.0.0.1:9"), port=0) as gateway:
        deployments = [gateway.config.deployment(name) for name in ("gpt-realtime", "made-up-1", "made-up-2")]
        assert len({gateway._connector(d) for d in deployments if d is not None}) == 1


class Listener(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        pass


async def test_a_closed_upstream_socket_is_freed_at_once() -> None:
    async with stack() as (_, gateway):
        deployment = gateway.config.deployment("gpt-realtime")
        assert deployment is not None
        before = live_objects()["armed TimerHandle"]
        upstream = await gateway._connector(deployment).connect(None, Listener)
        # Closed from this side, with its keepalive pings armed (aiohttp re-armed them: issue 13).
        upstream.send_close(WSCloseCode.OK)
        upstream.disconnect()
        await upstream.wait_disconnected()
        freed = weakref.ref(upstream.listener_proxy.__self__) if hasattr(upstream, "listener_proxy") else None
        del upstream
        await asyncio.sleep(0.1)  # the closed transport lets go of its protocol in a callback of its own
        counts = live_objects()
        assert counts["WSTransport"] == 0
        assert counts["armed TimerHandle"] <= before
        assert freed is None or freed() is None


async def test_sessions_the_gateway_ends_leave_no_socket_behind() -> None:
    async with stack(Limits(idle_timeout_s=0.2)) as (_, gateway):
        # Closed by the gateway: the client's close frame arrives after aiohttp has cancelled its heartbeat.
        url = gateway.ws_url + "/realtime?model=gpt-realtime"
        await asyncio.gather(*(idle_session(url) for _ in range(50)))
        await gateway._drained.wait()
        await asyncio.sleep(0.1)
        assert session_objects(live_objects()) == {}


async def test_a_thousand_text_sessions_leave_nothing_behind() -> None:
    async with stack() as (emulator, gateway):
        # Caches, free lists, the database's pages and the loop's heap reach their size.
        await run_sessions(gateway, emulator, WARM_UP)
        before = live_objects()
        tracing = not tracemalloc.is_tracing()
        if tracing:
            tracemalloc.start()
        try:
            traced_before = tracemalloc.get_traced_memory()[0]
            started = time.monotonic()
            await run_sessions(gateway, emulator, SESSIONS - WARM_UP)
            seconds = time.monotonic() - started
            after = live_objects()
            grown = tracemalloc.get_traced_memory()[0] - traced_before
        finally:
            if tracing:
                tracemalloc.stop()
        left = session_objects(after)
        timers = after["armed TimerHandle"] - before["armed TimerHandle"]
        per_session = grown / (SESSIONS - WARM_UP)
        print(f"{SESSIONS - WARM_UP} sessions in {seconds:.1f} s: {dict(after)}, {per_session:.0f} B each")
        assert left == {}, f"objects of ended sessions still alive: {left}"
        assert timers <= 5, f"{timers} more armed timers"
        assert per_session < 512, f"{per_session:.0f} bytes per session"
