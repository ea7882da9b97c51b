"""The gateway's core: one OpenAI Realtime session translated to and from one Gemini Live session.

Sans-I/O (STYLE.md §1). Feed it with ``receive_client_event``, ``receive_upstream_message`` and
``receive_upstream_closed``; drain ``events_to_client()`` (JSON text frames, and a ``CloseClient``
wish in its place in the order) and ``actions_to_upstream()`` (``StartUpstream`` with the setup,
``SendUpstream`` frames). Ids come from the injected ``ids`` factory, so output is exact.

Event orders are openai-realtime.md §5 on the client side and gemini-live.md §6 upstream; the
mapping of every event is in docs/mapping.md.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from livegate.errors import ClientError
from livegate.gemini.closes import BACKOFF_S, classify, parse_duration
from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.gemini.setup import build_setup, gemini_detects_turns, upstream_modality
from livegate.gemini.usage import openai_usage
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
from livegate.realtime.listening import InputAudio, SpeechStarted
from livegate.realtime.replay import ReplayLog
from livegate.realtime.responses import Response, Responses
from livegate.realtime.session import Session

__all__ = ["CloseClient", "CloseUpstream", "SendUpstream", "StartUpstream", "Translator"]


@dataclass(frozen=True, slots=True)
class StartUpstream:
    """Open an upstream connection and send this setup as its first message. Messages and closes of
    the connection are reported with its ``generation``; older generations are ignored."""

    setup: bytes
    generation: int = 0
    location: str | None = None  # the Vertex location to dial (regional hosts differ)


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
    REPLAYING = "replaying"  # resumed: frames wait until Gemini says what it consumed (Vertex)
    RECONNECTING = "reconnecting"  # the connection failed: frames are queued until the next attempt
    READY = "ready"
    CLOSED = "closed"


# Gemini close codes (gemini-live.md §7) to the client's close code and error type.
UPSTREAM_CLOSES = {
    1000: (1000, "server_error"),
    1007: (1011, "invalid_request_error"),
    1008: (1008, "invalid_request_error"),
}
GO_AWAY_MARGIN_S = 1.0  # switch connections this long before goAway's deadline at the latest
INDEX_WAIT_S = 1.0  # after a resume, how long to wait for lastConsumedClientMessageIndex
ITEM_HINT_S = 5.0  # a user item followed by nothing for this long: the LiteLLM setting is hinted at
TEXT_DONE_WAIT_S = 0.05  # after generationComplete, how long a text-only response waits for turnComplete
STABLE_S = 10.0  # a connection this old (or one that completed a turn) earns a fresh set of attempts
MIN_COMMIT_MS = 100  # OpenAI Realtime: a commit needs at least 100 ms of audio (§2.1)
AUDIO_FRAME_MS = 100  # held audio goes upstream in frames of this length
PCM16K_BYTES_PER_MS = 32
KEEP_ITEM_AUDIO = 8  # user items whose audio is kept for conversation.item.retrieve


@dataclass
class UserSpeech:
    """A user audio item from speech start (or commit) until its transcription is complete."""

    item_id: str
    start_ms: int
    committed: bool = False
    seconds: float = 0.0
    transcript: list[str] = field(default_factory=list)
    sent: int = 0  # transcript pieces already sent as deltas


class Translator:
    def __init__(
        self,
        *,
        route: UpstreamRoute,
        model: str,
        beta: bool,
        ids: Callable[[str], str],
        now: float,
        max_frame_bytes: int = 16 * 1024 * 1024,
        idle_timeout_s: float | None = None,
        max_session_s: float | None = None,
        bound: tuple[dict[str, Any], bool] | None = None,
        respond_to_user_items: bool = False,
    ) -> None:
        """``bound``: an ephemeral key's session configuration and whether it is in beta form, in force
        before ``session.created`` (openai-realtime.md §7). ``respond_to_user_items``: answer every user
        message and tool output at once, as LiteLLM does (lessons-from-peers.md (b)), instead of on
        ``response.create`` as OpenAI does."""
        self.route = route
        self.max_frame_bytes = max_frame_bytes
        self.idle_timeout_s = idle_timeout_s
        self._last_client = now
        self._expires = now + max_session_s if max_session_s else None
        self.respond_to_user_items = respond_to_user_items
        self._hint_by: float | None = None  # a user item waits for response.create: a hint is logged then
        self._hinted = False
        self.notices: list[str] = []  # advice for the operator's log, never for the client: the shell drains it
        self.beta = beta
        self.ids = ids
        self.session = Session(model, ids("sess"), now)
        if bound is not None:
            self.session.update(bound[0], beta=bound[1])  # validated when the key was minted
        self.conversation = Conversation()
        self.upstream = Upstream.IDLE
        self.resumption_handle: str | None = None
        self._client: list[ClientOutput] = []
        self._upstream: list[UpstreamAction] = []
        self._queued: list[bytes] = []  # frames waiting for setupComplete
        self._unsent: list[str] = []  # ids of items Gemini has not seen yet
        conversation_id = ids("conv")
        self.responses = Responses(
            session=self.session, conversation=self.conversation, conversation_id=conversation_id, beta=beta, ids=ids, emit=self._emit
        )
        self.input = InputAudio(self.session.input_format, self.session.turn_detection)
        self.speech: UserSpeech | None = None  # the user item being spoken or transcribed
        self._activity_open = False  # livegate-driven turns: activityStart sent, activityEnd not yet
        self._item_audio: OrderedDict[str, bytes] = OrderedDict()
        self._calls: dict[str, tuple[str, str]] = {}  # OpenAI call_id -> (Gemini call id, name)
        self._cancelled_calls: set[str] = set()
        self.generation = 0  # of the upstream connection in use
        self._switch_pending = False  # a new setup or a goAway waits for the turn to end before reconnecting
        self._log = ReplayLog()
        self._indexed = False  # Gemini reports lastConsumedClientMessageIndex (Vertex, transparent resumption)
        self._turn_end = -1  # the last message sent before Gemini's last turnComplete came
        self._attempts = 0
        self._retry_at: float | None = None  # the next reconnect attempt after a failure
        self._switch_by: float | None = None  # goAway: be on a new connection before this time
        self._index_by: float | None = None  # a resumed connection: replay unconsumed frames by then at the latest
        self._text_done_by: float | None = None  # a text-only response's text is complete: done by then
        self._ready_since = now
        self._resuming = False  # the current setup resumes with a handle
        self._retry_turn = False  # a reply was cut by a failed connection: Gemini is asked again
        self._served = False  # a setup completed at this location
        self._updated_pending: list[dict[str, Any]] = []  # session.updated once the new setup is in force
        self.reconnect_reason = ""  # why the next connection is made
        self.reconnects: Counter[str] = Counter()  # upstream connections after the first, by reason (metrics)
        self.errors: Counter[str] = Counter()  # error events sent, by code (metrics)
        self._emit("session.created", session=self.session.render(beta=beta))
        if beta:
            self._emit("conversation.created", conversation={"id": conversation_id, "object": "realtime.conversation"})

    # ---- draining ----------------------------------------------------------------------------

    def events_to_client(self) -> list[ClientOutput]:
        out, self._client = self._client, []
        return out

    def actions_to_upstream(self) -> list[UpstreamAction]:
        out, self._upstream = self._upstream, []
        return out

    def finished_responses(self, *, final: bool = False) -> list[Response]:
        """Responses settled since the last call, with their usage: for accounting (issue 8). ``final``:
        the session is over, and every response goes with what is known of its usage."""
        if final:
            self.responses.settle_all()
        out, self.responses.finished = self.responses.finished, []
        return out

    @property
    def gemini_turns(self) -> bool:
        """Whether Gemini's own activity detection ends the user's turns (else livegate does)."""
        return gemini_detects_turns(self.session.turn_detection)

    # ---- client side -------------------------------------------------------------------------

    def receive_client_event(self, data: str | bytes, now: float) -> None:
        self._last_client = now
        self._hint_by = None
        if len(data) > self.max_frame_bytes:
            self._error(ClientError(
                f"The event is {len(data)} bytes; this gateway takes at most {self.max_frame_bytes}.",
                code="frame_too_large",
            ))
            return
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
                self._append_audio(event.audio)
            case SessionUpdate():
                self._session_update(event)
            case ConversationItemCreate():
                self._item_create(event)
                role = event.item.get("role") if isinstance(event.item, dict) else None
                answers = role == "user" or (isinstance(event.item, dict) and event.item.get("type") == "function_call_output")
                if answers and self.respond_to_user_items:
                    if self.responses.active is not None:
                        self.responses.cancel("turn_detected")  # LiteLLM's clientContent interrupts the reply too
                    self._response_create(ResponseCreate(event_id=None, response={}))
                elif role == "user" and not self._hinted:
                    self._hint_by = self._last_client + ITEM_HINT_S
            case ResponseCreate():
                self._response_create(event)
            case InputAudioBufferCommit():
                self._commit()
            case InputAudioBufferClear():
                self.input.clear()
                self._emit("input_audio_buffer.cleared")
            case ConversationItemRetrieve():
                item = self.conversation.get(event.item_id)
                if item is None:
                    raise ClientError(
                        f"Item with item_id not found: {event.item_id}", code="item_retrieve_invalid_item_id", param="item_id"
                    )
                rendered = render_item(item, beta=self.beta, with_audio=True)
                audio = self._item_audio.get(event.item_id)
                if audio is not None:
                    rendered["content"][0]["audio"] = base64.b64encode(audio).decode("ascii")
                self._emit("conversation.item.retrieved", item=rendered)
            case ConversationItemDelete():
                if not self.conversation.delete(event.item_id):
                    raise ClientError(f"Item with item_id not found: {event.item_id}", code="item_delete_invalid_item_id", param="item_id")
                if event.item_id in self._unsent:
                    self._unsent.remove(event.item_id)
                self._item_audio.pop(event.item_id, None)
                self._emit("conversation.item.deleted", item_id=event.item_id)
            case ResponseCancel():
                active = self.responses.active
                if active is None or (event.response_id is not None and event.response_id != active.id):
                    raise ClientError("Cancellation failed: no active response found", code="response_cancel_not_active")
                # Gemini has no cancel: the rest of its turn is dropped here, and nothing of the reply follows.
                self.responses.cancel("client_cancelled")
            case ConversationItemTruncate():
                self._truncate(event)
            case OutputAudioBufferClear():
                raise ClientError(
                    "output_audio_buffer.clear is for WebRTC and SIP sessions; on a WebSocket the client owns playback.",
                    code="unsupported_event",
                    param="type",
                )

    def _truncate(self, event: ConversationItemTruncate) -> None:
        item = self.conversation.get(event.item_id)
        if item is None or item.get("role") != "assistant" or item["content"][:1] == [] or item["content"][0]["type"] != "output_audio":
            raise ClientError(
                f"Item with item_id not found or not an assistant audio message: {event.item_id}",
                code="item_truncate_invalid_item_id",
                param="item_id",
            )
        if event.content_index != 0:
            raise ClientError("Invalid 'content_index': assistant audio is content 0.", code="invalid_value", param="content_index")
        played = self.responses.audio_ms.get(event.item_id, 0.0)
        if event.audio_end_ms > played:
            raise ClientError(
                f"Audio content of {played:.0f}ms is shorter than audio_end_ms {event.audio_end_ms}ms.",
                code="invalid_value",
                param="audio_end_ms",
            )
        # The transcript is cut where the client stopped playing; Gemini's own context keeps the whole
        # turn, which it cannot be told to forget (docs/mapping.md).
        part = item["content"][0]
        transcript = part.get("transcript") or ""
        part["transcript"] = transcript[: round(len(transcript) * event.audio_end_ms / played)] if played else ""
        self.responses.audio_ms[event.item_id] = float(event.audio_end_ms)
        self._emit("conversation.item.truncated", item_id=event.item_id, content_index=0, audio_end_ms=event.audio_end_ms)

    def _append_audio(self, audio: str) -> None:
        try:
            raw = binascii.a2b_base64(audio)
        except binascii.Error:
            raise ClientError("Invalid 'audio': expected base64-encoded audio bytes.", code="invalid_value", param="audio") from None
        pcm, speech = self.input.append(raw)
        self._ensure_upstream()
        if pcm and (self.gemini_turns or self._activity_open):
            self._send_audio(pcm)
        for event in speech:
            if isinstance(event, SpeechStarted):
                self._speech_started(event.ms)
            else:
                self._speech_stopped(event.ms)

    def _send_audio(self, pcm: bytes) -> None:
        # Gemini Live: PCM16 little-endian at the rate the MIME type declares (gemini-live.md §4.5, §8).
        data = base64.b64encode(pcm)
        self._send(b'{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=16000","data":"' + data + b'"}}}')

    def _speech_started(self, ms: int) -> None:
        detection = self.session.turn_detection or {}
        padding = detection.get("prefix_padding_ms", 0)
        start = max(0, ms - (padding if isinstance(padding, int) else 0))
        self._begin_speech(start)
        if not self.gemini_turns and not self._activity_open:
            # livegate takes the turn: open the activity and send the speech with its prefix padding.
            self._open_activity()
            _, pcm = self.input.take(start, self.input.position_ms)
            self._send_held(pcm)

    def _begin_speech(self, start_ms: int) -> None:
        self._complete_transcription()
        speech = UserSpeech(self.ids("item"), start_ms)
        self.speech = speech
        self._emit("input_audio_buffer.speech_started", audio_start_ms=start_ms, item_id=speech.item_id)
        detection = self.session.turn_detection or {}
        if self.responses.active is not None and detection.get("interrupt_response", True) is not False:
            # OpenAI Realtime: barge-in ends the reply at once, nothing of it after (§5.4). Gemini's own
            # detection interrupts it upstream; what it already sent of the turn is dropped.
            self.responses.cancel("turn_detected")
            if not self.gemini_turns:
                self._open_activity()  # activityStart interrupts Gemini's generation (§4.5)

    def _speech_stopped(self, ms: int) -> None:
        speech = self.speech
        if speech is None or speech.committed:
            return
        self._emit("input_audio_buffer.speech_stopped", audio_end_ms=ms, item_id=speech.item_id)
        raw, _ = self.input.take(speech.start_ms, ms)
        self._commit_item(speech, raw, ms - speech.start_ms)

    def _commit_item(self, speech: UserSpeech, raw: bytes, duration_ms: float) -> None:
        speech.committed = True
        speech.seconds = duration_ms / 1000
        item = {"id": speech.item_id, "type": "message", "status": "completed", "role": "user", "content": [{"type": "input_audio", "transcript": None}]}
        previous = self.conversation.insert(item, None)
        self._keep_audio(speech.item_id, raw)
        self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=speech.item_id)
        self.responses.item_added(item, previous)
        self.responses.item_done(item, previous)
        self._send_transcript_deltas()

    def _keep_audio(self, item_id: str, raw: bytes) -> None:
        self._item_audio[item_id] = raw
        while len(self._item_audio) > KEEP_ITEM_AUDIO:
            self._item_audio.popitem(last=False)

    def _commit(self) -> None:
        buffered = self.input.buffered_ms()
        if self.speech is not None and not self.speech.committed:
            # Mid-speech: end the user's turn here (gemini-live.md §12: audioStreamEnd flushes Gemini's detector).
            if self.gemini_turns:
                self._send(b'{"realtimeInput":{"audioStreamEnd":true}}')
            self._speech_stopped(self.input.position_ms)
            return
        if buffered < MIN_COMMIT_MS:
            raise ClientError(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer "
                f"only has {buffered:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        raw, pcm = self.input.take_all()
        self._complete_transcription()
        speech = UserSpeech(self.ids("item"), self.input.position_ms - int(buffered))
        self.speech = speech
        self._ensure_upstream()
        if self.gemini_turns:
            self._send_held(pcm)
            self._send(b'{"realtimeInput":{"audioStreamEnd":true}}')
        else:
            # Manual turn: the whole buffer, from its first sample, inside activity markers; the end
            # marker waits for response.create, which is when OpenAI starts the reply (§5.2).
            self._open_activity()
            self._send_held(pcm)
        self._commit_item(speech, raw, buffered)

    def _open_activity(self) -> None:
        if not self._activity_open:
            self._activity_open = True
            self._send(b'{"realtimeInput":{"activityStart":{}}}')

    def _send_held(self, pcm: bytes) -> None:
        step = AUDIO_FRAME_MS * PCM16K_BYTES_PER_MS
        for offset in range(0, len(pcm), step):
            self._send_audio(pcm[offset : offset + step])

    def _session_update(self, event: SessionUpdate) -> None:
        before = build_setup(self.route, self.session)["setup"]
        detection = self.session.turn_detection
        self.session.update(event.session, beta=self.beta)
        after = build_setup(self.route, self.session)["setup"]
        self.input.change_format(self.session.input_format)
        if self.upstream is Upstream.IDLE or self.session.turn_detection != detection:
            self.input = InputAudio(self.session.input_format, self.session.turn_detection)
        if self.upstream is Upstream.IDLE or after == before:
            self._emit("session.updated", session=self.session.render(beta=self.beta))
            return
        rest = {k: v for k, v in after.items() if k not in ("systemInstruction", "tools")}
        if self.route.model_id.startswith("gemini-3.8") and rest == {k: v for k, v in before.items() if k not in ("systemInstruction", "tools")}:
            # Gemini 3.8 changes instructions and tools in place (gemini-live.md §4.7).
            update: dict[str, Any] = {"tools": {"tools": after.get("tools", [])}}
            update["systemInstruction"] = after.get("systemInstruction", {"role": "user", "parts": [{"text": ""}]})
            self._send(orjson.dumps({"contextUpdate": update}))
            self._emit("session.updated", session=self.session.render(beta=self.beta))
            return
        # Anything else needs a new setup: reconnect with the resumption handle once the turn is over;
        # session.updated comes when the new setup is in force (gemini-live.md §12).
        self._updated_pending.append(self.session.render(beta=self.beta))
        self.reconnect_reason = "session_update"
        if self._between_turns():
            self._reconnect()
        else:
            self._switch_pending = True

    def _reconnect(self) -> None:
        """A planned switch (a new setup, goAway): close first, since Gemini refuses to resume a session
        whose socket is still open (lessons-from-peers.md (d) 2), then resume on a new connection."""
        self._upstream.append(CloseUpstream())
        self._attempt()

    def _attempt(self) -> None:
        self.reconnects[self.reconnect_reason] += 1
        self._switch_pending = False
        self._switch_by = self._retry_at = None
        self._activity_open = False
        if self._text_done_by is not None:
            self._text_done_by = None
            self.responses.finish("completed")  # its text is all there: asking again would repeat it
        self.responses.connection_lost()  # a new connection starts with no turn in progress
        self._retry_turn = self.responses.active is not None
        self.upstream = Upstream.SETTING_UP
        self.generation += 1
        self._resuming = bool(self.resumption_handle)
        self._queued = [*self._reseed(), *self._queued]
        setup = build_setup(self.route, self.session, handle=self.resumption_handle)
        self._upstream.append(StartUpstream(orjson.dumps(setup), self.generation, self.route.location))

    # ---- time --------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        idle = self._last_client + self.idle_timeout_s if self.idle_timeout_s else None
        deadlines = [t for t in (self._retry_at, self._switch_by, self._index_by, self._text_done_by, self._hint_by, idle, self._expires) if t is not None]
        return min(deadlines) if deadlines else None

    def end(self, code: str, message: str, close: int) -> None:
        """End the session: the response in progress fails, then an error event says why, then the close."""
        if self.upstream is Upstream.CLOSED:
            return
        self.upstream = Upstream.CLOSED
        self._retry_at = self._switch_by = self._index_by = self._text_done_by = self._expires = None
        self.idle_timeout_s = None
        self.responses.fail({"type": "failed", "error": {"type": "server_error", "code": code, "message": message}})
        self._error(ClientError(message, code=code, error_type="server_error"))
        self._client.append(CloseClient(close, message[:120]))
        self._upstream.append(CloseUpstream())

    def tick(self, now: float) -> None:
        if self.idle_timeout_s and now >= self._last_client + self.idle_timeout_s:
            self.end("idle_timeout", f"No client event for {self.idle_timeout_s:g} seconds: the session is closed.", 1000)
            return
        if self._expires is not None and now >= self._expires:
            self.end("session_expired", "The session reached its maximum duration.", 1000)
            return
        if self._hint_by is not None and now >= self._hint_by:
            self._hint_by = None
            if self.responses.active is None:
                self._hinted = True
                self.notices.append(
                    f"a user item has waited {ITEM_HINT_S:g} s for response.create: OpenAI answers an item only when asked; "
                    "a client written for LiteLLM, which answers every user item at once, needs respond_to_user_items: true "
                    "(general_settings, or the deployment's litellm_params)"
                )
        if self._text_done_by is not None and now >= self._text_done_by:
            self._text_done_by = None
            if self.responses.owner is not None and self.responses.owner is self.responses.active:
                self.responses.finish("completed")
        if self._retry_at is not None and now >= self._retry_at:
            self._attempt()
        if self._switch_by is not None and now >= self._switch_by:
            self._switch_by = None
            if self._switch_pending and self.upstream is Upstream.READY:
                self._reconnect()  # goAway's deadline is near: switch even in the middle of a turn
        if self._index_by is not None and now >= self._index_by:
            self._index_by = None
            if self.upstream is Upstream.REPLAYING:
                # No index came: everything not acknowledged goes again (it may arrive twice).
                self._ready(self._log.unconsumed(self._log.acknowledged))

    def _reseed(self) -> list[bytes]:
        """Without a resumption handle Gemini starts empty: livegate's mirror gives it the conversation."""
        if self.resumption_handle:
            return []
        turns = []
        for item in self.conversation.items:
            if item["type"] == "message" and item["id"] not in self._unsent:
                text = " ".join(p.get("text") or p.get("transcript") or "" for p in item["content"]).strip()
                if text:
                    turns.append({"role": "model" if item["role"] == "assistant" else "user", "parts": [{"text": text}]})
        return [orjson.dumps({"clientContent": {"turns": turns, "turnComplete": False}})] if turns else []

    def _item_create(self, event: ConversationItemCreate) -> None:
        item = normalize_item(event.item, lambda: self.ids("item"))
        images = [_image_blob(part["image_url"]) for part in item.get("content", ()) if part["type"] == "input_image"]
        previous = self.conversation.insert(item, event.previous_item_id)
        if images:
            # Gemini Live takes images as video frames (gemini-live.md §4.5, §8: at most one a second).
            self._ensure_upstream()
            for mime, data in images:
                self._send(b'{"realtimeInput":{"video":{"mimeType":"' + mime.encode() + b'","data":"' + data.encode() + b'"}}}')
        self._unsent.append(item["id"])
        self.responses.item_added(item, previous)
        self.responses.item_done(item, previous)

    def _response_create(self, event: ResponseCreate) -> None:
        if self.responses.active is not None:
            raise ClientError(
                f"Conversation already has an active response in progress: {self.responses.active.id}. Wait until the "
                "response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        text_output, instructions, refuse_tools = self._response_options(event.response)
        results = self._take_tool_results()
        turns = self._take_unsent()
        continues = bool(results) and self.route.info.results_continue_turn
        response = self.responses.open(event.response.get("metadata"), text_output=text_output, continues_turn=continues)
        response.refuse_tools = refuse_tools
        self._ensure_upstream()
        if instructions:
            # Gemini has no per-response instructions: they go to the model as a turn of their own,
            # as LiveKit's Gemini plugin does for generate_reply(instructions=...).
            turns.append({"role": "user", "parts": [{"text": instructions}]})
        if results:
            # Gemini goes on by itself once it has the results (gemini-live.md §6.4): no new turn.
            if turns:
                self._send(orjson.dumps({"clientContent": {"turns": turns, "turnComplete": False}}))
            self._send(orjson.dumps({"toolResponse": {"functionResponses": results}}))
        elif self._activity_open:
            if turns:
                self._send(orjson.dumps({"clientContent": {"turns": turns, "turnComplete": False}}))
            self._activity_open = False
            self._send(b'{"realtimeInput":{"activityEnd":{}}}')
        elif self.route.model_id.startswith("gemini-3.1"):
            # gemini-3.1 refuses clientContent after its first turn: user text goes as realtime input, and a
            # space starts a reply when there is none (gemini-live.md §4.4, §12; lessons-from-peers.md (d) 3).
            text = " ".join(part["text"] for turn in turns if turn["role"] == "user" for part in turn["parts"])
            self._send(orjson.dumps({"realtimeInput": {"text": text or " "}}))
        else:
            # Gemini has no "create a response": a completed client turn starts generation (gemini-live.md §12).
            self._send(orjson.dumps({"clientContent": {"turns": turns, "turnComplete": True}}))

    def _response_options(self, params: dict[str, Any]) -> tuple[bool | None, str, bool]:
        """What of response.create's parameters Gemini can honour (openai-realtime.md §3.5); the rest is
        refused by name, never dropped. Explicit nulls mean "not set" (LiveKit sends instructions: null),
        and so does a value the session already has (LiveKit sends tool_choice with every response)."""
        text_output: bool | None = None
        instructions = ""
        refuse_tools = False
        for name, value in params.items():
            if value is None or name == "metadata" or (name == "conversation" and value == "auto"):
                continue
            if (name == "tool_choice" and value == self.session.ga["tool_choice"]) or (name == "tools" and value == self.session.tools):
                continue
            if name == "tool_choice" and value == "none":
                refuse_tools = True  # livegate answers this response's calls itself, as for a session's "none"
                continue
            if name in ("output_modalities", "modalities") and isinstance(value, list) and value:
                wants_audio = "audio" in value
                speaking = upstream_modality(self.route, self.session) == "AUDIO"
                if wants_audio and not speaking:
                    raise ClientError(
                        "This session's model answers in text; response.output_modalities cannot ask it for audio.",
                        code="unsupported_parameter",
                        param=f"response.{name}",
                    )
                text_output = not wants_audio
                continue
            if name == "instructions" and isinstance(value, str):
                instructions = value
                continue
            reason = {
                "conversation": "Gemini Live keeps one conversation per session: out-of-band responses are not possible.",
                "input": "Gemini Live answers from its own context: a response cannot be given other input.",
            }.get(name, f"'{name}' is part of Gemini's session setup and cannot change for one response; use session.update.")
            raise ClientError(reason, code="unsupported_parameter", param=f"response.{name}")
        return text_output, instructions, refuse_tools

    def _take_tool_results(self) -> list[dict[str, Any]]:
        results = []
        for item_id in list(self._unsent):
            item = self.conversation.get(item_id)
            if item is None or item["type"] != "function_call_output":
                continue
            self._unsent.remove(item_id)
            call = self._calls.pop(item["call_id"], None)
            if call is None or item["call_id"] in self._cancelled_calls:
                continue  # Gemini cancelled the call or never made it: it would refuse the answer
            try:
                output = orjson.loads(item["output"])
            except orjson.JSONDecodeError:
                output = item["output"]
            response = output if isinstance(output, dict) else {"output": output}
            # Both id and name, on both backends (gemini-live.md §4.6).
            results.append({"id": call[0], "name": call[1], "response": response})
        return results

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
            self._upstream.append(StartUpstream(orjson.dumps(setup), self.generation, self.route.location))

    def _send(self, frame: bytes) -> None:
        if self.upstream is Upstream.READY:
            self._to_upstream(frame)
        elif self.upstream is not Upstream.CLOSED and self.upstream is not Upstream.IDLE:
            # Gemini Live: clients wait for setupComplete before sending anything else (gemini-live.md §4.1);
            # during a reconnect the client's input waits too, in order.
            self._queued.append(frame)

    def _to_upstream(self, frame: bytes) -> None:
        self._upstream.append(SendUpstream(frame))
        self._log.sent(frame)

    def _ready(self, replay: list[bytes]) -> None:
        """The connection takes frames: what Gemini did not consume first, then what waited."""
        self.upstream = Upstream.READY
        for frame in replay:
            self._to_upstream(frame)
        queued, self._queued = self._queued, []
        for frame in queued:
            self._to_upstream(frame)
        if self._retry_turn:
            self._retry_turn = False
            if self.responses.active is not None and not replay:
                # The reply in progress was cut after Gemini took in what asked for it: Gemini is asked
                # again (gemini-live.md §12). When that was sent again, it asks by itself.
                if self.route.model_id.startswith("gemini-3.1"):
                    self._to_upstream(b'{"realtimeInput":{"text":" "}}')
                else:
                    self._to_upstream(b'{"clientContent":{"turnComplete":true}}')

    def receive_upstream_message(self, data: bytes | str, now: float, generation: int | None = None) -> None:
        if generation is not None and generation != self.generation:
            return  # a connection livegate has left (a reconnect with a new setup)
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        if "setupComplete" in message:
            self._ready_since = now
            self._served = True
            if not self._resuming:
                self._log.restart()  # a new Gemini session: the mirror seeds it, nothing is replayed
                self._ready([])
            elif self.route.flavour is Flavour.VERTEX and len(self._log):
                self.upstream = Upstream.REPLAYING  # Vertex reports what it consumed (transparent resumption)
                self._index_by = now + INDEX_WAIT_S
            else:
                # AI Studio confirms nothing: what was sent after the last turn Gemini completed goes again.
                self._ready(self._log.unconsumed(self._log.acknowledged))
            for session in self._updated_pending:
                self._emit("session.updated", session=session)
            self._updated_pending.clear()
        usage = message.get("usageMetadata")
        if isinstance(usage, dict):
            standalone = "serverContent" not in message and "toolCall" not in message
            self.responses.usage(openai_usage(usage), standalone=standalone)
        content = message.get("serverContent")
        if content is not None:
            self._server_content(content, now)
        tool_call = message.get("toolCall")
        if tool_call is not None:
            self._tool_call(tool_call)
        cancellation = message.get("toolCallCancellation")
        if cancellation is not None:
            gemini_ids = set(cancellation.get("ids") or ())
            self._cancelled_calls |= {call_id for call_id, (gid, _) in self._calls.items() if gid in gemini_ids}
        update = message.get("sessionResumptionUpdate")
        if update is not None:
            if update.get("newHandle"):
                self.resumption_handle = update["newHandle"]
                if not self._indexed:
                    # Without lastConsumedClientMessageIndex: Gemini hands out handles between turns
                    # (gemini-live.md §6.5), so a handle covers what came before the turn it follows
                    # ended. An answered turn is never sent again; what follows it is.
                    self._log.acknowledge(self._turn_end)
            consumed = update.get("lastConsumedClientMessageIndex")
            if consumed is not None:
                self._indexed = True
                index = int(consumed)
                if self.upstream is Upstream.REPLAYING:
                    self._index_by = None
                    self._ready(self._log.unconsumed(index))
                else:
                    self._log.acknowledge(index)
        go_away = message.get("goAway")
        if go_away is not None:
            self._go_away(parse_duration(go_away.get("timeLeft", "")), now)

    def _server_content(self, content: dict[str, Any], now: float) -> None:
        transcription = content.get("inputTranscription")
        if transcription is not None:
            self._input_transcription(transcription)
        if content.get("interrupted"):
            self._interrupted()
        self._model_output(content, now)
        if content.get("turnComplete"):
            self._text_done_by = None
            self._turn_end = self._log.next_index - 1
            owner = self.responses.owner
            self.responses.turn_complete()
            self._attempts = 0  # a connection that completed a turn works: faults count afresh
            if owner is None or owner.status != "cancelled":
                # The end of a cut turn is not the end of the speech that cut it: its transcript comes later.
                self._complete_transcription()
            if self._switch_pending and self._between_turns():
                self._reconnect()

    def _tool_call(self, tool_call: dict[str, Any]) -> None:
        calls = [c for c in tool_call.get("functionCalls") or () if isinstance(c, dict) and c.get("name")]
        response = self._shown() if calls else None
        if response is None:
            return
        if self.session.ga["tool_choice"] == "none" or response.refuse_tools:
            # Gemini has no "no tools" switch: livegate answers for the client, which never sees the call.
            refusals = [{"id": c.get("id", ""), "name": c["name"], "response": {"error": "Function calling is disabled (tool_choice is none)."}} for c in calls]
            self._send(orjson.dumps({"toolResponse": {"functionResponses": refusals}}))
            if not self.route.info.results_continue_turn:
                self.responses.carry_over()  # Gemini answers the refusal with a new turn: still this response's
            return
        for call in calls:
            call_id = self.ids("call")
            self._calls[call_id] = (str(call.get("id", "")), call["name"])
            self.responses.function_call(call["name"], call_id, orjson.dumps(call.get("args") or {}).decode())
        # OpenAI clients run tools after response.done and answer with function_call_output and
        # response.create (openai-realtime.md §5.3): the response ends with the call, and the rest of
        # Gemini's turn is its own (responses.py, rule 3).
        self.responses.finish("completed")

    def _model_output(self, content: dict[str, Any], now: float) -> None:
        responses = self.responses
        text_upstream = upstream_modality(self.route, self.session) == "TEXT"
        turn = content.get("modelTurn")
        if turn is not None:
            for part in turn.get("parts") or ():
                if part.get("thought"):
                    continue  # native-audio models' text parts are thoughts, never the reply (§12)
                if text_upstream and "text" in part:
                    if self._shown() is not None:
                        responses.text(part["text"])
                elif "inlineData" in part and self.session.audio_output and self._shown() is not None:
                    responses.audio(part["inlineData"].get("data", ""))
        transcription = content.get("outputTranscription")
        if transcription is not None and not text_upstream and transcription.get("text") and self._shown() is not None:
            if self.session.audio_output:
                responses.transcript(transcription["text"])
            else:
                responses.text(transcription["text"])
        if content.get("generationComplete") and responses.owner is not None and responses.owner is responses.active:
            responses.close_message()
            if responses.owner.text_output:
                # A text-only client has all of its reply, but Gemini's turnComplete (with the usage) waits
                # for the playback time of audio it never hears (gemini-live.md §6.2): the response is done
                # when turnComplete comes at once, or after a moment without it; its usage follows it.
                self._text_done_by = now + TEXT_DONE_WAIT_S

    def _shown(self) -> Response | None:
        """The response Gemini's output goes to, or None for the rest of a turn whose response is done."""
        responses = self.responses
        if responses.owner is None or responses.owner is responses.active:
            # Gemini decided the user's turn is over: the client gets it committed before the reply.
            speech = self.speech
            if speech is not None and not speech.committed:
                self._speech_stopped(self.input.position_ms)
        return responses.target()

    def _between_turns(self) -> bool:
        """No Gemini turn running or awaited, and the user not speaking: a connection can be switched."""
        return self.responses.owner is None and not (self.speech and not self.speech.committed)

    def _interrupted(self) -> None:
        # Gemini Live: interrupted > (toolCallCancellation) > turnComplete, and nothing more of the cut
        # turn (gemini-live.md §6.3).
        responses = self.responses
        if responses.owner is None or responses.owner is not responses.active:
            return  # the end of a turn whose response is already done; a newer response is not touched
        if self.session.turn_detection is None:
            # Manual turns: the client's own activityStart cut the reply; its audio is already an item.
            responses.cancel("turn_detected")
        elif self.speech is None or self.speech.committed:
            self._begin_speech(self.input.position_ms)
        else:
            responses.cancel("turn_detected")

    def _input_transcription(self, transcription: dict[str, Any]) -> None:
        speech = self.speech
        if speech is None or self.session.transcription is None:
            return
        if transcription.get("text"):
            speech.transcript.append(transcription["text"])
            self._send_transcript_deltas()
        if transcription.get("finished") and speech.committed:
            self._complete_transcription()

    def _send_transcript_deltas(self) -> None:
        speech = self.speech
        if speech is None or not speech.committed or self.session.transcription is None:
            return
        for piece in speech.transcript[speech.sent :]:
            self._emit("conversation.item.input_audio_transcription.delta", item_id=speech.item_id, content_index=0, delta=piece)
        speech.sent = len(speech.transcript)

    def _complete_transcription(self) -> None:
        """One ``completed`` per user audio item: when Gemini says it is finished, or at the turn's end."""
        speech = self.speech
        if speech is None or not speech.committed:
            return
        self.speech = None
        if self.session.transcription is None:
            return
        self._send_transcript_deltas()
        transcript = "".join(speech.transcript).strip()
        item = self.conversation.get(speech.item_id)
        if item is not None:
            item["content"][0]["transcript"] = transcript
        self._emit(
            "conversation.item.input_audio_transcription.completed",
            item_id=speech.item_id,
            content_index=0,
            transcript=transcript,
            usage={"type": "duration", "seconds": round(speech.seconds, 3)},
        )

    def _go_away(self, time_left: float, now: float) -> None:
        # Gemini closes about a minute after goAway (gemini-live.md §6.5): resume on a new connection
        # between turns if one comes soon enough, and before the deadline in any case.
        self._switch_pending = True
        self.reconnect_reason = "go_away"
        self._switch_by = now + max(0.0, time_left - GO_AWAY_MARGIN_S)
        if self._between_turns():
            self._reconnect()

    def receive_upstream_closed(self, code: int, reason: str, now: float, generation: int | None = None) -> None:
        if self.upstream is Upstream.CLOSED or (generation is not None and generation != self.generation):
            return
        if code == 1007 and self._resuming and self.upstream is Upstream.SETTING_UP:
            # A resume refused (it happens after a 1011, gemini-live.md §6.5): start afresh, seeded from the mirror.
            self.resumption_handle = None
            self._retry_at = now
            self.reconnect_reason = "resume_refused"
            self.upstream = Upstream.RECONNECTING
            return
        verdict = classify(code, reason, model=self.route.model_id, vertex=self.route.flavour is Flavour.VERTEX, location=self.route.location)
        following = self.route.next_location()
        if following is not None and not self._served and (code == 1008 or verdict.retry):
            # This location refused the model or could not be reached: the next one is tried at once.
            self.route = following
            self._retry_at = now
            self.reconnect_reason = "failover"
            self.upstream = Upstream.RECONNECTING
            return
        if now - self._ready_since >= STABLE_S:
            self._attempts = 0
        if verdict.retry and self._attempts < len(BACKOFF_S):
            self.reconnect_reason = f"upstream_closed_{code}"
            self._retry_at = now + BACKOFF_S[self._attempts]
            self._attempts += 1
            self.upstream = Upstream.RECONNECTING
            return
        self.upstream = Upstream.CLOSED
        client_code, error_type = UPSTREAM_CLOSES.get(code, (1011, "server_error"))
        message = f"Gemini Live closed the connection ({code}): {reason}" if reason else f"Gemini Live closed the connection ({code})."
        if verdict.hint:
            message += f" Hint: {verdict.hint}"
        elif verdict.retry:
            message += f" (after {self._attempts} attempts to reconnect)"
        details = {"type": "failed", "error": {"type": error_type, "code": f"upstream_closed_{code}", "message": message}}
        self.responses.fail(details)
        self._error(ClientError(message, code=f"upstream_closed_{code}", error_type=error_type))
        self._client.append(CloseClient(client_code, reason[:120] if reason else "upstream closed"))

    # ---- events ------------------------------------------------------------------------------

    def _emit(self, kind: str, **fields: Any) -> None:
        self._client.append(orjson.dumps({"type": kind, "event_id": self.ids("event"), **fields}).decode())

    def _error(self, exc: ClientError) -> None:
        error = {"type": exc.error_type, "code": exc.code, "message": exc.message, "param": exc.param, "event_id": exc.event_id}
        self.errors[exc.code] += 1
        self._emit("error", error=error)


def _image_blob(url: str) -> tuple[str, str]:
    """A data URL's MIME type and base64 data; JPEG and PNG, as Gemini takes them."""
    head, _, data = url.partition(",")
    mime = head.removeprefix("data:").removesuffix(";base64")
    if mime not in ("image/jpeg", "image/png") or not head.endswith(";base64") or not data:
        raise ClientError("Invalid 'image_url': expected a base64 data URL of a JPEG or PNG image.", code="invalid_value", param="item.content")
    try:
        binascii.a2b_base64(data)
    except binascii.Error:
        raise ClientError("Invalid 'image_url': the data is not base64.", code="invalid_value", param="item.content") from None
    return mime, data
