"""The pump's own edges on real sockets: a send to a Gemini connection that is already going down
(issue 7's survival test found it) leaves the session to the reader's close report, and the pump
writes what the translator produced without a task, a lock or an await (issue 14)."""

from __future__ import annotations

import asyncio

import picows
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from livegate.config import embedded_config
from livegate.gateway.app import session_ids
from livegate.gateway.pump import Pump
from livegate.realtime.translator import SendUpstream, Translator


class Recorder(WSListener):
    def __init__(self, expect: int = 0) -> None:
        self.frames: list[bytes] = []
        self.expect = expect
        self.complete = asyncio.Event()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self.frames.append(frame.get_payload_as_bytes())
            if len(self.frames) == self.expect:
                self.complete.set()


def pump_for_tests() -> Pump:
    deployment = embedded_config("http://127.0.0.1:9").deployment("gpt-realtime")
    assert deployment is not None
    translator = Translator(route=deployment.route, model="gpt-realtime", beta=False, ids=session_ids(), now=0.0)
    translator.events_to_client()  # session.created: the client side is not under test here
    return Pump(translator, connector=None)  # type: ignore[arg-type]


async def test_a_send_to_a_closing_upstream_does_not_end_the_session() -> None:
    received = Recorder()
    server = await picows.ws_create_server(lambda request: received, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        upstream, _ = await picows.ws_connect(WSListener, f"ws://127.0.0.1:{port}/")
        pump = pump_for_tests()
        pump.upstream = upstream
        upstream.send_close(WSCloseCode.OK)
        upstream.disconnect()  # going down: its close is not reported yet
        pump.translator.link.actions.append(SendUpstream(b'{"realtimeInput": {}}'))
        pump.drain()
        assert pump.traffic.upstream_out_frames == 1
        assert not pump._closing and not pump.translator.link.closed
        await upstream.wait_disconnected()
    finally:
        server.close()


async def test_frames_are_written_before_drain_returns() -> None:
    received = Recorder(expect=100)
    server = await picows.ws_create_server(lambda request: received, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        upstream, _ = await picows.ws_connect(WSListener, f"ws://127.0.0.1:{port}/")
        pump = pump_for_tests()
        pump.upstream = upstream
        frames = [b'{"realtimeInput":{"audio":{"data":"%d"}}}' % i for i in range(100)]
        pump.translator.link.actions.extend(SendUpstream(frame) for frame in frames)
        pump.drain()
        # Every frame is in the socket's buffer or sent: the transport holds no coroutine to run.
        assert upstream.underlying_transport.get_write_buffer_size() == 0
        async with asyncio.timeout(5):
            await received.complete.wait()
        assert received.frames == frames
        upstream.disconnect()
    finally:
        server.close()
