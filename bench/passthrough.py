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

import aiohttp
import orjson
from aiohttp import WSMsgType, web

STUDIO_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


async def realtime(request: web.Request) -> web.WebSocketResponse:
    client = web.WebSocketResponse(compress=False, max_msg_size=16 << 20)
    await client.prepare(request)
    upstream_url: str = request.app["upstream"]
    http: aiohttp.ClientSession = request.app["http"]
    ids = itertools.count()

    def event(kind: str, **fields: object) -> str:
        return orjson.dumps({"type": kind, "event_id": f"event_{next(ids)}", **fields}).decode()

    await client.send_str(event("session.created", session={"type": "realtime"}))
    instructions = ""
    upstream: aiohttp.ClientWebSocketResponse | None = None
    ready = asyncio.Event()
    response = 0

    async def from_upstream(ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal response
        async for message in ws:
            data = orjson.loads(message.data)
            if "setupComplete" in data:
                ready.set()
                continue
            content = data.get("serverContent") or {}
            for part in (content.get("modelTurn") or {}).get("parts") or ():
                audio = part.get("inlineData")
                if audio:
                    await client.send_str(
                        event("response.output_audio.delta", response_id=f"resp_{response}", item_id="item", output_index=0, content_index=0, delta=audio["data"])
                    )
            if content.get("turnComplete"):
                await client.send_str(event("response.done", response={"id": f"resp_{response}", "status": "completed"}))
                response += 1

    reader: asyncio.Task[None] | None = None
    async for message in client:
        if message.type is not WSMsgType.TEXT:
            continue
        data = orjson.loads(message.data)
        kind = data.get("type")
        if kind == "session.update":
            instructions = data["session"].get("instructions") or instructions
            await client.send_str(event("session.updated", session={"type": "realtime"}))
        elif kind == "input_audio_buffer.append":
            if upstream is None:
                upstream = await http.ws_connect(upstream_url + STUDIO_PATH, headers={"x-goog-api-key": "bench"}, compress=0)
                setup = {"model": "models/gemini-3.8-live", "generationConfig": {"responseModalities": ["AUDIO"]}}
                if instructions:
                    setup["systemInstruction"] = {"parts": [{"text": instructions}]}
                await upstream.send_str(orjson.dumps({"setup": setup}).decode())
                reader = asyncio.create_task(from_upstream(upstream))
                await ready.wait()
            await upstream.send_str('{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=24000","data":"' + data["audio"] + '"}}}')
    if upstream is not None:
        await upstream.close()
    if reader is not None:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
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
