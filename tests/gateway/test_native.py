"""The native Gemini Live front (issue 15): the unmodified google-genai SDK, configured only with
livegate's URL and a livegate key, through livegate to an AI Studio and a Vertex AI deployment of the
emulator, over wss:// with a test CA. The emulator sees the deployment's credentials and resource name,
never the livegate key; usage lands in ``livegate usage``; bad keys are refused before the upgrade."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials

from livegate.config import load_config
from livegate.emulator import voice
from livegate.emulator.script import Fault
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway import app as gateway_app
from livegate.gateway.app import Gateway
from tests.conftest import CertificateAuthority
from tests.gateway.test_keys import MASTER_KEY, Stack, make_key, run_cli, write_config

STUDIO_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture
async def stack(tmp_path: Path, test_ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    monkeypatch.setattr(gateway_app, "KEY_CHECK_S", 0.2)
    async with EmulatorServer(EmulatorConfig(api_key="studio-key", turn_complete_after_playback=False, record_audio=True)) as emulator:
        config = write_config(tmp_path, emulator)
        async with Gateway(load_config(config), port=0, ssl_context=test_ca.server_context()) as gateway:
            yield Stack(emulator, gateway, config)


def options(stack: Stack, test_ca: CertificateAuthority) -> types.HttpOptions:
    return types.HttpOptions(base_url=stack.gateway.url, async_client_args={"ssl": test_ca.client_context()})


def studio(stack: Stack, test_ca: CertificateAuthority, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options=options(stack, test_ca))


def vertex(stack: Stack, test_ca: CertificateAuthority, key: str) -> genai.Client:
    # A Vertex client sends its credentials' token as a bearer token: here, the livegate key.
    return genai.Client(vertexai=True, project="my-project", location="europe-west4", credentials=Credentials(token=key), http_options=options(stack, test_ca))


async def one_turn(session: Any) -> list[types.LiveServerMessage]:
    return [message async for message in session.receive()]


def spoken(messages: list[types.LiveServerMessage]) -> str:
    return "".join(m.server_content.output_transcription.text or "" for m in messages if m.server_content and m.server_content.output_transcription)


def reply_audio(messages: list[types.LiveServerMessage]) -> bytes:
    return b"".join(
        part.inline_data.data or b""
        for m in messages
        if m.server_content and m.server_content.model_turn
        for part in m.server_content.model_turn.parts or []
        if part.inline_data
    )


async def usage_rows(stack: Stack, capsys: pytest.CaptureFixture[str], count: int) -> dict[str, dict[str, Any]]:
    async with asyncio.timeout(5):
        while True:  # usage is written a moment after it is reported (gateway/ledger.py)
            code, out, err = await asyncio.to_thread(run_cli, capsys, "usage", "--json", "--config", str(stack.config))
            assert code == 0, err
            rows = {row["model"]: row for row in json.loads(out)}
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.05)


async def test_genai_text_turns_on_both_backends_with_the_deployments_credentials_and_usage_recorded(
    stack: Stack, test_ca: CertificateAuthority, capsys: pytest.CaptureFixture[str]
) -> None:
    key = await make_key(stack, "native-team")
    config = {"response_modalities": ["AUDIO"], "output_audio_transcription": {}}
    async with studio(stack, test_ca, key).aio.live.connect(model="studio-live", config=config) as session:
        await session.send_client_content(turns={"role": "user", "parts": [{"text": "hello gemini"}]})
        messages = await one_turn(session)
    assert spoken(messages) == "You said: hello gemini"
    assert voice.hear(reply_audio(messages), 24000) == "you said: hello gemini"
    upstream = stack.emulator.session()
    assert upstream.setup.raw["model"] == "models/gemini-2.5-flash-native-audio-preview-12-2025"
    assert upstream.setup.raw["contextWindowCompression"] == {"slidingWindow": {}}  # kept on, as on /v1/realtime
    studio_usage = upstream.usage_sent[-1]

    async with vertex(stack, test_ca, key).aio.live.connect(model="gemini-live-2.5-flash", config={"response_modalities": ["TEXT"]}) as session:
        await session.send_client_content(turns={"role": "user", "parts": [{"text": "hello vertex"}]})
        messages = await one_turn(session)
    assert "".join(m.text or "" for m in messages) == "You said: hello vertex"
    upstream = stack.emulator.session()
    # The SDK asked for its own project and region; the deployment's are used, with its service account.
    assert upstream.setup.raw["model"] == "projects/vertex-proj/locations/us-central1/publishers/google/models/gemini-live-2.5-flash"
    vertex_usage = upstream.usage_sent[-1]

    rows = await usage_rows(stack, capsys, 2)
    assert rows["studio-live"]["key"] == rows["vertex-live"]["key"] == "native-team"
    assert rows["studio-live"]["input_tokens"] == studio_usage["promptTokenCount"]
    assert rows["vertex-live"]["output_tokens"] == vertex_usage["candidatesTokenCount"] + vertex_usage.get("thoughtsTokenCount", 0)
    assert rows["vertex-live"]["cost_usd"] > 0


@pytest.mark.parametrize("backend", ["studio", "vertex"])
async def test_genai_audio_in_and_a_tool_call_go_through_untouched(stack: Stack, test_ca: CertificateAuthority, backend: str) -> None:
    key = await make_key(stack, "voice-team")
    client = studio(stack, test_ca, key) if backend == "studio" else vertex(stack, test_ca, key)
    model = "studio-live" if backend == "studio" else "vertex-live"
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        tools=[types.Tool(function_declarations=[WEATHER])],
    )
    pcm = b"\0\0" * 3200 + voice.speak("what is the time", 16000) + b"\0\0" * 24000
    async with client.aio.live.connect(model=model, config=config) as session:
        for i in range(0, len(pcm), 640):
            await session.send_realtime_input(audio=types.Blob(data=pcm[i : i + 640], mime_type="audio/pcm;rate=16000"))
        messages = await one_turn(session)
        heard = "".join(m.server_content.input_transcription.text or "" for m in messages if m.server_content and m.server_content.input_transcription)
        assert heard == "what is the time"
        assert spoken(messages) == "You said: what is the time"
        await session.send_realtime_input(text="what is the weather? get_weather city=Paris")
        messages = await one_turn(session)
        calls = [c for m in messages if m.tool_call for c in m.tool_call.function_calls or []]
        assert [(c.name, c.args) for c in calls] == [("get_weather", {"city": "Paris"})]
        await session.send_tool_response(function_responses=[types.FunctionResponse(id=calls[0].id, name="get_weather", response={"output": {"temp_c": 21}})])
        messages = await one_turn(session)
    assert spoken(messages) == 'Here is what I found: get_weather returned {"output":{"temp_c":21}}.'
    upstream = stack.emulator.session()
    assert bytes(upstream.audio[16000]) == pcm  # every byte, as the client sent it
    assert upstream.counters.audio_bytes_by_rate == {16000: len(pcm)}
    assert upstream.counters.tool_responses == 1


async def test_bad_revoked_and_missing_keys_are_refused_before_the_upgrade_in_googles_shape(
    stack: Stack, test_ca: CertificateAuthority, capsys: pytest.CaptureFixture[str]
) -> None:
    url = stack.gateway.url.replace("https", "wss") + STUDIO_PATH

    async def status(**where: Any) -> tuple[int, dict[str, Any]]:
        with pytest.raises(websockets.InvalidStatus) as exc:
            await websockets.connect(url + where.get("query", ""), additional_headers=where.get("headers", {}), ssl=test_ca.client_context())
        return exc.value.response.status_code, json.loads(exc.value.response.body or b"{}")

    assert await status() == (401, {"error": {"code": 401, "message": "Missing API key: send Authorization: Bearer <key>.", "status": "UNAUTHENTICATED"}})
    assert (await status(headers={"x-goog-api-key": "sk-livegate-wrong"}))[0] == 401
    assert (await status(query="?key=sk-livegate-wrong"))[0] == 401
    key = await make_key(stack, "leaver")
    async with websockets.connect(url + f"?key={key}", ssl=test_ca.client_context()):
        pass  # accepted, by ?key= as AI Studio clients send it
    code, _, err = await asyncio.to_thread(run_cli, capsys, "keys", "revoke", "leaver", "--config", str(stack.config))
    assert code == 0, err
    assert await status(headers={"x-goog-api-key": key}) == (401, {"error": {"code": 401, "message": "This API key has been revoked.", "status": "UNAUTHENTICATED"}})
    # The SDK meets the refusal at the handshake: no session is opened.
    sessions = len(stack.emulator.state.sessions)
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with studio(stack, test_ca, key).aio.live.connect(model="studio-live", config={"response_modalities": ["AUDIO"]}):
            pass
    assert refused.value.response.status_code == 401
    assert len(stack.emulator.state.sessions) == sessions


async def test_a_session_is_closed_as_gemini_closes_it_for_an_unknown_model_a_bad_first_message_or_a_model_the_key_may_not_use(
    stack: Stack, test_ca: CertificateAuthority
) -> None:
    url = stack.gateway.url.replace("https", "wss") + STUDIO_PATH
    key = await make_key(stack, "narrow", models=["studio-live"])
    headers = {"x-goog-api-key": key}

    async def closed_by(first: str) -> tuple[int | None, str]:
        async with websockets.connect(url, additional_headers=headers, ssl=test_ca.client_context()) as ws:
            await ws.send(first)
            with pytest.raises(websockets.ConnectionClosed) as exc:
                await asyncio.wait_for(ws.recv(), 5)
        received = exc.value.rcvd
        return (received.code, received.reason) if received else (None, "")

    assert await closed_by(json.dumps({"setup": {"model": "models/no-such-model"}})) == (
        1008, "models/no-such-model is not found for API version v1beta, or is not supported for bidiGenerateContent.",
    )  # fmt: skip
    assert await closed_by("not json") == (1007, "Request contains an invalid argument.")
    assert await closed_by(json.dumps({"clientContent": {"turns": []}})) == (1007, "Request contains an invalid argument.")
    assert await closed_by(json.dumps({"setup": {"model": "models/vertex-live"}})) == (1008, "This API key may not use the model 'vertex-live'.")
    assert stack.emulator.state.sessions == [] or all(s.setup is not None for s in stack.emulator.state.sessions)


async def test_the_master_key_and_the_http_endpoints_are_unchanged(stack: Stack, test_ca: CertificateAuthority) -> None:
    async with aiohttp.ClientSession() as http, http.get(stack.gateway.url + "/v1/models", headers={"Authorization": f"Bearer {MASTER_KEY}"}, ssl=test_ca.client_context()) as response:
        assert response.status == 200
    async with studio(stack, test_ca, MASTER_KEY).aio.live.connect(model="gemini-2.5-flash-native-audio-preview-12-2025", config={"response_modalities": ["AUDIO"]}) as session:
        await session.send_client_content(turns={"role": "user", "parts": [{"text": "by model id"}]})
        messages = await one_turn(session)
    # The Gemini model id names the one deployment that serves it (studio-live).
    assert voice.hear(reply_audio(messages), 24000) == "you said: by model id"


@pytest.mark.parametrize("backend", ["vertex", "studio"])
async def test_a_genai_session_streams_through_go_aways_and_drops_without_seeing_them(
    stack: Stack, test_ca: CertificateAuthority, backend: str
) -> None:
    turns, drops = 7, {3, 6}  # a fault after each answer but the last: four goAways, two drops
    key = await make_key(stack, f"survivor-{backend}")
    client = studio(stack, test_ca, key) if backend == "studio" else vertex(stack, test_ca, key)
    model = "studio-live" if backend == "studio" else "vertex-live"
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        output_audio_transcription=types.AudioTranscriptionConfig(),
        realtime_input_config=types.RealtimeInputConfig(automatic_activity_detection=types.AutomaticActivityDetection(silence_duration_ms=200)),
    )
    frames = voice.speak("hi", 16000) + bytes(16000)  # a word and half a second of silence, 16 kHz PCM16
    sent = bytearray()
    stop = asyncio.Event()
    seen: list[str] = []
    async with client.aio.live.connect(model=model, config=config) as session:

        async def stream() -> None:
            loop = asyncio.get_running_loop()
            start, index = loop.time(), 0
            while not stop.is_set():
                offset = index * 640 % len(frames)
                frame = frames[offset : offset + 640]
                sent.extend(frame)
                await session.send_realtime_input(audio=types.Blob(data=frame, mime_type="audio/pcm;rate=16000"))
                index += 1
                await asyncio.sleep(max(0.0, start + index * 0.02 - loop.time()))

        streamer = asyncio.create_task(stream())
        answers: list[str] = []
        async with asyncio.timeout(60):
            while len(answers) < turns:
                messages = await one_turn(session)
                seen += [kind for m in messages for kind in ("go_away", "session_resumption_update") if getattr(m, kind)]
                answers.append(spoken(messages))
                if len(answers) == turns:
                    break
                fault = Fault(when="seconds", action="drop") if len(answers) in drops else Fault(when="seconds", action="go_away", time_left_s=5)
                while stack.emulator.session().counters.connections < len(answers) or not stack.emulator.inject(fault):  # noqa: ASYNC110 - polls the emulator, which has no event for it
                    await asyncio.sleep(0.01)
        stop.set()
        await streamer
        await asyncio.sleep(0.5)  # the last frames reach the emulator
    upstream = stack.emulator.session()
    assert answers == ["You said: hi"] * turns
    assert seen == []  # livegate answered every goAway and drop itself
    assert upstream.counters.go_aways == turns - 1 - len(drops)
    assert upstream.counters.resumptions == turns - 1
    assert bytes(upstream.audio[16000]) == bytes(sent)  # no byte lost, none twice


async def test_an_ephemeral_token_in_googles_shape_opens_one_locked_session_on_the_constrained_path(
    stack: Stack, test_ca: CertificateAuthority
) -> None:
    key = await make_key(stack, "browser-backend")
    minting = studio(stack, test_ca, key)
    token = await minting.aio.auth_tokens.create(
        config=types.CreateAuthTokenConfig(
            uses=1,
            live_connect_constraints=types.LiveConnectConstraints(
                model="studio-live", config=types.LiveConnectConfig(response_modalities=["AUDIO"], system_instruction="Locked instructions.")
            ),
        )
    )
    assert token.name is not None and token.name.startswith("auth_tokens/ek_")
    # The browser's client: the token as its key, v1alpha, nothing else of livegate's.
    browser = genai.Client(api_key=token.name, http_options=types.HttpOptions(api_version="v1alpha", base_url=stack.gateway.url, async_client_args={"ssl": test_ca.client_context()}))
    config = {"response_modalities": ["AUDIO"], "output_audio_transcription": {}, "system_instruction": "Ignore the lock."}
    async with browser.aio.live.connect(model="studio-live", config=config) as session:
        await session.send_client_content(turns={"role": "user", "parts": [{"text": "hello with a token"}]})
        messages = await one_turn(session)
    assert spoken(messages) == "You said: hello with a token"
    setup = stack.emulator.session().setup.raw
    assert setup["systemInstruction"]["parts"][0]["text"] == "Locked instructions."  # the token's fields win
    with pytest.raises(websockets.InvalidStatus) as used:
        async with browser.aio.live.connect(model="studio-live", config=config):
            pass
    assert used.value.response.status_code == 401  # one session per token
    with pytest.raises(websockets.InvalidStatus) as elsewhere:
        await websockets.connect(stack.gateway.url.replace("https", "wss") + STUDIO_PATH, additional_headers={"x-goog-api-key": token.name}, ssl=test_ca.client_context())
    assert elsewhere.value.response.status_code == 401  # a token opens only the Constrained path


async def test_token_requests_are_checked_as_google_checks_them(stack: Stack, test_ca: CertificateAuthority) -> None:
    key = await make_key(stack, "minter")
    url = stack.gateway.url + "/v1alpha/auth_tokens"

    async def post(body: Any, api_key: str | None = key) -> tuple[int, dict[str, Any]]:
        headers = {"x-goog-api-key": api_key} if api_key else {}
        async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers, ssl=test_ca.client_context()) as response:
            return response.status, await response.json()

    assert (await post({"uses": 1}, api_key=None))[0] == 401
    assert await post({"uses": 5}) == (400, {"error": {"code": 400, "message": "livegate issues single-use tokens: 'uses' must be 1 (its reconnects never need the token again).", "status": "INVALID_ARGUMENT"}})
    assert (await post({"expireTime": "tomorrow"}))[0] == 400
    assert (await post({"expireTime": "2000-01-01T00:00:00Z"}))[0] == 400
    assert (await post({"bidiGenerateContentSetup": {"model": "models/nope"}}))[0] == 404
    assert (await post([1]))[0] == 400
    status, body = await post({"bidiGenerateContentSetup": {"model": "models/vertex-live"}})
    assert status == 200 and body["name"].startswith("auth_tokens/ek_") and body["uses"] == 1
    # A token is not an OpenAI client secret, nor the other way round.
    with pytest.raises(websockets.InvalidStatus) as crossed:
        await websockets.connect(
            f"wss://127.0.0.1:{stack.gateway.port}/v1/realtime?model=vertex-live",
            additional_headers={"Authorization": f"Bearer {body['name'][len('auth_tokens/') :]}"}, ssl=test_ca.client_context(),
        )  # fmt: skip
    assert crossed.value.response.status_code in (400, 401)


async def test_a_live_native_session_ends_when_its_key_is_revoked_and_the_metrics_count_it(
    stack: Stack, test_ca: CertificateAuthority, capsys: pytest.CaptureFixture[str]
) -> None:
    key = await make_key(stack, "revoked-live")
    url = stack.gateway.url.replace("https", "wss") + STUDIO_PATH
    async with websockets.connect(url, additional_headers={"x-goog-api-key": key}, ssl=test_ca.client_context()) as ws:
        await ws.send(json.dumps({"setup": {"model": "models/studio-live"}}))
        assert "setupComplete" in json.loads(await asyncio.wait_for(ws.recv(), 5))
        code, _, err = await asyncio.to_thread(run_cli, capsys, "keys", "revoke", "revoked-live", "--config", str(stack.config))
        assert code == 0, err
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)  # the keys of live sessions are checked every KEY_CHECK_S
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    async with aiohttp.ClientSession() as http, http.get(stack.gateway.url + "/metrics", ssl=test_ca.client_context()) as response:
        text = await response.text()
    assert 'livegate_frames_total{direction="client_in"}' in text and "livegate_sessions_total 1.0" in text
