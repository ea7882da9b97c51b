"""The load generator: N OpenAI Realtime clients, each streaming 20 ms frames of 24 kHz PCM16 in real
time (a short spoken phrase, then silence, over and over) and receiving the audio replies that
Gemini's voice activity detection triggers.

It is built to cost little, so that at 300 sessions it is not what the measurement runs into. The
clients are picows connections. One timer sends for all of them: every millisecond it writes the next
frame of a twentieth of the sessions, so each session still sends every 20 ms, in twenty phases as
independent clients would, not all in one burst. A frame is a cycle's append event serialised, framed
and masked once (RFC 6455 §5.3) before the run: sending it is one write to the socket. The readers
look only at the start of each text message, where livegate, the pass-throughs and LiteLLM put the
event's type. How late the timer fires is recorded, as the generator's own lateness, and how busy
this process kept its core, both after the warm-up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.wsframes import answer_close, client_frame
from livegate.emulator import voice

FRAME_S = 0.02
PHASES = 20  # the timer fires every FRAME_S / PHASES and sends for one phase's sessions
RATE = 24000
PHRASE = "hello there"
CYCLE_S = 3.0  # the phrase, then silence, repeated
CONNECT_S = 30.0  # to connect and have the session updated

TYPE = b'{"type":'
AUDIO_DELTA = b'"response.output_audio.delta"'
RESPONSE_DONE = b'"response.done"'
ERROR = b'"error"'
HEAD = len(TYPE) + 1 + len(AUDIO_DELTA)  # the longest type read, after '{"type":' and perhaps a space


def event_type(head: bytes) -> bytes:
    """The quoted type at the start of a server event, as orjson (no space) or json.dumps (a space) write it."""
    if not head.startswith(TYPE):
        return b""
    return head[len(TYPE) + 1 :] if head[len(TYPE) : len(TYPE) + 1] == b" " else head[len(TYPE) :]


def cycle_frames() -> list[bytes]:
    """One cycle of append events, serialised once."""
    speech = voice.speak(PHRASE, RATE)
    total = int(CYCLE_S * RATE) * 2
    pcm = speech + bytes(total - len(speech))
    step = int(RATE * FRAME_S) * 2
    return [
        orjson.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i : i + step]).decode()})
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
    tick_lateness: list[float]  # how late the shared timer fired after the warm-up, seconds
    started: float
    ended: float
    cpu_percent: float = 0.0  # of one core, this whole process, from the warm-up's end to the last frame


@dataclass
class _Window:
    """The part of the stream after the warm-up: what is measured."""

    lateness: list[float] = field(default_factory=list)
    cpu: float = 0.0
    wall: float = 0.0


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


class _Client(WSListener):
    """One session's reader. Until it is set up it hands whole messages to ``handshake``."""

    def __init__(self, stats: SessionStats) -> None:
        self.stats = stats
        self.handshake: asyncio.Queue[bytes] = asyncio.Queue()
        self.streaming = False
        self.waiting = True  # for the next response's first audio

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT:  # a message's first frame: the one that holds its type
            now = time.time()
            event = event_type(frame.get_payload_as_memoryview()[:HEAD].tobytes())
            if not self.streaming:
                self.handshake.put_nowait(event)
            elif event.startswith(AUDIO_DELTA):
                if self.waiting:
                    self.stats.first_audio.append(now)
                    self.waiting = False
            elif event.startswith(RESPONSE_DONE):
                self.waiting = True
            elif event.startswith(ERROR):
                self.stats.errors += 1
        elif kind is WSMsgType.CLOSE:
            answer_close(transport, frame)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.stats.connected = False


class Load:
    def __init__(self, url: str, key: str, label: str) -> None:
        self.url = url
        self.key = key
        self.label = label
        self.frames = [client_frame(f) for f in cycle_frames()]

    async def run(self, sessions: int, duration: float, warmup: float = 1.0, connected: Callable[[], None] | None = None) -> LoadResult:
        """Stream for ``duration`` seconds; lateness and CPU count only after ``warmup`` (while the
        servers open their upstreams, the harness is busy with 300 new connections, not with frames).
        ``connected`` is called once every session is open and updated, before the first frame."""
        stats = [SessionStats(f"bench {self.label} {i}") for i in range(sessions)]
        transports = await asyncio.gather(*(self._connect(s) for s in stats))
        if connected is not None:
            connected()
        window = _Window()
        started = time.time()
        try:
            await self._stream(transports, stats, duration, warmup, window)
            await asyncio.sleep(0.5)  # the last replies
        finally:
            for transport in transports:
                transport.send_close(WSCloseCode.OK)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await asyncio.gather(*(t.wait_disconnected() for t in transports), return_exceptions=True)
            for transport in transports:
                transport.disconnect()
        busy = round(window.cpu / window.wall * 100, 1) if window.wall else 0.0
        return LoadResult(stats, window.lateness, started, time.time(), busy)

    async def _connect(self, stats: SessionStats) -> WSTransport:
        async with asyncio.timeout(CONNECT_S):
            return await self._open(stats)

    async def _open(self, stats: SessionStats) -> WSTransport:
        transport, client = await ws_connect(
            lambda: _Client(stats), self.url, extra_headers={"Authorization": f"Bearer {self.key}"}, max_frame_size=1 << 30,
            websocket_handshake_timeout=30,
        )  # fmt: skip
        assert isinstance(client, _Client)
        while not (await client.handshake.get()).startswith(b'"session.created"'):
            pass
        update = {"type": "realtime", "instructions": stats.marker, "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}}}
        transport.send(WSMsgType.TEXT, orjson.dumps({"type": "session.update", "session": update}))
        while not (await client.handshake.get()).startswith(b'"session.updated"'):
            pass
        client.streaming = True
        stats.connected = True
        return transport

    async def _stream(self, transports: list[WSTransport], stats: list[SessionStats], duration: float, warmup: float, window: _Window) -> None:
        loop = asyncio.get_running_loop()
        frames = self.frames
        count = len(frames)
        ticks = int(duration / FRAME_S)
        step = FRAME_S / PHASES
        # (socket, timestamps, offset in the cycle) per session, by phase; the offsets spread the turns.
        phases: list[list[tuple[asyncio.Transport, list[float], int]]] = [[] for _ in range(PHASES)]
        for i, (transport, session) in enumerate(zip(transports, stats, strict=True)):
            phases[i % PHASES].append((transport.underlying_transport, session.sent, (i * 7) % count))
        done = loop.create_future()
        # libuv's timers and loop clock count whole milliseconds: the schedule is kept, and lateness
        # measured, on the precise monotonic clock, and each timer is set for what is left.
        start = time.monotonic() + step
        measured = int(warmup / step)  # the first fire after the warm-up
        lateness = window.lateness

        def fire(n: int) -> None:
            if n >= measured:
                lateness.append(max(0.0, time.monotonic() - (start + n * step)))
                if n == measured:
                    window.cpu, window.wall = -_cpu(), -time.monotonic()
            tick = n // PHASES
            try:
                for sock, sent, offset in phases[n % PHASES]:
                    if not sock.is_closing():  # a server that hung up is counted by its missing frames
                        sent.append(time.time())
                        sock.write(frames[(tick + offset) % count])
            except Exception as exc:
                done.set_exception(exc)
                return
            n += 1
            if n >= ticks * PHASES:
                window.cpu += _cpu()
                window.wall += time.monotonic()
                done.set_result(None)
            else:
                loop.call_later(max(0.0, start + n * step - time.monotonic()), fire, n)

        loop.call_later(step, fire, 0)
        await done
