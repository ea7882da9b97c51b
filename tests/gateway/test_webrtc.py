"""WebRTC calls over real sockets (issue 16): an aiortc peer standing in for a browser, the openai SDK
posting its offer, Opus both ways on 127.0.0.1's interfaces, events on ``oai-events``, and a sideband
WebSocket (openai-realtime.md §8)."""

from __future__ import annotations

import asyncio
import dataclasses
import fractions
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import av
import numpy as np
import openai
import pytest
import websockets
import yaml
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from livegate.config import IceSettings, embedded_config, load_config
from livegate.emulator import voice
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.errors import ConfigError
from livegate.gateway.app import Gateway
from livegate.keys import create_key_record, new_key

MASTER = "sk-livegate-master"
RATE = 24000
FRAME = RATE // 50


class Microphone(MediaStreamTrack):
    """The peer's microphone: what is queued with ``say``, silence otherwise, in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.queued = bytearray()
        self.sent = 0
        self.start: float | None = None

    def say(self, pcm: bytes) -> None:
        self.queued += pcm

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.sent * 0.02 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk, self.queued[: 2 * FRAME] = bytes(self.queued[: 2 * FRAME]).ljust(2 * FRAME, b"\0"), b""
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(chunk)
        frame.sample_rate, frame.pts, frame.time_base = RATE, self.sent * FRAME, fractions.Fraction(1, RATE)
        self.sent += 1
        return frame


class Peer:
    """A browser's side of a call, as OpenAI's WebRTC samples build it."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.microphone = Microphone()
        self.pc.addTrack(self.microphone)
        self.channel = self.pc.createDataChannel("oai-events")
        self.events: list[dict[str, Any]] = []
        self.heard = bytearray()  # the remote track, as 24 kHz PCM16 mono
        self._changed = asyncio.Event()
        self.channel.on("message", self._message)
        self.pc.on("track", self._track)
        self._reader: asyncio.Task[None] | None = None

    def _message(self, text: str | bytes) -> None:
        self.events.append(json.loads(text))
        self._changed.set()

    def _track(self, track: MediaStreamTrack) -> None:
        self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)
            for out in resampler.resample(frame):
                self.heard += bytes(out.planes[0])[: out.samples * 2]

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def answered(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    def send(self, event: dict[str, Any]) -> None:
        self.channel.send(json.dumps(event))

    async def until(self, kind: str, count: int = 1, within: float = 15.0, **fields: Any) -> dict[str, Any]:
        """The ``count``-th event of ``kind`` (with ``fields``), when it has come."""

        def found() -> list[dict[str, Any]]:
            return [e for e in self.events if e["type"] == kind and all(e.get(k) == v for k, v in fields.items())]

        async with asyncio.timeout(within):
            while len(found()) < count:
                self._changed.clear()
                await self._changed.wait()
        return found()[count - 1]

    def kinds(self) -> list[str]:
        return [e["type"] for e in self.events]

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()


def loud(pcm: bytes) -> bool:
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    return bool(samples.size) and float(np.sqrt(np.mean(samples**2))) > 300


@pytest.fixture
async def stack() -> AsyncIterator[tuple[EmulatorServer, Gateway]]:
    config = embedded_config("")
    async with EmulatorServer(EmulatorConfig(audio_pace=1.0, record_audio=True)) as emulator:
        config = embedded_config(emulator.url)
        async with Gateway(config, port=0, master_key=MASTER) as gateway:
            yield emulator, gateway


def client(gateway: Gateway, key: str = MASTER) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=key, base_url=f"{gateway.url}/v1", websocket_base_url=gateway.ws_url)


async def open_call(gateway: Gateway, peer: Peer, model: str = "gpt-realtime", **create: Any) -> str:
    """The Agents SDK's and the samples' flow: an ephemeral key, then the offer; the call id from Location."""
    async with client(gateway) as server:
        secret = await server.realtime.client_secrets.create(session={"type": "realtime", "model": model})
    async with client(gateway, secret.value) as browser:
        raw = await browser.realtime.calls.with_raw_response.create(sdp=await peer.offer(), **create)
    assert raw.status_code == 201
    assert raw.headers["content-type"].startswith("application/sdp")
    location = raw.headers["location"]
    assert location.startswith("/v1/realtime/calls/rtc_")
    await peer.answered(raw.content.decode())
    return location.rsplit("/", 1)[1]


# The default model first, then every family the embedded emulator (AI Studio) serves.
FAMILIES = ["gpt-realtime", "gemini-3.8-live-extended-thinking", "gemini-3.1-flash-live-preview", "gemini-2.5-flash-native-audio-preview-12-2025"]


