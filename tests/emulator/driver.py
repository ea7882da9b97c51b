"""Drive a pure emulator ``Connection`` with plain values: no sockets, no event loop, no clock."""

from __future__ import annotations

import json
from typing import Any

from livegate.emulator.connection import Close, Connection, Drop, SendFrame, SetPongDelay
from livegate.emulator.models import Flavour
from livegate.emulator.routes import Credentials, Route
from livegate.emulator.state import EmulatorConfig, EmulatorState

T0 = 1_800_000_000.0
STUDIO = Route(Flavour.AI_STUDIO, "v1beta")
VERTEX = Route(Flavour.VERTEX, "v1beta1")
STUDIO_MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"
VERTEX_TEXT_MODEL = "projects/p/locations/us-central1/publishers/google/models/gemini-live-2.5-flash"

Event = dict[str, Any] | Close | Drop | SetPongDelay


class Driver:
    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        route: Route = STUDIO,
        credentials: Credentials | None = None,
        state: EmulatorState | None = None,
        now: float = T0,
    ) -> None:
        self.state = state or EmulatorState(config or EmulatorConfig(turn_complete_after_playback=False))
        if route.flavour is Flavour.VERTEX and credentials is None:
            token, _ = self.state.issue_access_token(now)
            credentials = Credentials(bearer=token)
        self.now = now
        self.connection = Connection(self.state, route, credentials or Credentials(api_key="test-key"), now)
        self.raw: list[bytes] = []

    def send(self, message: dict[str, Any] | str | bytes) -> list[Event]:
        data = message if isinstance(message, str | bytes) else json.dumps(message)
        self.connection.receive(data, self.now)
        return self._drain()

    def advance(self, seconds: float) -> list[Event]:
        self.now += seconds
        return self._drain()

    def settle(self, limit: float = 60.0) -> list[Event]:
        """Run every timer until nothing is scheduled (or ``limit`` seconds pass)."""
        events = self._drain()
        end = self.now + limit
        while (deadline := self.connection.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            events += self._drain()
        return events

    def _drain(self) -> list[Event]:
        events: list[Event] = []
        for action in self.connection.actions(self.now):
            if isinstance(action, SendFrame):
                self.raw.append(action.data)
                events.append(json.loads(action.data))
            else:
                events.append(action)
        return events

    def setup(self, **setup: Any) -> list[Event]:
        setup.setdefault("model", STUDIO_MODEL)
        return self.send({"setup": setup}) + self.settle(0)


def kinds(events: list[Event]) -> list[str]:
    """A compact name per event: the server message field (and serverContent's fields), or the action."""
    out = []
    for event in events:
        if isinstance(event, dict):
            key = next(k for k in event if k != "usageMetadata")
            if key == "serverContent":
                content = event[key]
                inner = next(iter(content))
                if inner == "modelTurn":
                    part = content[inner]["parts"][0]
                    inner = "thought" if part.get("thought") else ("audio" if "inlineData" in part else "text")
                out.append(inner)
            else:
                out.append(key)
        else:
            out.append(type(event).__name__)
    return out
