"""The gateway's core: one OpenAI Realtime session translated to and from one Gemini Live session.

Sans-I/O (STYLE.md §1). Feed it with ``receive_client_event``, ``receive_upstream_message`` and
``receive_upstream_closed``; drain ``events_to_client()`` (JSON text frames, and a ``CloseClient``
wish in its place in the order) and ``actions_to_upstream()`` (``StartUpstream`` with the setup,
``SendUpstream`` frames). Ids come from the injected ``ids`` factory, so output is exact.

Event orders are openai-realtime.md §5 on the client side and gemini-live.md §6 upstream; the
mapping of every event is in docs/mapping.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from livegate.errors import ClientError
from livegate.gemini.route import UpstreamRoute
from livegate.gemini.setup import build_setup, upstream_modality
from livegate.gemini.usage import EMPTY_USAGE, openai_usage
from livegate.realtime.conversation import Conversation, normalize_item, render_item
from livegate.realtime.events import (
    ClientEvent,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
    parse_client_event,
)
from livegate.realtime.session import Session

__all__ = ["CloseClient", "CloseUpstream", "SendUpstream", "StartUpstream", "Translator"]


@dataclass(frozen=True, slots=True)
class StartUpstream:
    """Open the upstream connection (if not open) and send this setup as its first message."""

    setup: bytes


@dataclass(frozen=True, slots=True)
class SendUpstream:
    frame: bytes


@dataclass(frozen=True, slots=True)
class CloseUpstream:
    pass


@dataclass(frozen=True, slots=True)
class CloseClient:
    code: int
    reason: str


UpstreamAction = StartUpstream | SendUpstream | CloseUpstream
ClientOutput = str | CloseClient


class Upstream(Enum):
    IDLE = "idle"  # no setup sent: session.update still shapes it
    SETTING_UP = "setting_up"  # setup sent, setupComplete awaited: frames are queued
    READY = "ready"
    CLOSED = "closed"


# Gemini close codes (gemini-live.md §7) to the client's close code and error type.
UPSTREAM_CLOSES = {
    1000: (1000, "server_error"),
    1007: (1011, "invalid_request_error"),
    1008: (1008, "invalid_request_error"),
}


@dataclass
class Response:
    id: str
    metadata: Any
    text_output: bool
    output: list[dict[str, Any]] = field(default_factory=list)
    item: dict[str, Any] | None = None  # the assistant message being streamed
    parts: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    status: str = "in_progress"
    status_details: dict[str, Any] | None = None


class Translator:
    def __init__(
        self,
        *,
        route: UpstreamRoute,
        model: str,
        beta: bool,
        ids: Callable[[str], str],
        now: float,
    ) -> None:
        self.route = route
        self.beta = beta
        self.ids = ids
        self.session = Session(model, ids("sess"), now)
        self.conversation = Conversation()
        self.conversation_id = ids("conv")
        self.upstream = Upstream.IDLE
        self.response: Response | None = None
        self.resumption_handle: str | None = None
        self._client: list[ClientOutput] = []
        self._upstream: list[UpstreamAction] = []
        self._queued: list[bytes] = []  # frames waiting for setupComplete
        self._unsent: list[str] = []  # ids of items Gemini has not seen yet
        self._emit("session.created", session=self.session.render(beta=beta))
        if beta:
            self._emit("conversation.created", conversation={"id": self.conversation_id, "object": "realtime.conversation"})

    # ---- draining ----------------------------------------------------------------------------

    def events_to_client(self) -> list[ClientOutput]:
        out, self._client = self._client, []
        return out

    def actions_to_upstream(self) -> list[UpstreamAction]:
        out, self._upstream = self._upstream, []
        return out

    # ---- client side -------------------------------------------------------------------------

    def receive_client_event(self, data: str | bytes, now: float) -> None:
        try:
            event = parse_client_event(data)
        except ClientError as exc:
            self._error(exc)
            return
        try:
            self._handle_client(event)
        except ClientError as exc:
            # OpenAI Realtime: error.event_id names the client event that caused it (§4.6).
            exc.event_id = event.event_id
            self._error(exc)

    def _handle_client(self, event: ClientEvent) -> None:
        match event:
            case InputAudioBufferAppend():
                self._append_audio(event)
            case SessionUpdate():
                self._session_update(event)
            case ConversationItemCreate():
                self._item_create(event)
            case ResponseCreate():
                self._response_create(event)
            case ConversationItemRetrieve():
                item = self.conversation.get(event.item_id)
                if item is None:
                    raise ClientError(
                        f"Item with item_id not found: {event.item_id}", code="item_retrieve_invalid_item_id", param="item_id"
                    )
                self._emit("conversation.item.retrieved", item=render_item(item, beta=self.beta, with_audio=True))
            case ConversationItemDelete():
                if not self.conversation.delete(event.item_id):
                    raise ClientError(f"Item with item_id not found: {event.item_id}", code="item_delete_invalid_item_id", param="item_id")
                if event.item_id in self._unsent:
                    self._unsent.remove(event.item_id)
                self._emit("conversation.item.deleted", item_id=event.item_id)
            case (
                InputAudioBufferCommit()
                | InputAudioBufferClear()
                | ConversationItemTruncate()
                | ResponseCancel()
                | OutputAudioBufferClear()
            ):
                raise ClientError(
                    f"livegate does not support '{_TYPES[type(event)]}' yet.", code="unsupported_event", param="type"
                )

    def _append_audio(self, event: InputAudioBufferAppend) -> None:
        if self.session.input_format != "pcm16":
            raise ClientError("livegate does not support G.711 input yet.", code="unsupported_audio_format", param="audio")
        self._ensure_upstream()
        # OpenAI pcm16 is 24 kHz; Gemini resamples any rate declared in the MIME type (gemini-live.md §8).
        self._send(b'{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=24000","data":"' + event.audio.encode() + b'"}}}')

    def _session_update(self, event: SessionUpdate) -> None:
        before = build_setup(self.route, self.session) if self.upstream is not Upstream.IDLE else None
        saved = (self.session.ga, self.session.temperature)
        self.session.update(event.session, beta=self.beta)
        if before is not None and build_setup(self.route, self.session) != before:
            self.session.ga, self.session.temperature = saved
            raise ClientError(
                "This session.update changes the Gemini setup, which is sent with the first content; livegate "
                "cannot apply it to a started session yet.",
                code="session_update_not_applied",
                param="session",
            )
        self._emit("session.updated", session=self.session.render(beta=self.beta))

    def _item_create(self, event: ConversationItemCreate) -> None:
        item = normalize_item(event.item, lambda: self.ids("item"))
        previous = self.conversation.insert(item, event.previous_item_id)
        self._unsent.append(item["id"])
        self._item_added(item, previous)
        self._item_done(item, previous)

    def _response_create(self, event: ResponseCreate) -> None:
        if self.response is not None:
            raise ClientError(
                f"Conversation already has an active response in progress: {self.response.id}. Wait until the "
                "response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        params = event.response
        for name, value in params.items():
            if value is None or name in ("metadata",):
                continue  # OpenAI Realtime: an explicit null means "not set" (LiveKit sends instructions: null)
            if name in ("output_modalities", "modalities") and self._same_modalities(value):
                continue
            if name == "conversation" and value == "auto":
                continue
            raise ClientError(
                f"livegate does not support 'response.{name}' in response.create yet.", code="unsupported_parameter", param=f"response.{name}"
            )
        self._open_response(params.get("metadata"))
        self._ensure_upstream()
        turns = self._take_unsent()
        # Gemini has no "create a response": a completed client turn starts generation (gemini-live.md §12).
        self._send(orjson.dumps({"clientContent": {"turns": turns, "turnComplete": True}}))

    def _same_modalities(self, value: Any) -> bool:
        audio = isinstance(value, list) and "audio" in value
        return isinstance(value, list) and audio == self.session.audio_output

    def _take_unsent(self) -> list[dict[str, Any]]:
        turns = []
        for item_id in self._unsent:
            item = self.conversation.get(item_id)
            if item is not None and item["type"] == "message":
                text = " ".join(p.get("text") or p.get("transcript") or "" for p in item["content"]).strip()
                if text:
                    role = "model" if item["role"] == "assistant" else "user"
                    turns.append({"role": role, "parts": [{"text": text}]})
        self._unsent.clear()
        return turns

    # ---- upstream side -----------------------------------------------------------------------

    def _ensure_upstream(self) -> None:
        if self.upstream is Upstream.IDLE:
            self.upstream = Upstream.SETTING_UP
            setup = build_setup(self.route, self.session, handle=self.resumption_handle)
            self._upstream.append(StartUpstream(orjson.dumps(setup)))

    def _send(self, frame: bytes) -> None:
        if self.upstream is Upstream.READY:
            self._upstream.append(SendUpstream(frame))
        elif self.upstream is Upstream.SETTING_UP:
            # Gemini Live: clients wait for setupComplete before sending anything else (gemini-live.md §4.1).
            self._queued.append(frame)

    def receive_upstream_message(self, data: bytes | str, now: float) -> None:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        if "setupComplete" in message:
            self.upstream = Upstream.READY
            self._upstream.extend(SendUpstream(frame) for frame in self._queued)
            self._queued.clear()
        content = message.get("serverContent")
        usage = message.get("usageMetadata")
        if usage is not None and self.response is not None:
            self.response.usage = openai_usage(usage)
        if content is not None:
            self._server_content(content)
        update = message.get("sessionResumptionUpdate")
        if update is not None and update.get("newHandle"):
            self.resumption_handle = update["newHandle"]

    def _server_content(self, content: dict[str, Any]) -> None:
        text_upstream = upstream_modality(self.route, self.session) == "TEXT"
        turn = content.get("modelTurn")
        if turn is not None:
            for part in turn.get("parts") or ():
                if part.get("thought"):
                    continue  # native-audio models' text parts are thoughts, never the reply (§12)
                if text_upstream and "text" in part:
                    self._output_text(part["text"])
                elif "inlineData" in part and self.session.audio_output:
                    self._output_audio(part["inlineData"].get("data", ""))
        transcription = content.get("outputTranscription")
        if transcription is not None and not text_upstream and transcription.get("text"):
            if self.session.audio_output:
                self._output_transcript(transcription["text"])
            else:
                self._output_text(transcription["text"])
        if content.get("generationComplete") and self.response is not None:
            self._close_message(self.response)
        if content.get("turnComplete") and self.response is not None:
            self._finish_response(self.response, "completed")

    def receive_upstream_closed(self, code: int, reason: str, now: float) -> None:
        if self.upstream is Upstream.CLOSED:
            return
        self.upstream = Upstream.CLOSED
        client_code, error_type = UPSTREAM_CLOSES.get(code, (1011, "server_error"))
        message = f"Gemini Live closed the connection ({code}): {reason}" if reason else f"Gemini Live closed the connection ({code})."
        if self.response is not None:
            details = {"type": "failed", "error": {"type": error_type, "code": f"upstream_closed_{code}", "message": message}}
            self._finish_response(self.response, "failed", details)
        self._error(ClientError(message, code=f"upstream_closed_{code}", error_type=error_type))
        self._client.append(CloseClient(client_code, reason[:120] if reason else "upstream closed"))

    # ---- responses ---------------------------------------------------------------------------

    def _open_response(self, metadata: Any) -> Response:
        response = Response(self.ids("resp"), metadata, text_output=not self.session.audio_output)
        self.response = response
        self._emit("response.created", response=self._render_response(response))
        return response

    def _current_response(self) -> Response:
        # Gemini may answer without response.create (voice activity, a tool result): OpenAI clients
        # still get response.created first (openai-realtime.md §5.2).
        return self.response if self.response is not None else self._open_response(None)

    def _open_message(self, response: Response) -> dict[str, Any]:
        if response.item is not None:
            return response.item
        item = {"id": self.ids("item"), "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        response.item = item
        previous = self.conversation.insert(item, None)
        index = len(response.output)
        response.output.append(item)
        self._emit("response.output_item.added", response_id=response.id, output_index=index, item=render_item(item, beta=self.beta))
        self._item_added(item, previous)
        part = {"type": "text", "text": ""} if response.text_output else {"type": "audio", "transcript": ""}
        self._emit("response.content_part.added", response_id=response.id, item_id=item["id"], output_index=index, content_index=0, part=part)
        return item

    def _output_text(self, text: str) -> None:
        response = self._current_response()
        item = self._open_message(response)
        response.parts.append(text)
        name = "response.text.delta" if self.beta else "response.output_text.delta"
        self._emit(name, **self._part_ids(response, item), delta=text)

    def _output_transcript(self, text: str) -> None:
        response = self._current_response()
        item = self._open_message(response)
        response.parts.append(text)
        name = "response.audio_transcript.delta" if self.beta else "response.output_audio_transcript.delta"
        self._emit(name, **self._part_ids(response, item), delta=text)

    def _output_audio(self, data: str) -> None:
        response = self._current_response()
        item = self._open_message(response)
        name = "response.audio.delta" if self.beta else "response.output_audio.delta"
        self._emit(name, **self._part_ids(response, item), delta=data)

    def _part_ids(self, response: Response, item: dict[str, Any]) -> dict[str, Any]:
        return {"response_id": response.id, "item_id": item["id"], "output_index": response.output.index(item), "content_index": 0}

    def _close_message(self, response: Response, status: str = "completed") -> None:
        item = response.item
        if item is None or item["status"] != "in_progress":
            return
        ids = self._part_ids(response, item)
        text = "".join(response.parts)
        if response.text_output:
            self._emit("response.text.done" if self.beta else "response.output_text.done", **ids, text=text)
            part = {"type": "text", "text": text}
            item["content"] = [{"type": "output_text", "text": text}]
        else:
            self._emit("response.audio.done" if self.beta else "response.output_audio.done", **ids)
            self._emit("response.audio_transcript.done" if self.beta else "response.output_audio_transcript.done", **ids, transcript=text)
            part = {"type": "audio", "transcript": text}
            item["content"] = [{"type": "output_audio", "transcript": text}]
        self._emit("response.content_part.done", **ids, part=part)
        item["status"] = status
        rendered = render_item(item, beta=self.beta)
        self._emit("response.output_item.done", response_id=response.id, output_index=ids["output_index"], item=rendered)
        self._item_done(item, self.conversation.previous_id(item["id"]))

    def _finish_response(self, response: Response, status: str, details: dict[str, Any] | None = None) -> None:
        self._close_message(response, "completed" if status == "completed" else "incomplete")
        response.status, response.status_details = status, details
        self.response = None
        # OpenAI Realtime: every response.created gets exactly one response.done (§4.4).
        self._emit("response.done", response=self._render_response(response))

    def _render_response(self, response: Response) -> dict[str, Any]:
        session = self.session.ga
        rendered: dict[str, Any] = {
            "object": "realtime.response",
            "id": response.id,
            "status": response.status,
            "status_details": response.status_details,
            "output": [render_item(item, beta=self.beta) for item in response.output],
            "conversation_id": self.conversation_id,
        }
        if self.beta:
            rendered |= {
                "modalities": ["text"] if response.text_output else ["audio", "text"],
                "voice": session["audio"]["output"]["voice"],
                "output_audio_format": self.session.output_format,
                "temperature": 0.8 if self.session.temperature is None else self.session.temperature,
                "max_output_tokens": session["max_output_tokens"],
            }
        else:
            rendered |= {
                "output_modalities": ["text"] if response.text_output else ["audio"],
                "max_output_tokens": session["max_output_tokens"],
                "audio": {"output": {"format": session["audio"]["output"]["format"], "voice": session["audio"]["output"]["voice"]}},
            }
        in_progress = response.status == "in_progress"
        rendered["usage"] = None if in_progress else (response.usage or EMPTY_USAGE)
        rendered["metadata"] = response.metadata
        return rendered

    # ---- events ------------------------------------------------------------------------------

    def _item_added(self, item: dict[str, Any], previous: str | None) -> None:
        rendered = render_item(item, beta=self.beta)
        if self.beta:
            # Beta has one "item appeared" event (openai-realtime.md §2.5).
            self._emit("conversation.item.created", previous_item_id=previous, item=rendered)
        else:
            self._emit("conversation.item.added", previous_item_id=previous, item=rendered)

    def _item_done(self, item: dict[str, Any], previous: str | None) -> None:
        if not self.beta:
            self._emit("conversation.item.done", previous_item_id=previous, item=render_item(item, beta=False))

    def _emit(self, kind: str, **fields: Any) -> None:
        self._client.append(orjson.dumps({"type": kind, "event_id": self.ids("event"), **fields}).decode())

    def _error(self, exc: ClientError) -> None:
        error = {"type": exc.error_type, "code": exc.code, "message": exc.message, "param": exc.param, "event_id": exc.event_id}
        self._emit("error", error=error)


_TYPES = {
    InputAudioBufferCommit: "input_audio_buffer.commit",
    InputAudioBufferClear: "input_audio_buffer.clear",
    ConversationItemTruncate: "conversation.item.truncate",
    ResponseCancel: "response.cancel",
    OutputAudioBufferClear: "output_audio_buffer.clear",
}