@pytest.mark.parametrize("model", FAMILIES)
async def test_a_call_gets_session_created_and_a_typed_turn_comes_back_as_audio_on_the_track(stack: tuple[EmulatorServer, Gateway], model: str) -> None:
    _, gateway = stack
    peer = Peer()
    try:
        await open_call(gateway, peer, model)
        created = await peer.until("session.created")
        assert peer.events[0] is created and created["session"]["type"] == "realtime"
        peer.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello there"}]}})
        peer.send({"type": "response.create"})
        done = await peer.until("response.done")
        assert done["response"]["status"] == "completed"
        transcript = done["response"]["output"][0]["content"][0]["transcript"]
        assert transcript == "You said: hello there"
        await peer.until("output_audio_buffer.stopped", within=10)
        await asyncio.sleep(0.3)  # the last frames' way over the network and through the jitter buffer
        kinds = peer.kinds()
        assert "response.output_audio.delta" not in kinds
        assert kinds.index("output_audio_buffer.started") < kinds.index("output_audio_buffer.stopped")
        assert "response.output_audio_transcript.delta" in kinds
        assert loud(bytes(peer.heard))
        assert voice.hear(bytes(peer.heard), RATE) == "you said: hello there"
    finally:
        await peer.close()


async def test_speech_on_the_microphone_is_detected_and_answered(stack: tuple[EmulatorServer, Gateway]) -> None:
    _, gateway = stack
    peer = Peer()
    try:
        await open_call(gateway, peer)
        await peer.until("session.created")
        peer.microphone.say(bytes(RATE) + voice.speak("what time is it", RATE) + bytes(2 * RATE))
        await peer.until("input_audio_buffer.speech_started")
        await peer.until("input_audio_buffer.speech_stopped")
        done = await peer.until("response.done", within=20)
        assert done["response"]["output"][0]["content"][0]["transcript"] == "You said: what time is it"
        await peer.until("output_audio_buffer.stopped", within=10)
        await asyncio.sleep(0.3)
        assert voice.hear(bytes(peer.heard), RATE) == "you said: what time is it"
    finally:
        await peer.close()


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


async def test_a_sideband_socket_sees_the_call_and_answers_its_tool_call(stack: tuple[EmulatorServer, Gateway]) -> None:
    """The server side of OpenAI's WebRTC pattern: the browser talks, the server joins with the call id
    and a real key, declares the tools and answers them; the browser hears the result."""
    _, gateway = stack
    peer = Peer()
    try:
        call_id = await open_call(gateway, peer)
        await peer.until("session.created")
        async with client(gateway) as server, server.realtime.connect(call_id=call_id) as sideband:
            await sideband.session.update(session={"type": "realtime", "tools": [WEATHER], "tool_choice": "auto"})
            async with asyncio.timeout(10):
                async for event in sideband:
                    if event.type == "session.updated":
                        assert [t.name for t in event.session.tools or []] == ["get_weather"]
                        break
            peer.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "what is the weather? get_weather city=Paris"}]}})
            peer.send({"type": "response.create"})
            async with asyncio.timeout(15):
                async for event in sideband:
                    if event.type == "response.done":
                        call = event.response.output[-1]
                        assert call.type == "function_call" and call.name == "get_weather"
                        assert json.loads(call.arguments or "{}") == {"city": "Paris"}
                        break
            await sideband.conversation.item.create(item={"type": "function_call_output", "call_id": call.call_id or "", "output": '{"temp_c": 21}'})
            await sideband.response.create()
            answer = await peer.until("response.done", count=2, within=15)
            assert answer["response"]["output"][0]["content"][0]["transcript"] == 'Here is what I found: get_weather returned {"temp_c":21}.'
            await peer.until("output_audio_buffer.stopped", response_id=answer["response"]["id"])  # it played on the browser's track
        assert call_id in gateway._calls  # the sideband left; the call goes on
    finally:
        await peer.close()


async def scrape(gateway: Gateway) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{gateway.url}/metrics") as response:
        return await response.text()


