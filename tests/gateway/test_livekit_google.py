"""LiveKit's Google realtime plugin (livekit-plugins-google), pointed at livegate through its HTTP
options, on a livegate key (issue 15): the plugin's own google-genai client dials livegate's native
Gemini Live front over wss:// and the turn is answered by the deployment the model names. The
session is driven as LiveKit's AgentActivity drives it, without a room: the chat context pushed with
update_chat_ctx and the reply asked for with generate_reply()."""

from __future__ import annotations

import asyncio
import logging

import pytest
from google.genai import types
from livekit.plugins.google.realtime import RealtimeModel

from tests.conftest import CertificateAuthority
from tests.gateway.test_keys import Stack, make_key
from tests.gateway.test_native import stack

__all__ = ["stack"]  # the same gateway as the native front's tests, over TLS


# The plugin (1.8.9) still sets LiveConnectConfig.generation_config, which google-genai 3 deprecates.
@pytest.mark.filterwarnings("ignore:Setting `LiveConnectConfig.generation_config` is deprecated:DeprecationWarning")
async def test_livekits_google_plugin_answers_a_text_turn_through_livegate(
    stack: Stack,
    test_ca: CertificateAuthority,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="livekit.agents")
    key = await make_key(stack, "livekit-team")
    options = types.HttpOptions(base_url=stack.gateway.url, async_client_args={"ssl": test_ca.client_context()})
    model = RealtimeModel(model="studio-live", api_key=key, modalities=[types.Modality.AUDIO], http_options=options)
    session = model.session()
    try:
        chat_ctx = session.chat_ctx.copy()
        chat_ctx.add_message(role="user", content="hello from livekit")
        await session.update_chat_ctx(chat_ctx)
        async with asyncio.timeout(20):
            generation = await session.generate_reply()
            parts = []
            async for message in generation.message_stream:
                async for delta in message.text_stream:
                    parts.append(delta)
                async for _ in message.audio_stream:
                    pass
    finally:
        await session.aclose()
        await model.aclose()
    assert "You said" in "".join(parts)
    upstream = stack.emulator.session()
    assert upstream.setup.raw["model"] == "models/gemini-2.5-flash-native-audio-preview-12-2025"
    complaints = [r.getMessage() for r in caplog.records if r.name.startswith("livekit") and r.levelno >= logging.ERROR]
    assert complaints == []
