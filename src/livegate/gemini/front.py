"""The native Gemini Live front (issue 15): a Gemini Live client's session, passed through to the
deployment its ``setup`` names, with livegate's keys, the upstream's credentials and accounting.

Sans-I/O, with the surface the pump drives (gateway/pump.py, the same as the translator's). Frames go
through untouched both ways, apart from what livegate must own:
- ``setup`` (gemini-live.md §4.1): its model names a deployment, by ``model_name`` or by the Gemini
  model id when one deployment serves it, and becomes that deployment's resource name; context window
  compression is asked for when the client did not say, as on ``/v1/realtime``;
- what Gemini would refuse is refused here the way Gemini refuses it, with a close and a Google-like
  reason (§7, §14), so it never reaches Gemini: each message is read by the emulator's parser
  (emulator.messages), lenient about fields it does not know;
- ``usageMetadata`` (§5.3) is read, priced and recorded per key, one record per message carrying it;
- the connection (realtime.link, as under ``/v1/realtime``): session resumption is always on upstream,
  a goAway is not passed on but answered by resuming on a new connection between turns (§6.5), and a
  dropped connection is resumed with backoff; what Gemini had not consumed is sent again. The client
  sees one ``setupComplete``, and resumption updates only when its own setup asked for them: its
  handles keep working.
Client messages wait for ``setupComplete`` (§4.1), in order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from livegate.config import Deployment
from livegate.emulator.messages import Setup, parse_client_message
from livegate.errors import GeminiClientError
from livegate.gemini.closes import parse_duration
from livegate.gemini.models import Flavour
from livegate.gemini.usage import openai_usage
from livegate.realtime.link import Link, SendUpstream, UpstreamAction
from livegate.realtime.translator import CloseClient

__all__ = ["NativeSession", "Turn"]

SETUP_FIELDS = ("setup",)
INVALID = "Request contains an invalid argument."
CLOSE_CODES = range(1000, 5000)  # what a close frame may carry on (RFC 6455 §7.4); else 1011
# What livegate reads of a Gemini message before passing it on; a message with none of these keys (an
# audio chunk, a transcript) goes through unparsed. Gemini writes camelCase (§5).
WATCHED = (b'"setupComplete"', b'"usageMetadata"', b'"turnComplete"', b'"goAway"', b'"sessionResumptionUpdate"')


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
        locked: dict[str, Any] | None = None,
        max_frame_bytes: int = 16 * 1024 * 1024,
        idle_timeout_s: float | None = None,
        max_session_s: float | None = None,
    ) -> None:
        """``resolve``: the deployment a setup's model names, or None; ``allowed_models``: the key's
        models, None for any; ``locked``: an ephemeral token's setup fields, which win over the
        client's (gemini-live.md §9: the server overrides locked fields)."""
        self.resolve = resolve
        self.locked = locked or {}
        self.ids = ids
        self.allowed_models = allowed_models
        self.max_frame_bytes = max_frame_bytes
        self.idle_timeout_s = idle_timeout_s
        self._last_client = now
        self._expires = now + max_session_s if max_session_s else None
        self.id = ids("sess")
        self.deployment: Deployment | None = None
        self.link: Link | None = None  # from the setup on
        self.closed = False
        self._fields: dict[str, Any] = {}  # the client's setup, rewritten; the handle is the link's
        self._client_resumes = False  # the client's setup asked for session resumption: it gets the updates
        self._greeted = False  # the client has had its setupComplete
        self._in_turn = False  # Gemini is sending a turn: a planned switch waits for its end
        self._client: list[bytes | CloseClient] = []
        self.finished: list[Turn] = []
        self.notices: list[str] = []
        self.faults: list[tuple[str, Exception]] = []
        self.errors: Counter[str] = Counter()  # refusals, by reason (metrics)
        self._no_reconnects: Counter[str] = Counter()

    # ---- the pump's surface ------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        return self.id

    @property
    def settled(self) -> bool:
        return bool(self.finished)

    @property
    def generation(self) -> int:
        return self.link.generation if self.link is not None else 0

    @property
    def ready(self) -> bool:
        return self.link is not None and self.link.ready

    @property
    def upstream_connections(self) -> int:
        return self.link.connections if self.link is not None else 0

    @property
    def reconnects(self) -> Counter[str]:
        return self.link.reconnects if self.link is not None else self._no_reconnects

    @property
    def reconnect_reason(self) -> str:
        return self.link.reconnect_reason if self.link is not None else ""

    @property
    def model(self) -> str:
        return self.deployment.model_name if self.deployment is not None else ""

    @property
    def upstream_model(self) -> str:
        return self.deployment.route.model_id if self.deployment is not None else ""

    def actions_to_upstream(self) -> list[UpstreamAction]:
        if self.link is None:
            return []
        out, self.link.actions = self.link.actions, []
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
        if self.closed:
            return None
        idle = self._last_client + self.idle_timeout_s if self.idle_timeout_s else None
        link = self.link.deadlines() if self.link is not None else ()
        return min((at for at in (idle, self._expires, *link) if at is not None), default=None)

    def tick(self, now: float) -> None:
        if self.closed:
            return
        if self._expires is not None and now >= self._expires:
            self.end("session_expired", "The session reached its maximum duration.", 1000)
            return
        if self.idle_timeout_s and now >= self._last_client + self.idle_timeout_s:
            self.end("idle_timeout", "The session was idle for too long.", 1000)
            return
        link = self.link
        if link is None:
            return
        if link.retry_at is not None and now >= link.retry_at:
            link.attempt(self._setup_for, list)
        if link.switch_by is not None and now >= link.switch_by:
            link.switch_by = None
            if link.switch_pending and link.ready:
                link.reconnect(self._setup_for, list)  # goAway's deadline is near: switch even mid-turn
        link.tick(now)

    def end(self, code: str, message: str, close: int) -> None:
        if not self.closed:
            self.closed = True
            self.errors[code] += 1
            if self.link is not None:
                self.link.close()
            self._client.append(CloseClient(close, message[:120]))

    # ---- the client ----------------------------------------------------------------------------

    def receive_client_frame(self, data: str | bytes, now: float) -> bytes | None:
        """The frame to send upstream at once, when the connection is ready and it is one Gemini takes."""
        self._last_client = now
        if self.closed:
            return None
        if len(data) > self.max_frame_bytes:
            self._refuse(1009, "Request payload size exceeds the limit.")
            return None
        if self.deployment is None:
            try:
                message = orjson.loads(data)
            except orjson.JSONDecodeError:
                message = None
            self._setup(message)
            return None
        try:
            # Gemini's own reading of a client message, as the emulator reads it (emulator.messages):
            # what Gemini would refuse is refused here, with its reason, and never sent.
            parsed = parse_client_message(data, strict=False, vertex=self.deployment.route.flavour is Flavour.VERTEX)
        except GeminiClientError as exc:
            self._refuse(exc.code, exc.reason)
            return None
        except Exception as exc:  # the reader's own fault: the message is not sent, and the log says so
            self.faults.append(("a client message", exc))
            self._refuse(1007, INVALID)
            return None
        if isinstance(parsed, Setup):
            self._refuse(1007, INVALID)  # a second setup (§14)
            return None
        frame = data if isinstance(data, bytes) else data.encode()
        link = self.link
        assert link is not None
        if link.ready and not link.actions:
            link.sent_directly(frame)
            return frame
        link.send(frame)
        return None

    def receive_client_event(self, data: str | bytes, now: float) -> None:
        frame = self.receive_client_frame(data, now)
        if frame is not None and self.link is not None:
            self.link.actions.append(SendUpstream(frame))

    def _setup(self, message: Any) -> None:
        setup = message.get("setup") if isinstance(message, dict) and len(message) == 1 else None
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
        resumption = setup.get("sessionResumption", setup.get("session_resumption"))
        self._client_resumes = resumption is not None
        handle = resumption.get("handle") if isinstance(resumption, dict) else None
        rewritten = {key: value for key, value in {**setup, **self.locked}.items() if key not in ("sessionResumption", "session_resumption")}
        rewritten["model"] = route.model_name
        if route.compression and "contextWindowCompression" not in setup and "context_window_compression" not in setup:
            rewritten["contextWindowCompression"] = {"slidingWindow": {}}  # sessions outlive 15 minutes (§11)
        self._fields = rewritten
        handle = handle if isinstance(handle, str) and handle else None
        first = self._setup_for(handle)
        try:
            parse_client_message(first, strict=False, vertex=route.flavour is Flavour.VERTEX)
        except Exception as exc:
            if not isinstance(exc, GeminiClientError):
                self.faults.append(("a setup", exc))
            self.deployment = None
            self._refuse(exc.code if isinstance(exc, GeminiClientError) else 1007, exc.reason if isinstance(exc, GeminiClientError) else INVALID)
            return
        self.link = Link(route, self._last_client, lambda replayed: None)
        self.link.resumption_handle = handle
        self.link.start(first)

    def _setup_for(self, handle: str | None) -> bytes:
        """The setup of a connection: the client's, rewritten, resuming ``handle``. Resumption is always
        on (§6.5), transparent on Vertex so Gemini says what it consumed (§5.2)."""
        resumption: dict[str, Any] = {"handle": handle} if handle else {}
        if self.deployment is not None and self.deployment.route.flavour is Flavour.VERTEX:
            resumption["transparent"] = True
        return orjson.dumps({"setup": {**self._fields, "sessionResumption": resumption}})

    def _refuse(self, code: int, reason: str) -> None:
        self.closed = True
        self.errors[f"closed_{code}"] += 1
        self._client.append(CloseClient(code, reason[:120]))

    # ---- Gemini --------------------------------------------------------------------------------

    def receive_upstream_message(self, data: bytes | str, now: float, generation: int | None = None) -> None:
        link = self.link
        if self.closed or link is None or (generation is not None and generation != link.generation):
            return
        frame = data if isinstance(data, bytes) else data.encode()
        if b'"modelTurn"' in frame:
            self._in_turn = True
        if any(key in frame for key in WATCHED) and not self._read(frame, now):
            return  # livegate's own: the client never asked for it
        self._client.append(frame)

    def _read(self, frame: bytes, now: float) -> bool:
        """What livegate owns of a Gemini message; False when the message is not the client's."""
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return True
        if not isinstance(message, dict):
            return True
        link = self.link
        assert link is not None
        usage = message.get("usageMetadata")
        if isinstance(usage, dict):
            self.finished.append(Turn(self.ids("resp"), "completed", openai_usage(usage)))
        if "setupComplete" in message:
            link.setup_complete(now)
            greeted, self._greeted = self._greeted, True
            return not greeted  # a resumed connection's is livegate's
        content = message.get("serverContent")
        if isinstance(content, dict) and content.get("turnComplete") is True:
            self._in_turn = False
            link.turn_complete()
            if link.switch_pending:
                link.reconnect(self._setup_for, list)
        update = message.get("sessionResumptionUpdate")
        if isinstance(update, dict):
            link.resumption_update(update)
            return self._client_resumes
        go_away = message.get("goAway")
        if isinstance(go_away, dict):
            link.go_away(parse_duration(go_away.get("timeLeft", "")), now)
            if not self._in_turn:
                link.reconnect(self._setup_for, list)
            return False  # answered here: the session goes on
        return True

    def receive_upstream_closed(self, code: int, reason: str, now: float, generation: int | None = None) -> None:
        link = self.link
        if self.closed or link is None or (generation is not None and generation != link.generation):
            return
        if link.upstream_closed(code, reason, now) is None:
            return  # resumed on another connection (retry_at)
        self.closed = True
        self._client.append(CloseClient(code if code in CLOSE_CODES and code not in (1005, 1006, 1015) else 1011, reason[:120]))