async def until_ended(gateway: Gateway, call_id: str, within: float) -> float:
    started = time.monotonic()
    async with asyncio.timeout(within):
        while call_id in gateway._calls or gateway._pumps:  # noqa: ASYNC110 (the gateway's state, which has no event)
            await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_hangup_ends_the_call_its_sidebands_and_bills_it(stack: tuple[EmulatorServer, Gateway]) -> None:
    _, gateway = stack
    peer = Peer()
    try:
        call_id = await open_call(gateway, peer)
        await peer.until("session.created")
        peer.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})
        peer.send({"type": "response.create"})
        await peer.until("response.done")
        assert 'livegate_transport_sessions_open{transport="webrtc"} 1.0' in await scrape(gateway)
        async with client(gateway) as server, server.realtime.connect(call_id=call_id) as sideband:
            async with client(gateway, "sk-not-a-key") as stranger:
                with pytest.raises(openai.AuthenticationError):
                    await stranger.realtime.calls.hangup(call_id)
            async with client(gateway) as server2:
                with pytest.raises(openai.NotFoundError):
                    await server2.realtime.calls.hangup("rtc_unknown")
                await server2.realtime.calls.hangup(call_id)
            await until_ended(gateway, call_id, 3)
            async with asyncio.timeout(3):  # the sideband is closed with the call: its events end
                async for _ in sideband:
                    pass
        metrics = await scrape(gateway)
        assert 'livegate_transport_sessions_open{transport="webrtc"} 0.0' in metrics
        assert 'livegate_transport_sessions_total{transport="webrtc"} 1.0' in metrics
        assert gateway.accounts is not None
        sessions = await gateway.accounts.store.report_sessions()
        assert sessions[0]["ended_at"] is not None and sessions[0]["responses"] == 1 and sessions[0]["output_tokens"] > 0
    finally:
        await peer.close()


async def test_a_call_whose_peer_goes_away_is_ended_within_seconds(stack: tuple[EmulatorServer, Gateway]) -> None:
    _, gateway = stack
    peer = Peer()
    call_id = await open_call(gateway, peer)
    await peer.until("session.created")
    await asyncio.sleep(1)  # the microphone has been heard: the call is up
    peer.microphone.stop()  # the network goes: nothing more arrives, and nothing says goodbye
    took = await until_ended(gateway, call_id, 10)
    assert took < 8
    await peer.close()


def candidates(sdp: str) -> list[tuple[str, int]]:
    return [(line.split()[4], int(line.split()[5])) for line in sdp.splitlines() if line.startswith("a=candidate:")]


