"""WebRTC calls on aiortc (issue 16): the shell around realtime.call.

OpenAI's WebRTC transport (openai-realtime.md §8): the client's SDP offer is answered with aiortc's,
events travel on the ``oai-events`` data channel, the microphone arrives as Opus on an audio track
and the reply leaves as Opus on livegate's track. aiortc decodes and encodes Opus (libopus, through
PyAV); PyAV's resampler (libswresample) takes the microphone's 48 kHz to the 24 kHz the session reads.

The pump drives the Gemini side exactly as for a WebSocket; ``CallClient`` stands where the client's
socket stands, writing each event to the data channel and to every sideband socket joined to the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from picows import WSCloseCode, WSMsgType, WSTransport

from livegate.gateway.pump import Pump
from livegate.realtime.call import FRAME_BYTES, FRAME_MS, Call

__all__ = ["CHANNEL", "CallClient", "WebRtcCall"]

log = logging.getLogger("livegate.session")

CHANNEL = "oai-events"  # the data channel OpenAI's clients open (openai-realtime.md §8)
OUTPUT_RATE = 24000
FRAME_SAMPLES = OUTPUT_RATE * FRAME_MS // 1000
SILENCE = bytes(FRAME_BYTES)
PEER_SILENT_S = 5.0  # a call whose microphone track has sent nothing for this long is over
CONNECT_S = 15.0  # how long ICE and DTLS may take before the first microphone frame (TURN included)
HANG_UP_WAIT_S = 0.2  # after a final error event, the moment the channel has to carry it


class CallClient:
    """The pump's client socket for a call: the data channel, and the sideband sockets joined to it."""

    def __init__(self, hang_up: Callable[[], None]) -> None:
        self.hang_up = hang_up
        self.channel: Any = None  # aiortc's RTCDataChannel once the client has opened it
        self.waiting: list[str] = []  # events made before the channel opened: session.created first
        self.sidebands: set[WSTransport] = set()
        self.underlying_transport = self  # reading pauses do not apply: the channel is SCTP's to pace

    def attach(self, channel: Any) -> None:
        self.channel = channel
        for text in self.waiting:
            channel.send(text)
        self.waiting.clear()

    def send(self, msg_type: WSMsgType, message: bytes) -> None:
        text = message.decode()
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            channel.send(text)
        elif channel is None:
            self.waiting.append(text)
        for sideband in self.sidebands:
            sideband.send(WSMsgType.TEXT, message)

    def send_close(self, close_code: WSCloseCode = WSCloseCode.OK, close_message: bytes | None = None) -> None:
        asyncio.get_running_loop().call_later(HANG_UP_WAIT_S, self.hang_up)

    def disconnect(self, graceful: bool = True) -> None:
        self.hang_up()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Playout(MediaStreamTrack):
    """livegate's audio track: the call's playout, 20 ms a frame, paced in real time (aiortc's
    sender takes frames as fast as ``recv`` gives them)."""

    kind = "audio"

    def __init__(self, core: Call, pump: Pump) -> None:
        super().__init__()
        self.core = core
        self.pump = pump
        self._frames = 0
        self._start: float | None = None
        self._time_base = fractions.Fraction(1, OUTPUT_RATE)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self._frames * FRAME_MS / 1000 - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        core = self.core
        pcm = core.pull() or SILENCE
        if core.pending:
            self.pump.drain()
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(pcm)
        frame.sample_rate = OUTPUT_RATE
        frame.pts = self._frames * FRAME_SAMPLES
        frame.time_base = self._time_base
        self._frames += 1
        return frame


class WebRtcCall:
    """One call: its peer connection, its tracks, its sideband sockets, and the pump."""

    def __init__(self, call_id: str, core: Call, pump: Pump, *, peer_silent_s: float = PEER_SILENT_S) -> None:
        self.call_id = call_id
        self.core = core
        self.pump = pump
        self.peer_silent_s = peer_silent_s
        self.client = CallClient(self.hang_up)
        self.pc = RTCPeerConnection()
        self._tasks: set[asyncio.Task[None]] = set()
        self._heard = 0.0
        self._over = False

    async def answer(self, offer: str) -> str:
        """The SDP answer to ``offer``; ValueError when the offer cannot be taken."""
        pc = self.pc
        pc.on("datachannel", self._channel)
        pc.on("track", self._track)
        pc.on("connectionstatechange", self._state)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        if not any(t.kind == "audio" for t in pc.getTransceivers()):
            raise ValueError("the offer has no audio")
        await pc.setLocalDescription(await pc.createAnswer())
        self._heard = time.monotonic() + CONNECT_S - self.peer_silent_s
        self._spawn(self._watch())
        self.pump.client_connected(self.client)  # type: ignore[arg-type]  # a socket as the pump uses one
        return str(pc.localDescription.sdp)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _channel(self, channel: Any) -> None:
        if channel.label != CHANNEL or self.client.channel is not None:
            return
        pump = self.pump

        def message(data: str | bytes) -> None:
            pump.client_message(data.encode() if isinstance(data, str) else data)

        channel.on("message", message)
        if channel.readyState == "open":
            self.client.attach(channel)
        else:
            channel.on("open", lambda: self.client.attach(channel))

    def _track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio":
            return
        self.pc.addTrack(Playout(self.core, self.pump))
        self._spawn(self._listen(track))

    async def _listen(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=OUTPUT_RATE)
        core, pump = self.core, self.pump
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self._heard = time.monotonic()
            if not isinstance(frame, av.AudioFrame):
                continue
            for out in resampler.resample(frame):
                pcm = bytes(out.planes[0])[: out.samples * 2]
                pump.deliver(core.receive_microphone(pcm, time.time()))

    def _state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self.hang_up()

    async def _watch(self) -> None:
        while not self._over:
            await asyncio.sleep(1.0)
            if time.monotonic() - self._heard > self.peer_silent_s:
                log.info("call %s: nothing from the peer for %.0f s: ended", self.call_id, self.peer_silent_s)
                self.hang_up()

    def join(self, sideband: WSTransport) -> None:
        self.client.sidebands.add(sideband)

    def leave(self, sideband: WSTransport) -> None:
        self.client.sidebands.discard(sideband)

    def hang_up(self) -> None:
        """The call ends: the peer connection closes, sideband sockets close with 1000, and the pump
        settles its usage."""
        if self._over:
            return
        self._over = True
        for sideband in list(self.client.sidebands):
            sideband.send_close(WSCloseCode.OK, b"call ended")
            sideband.disconnect()
        self.client.sidebands.clear()
        for task in list(self._tasks):
            task.cancel()
        asyncio.get_running_loop().create_task(self._close())
        self.pump.client_disconnected()

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pc.close()
