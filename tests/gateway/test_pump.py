"""The pump's own edge: a send to a Gemini connection that is already going down (issue 7's survival
test found it) must leave the session to the reader's close report, not end it."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from livegate.config import embedded_config
from livegate.gateway.app import session_ids
from livegate.gateway.pump import Pump
from livegate.realtime.translator import SendUpstream, Translator


class ClosingUpstream:
    """An aiohttp client socket whose transport is closing but which does not know it yet."""

    closed = False

    def __init__(self) -> None:
        self.attempts = 0

    async def send_frame(self, frame: bytes, opcode: Any) -> None:
        self.attempts += 1
        raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")


async def test_a_send_to_a_closing_upstream_does_not_end_the_session() -> None:
    deployment = embedded_config("http://127.0.0.1:9").deployment("gpt-realtime")
    assert deployment is not None
    translator = Translator(route=deployment.route, model="gpt-realtime", beta=False, ids=session_ids(), now=0.0)
    translator.events_to_client()  # session.created: the client side is not under test here
    pump = Pump(web.WebSocketResponse(), translator, connector=None)  # type: ignore[arg-type]
    upstream = ClosingUpstream()
    pump.upstream = upstream  # type: ignore[assignment]
    translator.link.actions.append(SendUpstream(b'{"realtimeInput": {}}'))
    await pump.flush()
    assert upstream.attempts == 1
    assert pump.traffic.upstream_out_frames == 1
