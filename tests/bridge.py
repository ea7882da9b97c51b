"""The translator wired to the emulated service in memory: both pure, no sockets, one clock."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from livegate.emulator.connection import Close, Connection, Drop, SendFrame
from livegate.emulator.routes import Credentials, Route
from livegate.emulator.state import EmulatorConfig, EmulatorState
from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.realtime.call import Call
from livegate.realtime.translator import CloseClient, CloseUpstream, SendUpstream, StartUpstream, Translator

T0 = 1_800_000_000.0


def counter_ids() -> Callable[[str], str]:
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}_{next(counter):03d}"


class Bridge:
    def __init__(
        self,
        route: UpstreamRoute | None = None,
        *,
        beta: bool = False,
        model: str = "gpt-realtime",
        config: EmulatorConfig | None = None,
        call: bool = False,
    ) -> None:
        """``call``: the translator inside a WebRTC call's core (realtime.call), which is what is driven."""
        self.route = route or UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live")
        self.now = T0
        self.state = EmulatorState(config or EmulatorConfig(turn_complete_after_playback=False))
        self.translator = Translator(route=self.route, model=model, beta=beta, ids=counter_ids(), now=self.now)
        self.call = Call(self.translator) if call else None
        self.core: Translator | Call = self.call or self.translator
        self.upstream: Connection | None = None
        self.sent_upstream: list[dict[str, Any]] = []
        self.closed: CloseClient | None = None
        self.events: list[dict[str, Any]] = []

    def send(self, event: dict[str, Any] | str) -> list[dict[str, Any]]:
        data = event if isinstance(event, str) else json.dumps(event)
        if self.call is not None:
            self.call.receive_client_frame(data, self.now)
        else:
            self.translator.receive_client_event(data, self.now)
        return self.pump()

    def microphone(self, pcm: bytes) -> None:
        """24 kHz PCM16 from a call's microphone track; a message it made alone goes straight up."""
        assert self.call is not None
        message = self.call.receive_microphone(pcm, self.now)
        if message is not None:
            assert self.upstream is not None
            self.sent_upstream.append(json.loads(message))
            self.upstream.receive(message, self.now)

    def pump(self, seconds: float = 0.0) -> list[dict[str, Any]]:
        """Move frames both ways until nothing moves; then let ``seconds`` of emulated time pass."""
        out: list[dict[str, Any]] = []
        end = self.now + seconds
        while True:
            if self._move(out):
                continue
            upstream = self.upstream.next_deadline() if self.upstream is not None else None
            deadlines = [d for d in (upstream, self.core.next_deadline()) if d is not None]
            if not deadlines or min(deadlines) > end:
                break
            self.now = max(self.now, min(deadlines))
            self.core.tick(self.now)
        self.now = max(self.now, end)
        self._move(out)
        self.events += out
        return out

    def _move(self, out: list[dict[str, Any]]) -> bool:
        moved = False
        for action in self.core.actions_to_upstream():
            moved = True
            if isinstance(action, StartUpstream):
                flavour = Route(self.route.flavour, self.route.version)
                token = self.state.issue_access_token(self.now)[0] if self.route.flavour is Flavour.VERTEX else None
                creds = Credentials(bearer=token) if token else Credentials(api_key="key")
                self.upstream = Connection(self.state, flavour, creds, self.now)
                frame = action.setup
            elif isinstance(action, SendUpstream):
                frame = action.frame
            else:
                assert isinstance(action, CloseUpstream)
                if self.upstream is not None:
                    self.upstream.connection_lost(self.now)
                    self.upstream = None
                continue
            self.sent_upstream.append(json.loads(frame))
            assert self.upstream is not None
            self.upstream.receive(frame, self.now)
        if self.upstream is not None:
            for upstream_action in self.upstream.actions(self.now):
                moved = True
                if isinstance(upstream_action, SendFrame):
                    self.core.receive_upstream_message(upstream_action.data, self.now)
                elif isinstance(upstream_action, Close):
                    self.core.receive_upstream_closed(upstream_action.code, upstream_action.reason, self.now)
                elif isinstance(upstream_action, Drop):
                    self.core.receive_upstream_closed(1006, "", self.now)
        for event in self.core.events_to_client():
            moved = True
            if isinstance(event, CloseClient):
                self.closed = event
            else:
                out.append(json.loads(event))
        return moved


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]
