"""The unmodified google-genai SDK against the emulator, on both backends, over wss:// with a test CA.

The SDK is pointed at the emulator with public options only (gemini-live.md §3.2 option B). Vertex
credentials come from a service-account key file whose token_uri is the emulator, so google-auth's
real JWT flow runs; AI Studio uses an API key.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from google.oauth2 import service_account

from livegate.emulator import voice
from livegate.emulator.script import Fault
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from tests.conftest import CertificateAuthority

STUDIO_MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
VERTEX_AUDIO_MODEL = "gemini-live-2.5-flash-native-audio"
VERTEX_TEXT_MODEL = "gemini-live-2.5-flash"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]

WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture
async def emulator(test_ca: CertificateAuthority) -> AsyncIterator[EmulatorServer]:
    config = EmulatorConfig(api_key="studio-key", turn_complete_after_playback=False, record_audio=True)
    async with EmulatorServer(config, ssl_context=test_ca.server_context()) as server:
        yield server


def options(emulator: EmulatorServer, test_ca: CertificateAuthority, **kwargs: Any) -> types.HttpOptions:
    return types.HttpOptions(base_url=emulator.tls_url, async_client_args={"ssl": test_ca.client_context()}, **kwargs)


def studio(emulator: EmulatorServer, test_ca: CertificateAuthority, key: str = "studio-key") -> genai.Client:
    return genai.Client(api_key=key, http_options=options(emulator, test_ca))


def vertex(emulator: EmulatorServer, test_ca: CertificateAuthority, tmp_path: Path, location: str = "us-central1") -> genai.Client:
    key_file = tmp_path / "service-account.json"
    emulator.write_service_account(key_file, quota_project="billing-project")
    credentials = service_account.Credentials.from_service_account_file(str(key_file), scopes=SCOPES)
    return genai.Client(
        vertexai=True, project="emulated-project", location=location, credentials=credentials, http_options=options(emulator, test_ca)
    )


async def one_turn(session: Any) -> list[types.LiveServerMessage]:
    return [message async for message in session.receive()]


def transcript(messages: list[types.LiveServerMessage]) -> str:
    return "".join(
        m.server_content.output_transcription.text or ""
        for m in messages
        if m.server_content and m.server_content.output_transcription
    )


def reply_audio(messages: list[types.LiveServerMessage]) -> bytes:
    return b"".join(
        part.inline_data.data or b""
        for m in messages
        if m.server_content and m.server_content.model_turn
        for part in m.server_content.model_turn.parts or []
        if part.inline_data
    )


async def test_studio_text_turn_answers_in_audio_with_transcript(emulator: EmulatorServer, test_ca: CertificateAuthority) -> None:
    config = {"response_modalities": ["AUDIO"], "output_audio_transcription": {}}
    async with studio(emulator, test_ca).aio.live.connect(model=STUDIO_MODEL, config=config) as session:
        await session.send_client_content(turns={"role": "user", "parts": [{"text": "hello gemini"}]})
        messages = await one_turn(session)
    assert transcript(messages) == "You said: hello gemini"
    assert voice.hear(reply_audio(messages), 24000) == "you said: hello gemini"
    usage = messages[-1].usage_metadata
    assert usage is not None and usage.response_token_count and usage.prompt_token_count
    # Native audio: the model's text parts are thoughts (gemini-live.md §12).
    thoughts = [p for m in messages if m.server_content and m.server_content.model_turn for p in m.server_content.model_turn.parts or [] if p.text]
    assert thoughts and all(p.thought for p in thoughts)


async def test_vertex_text_turn_with_service_account_token(emulator: EmulatorServer, test_ca: CertificateAuthority, tmp_path: Path) -> None:
    client = vertex(emulator, test_ca, tmp_path)
    async with client.aio.live.connect(model=VERTEX_TEXT_MODEL, config={"response_modalities": ["TEXT"]}) as session:
        await session.send_client_content(turns={"role": "user", "parts": [{"text": "hello vertex"}]})
        messages = await one_turn(session)
    assert "".join(m.text or "" for m in messages) == "You said: hello vertex"
    usage = messages[-1].usage_metadata
    # The SDK's Vertex converter reads candidatesTokenCount (gemini-live.md §5.3).
    assert usage is not None and usage.response_token_count == 6
    setup = emulator.session().setup.raw
    assert setup["model"] == f"projects/emulated-project/locations/us-central1/publishers/google/models/{VERTEX_TEXT_MODEL}"
    assert len(emulator.state.access_tokens) == 1


@pytest.mark.parametrize("backend", ["studio", "vertex"])
async def test_audio_turn_in_and_out(emulator: EmulatorServer, test_ca: CertificateAuthority, tmp_path: Path, backend: str) -> None:
    client = studio(emulator, test_ca) if backend == "studio" else vertex(emulator, test_ca, tmp_path)
    model = STUDIO_MODEL if backend == "studio" else VERTEX_AUDIO_MODEL
    config = {"response_modalities": ["AUDIO"], "input_audio_transcription": {}, "output_audio_transcription": {}}
    pcm = b"\0\0" * 3200 + voice.speak("what is the time", 16000) + b"\0\0" * 24000
    async with client.aio.live.connect(model=model, config=config) as session:
        for i in range(0, len(pcm), 640):
            await session.send_realtime_input(audio=types.Blob(data=pcm[i : i + 640], mime_type="audio/pcm;rate=16000"))
        messages = await one_turn(session)
    heard = "".join(
        m.server_content.input_transcription.text or ""
        for m in messages
        if m.server_content and m.server_content.input_transcription
    )
    assert heard == "what is the time"
    assert transcript(messages) == "You said: what is the time"
    assert voice.hear(reply_audio(messages), 24000) == "you said: what is the time"
    counters = emulator.session().counters
    assert counters.audio_bytes_by_rate == {16000: len(pcm)}
    assert bytes(emulator.session().audio[16000]) == pcm


@pytest.mark.parametrize("backend", ["studio", "vertex"])
async def test_tool_call_round_trip(emulator: EmulatorServer, test_ca: CertificateAuthority, tmp_path: Path, backend: str) -> None:
    client = studio(emulator, test_ca) if backend == "studio" else vertex(emulator, test_ca, tmp_path)
    model = STUDIO_MODEL if backend == "studio" else VERTEX_AUDIO_MODEL
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        output_audio_transcription=types.AudioTranscriptionConfig(),
        tools=[types.Tool(function_declarations=[WEATHER])],
    )
    async with client.aio.live.connect(model=model, config=config) as session:
        await session.send_realtime_input(text="what is the weather? get_weather city=Paris")
        messages = await one_turn(session)
        calls = [c for m in messages if m.tool_call for c in m.tool_call.function_calls or []]
        assert [(c.name, c.args) for c in calls] == [("get_weather", {"city": "Paris"})]
        await session.send_tool_response(
            function_responses=[types.FunctionResponse(id=calls[0].id, name="get_weather", response={"output": {"temp_c": 21}})]
        )
        messages = await one_turn(session)
    assert transcript(messages) == 'Here is what I found: get_weather returned {"output":{"temp_c":21}}.'
    assert emulator.session().counters.tool_responses == 1


@pytest.mark.parametrize("backend", ["studio", "vertex"])
async def test_session_resumes_after_go_away(test_ca: CertificateAuthority, tmp_path: Path, backend: str) -> None:
    config = EmulatorConfig(connection_lifetime_s=1.0, turn_complete_after_playback=False)
    async with EmulatorServer(config, ssl_context=test_ca.server_context()) as emulator:
        client = studio(emulator, test_ca, key="any-key") if backend == "studio" else vertex(emulator, test_ca, tmp_path)
        model = STUDIO_MODEL if backend == "studio" else VERTEX_AUDIO_MODEL
        connect = {"response_modalities": ["AUDIO"], "output_audio_transcription": {}, "session_resumption": {}}
        handle = None
        async with client.aio.live.connect(model=model, config=connect) as session:
            await session.send_realtime_input(text="my name is Ada")
            await one_turn(session)
            go_away = None
            with pytest.raises(errors.APIError) as closed:
                async for message in _forever(session):
                    if message.session_resumption_update and message.session_resumption_update.new_handle:
                        handle = message.session_resumption_update.new_handle
                    if message.go_away:
                        go_away = message.go_away
            assert go_away is not None
            assert go_away.time_left == "0.500s"
            assert closed.value.code == 1011
            assert closed.value.details == "Deadline expired before operation could complete."
        assert handle
        resumed = dict(connect, session_resumption={"handle": handle})
        async with client.aio.live.connect(model=model, config=resumed) as session:
            await session.send_realtime_input(text="what is my name")
            messages = await one_turn(session)
        assert transcript(messages) == "You said: what is my name"
        conversation = emulator.session()
        assert conversation.counters.resumptions == 1
        assert conversation.counters.go_aways >= 1
        assert [h.text for h in conversation.history][:2] == ["my name is Ada", "You said: my name is Ada"]


async def _forever(session: Any) -> AsyncIterator[types.LiveServerMessage]:
    while True:
        async for message in session.receive():
            yield message


@pytest.mark.parametrize(
    ("model", "config", "code", "details"),
    [
        ("gemini-0.1-not-a-model", {}, 1008, "models/gemini-0.1-not-a-model is not found for API version v1beta"),
        (STUDIO_MODEL, {"response_modalities": ["TEXT"]}, 1007, "The requested combination of response modalities (TEXT)"),
        (STUDIO_MODEL, {"response_modalities": ["AUDIO", "TEXT"]}, 1007, "The requested combination of response modalities (AUDIO, TEXT)"),
    ],
)
async def test_setup_errors_surface_as_api_error(
    emulator: EmulatorServer, test_ca: CertificateAuthority, model: str, config: dict[str, Any], code: int, details: str
) -> None:
    client = genai.Client(api_key="studio-key", http_options=options(emulator, test_ca, api_version="v1beta"))
    with pytest.raises(errors.APIError) as raised:
        async with client.aio.live.connect(model=model, config=config):
            pass
    assert raised.value.code == code
    assert raised.value.details.startswith(details)


async def test_wrong_api_key_is_refused(emulator: EmulatorServer, test_ca: CertificateAuthority) -> None:
    with pytest.raises(errors.APIError) as raised:
        async with studio(emulator, test_ca, key="wrong").aio.live.connect(model=STUDIO_MODEL, config={}):
            pass
    assert (raised.value.code, raised.value.details) == (1008, "API key not valid. Please pass a valid API key.")


async def test_vertex_region_without_the_model_is_refused(emulator: EmulatorServer, test_ca: CertificateAuthority, tmp_path: Path) -> None:
    client = vertex(emulator, test_ca, tmp_path, location="global")
    with pytest.raises(errors.APIError) as raised:
        async with client.aio.live.connect(model=VERTEX_AUDIO_MODEL, config={}):
            pass
    assert raised.value.code == 1008
    assert raised.value.details.startswith("Publisher model `projects/emulated-project/locations/global/")


async def test_mid_session_internal_error_surfaces_as_api_error_1011(emulator: EmulatorServer, test_ca: CertificateAuthority) -> None:
    async with studio(emulator, test_ca).aio.live.connect(model=STUDIO_MODEL, config={}) as session:
        await session.send_realtime_input(text="hi")
        await one_turn(session)
        assert emulator.inject(Fault(when="seconds", action="close", code=1011, reason="Internal error encountered."))
        with pytest.raises(errors.APIError) as raised:
            await one_turn(session)
    assert (raised.value.code, raised.value.details) == (1011, "Internal error encountered.")


async def test_ephemeral_token_works_once(emulator: EmulatorServer, test_ca: CertificateAuthority) -> None:
    admin = genai.Client(api_key="studio-key", http_options=options(emulator, test_ca, api_version="v1alpha"))
    token = await admin.aio.auth_tokens.create(config={"uses": 1})
    assert token.name and token.name.startswith("auth_tokens/")
    browser = genai.Client(api_key=token.name, http_options=options(emulator, test_ca, api_version="v1alpha"))
    async with browser.aio.live.connect(model=STUDIO_MODEL, config={"output_audio_transcription": {}}) as session:
        await session.send_realtime_input(text="ephemeral")
        assert transcript(await one_turn(session)) == "You said: ephemeral"
    with pytest.raises(errors.APIError) as raised:
        async with browser.aio.live.connect(model=STUDIO_MODEL, config={}):
            pass
    assert raised.value.code == 1008


async def test_plain_ws_with_the_sdks_private_attributes(emulator: EmulatorServer) -> None:
    """Option A of gemini-live.md §3.2: plain ws://, relying on private attributes of SDK 3.4.0."""
    client = genai.Client(api_key="studio-key")
    client._api_client._websocket_base_url = lambda *a, **k: emulator.url  # type: ignore[method-assign]
    client._api_client._websocket_ssl_ctx = {}
    async with client.aio.live.connect(model=STUDIO_MODEL, config={"output_audio_transcription": {}}) as session:
        await session.send_realtime_input(text="plain")
        assert transcript(await one_turn(session)) == "You said: plain"


async def test_video_frames_are_accepted_and_counted(emulator: EmulatorServer, test_ca: CertificateAuthority) -> None:
    jpeg = base64.b64decode("/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA=")
    async with studio(emulator, test_ca).aio.live.connect(model=STUDIO_MODEL, config={}) as session:
        await session.send_realtime_input(video=types.Blob(data=jpeg, mime_type="image/jpeg"))
        await session.send_realtime_input(text="what do you see")
        messages = await one_turn(session)
    details = messages[-1].usage_metadata.prompt_tokens_details  # type: ignore[union-attr]
    assert any(d.modality == types.MediaModality.VIDEO and d.token_count == 258 for d in details or [])
    assert emulator.session().counters.video_frames == 1
    await asyncio.sleep(0)
