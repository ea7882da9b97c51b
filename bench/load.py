"""The load generator: N OpenAI Realtime clients, each streaming 20 ms frames of 24 kHz PCM16 in real
time (a short spoken phrase, then silence, over and over) and receiving the audio replies that
Gemini's voice activity detection triggers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from dataclasses import dataclass, field

import aiohttp
import orjson

from livegate.emulator import voice

FRAME_S = 0.02
RATE = 24000
PHRASE = "hello there"
CYCLE_S = 3.0  # the phrase, then silence, repeated


def cycle_frames() -> list[str]:
    """One cycle of append events, serialised once: sending a frame costs only the socket write."""
    speech = voice.speak(PHRASE, RATE)
    total = int(CYCLE_S * RATE) * 2
    pcm = speech + bytes(total - len(speech))
    step = int(RATE * FRAME_S) * 2
    return [
        orjson.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i : i + step]).decode()}).decode()
        for i in range(0, len(pcm), step)
    ]


@dataclass
class SessionStats:
    marker: str
    sent: list[float] = field(default_factory=list)  # when each audio frame was sent
    first_audio: list[float] = field(default_factory=list)  # when each response's first audio delta arrived
    errors: int = 0
    connected: bool = False


@dataclass
class LoadResult:
    sessions: list[SessionStats]
    tick_lateness: list[float]  # how late the shared ticker ran, seconds
    started: float
    ended: float


class Load:
    def __init__(self, url: str, key: str, label: str) -> None:
        self.url = url
        self.key = key
        self.label = label
        self.frames = cycle_frames()

    async def run(self, sessions: int, duration: float) -> LoadResult:
        # No connection limit: aiohttp's default of 100 would queue the sessions past it.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            stats = [SessionStats(f"bench {self.label} {i}") for i in range(sessions)]
            sockets = await asyncio.gather(*(self._connect(http, s) for s in stats))
            readers = [asyncio.create_task(self._read(ws, s)) for ws, s in zip(sockets, stats, strict=True)]
            lateness: list[float] = []
            started = time.time()
            try:
                await self._stream(sockets, stats, duration, lateness)
                await asyncio.sleep(0.5)  # the last replies
            finally:
                for reader in readers:
                    reader.cancel()
                for ws in sockets:
                    await ws.close()
                for reader in readers:
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
            return LoadResult(stats, lateness, started, time.time())

    async def _connect(self, http: aiohttp.ClientSession, stats: SessionStats) -> aiohttp.ClientWebSocketResponse:
        ws = await http.ws_connect(self.url, headers={"Authorization": f"Bearer {self.key}"}, compress=0, max_msg_size=0)
        await ws.receive()  # session.created
        update = {"type": "realtime", "instructions": stats.marker, "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}}}
        await ws.send_str(orjson.dumps({"type": "session.update", "session": update}).decode())
        await ws.receive()  # session.updated
        stats.connected = True
        return ws

    async def _stream(self, sockets: list[aiohttp.ClientWebSocketResponse], stats: list[SessionStats], duration: float, lateness: list[float]) -> None:
        loop = asyncio.get_running_loop()
        frames = self.frames
        start = loop.time()
        ticks = int(duration / FRAME_S)
        offsets = [(i * 7) % len(frames) for i in range(len(sockets))]  # turns spread over the cycle
        for tick in range(ticks):
            target = start + tick * FRAME_S
            delay = target - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lateness.append(max(0.0, loop.time() - target))
            for ws, session, offset in zip(sockets, stats, offsets, strict=True):
                session.sent.append(time.time())
                await ws.send_str(frames[(tick + offset) % len(frames)])

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, stats: SessionStats) -> None:
        waiting = True
        async for message in ws:
            now = time.time()
            data = message.data
            if not isinstance(data, str):
                continue
            # Server events start with their type (both livegate and the baseline write it first).
            if data.startswith('{"type":"response.output_audio.delta"'):
                if waiting:
                    stats.first_audio.append(now)
                    waiting = False
            elif data.startswith('{"type":"response.done"'):
                waiting = True
            elif data.startswith('{"type":"error"'):
                stats.errors += 1
