"""The pump's own edges on real sockets: a send to a Gemini connection that is already going down
(issue 7's survival test found it) leaves the session to the reader's close report, and the pump
writes what the translator produced without a task, a lock or an await (issue 14)."""

from __future__ import annotations

import asyncio
import base64
import json

import picows
import pytest
import websockets
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from livegate.config import embedded_config
from livegate.emulator import voice
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway, session_ids
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


async def test_audio_goes_through_the_translator_in_the_socket_callbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The synchronous hot path (issue 14): every client frame and every Gemini message is translated
    inside picows's callback, outside any task, so no frame costs a task switch, a lock or an event."""
    seen: dict[str, list[asyncio.Task[object] | None]] = {"client": [], "upstream": []}
    client_frame, upstream_message = Translator.receive_client_frame, Translator.receive_upstream_message
    direct: list[bytes] = []

    def on_client(self: Translator, data: str | bytes, now: float) -> bytes | None:
        seen["client"].append(asyncio.current_task())
        message = client_frame(self, data, now)
        if message is not None:
            direct.append(message)
        return message

    def on_upstream(self: Translator, data: str | bytes, now: float, generation: int | None = None) -> None:
        seen["upstream"].append(asyncio.current_task())
        upstream_message(self, data, now, generation)

    monkeypatch.setattr(Translator, "receive_client_frame", on_client)
    monkeypatch.setattr(Translator, "receive_upstream_message", on_upstream)
    emulator = EmulatorServer(EmulatorConfig(turn_complete_after_playback=False))
    async with emulator, Gateway(embedded_config(emulator.url), port=0) as gateway:
        url = gateway.ws_url + "/realtime?model=gpt-realtime"
        async with websockets.connect(url) as ws, asyncio.timeout(20):
            frame = base64.b64encode(voice.speak("hello there", 24000)).decode()
            for start in range(0, len(frame), 6400):  # 200 ms of audio a frame
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": frame[start : start + 6400]}))
            silence = base64.b64encode(bytes(9600)).decode()
            while True:
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": silence}))
                event = json.loads(await ws.recv())
                if event["type"] == "response.done":
                    break
    assert len(seen["client"]) > 10 and len(seen["upstream"]) > 3
    assert len(direct) > 5  # the steady stream took the shortcut: the Gemini message sent as it was made
    assert seen["client"] == [None] * len(seen["client"])
    assert seen["upstream"] == [None] * len(seen["upstream"])
