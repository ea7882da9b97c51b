"""One Gemini Live connection as the real service runs it, with no I/O.

Feed it with ``receive(frame, now)``, ``tick(now)`` and ``connection_lost(now)``; drain it with
``actions(now)``, which returns the frames, closes and drops that are due, in order; sleep until
``next_deadline()``. Replies are scheduled as timed frames, so latency, real-time pacing and the
delay of ``turnComplete`` behind playback are all exact, and a barge-in cancels what was not sent.
Event orders follow gemini-live.md §6; close codes and reasons §7.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from livegate.audio.vad import VadSettings
from livegate.emulator import voice
from livegate.emulator.listening import Listener, Utterance
from livegate.emulator.messages import (
    ActivityEnd,
    ActivityStart,
    AudioChunk,
    AudioStreamEnd,
    ClientContent,
    ClientMessage,
    ContextUpdate,
    Setup,
    TextInput,
    ToolResponse,
    VideoFrame,
    parse_client_message,
    parse_setup,
)
from livegate.emulator.models import Flavour, ModelInfo, ToolOrder, resolve_model
from livegate.emulator.render import render_audio, render_text
from livegate.emulator.routes import Credentials, Route
from livegate.emulator.script import Call, Fault, Plan, plan_reply
from livegate.emulator.setups import any_model, apply_locks, replace_setup
from livegate.emulator.state import EmulatorState, HistoryEntry, Session
from livegate.emulator.tokens import (
    AUDIO_OUT_TOKENS_PER_S,
    count_tokens,
    prompt_tokens,
    target_tokens,
    text_tokens,
    usage_metadata,
)
from livegate.emulator.wire import INTERNAL_ERROR, INVALID_ARGUMENT, POLICY_VIOLATION, encode_frame
from livegate.errors import GeminiClientError, close_reason

__all__ = ["Action", "Close", "Connection", "Drop", "SendFrame", "SetPongDelay"]

DEADLINE_REASON = "Deadline expired before operation could complete."


@dataclass(frozen=True, slots=True)
class SendFrame:
    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Drop:
    """Abort the TCP connection without a close frame."""


@dataclass(frozen=True, slots=True)
class SetPongDelay:
    ms: float


Action = SendFrame | Close | Drop | SetPongDelay


class Phase(Enum):
    AWAITING_SETUP = "awaiting_setup"
    OPEN = "open"
    CLOSED = "closed"


@dataclass
class Reply:
    """One model turn being generated or played back."""

    turn: int
    prompt_tokens: dict[str, int]
    started: float = 0.0
    text_sent: list[str] = field(default_factory=list)
    text: str = ""
    audio_seconds: float = 0.0
    thought_tokens: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)
    awaiting: set[str] = field(default_factory=set)  # blocking call ids this turn waits for
    cancelled: bool = False
    first_frame_sent: bool = False
    audio_timed: bool = False
    playback_end: float = 0.0


@dataclass
class PendingCall:
    name: str
    blocking: bool
    group: int
    result: dict[str, Any] | None = None
    scheduling: str = "SCHEDULING_UNSPECIFIED"


def duration(seconds: float) -> str:
    """A google.protobuf.Duration in proto3 JSON."""
    return f"{seconds:.0f}s" if float(seconds).is_integer() else f"{seconds:.3f}s"


class Connection:
    def __init__(self, state: EmulatorState, route: Route, credentials: Credentials, now: float) -> None:
        self.state = state
        self.config = state.config
        self.route = route
        self.credentials = credentials
        self.opened_at = now
        self._now = now
        self.phase = Phase.AWAITING_SETUP
        self.session: Session | None = None
        self.reply: Reply | None = None
        self.extra_latency_ms = 0.0
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()
        self._out: list[Action] = []
        self._send_at = now  # control frames
        self._reply_send_at = now  # the frames of replies, each after the one before
        self._idle_work: deque[Callable[[float], None]] = deque()
        self._pending_calls: dict[str, PendingCall] = {}
        self._groups = itertools.count(1)
        self._listener: Listener | None = None
        self._images = 0
        self._handling = False  # a client message is being taken in: its effect is not in the state yet
        self._handle_due = False  # a resumption update waits for that message to be in the state
        self._late_transcript_at = now  # with input_transcription_late: when the last one is due
        self._token = None if credentials.ephemeral is None else state.ephemeral_tokens.get(credentials.ephemeral)
        if self.config.pong_delay_ms:
            self._out.append(SetPongDelay(self.config.pong_delay_ms))
        lifetime = self.config.connection_lifetime_s
        if lifetime is not None:
            lead = min(self.config.go_away_lead_s, lifetime / 2)
            self._at(now + lifetime - lead, lambda t: self._go_away(lead, t))
        for index, fault in enumerate(self.config.scenario.faults):
            if fault.when == "seconds":
                self._at(now + fault.at, functools.partial(self._fire_once, index, fault))

    # ---- feeding -----------------------------------------------------------------------------

    def receive(self, data: bytes | str, now: float) -> None:
        self.tick(now)
        if self.phase is Phase.CLOSED:
            return
        try:
            if self._token is not None and now >= self._token.expire_time:
                raise GeminiClientError(POLICY_VIOLATION, "The ephemeral token has expired.")
            message = parse_client_message(data, strict=self.config.strict, vertex=self.route.flavour is Flavour.VERTEX)
            self._handling = True
            self._handle(message, now)
            self._handling = False
            if self._handle_due and self.phase is Phase.OPEN:
                self._resumption_update(now)
        except GeminiClientError as exc:
            self._close(exc.code, exc.reason)
        finally:
            self._handling = False

    def tick(self, now: float) -> None:
        self._now = now
        while self._timers and self._timers[0][0] <= now and self.phase is not Phase.CLOSED:
            due, _, callback = heapq.heappop(self._timers)
            callback(due)

    def actions(self, now: float) -> list[Action]:
        self.tick(now)
        out, self._out = self._out, []
        return out

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers and self.phase is not Phase.CLOSED else None

    def connection_lost(self, now: float) -> None:
        self._closed()

    def inject(self, fault: Fault, now: float) -> None:
        """Fire ``fault`` at once: a test's or a benchmark's hand on the service."""
        self.tick(now)
        if self.phase is not Phase.CLOSED:
            self._fire(fault, now)

    # ---- scheduling --------------------------------------------------------------------------

    def _at(self, when: float, callback: Callable[[float], None]) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), callback))

    def _send(self, message: dict[str, Any], when: float, on_sent: Callable[[float], None] | None = None) -> float:
        # Frames leave in the order they were scheduled: a later frame is never due before an earlier one.
        when = max(when, self._send_at)
        self._send_at = when
        frame = encode_frame(message)

        def emit(t: float) -> None:
            self._out.append(SendFrame(frame))
            if on_sent is not None:
                on_sent(t)

        self._at(when, emit)
        return when

    def _send_reply_frame(
        self, reply: Reply, message: dict[str, Any], when: float, text: str = "", on_sent: Callable[[], None] | None = None
    ) -> float:
        audio = self.config.record_timing and "inlineData" in str(message.get("serverContent", {}).get("modelTurn", ""))

        def emit(t: float) -> None:
            if reply.cancelled:
                return
            self._out.append(SendFrame(frame))
            if audio and not reply.audio_timed and self.session is not None:
                reply.audio_timed = True
                self.session.first_audio_sent.append(self._now)
            if text:
                reply.text_sent.append(text)
            if on_sent is not None:
                on_sent()
            if not reply.first_frame_sent:
                reply.first_frame_sent = True
                self._trigger("reply", reply.turn, t)

        when = max(when, self._reply_send_at)
        self._reply_send_at = when
        frame = encode_frame(message)
        self._at(when, emit)
        return when

    def _close(self, code: int, reason: str) -> None:
        if self.phase is Phase.CLOSED:
            return
        self._out.append(Close(code, close_reason(reason)))
        self._closed()

    def _closed(self) -> None:
        self.phase = Phase.CLOSED
        self._timers.clear()
        if self.session is not None and self.session.open_connection is self:
            self.session.open_connection = None
            self.session.ended_at = self._now

    def _latency(self) -> float:
        scenario_latency = self.config.scenario.latency_ms
        base = self.config.latency_ms if scenario_latency is None else scenario_latency
        return (base + self.extra_latency_ms) / 1000

    # ---- messages ----------------------------------------------------------------------------

    def _handle(self, message: ClientMessage, now: float) -> None:
        if self.phase is Phase.AWAITING_SETUP:
            if not isinstance(message, Setup):
                raise GeminiClientError(INVALID_ARGUMENT, "Setup must be the first message and only the first.")
            self._setup(message, now)
            return
        session = self.session
        assert session is not None
        if isinstance(message, Setup):
            # gemini-live.md §4.1: setup is sent once; a second one closes with 1007.
            raise GeminiClientError(INVALID_ARGUMENT, "Setup must be the first message and only the first.")
        counters = session.counters
        counters.client_messages += 1
        session.message_index += 1
        self._trigger("message", counters.client_messages, now)
        if self.phase is Phase.CLOSED:
            return
        match message:
            case AudioChunk():
                self._audio_in(message, now)
            case VideoFrame():
                counters.video_frames += 1
                session.used_video = True
                self._images += 1
            case TextInput():
                counters.text_inputs += 1
                self._user_turn(HistoryEntry("user", message.text), now)
            case ClientContent():
                self._client_content(message, now)
            case ActivityStart():
                if not session.setup.vad_disabled:
                    raise GeminiClientError(
                        INVALID_ARGUMENT,
                        "Explicit activity control is not supported when automatic activity detection is enabled.",
                    )
                assert self._listener is not None
                self._listener.activity_start()
                self._barge_in(now)
            case ActivityEnd():
                if not session.setup.vad_disabled:
                    raise GeminiClientError(
                        INVALID_ARGUMENT,
                        "Explicit activity control is not supported when automatic activity detection is enabled.",
                    )
                assert self._listener is not None
                self._heard(self._listener.activity_end(), now)
            case AudioStreamEnd():
                # Flushes buffered audio: speech in progress ends here (gemini-live.md §4.5).
                assert self._listener is not None
                self._heard(self._listener.stream_end(), now)
            case ToolResponse():
                self._tool_response(message, now)
            case ContextUpdate():
                counters.context_updates += 1
                changes: dict[str, Any] = {}
                if message.system_instruction is not None:
                    changes["system_instruction"] = message.system_instruction
                if message.functions is not None:
                    changes["functions"] = message.functions
                session.setup = replace_setup(session.setup, **changes)

    # ---- setup -------------------------------------------------------------------------------

    def _setup(self, setup: Setup, now: float) -> None:
        self._authenticate(now)
        if self._token is not None and self._token.locked_setup is not None:
            setup = parse_setup(apply_locks(setup.raw, self._token.locked_setup, self._token.field_mask))
        if self.config.accept_any_model:
            model = any_model(setup.model)
        else:
            model = resolve_model(setup.model, self.route.flavour, self.route.api_version, self.config.catalogue).info
        modalities = setup.modalities or ("AUDIO",)
        if len(modalities) != 1 or modalities[0] not in ("TEXT", "AUDIO") or (model.native_audio and modalities[0] == "TEXT"):
            raise GeminiClientError(
                INVALID_ARGUMENT,
                f"The requested combination of response modalities ({', '.join(modalities)}) is not supported by the model",
            )
        session = self._session_for(setup, model, now)
        self.session = session
        session.open_connection = self
        session.user_project = self.credentials.user_project
        session.setup = setup
        session.setups.append(setup.raw)
        session.counters.connections += 1
        if self.config.index_counts_setup:
            session.message_index += 1
        self.phase = Phase.OPEN
        studio = self.route.flavour is Flavour.AI_STUDIO
        vad = VadSettings.from_setup(
            setup.start_sensitivity,
            setup.end_sensitivity,
            setup.prefix_padding_ms,
            setup.silence_duration_ms,
            default_start="START_SENSITIVITY_HIGH" if studio else "START_SENSITIVITY_LOW",
            default_end="END_SENSITIVITY_HIGH" if studio else self.config.vertex_end_sensitivity,
        )
        self._listener = Listener(vad, manual=setup.vad_disabled)
        self._send({"setupComplete": {}}, now + self._latency())
        if setup.resumption and self.config.resumption_update_on_setup:
            self._resumption_update(now)
        if not setup.compression:
            for limit in (self.config.session_limit_s, self.config.video_session_limit_s):
                if limit is not None:
                    self._at(max(now, session.started_at + limit), self._session_limit)
        self._trigger("setup", session.counters.connections, now)

    def _authenticate(self, now: float) -> None:
        creds, config, route = self.credentials, self.config, self.route
        if route.constrained:
            if self._token is None or now >= self._token.expire_time:
                raise GeminiClientError(config.invalid_key_close[0], "The ephemeral token is invalid or expired.")
            return
        if route.flavour is Flavour.VERTEX and creds.bearer is not None:
            if not self.state.access_token_valid(creds.bearer, now):
                raise GeminiClientError(*config.invalid_token_close)
            return
        key = creds.api_key
        if not key or (config.api_key is not None and key != config.api_key):
            if route.flavour is Flavour.VERTEX and key is None:
                raise GeminiClientError(*config.invalid_token_close)
            raise GeminiClientError(*config.invalid_key_close)

    def _session_for(self, setup: Setup, model: ModelInfo, now: float) -> Session:
        if setup.resumption_handle:
            session = self.state.resume(setup.resumption_handle, now)
            if session is None or session.model.id != model.id:
                raise GeminiClientError(INVALID_ARGUMENT, "Request contains an invalid argument.")
            if session.open_connection is not None:
                # Gemini rejects a resume while the old socket is still open (lessons-from-peers.md (d) 2).
                raise GeminiClientError(INTERNAL_ERROR, "The service is currently unavailable.")
            session.counters.resumptions += 1
            return session
        token = self._token
        if token is not None:
            # One use per new session; resuming a session does not count (gemini-live.md §9).
            if now >= token.new_session_expire_time or token.uses == -1:
                raise GeminiClientError(
                    self.config.invalid_key_close[0], "The ephemeral token is used up or too old for a new session."
                )
            if token.uses > 0:
                token.uses = token.uses - 1 or -1
        session = Session(self.state.ids("session"), self.route.flavour, model, setup, now)
        self.state.forget_expired(now)
        self.state.sessions[session.id] = session
        return session

    def _session_limit(self, now: float) -> None:
        session = self.session
        if session is None or session.setup.compression:
            return
        limit = self.config.video_session_limit_s if session.used_video else self.config.session_limit_s
        if limit is not None and now >= session.started_at + limit:
            self._close(POLICY_VIOLATION, "The operation was aborted.")

    def _go_away(self, time_left: float, now: float) -> None:
        if self.session is not None:
            self.session.counters.go_aways += 1
        self._send({"goAway": {"timeLeft": duration(time_left)}}, now)
        self._at(now + time_left, lambda t: self._close(INTERNAL_ERROR, DEADLINE_REASON))

    def _resumption_update(self, now: float, resumable: bool = True) -> None:
        session = self.session
        assert session is not None
        if not session.setup.resumption or not self.config.resumption_updates:
            return
        if resumable and self._handling:
            # A handle covers whole client messages: the one cutting a reply is taken in first.
            self._handle_due = True
            return
        self._handle_due = False
        update: dict[str, Any] = {}
        if resumable:
            update = {"newHandle": self.state.new_handle(session, now, session.message_index), "resumable": True}
        if session.setup.transparent and session.message_index >= 0 and self.config.consumed_index:
            update["lastConsumedClientMessageIndex"] = str(session.message_index)
        self._send({"sessionResumptionUpdate": update}, now)

    # ---- faults ------------------------------------------------------------------------------

    def _trigger(self, when: str, count: int, now: float) -> None:
        for index, fault in enumerate(self.config.scenario.faults):
            if fault.when != when:
                continue
            hit = count >= fault.at if when == "setup" and fault.repeat else (
                count % int(fault.at) == 0 if fault.repeat else count == fault.at
            )
            if hit:
                self._fire_once(index, fault, now)

    def _fire_once(self, index: int, fault: Fault, now: float) -> None:
        fired = self.session.fired_faults if self.session is not None else set()
        if not fault.repeat and index in fired:
            return
        fired.add(index)
        self._fire(fault, now)

    def _fire(self, fault: Fault, now: float) -> None:
        match fault.action:
            case "close":
                self._close(fault.code, fault.reason)
            case "drop":
                self._out.append(Drop())
                self._closed()
            case "delay":
                self.extra_latency_ms = fault.ms
            case "slow_pong":
                self._out.append(SetPongDelay(fault.ms))
            case "go_away":
                self._go_away(fault.time_left_s, now)

    # ---- user input --------------------------------------------------------------------------

    def _audio_in(self, chunk: AudioChunk, now: float) -> None:
        session = self.session
        assert session is not None
        assert self._listener is not None
        counters = session.counters
        counters.audio_messages += 1
        counters.audio_bytes += len(chunk.data)
        counters.audio_bytes_by_rate[chunk.rate] = counters.audio_bytes_by_rate.get(chunk.rate, 0) + len(chunk.data)
        if self.config.record_audio:
            session.audio.setdefault(chunk.rate, bytearray()).extend(chunk.data)
        if self.config.record_timing:
            session.audio_arrivals.append(now)
        for event in self._listener.audio(chunk.data, chunk.rate):
            if isinstance(event, Utterance):
                self._heard(event, now)
            else:
                self._barge_in(now)

    def _heard(self, utterance: Utterance | None, now: float) -> None:
        if utterance is None or not utterance.pcm:
            return
        seconds = len(utterance.pcm) / 2 / utterance.rate
        text = voice.hear(utterance.pcm, utterance.rate) or f"({seconds:.1f} seconds of audio)"
        self._user_turn(HistoryEntry("user", text, audio_seconds=seconds), now, transcribe=True)

    def _client_content(self, message: ClientContent, now: float) -> None:
        session = self.session
        assert session is not None
        session.counters.client_contents += 1
        if "3.1" in session.model.id and any(h.role == "model" for h in session.history):
            # gemini-3.1-flash-live-preview refuses clientContent after the first model turn (§4.4).
            raise GeminiClientError(INVALID_ARGUMENT, "Request contains an invalid argument.")
        if self.reply is not None and message.turns:
            self._interrupt(now)
        last_user = ""
        for turn in message.turns:
            entry = HistoryEntry(turn.role, turn.text, images=turn.images)
            if turn.role == "user":
                entry.video_frames, self._images = self._images, 0
            count_tokens(entry)
            session.history.append(entry)
            if turn.role == "user":
                last_user = turn.text
        if message.turn_complete:
            if not message.turns and session.history and session.history[-1].role == "user":
                last_user = session.history[-1].text  # no new turn: the model answers what it was last told
            session.counters.user_turns += 1
            self._start_turn(last_user, now)

    def _user_turn(self, entry: HistoryEntry, now: float, *, transcribe: bool = False) -> None:
        session = self.session
        assert session is not None
        entry.video_frames, self._images = self._images, 0
        count_tokens(entry)
        session.history.append(entry)
        session.counters.user_turns += 1
        transcribe = transcribe and session.setup.input_transcription
        late = self.config.input_transcription_late
        if transcribe and not late:
            self._transcribe_input(entry.text, now)
        if self.reply is not None and session.setup.activity_handling == "NO_INTERRUPTION":
            text = entry.text
            self._idle_work.append(lambda t: self._start_turn(text, t))
        else:
            self._interrupt(now)
            self._start_turn(entry.text, now)
        if transcribe and late:
            # Input transcription often arrives after the model has started answering (gemini-live.md §6.2).
            # In the order of the speech: a later utterance's transcript never comes before an earlier one's.
            self._late_transcript_at = max(self._reply_send_at, self._late_transcript_at)
            self._transcribe_input(entry.text, self._late_transcript_at, late=True)

    def _transcribe_input(self, text: str, now: float, *, late: bool = False) -> None:
        words = text.split(" ")
        for i, word in enumerate(words):
            piece: dict[str, Any] = {"text": word if i == 0 else " " + word}
            if i == len(words) - 1:
                piece["finished"] = True
            message = {"serverContent": {"inputTranscription": piece}}
            if late:
                # Transcriptions are "sent independently of the other server messages" (gemini-live.md §6):
                # a late one holds back nothing sent after it.
                self._at(now + self._latency(), functools.partial(self._emit_now, encode_frame(message)))
            else:
                self._send(message, now + self._latency())

    def _emit_now(self, frame: bytes, _now: float) -> None:
        self._out.append(SendFrame(frame))

    def _barge_in(self, now: float) -> None:
        session = self.session
        assert session is not None
        if self.reply is not None and session.setup.activity_handling != "NO_INTERRUPTION":
            self._interrupt(now)

    # ---- replies -----------------------------------------------------------------------------

    def _compress_or_fail(self) -> dict[str, int]:
        session = self.session
        assert session is not None
        prompt = prompt_tokens(session.setup, session.history)
        total = sum(prompt.values())
        window = session.model.context_tokens
        if session.setup.compression:
            trigger = session.setup.compression_trigger_tokens or int(window * 0.8)
            target = target_tokens(session.setup.raw, trigger)
            if total > trigger:
                session.counters.compressions += 1
                while session.history and total > target:
                    dropped = session.history.pop(0)
                    total -= sum(dropped.tokens.values())
                prompt = prompt_tokens(session.setup, session.history)
        elif total > window:
            raise GeminiClientError(
                INVALID_ARGUMENT,
                f"The input token count ({total}) exceeds the maximum number of tokens allowed ({window}).",
            )
        return prompt

    def _start_turn(self, user_text: str, now: float, results: list[tuple[str, Any]] | None = None) -> None:
        session = self.session
        assert session is not None
        turn = session.counters.user_turns
        self._trigger("turn", turn, now)
        if self.phase is Phase.CLOSED:
            return
        try:
            prompt = self._compress_or_fail()
        except GeminiClientError as exc:
            self._close(exc.code, exc.reason)
            return
        plan = plan_reply(self.config.scenario, turn, user_text, session.setup.functions, results or ())
        reply = Reply(turn=turn, prompt_tokens=prompt, started=now)
        self.reply = reply
        if self._handle_due:
            self._handling = False  # the message that cut the last reply is in the history now
            self._resumption_update(now)
            self._handling = True
        self._resumption_update(now, resumable=False)
        at = now + self._latency()
        if session.model.native_audio and session.model.thinks and session.setup.thinking_budget != 0:
            # Native-audio models put thoughts in text parts (gemini-live.md §5.2, §12).
            thought = f"**Answering the user**\n\nThe user said: {user_text[:80]}. I will reply."
            reply.thought_tokens = text_tokens(thought)
            at = self._send_reply_frame(
                reply, {"serverContent": {"modelTurn": {"role": "model", "parts": [{"text": thought, "thought": True}]}}}, at
            )
        self._continue(reply, plan, at)

    def _continue(self, reply: Reply, plan: Plan, at: float) -> None:
        """Schedule ``plan``'s words, then its calls or the end of the turn."""
        session = self.session
        assert session is not None
        blocking_calls = [c for c in plan.calls if self._is_blocking(c)]
        text = plan.text
        if plan.calls and not blocking_calls and not text:
            text = "Let me check."  # NON_BLOCKING: the model keeps talking while the tool runs
        if text:
            at = self._content(reply, text, at)
        if plan.calls:
            group = next(self._groups)
            calls: list[dict[str, Any]] = []
            for call in plan.calls:
                call_id = self.state.ids("function-call")
                calls.append({"id": call_id, "name": call.name, "args": call.args})
                self._pending_calls[call_id] = PendingCall(call.name, self._is_blocking(call), group)
            session.counters.tool_calls += len(calls)
            reply.calls.extend(calls)
            at = self._send_reply_frame(reply, {"toolCall": {"functionCalls": calls}}, at)
            if blocking_calls:
                reply.awaiting = {c["id"] for c in calls if self._pending_calls[c["id"]].blocking}
                if self._tool_order() is ToolOrder.AFTER_RESPONSE:
                    return  # gemini-3.1: no turnComplete until the toolResponse (gemini-live.md §6.4)
                self._finish(reply, at, generation_complete=False)
                return
        self._finish(reply, at)

    def _is_blocking(self, call: Call) -> bool:
        session = self.session
        assert session is not None
        decl = next((d for d in session.setup.functions if d.name == call.name), None)
        behavior = decl.behavior if decl is not None else "BEHAVIOR_UNSPECIFIED"
        if behavior == "BEHAVIOR_UNSPECIFIED":
            return not session.model.non_blocking_default
        return behavior == "BLOCKING"

    def _tool_order(self) -> ToolOrder:
        assert self.session is not None
        return self.config.tool_order or self.session.model.tool_order

    def _content(self, reply: Reply, text: str, at: float) -> float:
        session = self.session
        assert session is not None
        reply.text += text
        seconds = 0.0
        if session.setup.modalities == ("TEXT",):
            frames = render_text(text)
        else:
            config = self.config
            frames, seconds = render_audio(
                text,
                chunk_ms=config.audio_chunk_ms,
                pace=config.audio_pace,
                transcription=session.setup.output_transcription,
                bundled=config.transcription_bundled,
            )
        first = at
        for frame in frames:
            at = self._send_reply_frame(reply, {"serverContent": frame.content}, first + frame.offset_s, frame.text)
        if seconds:
            reply.audio_seconds += seconds
            reply.playback_end = max(reply.playback_end, first) + seconds
        return at

    def _finish(self, reply: Reply, at: float, *, generation_complete: bool = True) -> None:
        session = self.session
        assert session is not None
        if generation_complete:
            at = self._send_reply_frame(reply, {"serverContent": {"generationComplete": True}}, at)
        if self.config.turn_complete_after_playback and reply.playback_end:
            # The model assumes real-time playback: turnComplete follows the audio (gemini-live.md §6.2).
            at = max(at, reply.playback_end)
        usage = self._usage(reply)
        done: dict[str, Any] = {"serverContent": {"turnComplete": True}}
        if self.config.usage_standalone:
            at = self._send_reply_frame(reply, done, at)
            at = self._send_reply_frame(reply, {"usageMetadata": usage}, at, on_sent=lambda: session.usage_sent.append(usage))
        else:
            done["usageMetadata"] = usage
            at = self._send_reply_frame(reply, done, at, on_sent=lambda: session.usage_sent.append(usage))
        self._at(at, lambda t: self._turn_done(reply, t))

    def _turn_done(self, reply: Reply, now: float) -> None:
        if reply.cancelled or self.reply is not reply:
            return
        self.reply = None
        self._record_model_turn(reply, reply.text)
        self._resumption_update(now)
        self._run_idle_work(now)

    def _run_idle_work(self, now: float) -> None:
        while self._idle_work and self.reply is None and self.phase is Phase.OPEN:
            self._idle_work.popleft()(now)

    def _record_model_turn(self, reply: Reply, text: str) -> None:
        session = self.session
        assert session is not None
        audio = session.setup.modalities != ("TEXT",)
        entry = HistoryEntry("model", text, audio_seconds=reply.audio_seconds if audio else 0.0)
        entry.function_calls = list(reply.calls)
        count_tokens(entry)
        if reply.calls and not text:
            entry.tokens = {"TEXT": sum(text_tokens(str(c)) for c in reply.calls)}
        session.history.append(entry)
        session.counters.model_turns += 1

    def _usage(self, reply: Reply) -> dict[str, Any]:
        session = self.session
        assert session is not None
        if session.setup.modalities == ("TEXT",):
            response = {"TEXT": text_tokens(reply.text)}
        else:
            response = {"AUDIO": math.ceil(reply.audio_seconds * AUDIO_OUT_TOKENS_PER_S)}
        if reply.calls:
            response["TEXT"] = response.get("TEXT", 0) + sum(text_tokens(str(c)) for c in reply.calls)
        return usage_metadata(reply.prompt_tokens, response, reply.thought_tokens, session.flavour)

    def _interrupt(self, now: float) -> None:
        reply, session = self.reply, self.session
        if reply is None or session is None:
            return
        reply.cancelled = True
        self.reply = None
        self._reply_send_at = now
        session.counters.interruptions += 1
        # Only what was already sent stays in the context (gemini-live.md §6.3).
        self._record_model_turn(reply, "".join(reply.text_sent))
        self._send({"serverContent": {"interrupted": True}}, now)
        cancelled = sorted(reply.awaiting)
        if cancelled:
            for call_id in cancelled:
                self._pending_calls.pop(call_id, None)
            session.counters.tool_cancellations += len(cancelled)
            self._send({"toolCallCancellation": {"ids": cancelled}}, now)
        # "interrupted > turn_complete"; no generationComplete for the cut turn (§6.3).
        usage = self._usage(reply)
        session.usage_sent.append(usage)
        self._send({"serverContent": {"turnComplete": True}, "usageMetadata": usage}, now)
        self._resumption_update(now)

    # ---- tools -------------------------------------------------------------------------------

    def _tool_response(self, message: ToolResponse, now: float) -> None:
        session = self.session
        assert session is not None
        session.counters.tool_responses += len(message.responses)
        answered: list[PendingCall] = []
        for response in message.responses:
            call_id = response.id or _only_call_named(self._pending_calls, response.name)
            pending = self._pending_calls.get(call_id or "")
            if pending is None or pending.result is not None:
                raise GeminiClientError(POLICY_VIOLATION, "Requested entity was not found.")
            pending.result = response.response
            pending.scheduling = response.scheduling
            answered.append(pending)
            session.history.append(
                HistoryEntry("user", "", tokens={"TEXT": text_tokens(str(response.response))},
                             function_responses=[{"id": call_id, "name": pending.name, "response": response.response}])
            )
        for group in sorted({p.group for p in answered}):
            members = {i: p for i, p in self._pending_calls.items() if p.group == group}
            if any(p.result is None for p in members.values()):
                continue
            for call_id in members:
                del self._pending_calls[call_id]
            results = [(p.name, p.result) for p in members.values()]
            blocking = any(p.blocking for p in members.values())
            scheduling = next(iter(members.values())).scheduling
            self._deliver_results(results, blocking, scheduling, now)

    def _deliver_results(self, results: list[tuple[str, Any]], blocking: bool, scheduling: str, now: float) -> None:
        session = self.session
        assert session is not None
        reply = self.reply
        if blocking and reply is not None and reply.awaiting:
            # gemini-3.1 order: the same turn goes on with the results.
            reply.awaiting = set()
            plan = plan_reply(self.config.scenario, reply.turn, "", session.setup.functions, results)
            self._continue(reply, plan, now + self._latency())
            return
        if not blocking and scheduling == "SILENT":
            return
        start = functools.partial(self._start_turn, "", results=results)
        if self.reply is None:
            start(now)
        elif not blocking and scheduling == "INTERRUPT":
            self._interrupt(now)
            start(now)
        else:
            self._idle_work.append(start)


def _only_call_named(pending: dict[str, PendingCall], name: str) -> str | None:
    # A response without an id (LiteLLM strips it on Vertex) matches the one open call of that name.
    matches = [i for i, p in pending.items() if p.name == name and p.result is None]
    return matches[0] if len(matches) == 1 else None
