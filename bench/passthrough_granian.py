"""bench/passthrough.py with its server side on granian (RSGI), for the record of the I/O stacks.

The same work, the same shape (a coroutine per direction per session) and the same aiohttp client to
the upstream: only the client-facing WebSocket server differs, granian's Rust one, with one worker,
one runtime thread and uvloop. granian is not one of livegate's dependencies; ``python -m bench
--stacks`` measures this only where it is installed.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import aiohttp
from granian.rsgi import ProtocolClosed, WebsocketMessageType

from bench.passthrough import Relay

UPSTREAM = "BENCH_UPSTREAM"  # the emulator's ws:// URL, for the worker process granian starts


async def app(scope: Any, protocol: Any) -> None:
    if scope.proto != "ws" or scope.path != "/v1/realtime":
        protocol.response_empty(404, [])
        return
    client = await protocol.accept()
    relay = Relay(client.send_str, _http(), os.environ[UPSTREAM])
    try:
        await relay.start()
        while True:
            message = await client.receive()
            if message.kind == WebsocketMessageType.close:
                break
            if message.kind == WebsocketMessageType.string:
                await relay.receive(message.data)
    except ProtocolClosed:
        pass  # the client went away
    finally:
        await relay.close()
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
