"""The gateway's core: one OpenAI Realtime session translated to and from one Gemini Live session.

Sans-I/O (STYLE.md §1). Feed it with ``receive_client_event``, ``receive_upstream_message`` and
``receive_upstream_closed``; drain ``events_to_client()`` (JSON text frames as UTF-8 bytes, and a ``CloseClient``
wish in its place in the order) and ``actions_to_upstream()`` (``StartUpstream`` with the setup,
``SendUpstream`` frames). Ids come from the injected ``ids`` factory, so output is exact.

Event orders are openai-realtime.md §5 on the client side and gemini-live.md §6 upstream; the
mapping of every event is in docs/mapping.md. This hub routes; each concern owns its state:
``responses.py`` (responses and which Gemini turn each owns), ``turns.py`` (input audio, speech and user
turns), ``tools.py`` (function calls), ``link.py`` (the Gemini connection, reconnects and resumption).
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from livegate.errors import ClientError
from livegate.gemini.closes import parse_duration
from livegate.gemini.route import UpstreamRoute
from livegate.gemini.setup import build_setup, upstream_modality
from livegate.gemini.usage import openai_usage
from livegate.realtime.checks import check_metadata, split_data_url
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
from livegate.realtime.link import CloseUpstream, Link, SendUpstream, StartUpstream, Upstream, UpstreamAction
from livegate.realtime.responses import Response, Responses
from livegate.realtime.session import Session
from livegate.realtime.tools import ToolCalls
from livegate.realtime.turns import UserTurns

__all__ = ["CloseClient", "CloseUpstream", "SendUpstream", "StartUpstream", "Translator"]


@dataclass(frozen=True, slots=True)
class CloseClient:
    code: int
    reason: str


ClientOutput = bytes | CloseClient  # bytes: written to the socket as they are, UTF-8 JSON


# Gemini close codes (gemini-live.md §7) to the client's close code and error type.
UPSTREAM_CLOSES = {
    1000: (1000, "server_error"),
    1007: (1011, "invalid_request_error"),
    1008: (1008, "invalid_request_error"),
}
# OpenAI Realtime response.create parameters, GA and beta (openai-realtime.md §3.5).
RESPONSE_PARAMETERS = {
    "conversation", "input", "instructions", "metadata", "output_modalities", "modalities", "tools", "tool_choice",
    "max_output_tokens", "max_response_output_tokens", "audio", "voice", "output_audio_format", "temperature", "prompt",
    "reasoning", "parallel_tool_calls",
}  # fmt: skip
MAX_FAULTS = 5  # internal errors in one session before it is closed with 1011
ITEM_HINT_S = 5.0  # a user item followed by nothing for this long: the LiteLLM setting is hinted at
TEXT_DONE_WAIT_S = 0.05  # after generationComplete, how long a text-only response waits for turnComplete
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
        self.link = Link(route, now, self._ready)
        self.max_frame_bytes = max_frame_bytes
        self.idle_timeout_s = idle_timeout_s
        self._last_client = now
        self._expires = now + max_session_s if max_session_s else None
        self.respond_to_user_items = respond_to_user_items
        self._hint_by: float | None = None  # a user item waits for response.create: a hint is logged then
        self._hinted = False
        self.notices: list[str] = []  # advice for the operator's log, never for the client: the shell drains it
        self.faults: list[tuple[str, Exception]] = []  # internal errors met, for the shell's log
        self._fault_count = 0
        self.beta = beta
        self.ids = ids
        self.session = Session(model, ids("sess"), now)
        if bound is not None:
            self.session.update(bound[0], beta=bound[1])  # validated when the key was minted
        self.conversation = Conversation()
        self._client: list[ClientOutput] = []
        self._unsent: list[str] = []  # ids of items Gemini has not seen yet
        conversation_id = ids("conv")
        self.responses = Responses(
            session=self.session, conversation=self.conversation, conversation_id=conversation_id, beta=beta, ids=ids, emit=self._emit
        )
        self.turns = UserTurns(
            session=self.session, conversation=self.conversation, responses=self.responses, link=self.link, ids=ids,
            emit=self._emit, start_upstream=self._ensure_upstream,
        )  # fmt: skip
        self.tools = ToolCalls(ids)
        self._text_done_by: float | None = None  # a text-only response's text is complete: done by then
        self._retry_turn = False  # a reply was cut by a failed connection: Gemini is asked again
        self._updated_pending: list[dict[str, Any]] = []  # session.updated once the new setup is in force
        self.errors: Counter[str] = Counter()  # error events sent, by code (metrics)
        self._emit("session.created", session=self.session.render(beta=beta))
        if beta:
            self._emit("conversation.created", conversation={"id": conversation_id, "object": "realtime.conversation"})

    # ---- draining ----------------------------------------------------------------------------

    def events_to_client(self) -> list[ClientOutput]:
        out, self._client = self._client, []
        return out

    def actions_to_upstream(self) -> list[UpstreamAction]:
        out, self.link.actions = self.link.actions, []
        return out

    @property
    def session_id(self) -> str:
        return str(self.session.ga["id"])

    @property
    def settled(self) -> bool:
        """Responses are settled that accounting has not taken yet (finished_responses)."""
        return bool(self.responses.finished)

    @property
    def route(self) -> UpstreamRoute:
        return self.link.route  # a failover moves it to the next Vertex location

    @property
    def generation(self) -> int:
        return self.link.generation

    @property
    def upstream_connections(self) -> int:
        """Connections started to Gemini, the first included: ``generation`` counts only the reconnects."""
        return self.link.connections

    @property
    def reconnect_reason(self) -> str:
        return self.link.reconnect_reason

    @property
    def reconnects(self) -> Counter[str]:
        return self.link.reconnects

    def finished_responses(self, *, final: bool = False) -> list[Response]:
        """Responses settled since the last call, with their usage: for accounting (issue 8). ``final``:
        the session is over, and every response goes with what is known of its usage."""
        if final:
            self.responses.settle_all()
        out, self.responses.finished = self.responses.finished, []
        return out

    # ---- client side -------------------------------------------------------------------------

    def receive_client_event(self, data: str | bytes, now: float) -> None:
        self._receive_client(data, now, direct=False)

    def receive_client_frame(self, data: str | bytes, now: float) -> bytes | None:
        """``receive_client_event``, with the audio path's shortcut (issue 14): an append that produced
        nothing but a Gemini message, with nothing else waiting, comes back as that message for the
        caller to send at once. Otherwise None, and everything is drained as usual."""
        return self._receive_client(data, now, direct=True)

    def receive_audio(self, audio: str, now: float) -> bytes | None:
        """Client audio that came with no event (a WebRTC call's microphone track), base64 in the session's
        input format: handled as an ``input_audio_buffer.append`` read by ``receive_client_frame``."""
        self._last_client = now
        link = self.link
        try:
            return self.turns.append(audio, direct=link.ready and not link.actions)
        except ClientError as exc:
            self._error(exc)
        except Exception as exc:
            self._fault(exc, "microphone audio", None)
        return None

    def _receive_client(self, data: str | bytes, now: float, *, direct: bool) -> bytes | None:
        self._last_client = now
        self._hint_by = None
        if len(data) > self.max_frame_bytes:
            self._error(ClientError(
                f"The event is {len(data)} bytes; this gateway takes at most {self.max_frame_bytes}.",
                code="frame_too_large",
            ))
            return None
        event: ClientEvent | None = None
        try:
            link = self.link
            if direct and type(data) is bytes and link.ready and not link.actions:
                # The steady stream: a plain append is read by the kernel, with no JSON parse here.
                handled = self.turns.append_event(data)
                if handled is not False:
                    return handled if type(handled) is bytes else None
            event = parse_client_event(data)
            if type(event) is InputAudioBufferAppend:
                return self.turns.append(event.audio, direct=direct and link.ready and not link.actions)
            self._handle_client(event)
        except ClientError as exc:
            # OpenAI Realtime: error.event_id names the client event that caused it (§4.6).
            if event is not None:
                exc.event_id = event.event_id
            self._error(exc)
        except Exception as exc:
            self._fault(exc, type(event).__name__ if event is not None else "a client frame", event.event_id if event else None)
        return None

    def _handle_client(self, event: ClientEvent) -> None:
        match event:
            case SessionUpdate():
                self._session_update(event)
            case ConversationItemCreate():
                self._after_item(self._item_create(event))
            case ResponseCreate():
                self._response_create(event)
            case InputAudioBufferCommit():
                self.turns.commit()
            case InputAudioBufferClear():
                self.turns.clear()
            case ConversationItemRetrieve():
                item = self.conversation.get(event.item_id)
                if item is None:
                    raise ClientError(
                        f"Item with item_id not found: {event.item_id}", code="item_retrieve_invalid_item_id", param="item_id"
                    )
                rendered = render_item(item, beta=self.beta, with_audio=True)
                audio = self.turns.audio_of(event.item_id)
                if audio is not None:
                    rendered["content"][0]["audio"] = base64.b64encode(audio).decode("ascii")
                self._emit("conversation.item.retrieved", item=rendered)
            case ConversationItemDelete():
                if not self.conversation.delete(event.item_id):
                    raise ClientError(f"Item with item_id not found: {event.item_id}", code="item_delete_invalid_item_id", param="item_id")
                if event.item_id in self._unsent:
                    self._unsent.remove(event.item_id)
                self.turns.forget(event.item_id)
                self._emit("conversation.item.deleted", item_id=event.item_id)
            case ResponseCancel():
                active = self.responses.active
                if active is None or (event.response_id is not None and event.response_id != active.id):
                    raise ClientError("Cancellation failed: no active response found", code="response_cancel_not_active")
                # Gemini has no cancel: the rest of its turn is dropped here, and nothing of the reply follows.
                self.responses.cancel("client_cancelled")
            case ConversationItemTruncate():
                self.truncate(event.item_id, event.content_index, event.audio_end_ms)
            case OutputAudioBufferClear():
                raise ClientError(
                    "output_audio_buffer.clear is for WebRTC and SIP sessions; on a WebSocket the client owns playback.",
                    code="unsupported_event",
                    param="type",
                )

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """``conversation.item.truncate``: the assistant's audio item cut where playback stopped, by the
        client, or by the server itself on WebRTC (openai-realtime.md §5.4)."""
        item = self.conversation.get(item_id)
        if item is None or item.get("role") != "assistant" or item["content"][:1] == [] or item["content"][0]["type"] != "output_audio":
            raise ClientError(
                f"Item with item_id not found or not an assistant audio message: {item_id}",
                code="item_truncate_invalid_item_id",
                param="item_id",
            )
        if content_index != 0:
            raise ClientError("Invalid 'content_index': assistant audio is content 0.", code="invalid_value", param="content_index")
        played = self.responses.audio_ms.get(item_id, 0.0)
        if audio_end_ms > played:
            raise ClientError(
                f"Audio content of {played:.0f}ms is shorter than audio_end_ms {audio_end_ms}ms.",
                code="invalid_value",
                param="audio_end_ms",
            )
        # The transcript is cut where the client stopped playing; Gemini's own context keeps the whole
        # turn, which it cannot be told to forget (docs/mapping.md).
        part = item["content"][0]
        transcript = part.get("transcript") or ""
        part["transcript"] = transcript[: round(len(transcript) * audio_end_ms / played)] if played else ""
        self.responses.audio_ms[item_id] = float(audio_end_ms)
        self._emit("conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=audio_end_ms)

    def _session_update(self, event: SessionUpdate) -> None:
        before = build_setup(self.route, self.session)["setup"]
        detection = self.session.turn_detection
        self.session.update(event.session, beta=self.beta)
        after = build_setup(self.route, self.session)["setup"]
        self.turns.session_changed(idle=self.link.idle, detection_changed=self.session.turn_detection != detection)
        if self.link.idle or after == before:
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
        self.link.reconnect_reason = "session_update"
        if self._between_turns():
            self._reconnect()
        else:
            self.link.switch_pending = True

    def _reconnect(self) -> None:
        self._new_connection()
        self.link.reconnect(self._setup, self._reseed)

    def _attempt(self) -> None:
        self._new_connection()
        self.link.attempt(self._setup, self._reseed)

    def _new_connection(self) -> None:
        """A new Gemini connection starts with no turn in progress."""
        self.turns.activity_open = False
        if self._text_done_by is not None:
            self._text_done_by = None
            self.responses.finish("completed")  # its text is all there: asking again would repeat it
        self.responses.connection_lost()
        self._retry_turn = self.responses.active is not None

    def _setup(self, handle: str | None) -> bytes:
        return orjson.dumps(build_setup(self.route, self.session, handle=handle))

    # ---- time --------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        # Asked after every frame: no list, no generator.
        best = self._last_client + self.idle_timeout_s if self.idle_timeout_s else None
        for at in (*self.link.deadlines(), self.turns.transcript_by, self._text_done_by, self._hint_by, self._expires):
            if at is not None and (best is None or at < best):
                best = at
        return best

    def end(self, code: str, message: str, close: int) -> None:
        """End the session: the response in progress fails, then an error event says why, then the close."""
        if self.link.closed:
            return
        self.link.close()
        self._text_done_by = self._expires = None
        self.idle_timeout_s = None
        self.responses.fail({"type": "failed", "error": {"type": "server_error", "code": code, "message": message}})
        self._error(ClientError(message, code=code, error_type="server_error"))
        self._client.append(CloseClient(close, message[:120]))

    def tick(self, now: float) -> None:
        try:
            self._tick(now)
        except Exception as exc:
            self._fault(exc, "a timer", None)

    def _tick(self, now: float) -> None:
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
            if self.responses.answering:
                self.responses.finish("completed")
        self.turns.tick(now)
        link = self.link
        if link.retry_at is not None and now >= link.retry_at:
            self._attempt()
        if link.switch_by is not None and now >= link.switch_by:
            link.switch_by = None
            if link.switch_pending and link.state is Upstream.READY:
                self._reconnect()  # goAway's deadline is near: switch even in the middle of a turn
        link.tick(now)

    def _reseed(self) -> list[bytes]:
        """A new Gemini session starts empty: livegate's mirror gives it the conversation."""
        turns = []
        for item in self.conversation.items:
            if item["type"] == "message" and item["id"] not in self._unsent:
                text = " ".join(p.get("text") or p.get("transcript") or "" for p in item["content"]).strip()
                if text:
                    turns.append({"role": "model" if item["role"] == "assistant" else "user", "parts": [{"text": text}]})
        return [orjson.dumps({"clientContent": {"turns": turns, "turnComplete": False}})] if turns else []

    def _after_item(self, item: dict[str, Any]) -> None:
        """OpenAI answers an item only on response.create; LiteLLM answers user messages and tool outputs
        at once, and clients written for it wait for that (lessons-from-peers.md (b))."""
        user = item.get("role") == "user"
        if self.respond_to_user_items and (user or item["type"] == "function_call_output"):
            if self.responses.active is not None:
                self.responses.cancel("turn_detected")  # LiteLLM's clientContent interrupts the reply too
            self._response_create(ResponseCreate(event_id=None, response={}))
        elif user and not self._hinted:
            self._hint_by = self._last_client + ITEM_HINT_S

    def _item_create(self, event: ConversationItemCreate) -> dict[str, Any]:
        item = normalize_item(event.item, lambda: self.ids("item"), beta=self.beta)
        images = [split_data_url(part["image_url"]) for part in item.get("content", ()) if part["type"] == "input_image"]
        previous = self.conversation.insert(item, event.previous_item_id)
        if images:
            # Gemini Live takes images as video frames (gemini-live.md §4.5, §8: at most one a second).
            self._ensure_upstream()
            for mime, data in images:
                self._send(b'{"realtimeInput":{"video":{"mimeType":"' + mime.encode() + b'","data":"' + data.encode() + b'"}}}')
        self._unsent.append(item["id"])
        self.responses.item_added(item, previous)
        self.responses.item_done(item, previous)
        return item

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
        elif self.turns.activity_open:
            if turns:
                self._send(orjson.dumps({"clientContent": {"turns": turns, "turnComplete": False}}))
            self.turns.end_activity()
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
            if name == "metadata":
                check_metadata(value, "response.metadata")
                continue
            if value is None or (name == "conversation" and value == "auto"):
                continue
            if (name == "tool_choice" and value == self.session.ga["tool_choice"]) or (name == "tools" and value == self.session.tools):
                continue
            if name == "tool_choice" and value == "none":
                refuse_tools = True  # livegate answers this response's calls itself, as for a session's "none"
                continue
            if name not in RESPONSE_PARAMETERS:
                raise ClientError(f"Unknown parameter: 'response.{name}'.", code="unknown_parameter", param=f"response.{name}")
            if name in ("output_modalities", "modalities"):
                if not isinstance(value, list) or not value or not all(m in ("text", "audio") for m in value):
                    raise ClientError(
                        f"Invalid 'response.{name}': expected ['text'] or ['audio'].", code="invalid_value", param=f"response.{name}"
                    )
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
            if name == "instructions":
                if not isinstance(value, str):
                    raise ClientError("Invalid type for 'response.instructions': expected a string.", code="invalid_type", param="response.instructions")
                instructions = value
                continue
            reason = {
                "conversation": "Gemini Live keeps one conversation per session: out-of-band responses are not possible.",
                "input": "Gemini Live answers from its own context: a response cannot be given other input.",
            }.get(name, f"'{name}' is part of Gemini's session setup and cannot change for one response; use session.update.")
            raise ClientError(reason, code="unsupported_parameter", param=f"response.{name}")
        return text_output, instructions, refuse_tools

    def _take_tool_results(self) -> list[dict[str, Any]]:
        outputs = []
        for item_id in list(self._unsent):
            item = self.conversation.get(item_id)
            if item is not None and item["type"] == "function_call_output":
                self._unsent.remove(item_id)
                outputs.append(item)
        return self.tools.responses(outputs)

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
        if self.link.idle:
            self.link.start(self._setup(None))

    def _send(self, frame: bytes) -> None:
        self.link.send(frame)

    def _ready(self, replayed: bool) -> None:
        if self._retry_turn:
            self._retry_turn = False
            if self.responses.active is not None and not replayed:
                # The reply in progress was cut after Gemini took in what asked for it: Gemini is asked
                # again (gemini-live.md §12). When that was sent again, it asks by itself.
                if self.route.model_id.startswith("gemini-3.1"):
                    self.link.send(b'{"realtimeInput":{"text":" "}}')
                else:
                    self.link.send(b'{"clientContent":{"turnComplete":true}}')

    def receive_upstream_message(self, data: bytes | str, now: float, generation: int | None = None) -> None:
        if generation is not None and generation != self.link.generation:
            return  # a connection livegate has left (a reconnect with a new setup)
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        try:
            self._upstream_message(message, now)
        except Exception as exc:
            self._fault(exc, "a Gemini message", None)

    def _upstream_message(self, message: dict[str, Any], now: float) -> None:
        if "setupComplete" in message:
            self.link.setup_complete(now)
            for session in self._updated_pending:
                self._emit("session.updated", session=session)
            self._updated_pending.clear()
        usage = message.get("usageMetadata")
        if isinstance(usage, dict):
            standalone = "serverContent" not in message and "toolCall" not in message
            self.responses.usage(openai_usage(usage), standalone=standalone)
        content = message.get("serverContent")
        if isinstance(content, dict):
            self._server_content(content, now)
        tool_call = message.get("toolCall")
        if isinstance(tool_call, dict):
            self._tool_call(tool_call)
        cancellation = message.get("toolCallCancellation")
        if cancellation is not None:
            ids = cancellation.get("ids") if isinstance(cancellation, dict) else None
            self.tools.cancelled(ids if isinstance(ids, list) else ())
        update = message.get("sessionResumptionUpdate")
        if isinstance(update, dict):
            self.link.resumption_update(update)
        go_away = message.get("goAway")
        if isinstance(go_away, dict):
            self._go_away(parse_duration(go_away.get("timeLeft", "")), now)

    def _server_content(self, content: dict[str, Any], now: float) -> None:
        transcription = content.get("inputTranscription")
        if isinstance(transcription, dict):
            self.turns.input_transcription(transcription)
        if content.get("interrupted") is True:
            self._interrupted()
        self._model_output(content, now)
        if content.get("turnComplete") is True:
            self._text_done_by = None
            self.link.turn_complete()
            owner = self.responses.owner
            self.responses.turn_complete()
            if owner is None or owner.status != "cancelled":
                # The end of a cut turn is not the end of the speech that cut it: its transcript comes later.
                self.turns.turn_ended(now)
            if self.link.switch_pending and self._between_turns():
                self._reconnect()

    def _tool_call(self, tool_call: dict[str, Any]) -> None:
        listed = tool_call.get("functionCalls")
        calls = [c for c in listed if isinstance(c, dict) and isinstance(c.get("name"), str) and c["name"]] if isinstance(listed, list) else []
        response = self._shown() if calls else None
        if response is None:
            return
        if self.session.ga["tool_choice"] == "none" or response.refuse_tools:
            self._send(self.tools.refusals(calls))  # the client never sees the call
            if not self.route.info.results_continue_turn:
                self.responses.carry_over()  # Gemini answers the refusal with a new turn: still this response's
            return
        for call in calls:
            self.responses.function_call(call["name"], self.tools.called(call), orjson.dumps(call.get("args") or {}).decode())
        # OpenAI clients run tools after response.done and answer with function_call_output and
        # response.create (openai-realtime.md §5.3): the response ends with the call, and the rest of
        # Gemini's turn is its own (responses.py, rule 3).
        self.responses.finish("completed")

    def _model_output(self, content: dict[str, Any], now: float) -> None:
        responses = self.responses
        text_upstream = upstream_modality(self.route, self.session) == "TEXT"
        turn = content.get("modelTurn")
        parts = turn.get("parts") if isinstance(turn, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict) or part.get("thought"):
                continue  # native-audio models' text parts are thoughts, never the reply (§12)
            text, inline = part.get("text"), part.get("inlineData")
            if text_upstream and isinstance(text, str):
                if self._shown() is not None:
                    responses.text(text)
            elif isinstance(inline, dict) and self.session.audio_output:
                data = inline.get("data")
                if isinstance(data, str) and str(inline.get("mimeType", "audio/pcm")).startswith("audio/pcm") and self._shown() is not None:
                    responses.audio(data)
        transcription = content.get("outputTranscription")
        spoken = transcription.get("text") if isinstance(transcription, dict) else None
        if isinstance(spoken, str) and spoken and not text_upstream and self._shown() is not None:
            if self.session.audio_output:
                responses.transcript(spoken)
            else:
                responses.text(spoken)
        owner = responses.owner
        if content.get("generationComplete") is True and owner is not None and owner is responses.active:
            responses.close_message()
            if owner.text_output:
                # A text-only client has all of its reply, but Gemini's turnComplete (with the usage) waits
                # for the playback time of audio it never hears (gemini-live.md §6.2): the response is done
                # when turnComplete comes at once, or after a moment without it; its usage follows it.
                self._text_done_by = now + TEXT_DONE_WAIT_S

    def _shown(self) -> Response | None:
        """The response Gemini's output goes to, or None for the rest of a turn whose response is done."""
        responses = self.responses
        if responses.owner is None or responses.answering:
            self.turns.reply_begins()
        return responses.target()

    def _between_turns(self) -> bool:
        """No Gemini turn running or awaited, and the user not speaking: a connection can be switched."""
        return self.responses.owner is None and not self.turns.speaking

    def _interrupted(self) -> None:
        # Gemini Live: interrupted > (toolCallCancellation) > turnComplete, and nothing more of the cut
        # turn (gemini-live.md §6.3).
        responses = self.responses
        if responses.answering:
            self.turns.interrupted()
        # Otherwise: the end of a turn whose response is already done; a newer response is not touched.

    def _go_away(self, time_left: float, now: float) -> None:
        self.link.go_away(time_left, now)
        if self._between_turns():
            self._reconnect()

    def receive_upstream_closed(self, code: int, reason: str, now: float, generation: int | None = None) -> None:
        try:
            self._upstream_closed(code, reason, now, generation)
        except Exception as exc:
            self._fault(exc, "a Gemini close", None)

    def _upstream_closed(self, code: int, reason: str, now: float, generation: int | None) -> None:
        if self.link.closed or (generation is not None and generation != self.link.generation):
            return
        failure = self.link.upstream_closed(code, reason, now)
        if failure is None:
            return  # another attempt is scheduled
        client_code, error_type = UPSTREAM_CLOSES.get(code, (1011, "server_error"))
        message = f"Gemini Live closed the connection ({code}): {reason}" if reason else f"Gemini Live closed the connection ({code})."
        if failure.hint:
            message += f" Hint: {failure.hint}"
        elif failure.retried:
            message += f" (after {failure.attempts} attempts to reconnect)"
        details = {"type": "failed", "error": {"type": error_type, "code": f"upstream_closed_{code}", "message": message}}
        self.responses.fail(details)
        self._error(ClientError(message, code=f"upstream_closed_{code}", error_type=error_type))
        self._client.append(CloseClient(client_code, reason[:120] if reason else "upstream closed"))

    # ---- events ------------------------------------------------------------------------------

    def _emit(self, kind: str, **fields: Any) -> None:
        self._client.append(orjson.dumps({"type": kind, "event_id": self.ids("event"), **fields}))

    def _fault(self, exc: Exception, where: str, event_id: str | None) -> None:
        """A bug met while handling one event: the client is told, the shell logs the traceback (never
        the payload), and the session goes on; after a few, its state is not trusted any more."""
        self.faults.append((where, exc))
        self._fault_count += 1
        if self._fault_count >= MAX_FAULTS:
            self.end("server_error", "livegate met repeated internal errors in this session; reconnect to continue.", 1011)
            return
        self._error(ClientError(
            "The server had an error while processing your request. The session goes on; if the problem persists, reconnect.",
            code="server_error", error_type="server_error", event_id=event_id,
        ))  # fmt: skip

    def drain_faults(self) -> list[tuple[str, Exception]]:
        """The faults met since the last call, for the shell's log."""
        out, self.faults = self.faults, []
        return out

    def refuse(self, exc: ClientError) -> None:
        """An error event for a client event that a shell refuses before the translator sees it."""
        self._error(exc)

    def _error(self, exc: ClientError) -> None:
        error = {"type": exc.error_type, "code": exc.code, "message": exc.message, "param": exc.param, "event_id": exc.event_id}
        self.errors[exc.code] += 1
        self._emit("error", error=error)

