"""The baseline: the least an OpenAI Realtime front can do in front of Gemini Live.

One JSON parse per message each way, audio sent as it came (24 kHz, labelled so, no resampling, no
speech events), only the events the load generator reads. Whatever livegate costs beyond this is the
price of doing the translation properly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import WSMsgType, web

STUDIO_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


class Relay:
    """One session's pass-through, whatever serves the client's socket: ``send`` writes to the client,
    ``receive`` takes each of its text messages, ``close`` ends the session's upstream."""

    def __init__(self, send: Callable[[str], Awaitable[None]], http: aiohttp.ClientSession, upstream_url: str) -> None:
        self.send = send
        self.http = http
        self.upstream_url = upstream_url
        self.ids = itertools.count()
        self.instructions = ""
        self.upstream: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.response = 0

    def event(self, kind: str, **fields: object) -> str:
        return orjson.dumps({"type": kind, "event_id": f"event_{next(self.ids)}", **fields}).decode()

    async def start(self) -> None:
        await self.send(self.event("session.created", session={"type": "realtime"}))

    async def receive(self, text: str | bytes) -> None:
        data = orjson.loads(text)
        kind = data.get("type")
        if kind == "session.update":
            self.instructions = data["session"].get("instructions") or self.instructions
            await self.send(self.event("session.updated", session={"type": "realtime"}))
        elif kind == "input_audio_buffer.append":
            if self.upstream is None:
                self.upstream = await self.http.ws_connect(self.upstream_url + STUDIO_PATH, headers={"x-goog-api-key": "bench"}, compress=0)
                setup: dict[str, Any] = {"model": "models/gemini-3.8-live", "generationConfig": {"responseModalities": ["AUDIO"]}}
                if self.instructions:
                    setup["systemInstruction"] = {"parts": [{"text": self.instructions}]}
                await self.upstream.send_str(orjson.dumps({"setup": setup}).decode())
                self.reader = asyncio.create_task(self._from_upstream(self.upstream))
                await self.ready.wait()
            await self.upstream.send_str('{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=24000","data":"' + data["audio"] + '"}}}')

    async def _from_upstream(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            data = orjson.loads(message.data)
            if "setupComplete" in data:
                self.ready.set()
                continue
            content = data.get("serverContent") or {}
            for part in (content.get("modelTurn") or {}).get("parts") or ():
                audio = part.get("inlineData")
                if audio:
                    delta = audio["data"]
                    await self.send(self.event("response.output_audio.delta", response_id=f"resp_{self.response}", item_id="item", output_index=0, content_index=0, delta=delta))
            if content.get("turnComplete"):
                await self.send(self.event("response.done", response={"id": f"resp_{self.response}", "status": "completed"}))
                self.response += 1

    async def close(self) -> None:
        if self.upstream is not None:
            await self.upstream.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader


async def realtime(request: web.Request) -> web.WebSocketResponse:
    client = web.WebSocketResponse(compress=False, max_msg_size=16 << 20)
    await client.prepare(request)
    relay = Relay(client.send_str, request.app["http"], request.app["upstream"])
    await relay.start()
    try:
        async for message in client:
            if message.type is WSMsgType.TEXT:
                await relay.receive(message.data)
    finally:
        await relay.close()
    return client


async def serve(port: int, upstream: str) -> None:
    app = web.Application()
    app["upstream"] = upstream
    # No connection limit: aiohttp's default of 100 would hold every session past the hundredth at its dial.
    app["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    app.router.add_get("/v1/realtime", realtime)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the benchmark's baseline pass-through")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the emulator's ws:// URL")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop instead of asyncio's own loop")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        if args.uvloop:
            import uvloop

            uvloop.run(serve(args.port, args.upstream))
        else:
            asyncio.run(serve(args.port, args.upstream))
