"""The Gemini Live connection under one OpenAI session, across reconnects: setup first, frames held
until ``setupComplete``, planned switches (goAway, a new setup), retries with backoff, regional
failover, and resumption that never drops or repeats a turn. Sans-I/O: wishes come out in ``actions``.

What Gemini has not confirmed is sent again after any reconnect, and what it answered never is:
with ``lastConsumedClientMessageIndex`` (Vertex, transparent resumption) exactly the messages after
the index; without it, everything sent after the last ``turnComplete`` a resumption handle followed
(gemini-live.md §5.2, §6.5).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from livegate.gemini.closes import BACKOFF_S, classify
from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.realtime.replay import ReplayLog

__all__ = ["CloseUpstream", "Failure", "Link", "SendUpstream", "StartUpstream", "Upstream", "UpstreamAction"]


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


UpstreamAction = StartUpstream | SendUpstream | CloseUpstream


class Upstream(Enum):
    IDLE = "idle"  # no setup sent: session.update still shapes it
    SETTING_UP = "setting_up"  # setup sent, setupComplete awaited: frames are queued
    REPLAYING = "replaying"  # resumed: frames wait until Gemini says what it consumed (Vertex)
    RECONNECTING = "reconnecting"  # the connection failed: frames are queued until the next attempt
    READY = "ready"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Failure:
    """The upstream is gone for good: what the client is told."""

    code: int
    reason: str
    hint: str | None
    attempts: int  # reconnects tried before giving up
    retried: bool


GO_AWAY_MARGIN_S = 1.0  # switch connections this long before goAway's deadline at the latest
INDEX_WAIT_S = 1.0  # after a resume, how long to wait for lastConsumedClientMessageIndex
STABLE_S = 10.0  # a connection this old (or one that completed a turn) earns a fresh set of attempts


class Link:
    def __init__(self, route: UpstreamRoute, now: float, on_ready: Callable[[bool], None]) -> None:
        """``on_ready(replayed)``: the connection takes frames; ``replayed`` says whether what Gemini had
        not consumed was sent again on it."""
        self.route = route
        self.state = Upstream.IDLE
        self.generation = 0  # of the upstream connection in use
        self.connections = 0  # upstream connections started, the first included (none while idle)
        self.resumption_handle: str | None = None
        self.actions: list[UpstreamAction] = []
        self.reconnect_reason = ""  # why the next connection is made
        self.reconnects: Counter[str] = Counter()  # upstream connections after the first, by reason (metrics)
        self.switch_pending = False  # a new setup or a goAway waits for the turn to end before reconnecting
        self.retry_at: float | None = None  # the next reconnect attempt after a failure
        self.switch_by: float | None = None  # goAway: be on a new connection before this time
        self._index_by: float | None = None  # a resumed connection: replay unconsumed frames by then at the latest
        self._on_ready = on_ready
        self._queued: list[bytes] = []  # frames waiting for setupComplete
        self._log = ReplayLog()
        self._indexed = False  # Gemini reports lastConsumedClientMessageIndex (Vertex, transparent resumption)
        self._turn_end = -1  # the last message sent before Gemini's last turnComplete came
        self._attempts = 0
        self._ready_since = now
        self._resuming = False  # the current setup resumes with a handle
        self._served = False  # a setup completed at this location

    @property
    def idle(self) -> bool:
        return self.state is Upstream.IDLE

    @property
    def ready(self) -> bool:
        return self.state is Upstream.READY

    @property
    def closed(self) -> bool:
        return self.state is Upstream.CLOSED

    def start(self, setup: bytes) -> None:
        """The first connection, with the session's setup, when the first thing must go up."""
        if self.state is Upstream.IDLE:
            self.state = Upstream.SETTING_UP
            self.connections += 1
            self.actions.append(StartUpstream(setup, self.generation, self.route.location))

    def send(self, frame: bytes) -> None:
        if self.state is Upstream.READY:
            self._to_upstream(frame)
        elif self.state is not Upstream.CLOSED and self.state is not Upstream.IDLE:
            # Gemini Live: clients wait for setupComplete before sending anything else (gemini-live.md §4.1);
            # during a reconnect the client's input waits too, in order.
            self._queued.append(frame)

    def send_first(self, frames: list[bytes]) -> None:
        """Frames that go before everything already held (a reseed of a new Gemini session)."""
        self._queued[:0] = frames

    def _to_upstream(self, frame: bytes) -> None:
        self.actions.append(SendUpstream(frame))
        self._log.sent(frame)

    def sent_directly(self, frame: bytes) -> None:
        """A frame the shell sends itself, when ready and with no action before it (the audio path)."""
        self._log.sent(frame)

    def _ready(self, replay: list[bytes]) -> None:
        """The connection takes frames: what Gemini did not consume first, then what waited."""
        self.state = Upstream.READY
        for frame in replay:
            self._to_upstream(frame)
        queued, self._queued = self._queued, []
        for frame in queued:
            self._to_upstream(frame)
        self._on_ready(bool(replay))

    # ---- what Gemini says --------------------------------------------------------------------

    def setup_complete(self, now: float) -> None:
        self._ready_since = now
        self._served = True
        if not self._resuming:
            self._log.restart()  # a new Gemini session: the mirror seeds it, nothing is replayed
            self._ready([])
        elif self.route.flavour is Flavour.VERTEX and len(self._log):
            self.state = Upstream.REPLAYING  # Vertex reports what it consumed (transparent resumption)
            self._index_by = now + INDEX_WAIT_S
        else:
            # AI Studio confirms nothing: what the handle does not cover goes again.
            self._ready(self._log.unconsumed(self._log.acknowledged))

    def resumption_update(self, update: dict[str, Any]) -> None:
        handle = update.get("newHandle")
        if handle and isinstance(handle, str):
            self.resumption_handle = handle
            if not self._indexed:
                # Without lastConsumedClientMessageIndex: Gemini hands out handles between turns
                # (gemini-live.md §6.5), so a handle covers what came before the turn it follows
                # ended. An answered turn is never sent again; what follows it is.
                self._log.acknowledge(self._turn_end)
        consumed = update.get("lastConsumedClientMessageIndex")
        if consumed is None:
            return
        try:
            index = int(consumed)  # proto3 JSON: int64 as a string (gemini-live.md §5.1)
        except (TypeError, ValueError):
            return
        self._indexed = True
        if self.state is Upstream.REPLAYING:
            self._index_by = None
            self._ready(self._log.unconsumed(index))
        else:
            self._log.acknowledge(index)

    def turn_complete(self) -> None:
        self._turn_end = self._log.next_index - 1
        self._attempts = 0  # a connection that completed a turn works: faults count afresh

    def go_away(self, time_left: float, now: float) -> None:
        # Gemini closes about a minute after goAway (gemini-live.md §6.5): resume on a new connection
        # between turns if one comes soon enough, and before the deadline in any case.
        self.switch_pending = True
        self.reconnect_reason = "go_away"
        self.switch_by = now + max(0.0, time_left - GO_AWAY_MARGIN_S)

    def upstream_closed(self, code: int, reason: str, now: float) -> Failure | None:
        """A connection ended: None when another attempt is scheduled (``retry_at``), else why not."""
        if code == 1007 and self._resuming and self.state is Upstream.SETTING_UP:
            # A resume refused (it happens after a 1011, gemini-live.md §6.5): start afresh, seeded from the mirror.
            self.resumption_handle = None
            self._retry(now, "resume_refused")
            return None
        verdict = classify(code, reason, model=self.route.model_id, vertex=self.route.flavour is Flavour.VERTEX, location=self.route.location)
        following = self.route.next_location()
        if following is not None and not self._served and (code == 1008 or verdict.retry):
            # This location refused the model or could not be reached: the next one is tried at once.
            self.route = following
            self._retry(now, "failover")
            return None
        if now - self._ready_since >= STABLE_S:
            self._attempts = 0
        if verdict.retry and self._attempts < len(BACKOFF_S):
            self._retry(now + BACKOFF_S[self._attempts], f"upstream_closed_{code}")
            self._attempts += 1
            return None
        self.state = Upstream.CLOSED
        return Failure(code, reason, verdict.hint, self._attempts, verdict.retry)

    def _retry(self, at: float, reason: str) -> None:
        self.retry_at = at
        self.reconnect_reason = reason
        self.state = Upstream.RECONNECTING

    # ---- connecting --------------------------------------------------------------------------

    def reconnect(self, setup: Callable[[str | None], bytes], reseed: Callable[[], list[bytes]]) -> None:
        """A planned switch (a new setup, goAway): close first, since Gemini refuses to resume a session
        whose socket is still open (lessons-from-peers.md (d) 2), then resume on a new connection."""
        self.actions.append(CloseUpstream())
        self.attempt(setup, reseed)

    def attempt(self, setup: Callable[[str | None], bytes], reseed: Callable[[], list[bytes]]) -> None:
        """A new connection: ``setup(handle)`` is its setup; without a handle Gemini starts empty, and
        ``reseed()`` gives it the conversation first."""
        self.reconnects[self.reconnect_reason] += 1
        self.switch_pending = False
        self.switch_by = self.retry_at = None
        self.state = Upstream.SETTING_UP
        self.generation += 1
        self.connections += 1
        self._resuming = bool(self.resumption_handle)
        if not self._resuming:
            self.send_first(reseed())
        self.actions.append(StartUpstream(setup(self.resumption_handle), self.generation, self.route.location))

    def close(self) -> None:
        self.state = Upstream.CLOSED
        self.retry_at = self.switch_by = self._index_by = None
        self.actions.append(CloseUpstream())

    # ---- time --------------------------------------------------------------------------------

    def deadlines(self) -> tuple[float | None, ...]:
        return self.retry_at, self.switch_by, self._index_by

    def tick(self, now: float) -> None:
        if self._index_by is not None and now >= self._index_by:
            self._index_by = None
            if self.state is Upstream.REPLAYING:
                # No index came: everything not acknowledged goes again (it may arrive twice).
                self._ready(self._log.unconsumed(self._log.acknowledged))
