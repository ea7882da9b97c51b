"""State the emulated service keeps across connections: sessions and their counters, resumption
handles, OAuth access tokens and ephemeral tokens. Plain data; time and id factories are passed in."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livegate.emulator.messages import Setup
from livegate.emulator.models import CATALOGUE, Flavour, ModelInfo, ToolOrder
from livegate.emulator.script import SCENARIOS, Scenario

__all__ = ["Counters", "EmulatorConfig", "EmulatorState", "EphemeralToken", "HistoryEntry", "Session"]


@dataclass
class EmulatorConfig:
    """How the emulated service behaves. Every ordering knob of gemini-live.md §11.5 is here."""

    api_key: str | None = None  # AI Studio key clients must present; None accepts any non-empty key
    strict: bool = True  # unknown fields close with 1007, as proto3 JSON parsing does
    connection_lifetime_s: float | None = None  # goAway, then close 1011 (the real service: about 600 s)
    go_away_lead_s: float = 60.0  # goAway this long before the end (capped at half the lifetime)
    session_limit_s: float | None = 900.0  # audio sessions without compression (§8: 15 minutes)
    video_session_limit_s: float | None = 120.0  # audio + video sessions without compression (2 minutes)
    latency_ms: float = 0.0  # before the first frame of every reply
    audio_chunk_ms: int = 40
    audio_pace: float = 0.0  # 0: audio as fast as it is made; 1.0: in real time
    turn_complete_after_playback: bool = True  # turnComplete waits for the remaining audio duration
    usage_standalone: bool = False  # usageMetadata in its own frame instead of on turnComplete
    transcription_bundled: bool = False  # outputTranscription in the same frame as the audio chunk
    input_transcription_late: bool = False  # inputTranscription after the reply's first frame
    resumption_update_on_setup: bool = True
    resumption_updates: bool = True  # False: never hand out a resumption handle
    index_counts_setup: bool = False  # whether lastConsumedClientMessageIndex counts the setup message
    consumed_index: bool = True  # False: no lastConsumedClientMessageIndex even with transparent (seen after goAway)
    tool_order: ToolOrder | None = None  # overrides the model's own order
    vertex_end_sensitivity: str = "END_SENSITIVITY_LOW"  # the sources conflict (§4.3): configurable
    invalid_key_close: tuple[int, str] = (1008, "API key not valid. Please pass a valid API key.")
    invalid_token_close: tuple[int, str] = (
        1008,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential.",
    )
    handle_ttl_s: float = 7200.0  # resumption handles live 2 hours after the session ends (§8)
    access_token_ttl_s: int = 3600
    pong_delay_ms: float = 0.0  # answer pings late, as the real service sometimes does (8-30 s)
    record_audio: bool = False  # keep every received audio byte, per declared rate, for tests
    record_timing: bool = False  # when each audio message arrived and each reply's first audio left (bench/)
    accept_any_model: bool = False  # serve any model id (the gateway's embedded default upstream)
    scenario: Scenario = field(default_factory=lambda: SCENARIOS["echo"])
    catalogue: dict[str, ModelInfo] = field(default_factory=lambda: dict(CATALOGUE))


@dataclass
class Counters:
    connections: int = 0
    resumptions: int = 0
    client_messages: int = 0
    audio_messages: int = 0
    audio_bytes: int = 0
    audio_bytes_by_rate: dict[int, int] = field(default_factory=dict)
    video_frames: int = 0
    text_inputs: int = 0
    client_contents: int = 0
    user_turns: int = 0
    model_turns: int = 0
    interruptions: int = 0
    tool_calls: int = 0
    tool_responses: int = 0
    tool_cancellations: int = 0
    go_aways: int = 0
    context_updates: int = 0
    compressions: int = 0


@dataclass
class HistoryEntry:
    role: str  # "user" or "model"
    text: str
    audio_seconds: float = 0.0
    images: int = 0
    video_frames: int = 0
    tokens: dict[str, int] = field(default_factory=dict)  # by modality, as this entry counts in a prompt
    function_calls: list[dict[str, Any]] = field(default_factory=list)
    function_responses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Session:
    """A conversation, which outlives each of its connections through resumption."""

    id: str
    flavour: Flavour
    model: ModelInfo
    setup: Setup
    started_at: float
    counters: Counters = field(default_factory=Counters)
    history: list[HistoryEntry] = field(default_factory=list)
    setups: list[dict[str, Any]] = field(default_factory=list)  # every setup received, in order
    audio: dict[int, bytearray] = field(default_factory=dict)  # with record_audio: the audio in the session's state
    audio_arrivals: list[float] = field(default_factory=list)  # with record_timing
    first_audio_sent: list[float] = field(default_factory=list)  # with record_timing, one per reply
    usage_sent: list[dict[str, Any]] = field(default_factory=list)  # every usageMetadata, as sent
    message_index: int = -1
    handle: str = ""
    fired_faults: set[int] = field(default_factory=set)
    used_video: bool = False
    user_project: str | None = None  # x-goog-user-project of the last connection
    open_connection: object | None = None
    ended_at: float | None = None  # when its last connection closed

    def snapshot(self) -> dict[str, Any]:
        c = self.counters
        return {
            "id": self.id,
            "flavour": self.flavour.value,
            "model": self.model.id,
            "connections": c.connections,
            "counters": {k: v for k, v in vars(c).items() if k != "audio_bytes_by_rate"}
            | {"audio_bytes_by_rate": {str(r): n for r, n in sorted(c.audio_bytes_by_rate.items())}},
            "history": [vars(h) for h in self.history],
            "setup": self.setup.raw,
            "setups": self.setups,
            "handle": self.handle,
            "user_project": self.user_project,
        }


@dataclass(frozen=True, slots=True)
class HandlePoint:
    """What a resumption handle restores: a session as it stood when the handle was issued."""

    session_id: str
    expires: float
    history: int  # entries of the session's history the handle covers
    message_index: int  # the last client message it covers
    audio: dict[int, int]  # with record_audio: bytes recorded by then, per rate


@dataclass
class EphemeralToken:
    name: str
    uses: int  # 0 = unlimited (gemini-live.md §9)
    expire_time: float
    new_session_expire_time: float
    locked_setup: dict[str, Any] | None = None
    field_mask: tuple[str, ...] | None = None


def _counter_ids() -> Callable[[str], str]:
    counter = itertools.count(1)
    return lambda kind: f"{kind}-{next(counter):06d}"


@dataclass
class EmulatorState:
    config: EmulatorConfig = field(default_factory=EmulatorConfig)
    # ids("session"), ids("handle"), ids("call"), ...: deterministic by default, random in the server
    ids: Callable[[str], str] = field(default_factory=_counter_ids)
    sessions: dict[str, Session] = field(default_factory=dict)
    handles: dict[str, HandlePoint] = field(default_factory=dict)
    access_tokens: dict[str, float] = field(default_factory=dict)  # OAuth token -> expiry
    ephemeral_tokens: dict[str, EphemeralToken] = field(default_factory=dict)
    service_accounts: dict[str, bytes] = field(default_factory=dict)  # client_email -> public key PEM
    refresh_tokens: set[str] = field(default_factory=set)
    _forget_at: float = 0.0

    def issue_access_token(self, now: float) -> tuple[str, int]:
        token = "ya29." + self.ids("access-token")
        self.access_tokens[token] = now + self.config.access_token_ttl_s
        return token, self.config.access_token_ttl_s

    def access_token_valid(self, token: str, now: float) -> bool:
        expiry = self.access_tokens.get(token)
        return expiry is not None and now < expiry

    def new_handle(self, session: Session, now: float, message_index: int) -> str:
        handle = self.ids("handle")
        audio = {rate: len(received) for rate, received in session.audio.items()}
        self.handles[handle] = HandlePoint(
            session.id, now + self.config.handle_ttl_s, len(session.history), message_index, audio
        )
        session.handle = handle
        return handle

    def forget_expired(self, now: float) -> None:
        """Handles live two hours after a session ends (gemini-live.md §6.5); then nothing can resume it,
        and the service lets it go. Checked at most once a minute, when a session begins."""
        if now < self._forget_at:
            return
        self._forget_at = now + 60.0
        ttl = self.config.handle_ttl_s
        for handle in [h for h, point in self.handles.items() if now >= point.expires]:
            del self.handles[handle]
        for session_id in [i for i, s in self.sessions.items() if s.open_connection is None and s.ended_at is not None and now >= s.ended_at + ttl]:
            del self.sessions[session_id]

    def resume(self, handle: str, now: float) -> Session | None:
        """The session as it was when ``handle`` was issued: what came after is not in its context, and
        the client's messages are counted on from there (gemini-live.md §6.5)."""
        point = self.handles.get(handle)
        if point is None or now >= point.expires:
            return None
        session = self.sessions.get(point.session_id)
        if session is not None:
            del session.history[point.history:]
            session.message_index = point.message_index
            for rate, received in session.audio.items():
                del received[point.audio.get(rate, 0):]
        return session
