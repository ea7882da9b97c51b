"""bench/passthrough.py with its server side on granian (RSGI), for the record of the I/O stacks.

The same work, the same shape (a coroutine per direction per session) and the same aiohttp client to
the upstream: only the client-facing WebSocket server differs, granian's Rust one, with one worker,
one runtime thread and uvloop. granian is not one of livegate's dependencies; ``python -m bench
--stacks`` measures this only where it is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
from typing import Any

import aiohttp
import orjson
from granian.rsgi import ProtocolClosed, WebsocketMessageType

from bench.passthrough import STUDIO_PATH

UPSTREAM = "BENCH_UPSTREAM"  # the emulator's ws:// URL, for the worker process granian starts


async def app(scope: Any, protocol: Any) -> None:
    if scope.proto != "ws" or scope.path != "/v1/realtime":
        protocol.response_empty(404, [])
        return
    client = await protocol.accept()
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

    http = _http()
    reader: asyncio.Task[None] | None = None
    try:
        while True:
            message = await client.receive()
            if message.kind == WebsocketMessageType.close:
                break
            if message.kind != WebsocketMessageType.string:
                continue
            data = orjson.loads(message.data)
            kind = data.get("type")
            if kind == "session.update":
                instructions = data["session"].get("instructions") or instructions
                await client.send_str(event("session.updated", session={"type": "realtime"}))
            elif kind == "input_audio_buffer.append":
                if upstream is None:
                    upstream = await http.ws_connect(os.environ[UPSTREAM] + STUDIO_PATH, headers={"x-goog-api-key": "bench"}, compress=0)
                    setup: dict[str, Any] = {"model": "models/gemini-3.8-live", "generationConfig": {"responseModalities": ["AUDIO"]}}
                    if instructions:
                        setup["systemInstruction"] = {"parts": [{"text": instructions}]}
                    await upstream.send_str(orjson.dumps({"setup": setup}).decode())
                    reader = asyncio.create_task(from_upstream(upstream))
                    await ready.wait()
                await upstream.send_str('{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=24000","data":"' + data["audio"] + '"}}}')
    except ProtocolClosed:
        pass  # the client went away
    finally:
        if upstream is not None:
            await upstream.close()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        protocol.close(None)


_session: aiohttp.ClientSession | None = None


def _http() -> aiohttp.ClientSession:
    global _session
    if _session is None:
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))  # not 100 upstreams at most
    return _session


if __name__ == "__main__":
    from granian import Granian

    parser = argparse.ArgumentParser(description="bench/passthrough.py's work served by granian (RSGI)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the emulator's ws:// URL")
    args = parser.parse_args()
    os.environ[UPSTREAM] = args.upstream
    server = Granian(
        "bench.passthrough_granian:app", address="127.0.0.1", port=args.port, interface="rsgi", workers=1,
        runtime_threads=1, loop="uvloop", websockets=True, log_enabled=False,
    )  # fmt: skip
    server.serve()