async def test_ice_host_candidates_take_the_configured_addresses_and_ports(tmp_path: Any) -> None:
    """For NAT and containers: only the configured UDP ports and addresses; the call works on them."""
    async with EmulatorServer(EmulatorConfig()) as emulator:
        config = dataclasses.replace(embedded_config(emulator.url), ice=IceSettings(ports=(47100, 47109), addresses=("127.0.0.1",)))
        async with Gateway(config, port=0, master_key=MASTER) as gateway:
            peer = Peer()
            try:
                async with client(gateway) as server:
                    secret = await server.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime"})
                async with client(gateway, secret.value) as browser:
                    raw = await browser.realtime.calls.with_raw_response.create(sdp=await peer.offer())
                answer = raw.content.decode()
                found = candidates(answer)
                assert found and all(host == "127.0.0.1" and 47100 <= port <= 47109 for host, port in found)
                await peer.answered(answer)
                assert (await peer.until("session.created"))["session"]["type"] == "realtime"
            finally:
                await peer.close()
            # An advertised address (a one-to-one NAT's public side) is what the answer shows.
            gateway.config.ice = IceSettings(ports=(47110, 47119), addresses=("127.0.0.1",), advertised="203.0.113.9")
            other = Peer()
            async with client(gateway) as server:
                raw = await server.realtime.calls.with_raw_response.create(sdp=await other.offer())
            assert {host for host, _ in candidates(raw.content.decode())} == {"203.0.113.9"}
            await other.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"webrtc_udp_ports": "40000"}, "webrtc_udp_ports"),
        ({"webrtc_udp_ports": "50000-40000"}, "webrtc_udp_ports"),
        ({"webrtc_udp_ports": [80, 90]}, "webrtc_udp_ports"),
        ({"webrtc_host_addresses": ["not-an-ip"]}, "webrtc_host_addresses"),
        ({"webrtc_advertised_address": 7}, "webrtc_advertised_address"),
    ],
)
def test_bad_ice_settings_stop_the_start_with_their_name(tmp_path: Any, settings: dict[str, Any], message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model_list": [{"model_name": "m", "litellm_params": {"model": "gemini/gemini-3.8-live", "api_key": "k"}}], "general_settings": settings}))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_ice_settings_are_read(tmp_path: Any) -> None:
    path = tmp_path / "config.yaml"
    general = {"webrtc_udp_ports": "40000-40199", "webrtc_host_addresses": ["10.0.0.5"], "webrtc_advertised_address": "203.0.113.9"}
    path.write_text(yaml.safe_dump({"model_list": [{"model_name": "m", "litellm_params": {"model": "gemini/gemini-3.8-live", "api_key": "k"}}], "general_settings": general}))
    assert load_config(path).ice == IceSettings((40000, 40199), ("10.0.0.5",), "203.0.113.9")


async def test_bad_offers_and_keys_are_refused_before_any_call_in_openais_shape(stack: tuple[EmulatorServer, Gateway]) -> None:
    _, gateway = stack
    peer = Peer()
    offer = await peer.offer()
    url = f"{gateway.url}/v1/realtime/calls"
    sdp = {"Content-Type": "application/sdp"}
    async with aiohttp.ClientSession() as http:
        cases = [
            ({**sdp, "Authorization": "Bearer sk-wrong"}, offer, 401, "invalid_api_key"),
            ({**sdp, "Authorization": "Bearer ek_forged"}, offer, 401, "invalid_api_key"),
            ({**sdp, "Authorization": f"Bearer {MASTER}"}, "hello", 400, "missing_required_parameter"),
            ({**sdp, "Authorization": f"Bearer {MASTER}"}, "v=0\r\nnonsense\r\n", 400, "invalid_offer"),
            ({"Content-Type": "application/json", "Authorization": f"Bearer {MASTER}"}, "{}", 400, "invalid_request_error"),
        ]
        for headers, body, status, code in cases:
            async with http.post(url, data=body, headers=headers) as response:
                assert response.status == status, (headers, body[:20])
                assert (await response.json())["error"]["code"] == code
        form = aiohttp.FormData()
        form.add_field("sdp", offer, content_type="application/sdp")
        form.add_field("session", json.dumps({"type": "realtime", "model": "gpt-realtime", "voice_of_doom": 1}), content_type="application/json")
        async with http.post(url, data=form, headers={"Authorization": f"Bearer {MASTER}"}) as response:
            assert response.status == 400
            assert "voice_of_doom" in (await response.json())["error"]["message"]
    assert not gateway._calls and not gateway._pumps
    await peer.close()


async def test_the_unified_interface_applies_its_session_and_beta_calls_speak_beta(stack: tuple[EmulatorServer, Gateway]) -> None:
    """A server posting multipart (sdp + session) with a real key, as ``client.realtime.calls.create``
    does; and the beta flow, raw SDP posted to /v1/realtime?model=."""
    _, gateway = stack
    peer = Peer()
    try:
        async with client(gateway) as server:
            raw = await server.realtime.calls.with_raw_response.create(
                sdp=await peer.offer(), session={"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief.", "audio": {"output": {"voice": "marin"}}}
            )
        assert raw.status_code == 201
        await peer.answered(raw.content.decode())
        created = await peer.until("session.created")
        assert created["session"]["instructions"] == "Be brief." and created["session"]["audio"]["output"]["voice"] == "marin"
    finally:
        await peer.close()
    beta = Peer()
    try:
        async with aiohttp.ClientSession() as http:
            headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {MASTER}"}
            async with http.post(f"{gateway.url}/v1/realtime?model=gpt-realtime", data=await beta.offer(), headers=headers) as response:
                assert response.status == 201
                await beta.answered(await response.text())
        created = await beta.until("session.created")
        assert created["session"]["object"] == "realtime.session" and "modalities" in created["session"]
        beta.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})
        beta.send({"type": "response.create"})
        await beta.until("response.done")
        await beta.until("output_audio_buffer.stopped")
        assert "response.audio_transcript.delta" in beta.kinds() and "response.audio.delta" not in beta.kinds()
    finally:
        await beta.close()


async def test_a_call_holds_a_session_of_its_key_and_gives_it_back_when_it_ends(stack: tuple[EmulatorServer, Gateway]) -> None:
    _, gateway = stack
    assert gateway.accounts is not None
    key = new_key()
    await gateway.accounts.store.add_key(create_key_record(key, "one-line", max_sessions=1))
    peer = Peer()
    try:
        async with client(gateway, key) as team:
            raw = await team.realtime.calls.with_raw_response.create(sdp=await peer.offer())
            call_id = raw.headers["location"].rsplit("/", 1)[1]
            await peer.answered(raw.content.decode())
            await peer.until("session.created")
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:  # its one session is the call
                async with team.realtime.connect(model="gpt-realtime") as second:
                    await second.recv()
            assert refused.value.response.status_code == 429
            second_peer = Peer()
            with pytest.raises(openai.RateLimitError):  # and so does a second call
                await team.realtime.calls.create(sdp=await second_peer.offer())
            await second_peer.close()
            await team.realtime.calls.hangup(call_id)
            await until_ended(gateway, call_id, 3)
            async with team.realtime.connect(model="gpt-realtime") as again:
                assert (await again.recv()).type == "session.created"
    finally:
        await peer.close()
