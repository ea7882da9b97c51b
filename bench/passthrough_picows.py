"""The floor: bench/passthrough.py's work on picows callbacks under uvloop.

The same work as the baseline (one JSON parse per message each way, audio forwarded untouched, one
Gemini Live connection per session opened on the first audio with the same setup message), with no
coroutine or task per frame: every frame is handled in picows's ``on_ws_frame`` and answered with a
synchronous ``transport.send``. The only task is the one that dials the upstream, once per session.
What livegate costs beyond this is the price of the translation and of the I/O stack it runs on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
from typing import Any

import orjson
import uvloop
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_connect,
    ws_create_server,
)

from bench.passthrough import STUDIO_PATH
from bench.wsframes import Reassembly, answer_close

AUDIO_HEAD = b'{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=24000","data":"'
AUDIO_TAIL = b'"}}}'


class Upstream(WSListener):
    """The Gemini Live side of one session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.reassembly = Reassembly()

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, self.session.setup())

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            answer_close(transport, frame)
            return
        if frame.msg_type is WSMsgType.PING or frame.msg_type is WSMsgType.PONG:
            return  # picows answers pings itself
        message = self.reassembly.feed(frame)
        if message is not None:
            self.session.from_upstream(transport, orjson.loads(message[1]))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.session.upstream = None


class Session(WSListener):
    """The OpenAI Realtime side of one session, and the session itself."""

    def __init__(self, upstream_url: str) -> None:
        self.upstream_url = upstream_url
        self.reassembly = Reassembly()
        self.ids = itertools.count()
        self.client: WSTransport | None = None
        self.instructions = ""
        self.upstream: WSTransport | None = None
        self.dialling: asyncio.Task[None] | None = None
        self.ready = False
        self.pending: list[bytes] = []  # audio for the upstream before its setupComplete
        self.response = 0

    def event(self, kind: str, **fields: object) -> bytes:
        return orjson.dumps({"type": kind, "event_id": f"event_{next(self.ids)}", **fields})

    def setup(self) -> bytes:
        setup: dict[str, Any] = {"model": "models/gemini-3.8-live", "generationConfig": {"responseModalities": ["AUDIO"]}}
        if self.instructions:
            setup["systemInstruction"] = {"parts": [{"text": self.instructions}]}
        return orjson.dumps({"setup": setup})

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.client = transport
        transport.send(WSMsgType.TEXT, self.event("session.created", session={"type": "realtime"}))

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            answer_close(transport, frame)
            return
        if frame.msg_type is WSMsgType.PING or frame.msg_type is WSMsgType.PONG:
            return
        message = self.reassembly.feed(frame)
        if message is None or message[0] is not WSMsgType.TEXT:
            return
        data = orjson.loads(message[1])
        kind = data.get("type")
        if kind == "session.update":
            self.instructions = data["session"].get("instructions") or self.instructions
            transport.send(WSMsgType.TEXT, self.event("session.updated", session={"type": "realtime"}))
        elif kind == "input_audio_buffer.append":
            audio = AUDIO_HEAD + data["audio"].encode() + AUDIO_TAIL
            if self.ready and self.upstream is not None:
                self.upstream.send(WSMsgType.TEXT, audio)
                return
            self.pending.append(audio)
            if self.dialling is None:
                self.dialling = asyncio.ensure_future(self._dial())

    async def _dial(self) -> None:
        try:
            upstream, _ = await ws_connect(lambda: Upstream(self), self.upstream_url + STUDIO_PATH, extra_headers={"x-goog-api-key": "bench"})
        except Exception:  # refused, timed out, a failed handshake: the session cannot go on
            if self.client is not None:
                self.client.send_close(WSCloseCode.INTERNAL_ERROR, b"upstream unreachable")
                self.client.disconnect()
            return
        if self.client is None or self.client.is_disconnected:
            upstream.send_close(WSCloseCode.OK)
            upstream.disconnect()
            return
        self.upstream = upstream

    def from_upstream(self, upstream: WSTransport, data: dict[str, Any]) -> None:
        client = self.client
        if client is None:
            return
        if "setupComplete" in data:
            self.upstream = upstream
            self.ready = True
            for audio in self.pending:
                upstream.send(WSMsgType.TEXT, audio)
            self.pending.clear()
            return
        content = data.get("serverContent") or {}
        for part in (content.get("modelTurn") or {}).get("parts") or ():
            audio = part.get("inlineData")
            if audio:
                delta = self.event(
                    "response.output_audio.delta", response_id=f"resp_{self.response}", item_id="item", output_index=0, content_index=0, delta=audio["data"]
                )
                client.send(WSMsgType.TEXT, delta)
        if content.get("turnComplete"):
            client.send(WSMsgType.TEXT, self.event("response.done", response={"id": f"resp_{self.response}", "status": "completed"}))
            self.response += 1

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.client = None
        if self.upstream is not None:
            self.upstream.send_close(WSCloseCode.OK)
            self.upstream.disconnect()
        elif self.dialling is not None:
            self.dialling.cancel()


async def serve(port: int, upstream: str) -> None:
    def route(request: WSUpgradeRequest) -> Session | None:
        return Session(upstream) if request.path.partition(b"?")[0] == b"/v1/realtime" else None

    # A backlog for a few hundred clients dialling at once (asyncio's default is 100).
    server = await ws_create_server(route, "127.0.0.1", port, max_frame_size=16 << 20, backlog=1024)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the benchmark's floor: a picows pass-through")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the emulator's ws:// URL")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.port, args.upstream))
