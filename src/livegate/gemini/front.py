"""The native Gemini Live front (issue 15): a Gemini Live client's session, passed through to the
deployment its ``setup`` names, with livegate's keys, the upstream's credentials and accounting.

Sans-I/O, with the surface the pump drives (gateway/pump.py, the same as the translator's). Frames go
through untouched both ways, apart from what livegate must own:
- ``setup`` (gemini-live.md §4.1): its model names a deployment, by ``model_name`` or by the Gemini
  model id when one deployment serves it, and becomes that deployment's resource name; context window
  compression is asked for when the client did not say, as on ``/v1/realtime``;
- what Gemini would refuse is refused here the way Gemini refuses it, with a close and a Google-like
  reason (§7, §14: a message that is not one JSON object with one known field, a second ``setup``),
  so it never reaches Gemini;
- ``usageMetadata`` (§5.3) is read, priced and recorded per key, one record per message carrying it.
Client messages wait for ``setupComplete`` (§4.1), in order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from livegate.config import Deployment
from livegate.gemini.usage import openai_usage
from livegate.realtime.link import SendUpstream, StartUpstream
from livegate.realtime.translator import CloseClient

__all__ = ["NativeSession", "NativeStart", "Turn"]

# BidiGenerateContentClientMessage's union (gemini-live.md §4), in the JSON names the SDKs send.
CLIENT_FIELDS = frozenset({"clientContent", "client_content", "realtimeInput", "realtime_input", "toolResponse", "tool_response"})
SETUP_FIELDS = ("setup",)
INVALID = "Request contains an invalid argument."
CLOSE_CODES = range(1000, 5000)  # what a close frame may carry on (RFC 6455 §7.4); else 1011


@dataclass(frozen=True, slots=True)
class NativeStart(StartUpstream):
    """The first connection: to the deployment the setup named."""

    deployment: Deployment | None = None


@dataclass(slots=True)
class Turn:
    """What Gemini reported it used, as accounting reads a response (id, status, OpenAI-form usage)."""

    id: str
    status: str
    usage: dict[str, Any] | None = field(default=None)


def model_id(name: str) -> str:
    """``models/X``, ``publishers/google/models/X`` or ``projects/…/models/X``: X (§4.1)."""
    return name.rsplit("/", 1)[-1]


class NativeSession:
    def __init__(
        self,
        *,
        resolve: Callable[[str], Deployment | None],
        ids: Callable[[str], str],
        now: float,
        allowed_models: frozenset[str] | None = None,
        max_frame_bytes: int = 16 * 1024 * 1024,
        idle_timeout_s: float | None = None,
        max_session_s: float | None = None,
    ) -> None:
        """``resolve``: the deployment a setup's model names, or None; ``allowed_models``: the key's
        models, None for any."""
        self.resolve = resolve
        self.ids = ids
        self.allowed_models = allowed_models
        self.max_frame_bytes = max_frame_bytes
        self.idle_timeout_s = idle_timeout_s
        self._last_client = now
        self._expires = now + max_session_s if max_session_s else None
        self.id = ids("sess")
        self.deployment: Deployment | None = None
        self.generation = 0
        self.ready = False
        self.closed = False
        self._queued: list[bytes] = []
        self._actions: list[StartUpstream | SendUpstream] = []
        self._client: list[bytes | CloseClient] = []
        self.finished: list[Turn] = []
        self.notices: list[str] = []
        self.faults: list[tuple[str, Exception]] = []
        self.errors: Counter[str] = Counter()  # refusals, by reason (metrics)
        self.reconnects: Counter[str] = Counter()
        self.reconnect_reason = ""

    # ---- the pump's surface ------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        return self.id

    @property
    def settled(self) -> bool:
        return bool(self.finished)

    @property
    def upstream_connections(self) -> int:
        return self.generation

    @property
    def model(self) -> str:
        return self.deployment.model_name if self.deployment is not None else ""

    @property
    def upstream_model(self) -> str:
        return self.deployment.route.model_id if self.deployment is not None else ""

    def actions_to_upstream(self) -> list[StartUpstream | SendUpstream]:
        out, self._actions = self._actions, []
        return out

    def events_to_client(self) -> list[bytes | CloseClient]:
        out, self._client = self._client, []
        return out

    def finished_responses(self, *, final: bool = False) -> list[Turn]:
        out, self.finished = self.finished, []
        return out

    def drain_faults(self) -> list[tuple[str, Exception]]:
        out, self.faults = self.faults, []
        return out

    def next_deadline(self) -> float | None:
        idle = self._last_client + self.idle_timeout_s if self.idle_timeout_s and not self.closed else None
        expires = self._expires if not self.closed else None
        return min((at for at in (idle, expires) if at is not None), default=None)

    def tick(self, now: float) -> None:
        if self.closed:
            return
        if self._expires is not None and now >= self._expires:
            self.end("session_expired", "The session reached its maximum duration.", 1000)
        elif self.idle_timeout_s and now >= self._last_client + self.idle_timeout_s:
            self.end("idle_timeout", "The session was idle for too long.", 1000)

    def end(self, code: str, message: str, close: int) -> None:
        if not self.closed:
            self.closed = True
            self.errors[code] += 1
            self._client.append(CloseClient(close, message[:120]))

    # ---- the client ----------------------------------------------------------------------------

    def receive_client_frame(self, data: str | bytes, now: float) -> bytes | None:
        """The frame to send upstream at once, when the connection is ready and it is one Gemini takes."""
        self._last_client = now
        if self.closed:
            return None
        try:
            message = orjson.loads(data) if len(data) <= self.max_frame_bytes else None
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or len(message) != 1:
            self._refuse(1007, INVALID)
            return None
        if self.deployment is None:
            self._setup(message)
            return None
        if next(iter(message)) not in CLIENT_FIELDS:
            self._refuse(1007, INVALID)  # a second setup, or a field Gemini does not know (§14)
            return None
        frame = data if isinstance(data, bytes) else data.encode()
        if self.ready:
            return frame
        self._queued.append(frame)
        return None

    def receive_client_event(self, data: str | bytes, now: float) -> None:
        frame = self.receive_client_frame(data, now)
        if frame is not None:
            self._actions.append(SendUpstream(frame))

    def _setup(self, message: dict[str, Any]) -> None:
        setup = message.get("setup")
        name = setup.get("model") if isinstance(setup, dict) else None
        if not isinstance(setup, dict) or not isinstance(name, str) or not name:
            self._refuse(1007, INVALID)  # the first message must be a setup with its model (§4.1)
            return
        deployment = self.resolve(model_id(name))
        if deployment is None:
            self._refuse(1008, f"models/{model_id(name)} is not found for API version v1beta, or is not supported for bidiGenerateContent.")
            return
        if self.allowed_models is not None and deployment.model_name not in self.allowed_models:
            self._refuse(1008, f"This API key may not use the model '{deployment.model_name}'.")
            return
        self.deployment = deployment
        route = deployment.route
        rewritten = {**setup, "model": route.model_name}
        if route.compression and "contextWindowCompression" not in setup and "context_window_compression" not in setup:
            rewritten["contextWindowCompression"] = {"slidingWindow": {}}  # sessions outlive 15 minutes (§11)
        self.generation = 1
        self._actions.append(NativeStart(orjson.dumps({"setup": rewritten}), self.generation, route.location, deployment))

    def _refuse(self, code: int, reason: str) -> None:
        self.closed = True
        self.errors[f"closed_{code}"] += 1
        self._client.append(CloseClient(code, reason[:120]))

    # ---- Gemini --------------------------------------------------------------------------------

    def receive_upstream_message(self, data: bytes | str, now: float, generation: int | None = None) -> None:
        if self.closed or (generation is not None and generation != self.generation):
            return
        frame = data if isinstance(data, bytes) else data.encode()
        if not self.ready or b"usageMetadata" in frame:
            self._read(frame)
        self._client.append(frame)
        if self.ready and self._queued:
            self._actions.extend(SendUpstream(queued) for queued in self._queued)
            self._queued.clear()

    def _read(self, frame: bytes) -> None:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        if "setupComplete" in message or "setup_complete" in message:
            self.ready = True
        usage = message.get("usageMetadata")
        if isinstance(usage, dict):
            self.finished.append(Turn(self.ids("resp"), "completed", openai_usage(usage)))

    def receive_upstream_closed(self, code: int, reason: str, now: float, generation: int | None = None) -> None:
        if self.closed or (generation is not None and generation != self.generation):
            return
        self.closed = True
        self._client.append(CloseClient(code if code in CLOSE_CODES and code not in (1005, 1006, 1015) else 1011, reason[:120]))
