"""An OpenAI Realtime WebRTC call: the translator's session, with audio on media tracks (issue 16).

Sans-I/O (STYLE.md §1), around an unchanged ``Translator``. On WebRTC (openai-realtime.md §5.4, §8):

- events travel on the ``oai-events`` data channel, and on any sideband WebSocket, in the
  WebSocket's schema, but no audio delta: Gemini's reply audio goes to the playout buffer here,
  which the shell's outbound track reads 20 ms at a time, in real time (``pull``);
- the microphone track's audio comes in as 24 kHz PCM16 (``receive_microphone``), and is handed to
  the translator in the session's input format, as an ``input_audio_buffer.append`` would be;
- ``output_audio_buffer.started`` is sent when a response's audio begins to play,
  ``output_audio_buffer.stopped`` when it has all played after its ``response.done``, and
  ``output_audio_buffer.cleared`` when playout is cut: by a barge-in (``speech_started``), by a
  cancelled or failed response, or by the client's ``output_audio_buffer.clear``. The server then
  truncates the item where playback stopped, as OpenAI does for WebRTC clients, which cannot.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from livegate.audio.formats import OutputConverter
from livegate.errors import ClientError
from livegate.realtime.link import UpstreamAction
from livegate.realtime.responses import Response
from livegate.realtime.translator import ClientOutput, Translator

__all__ = ["FRAME_BYTES", "FRAME_MS", "Call"]

FRAME_MS = 20
FRAME_BYTES = 960  # 20 ms of 24 kHz PCM16 mono, Gemini's output (gemini-live.md §8)
BYTES_PER_MS = 48
SPEECH_STARTED = b'{"type":"input_audio_buffer.speech_started"'  # the translator writes "type" first
CUT = ("cancelled", "failed", "incomplete")


@dataclass(eq=False)
class Segment:
    """One response's audio item in the playout buffer."""

    response: Response
    item: dict[str, Any]
    audio: bytearray
    offset: int = 0  # bytes of ``audio`` played
    released: int = 0  # bytes played and let go
    started: bool = False

    @property
    def complete(self) -> bool:
        """No more audio will come for it."""
        return self.item["status"] != "in_progress" or self.response.status != "in_progress"


class Call:
    """Drives like the translator (the pump's ``Core``), plus the media tracks' two calls."""

    def __init__(self, translator: Translator) -> None:
        self.translator = translator
        translator.responses.audio_sink = self._queue
        self._out: list[ClientOutput] = []
        self._playout: deque[Segment] = deque()
        self._last_response: str | None = None
        self._microphone: OutputConverter | None = None  # 24 kHz PCM16 to a G.711 session's format

    # ---- the Core the pump drives: the translator's, with the channel's differences ------------

    @property
    def notices(self) -> list[str]:
        return self.translator.notices

    @property
    def faults(self) -> list[tuple[str, Exception]]:
        return self.translator.faults

    @property
    def errors(self) -> Counter[str]:
        return self.translator.errors

    @property
    def reconnects(self) -> Counter[str]:
        return self.translator.reconnects

    @property
    def generation(self) -> int:
        return self.translator.generation

    @property
    def reconnect_reason(self) -> str:
        return self.translator.reconnect_reason

    @property
    def upstream_connections(self) -> int:
        return self.translator.upstream_connections

    @property
    def settled(self) -> bool:
        return self.translator.settled

    @property
    def session_id(self) -> str:
        return self.translator.session_id

    def receive_client_frame(self, data: str | bytes, now: float) -> bytes | None:
        """A client event from the data channel or a sideband socket."""
        kind = None
        if len(data) <= self.translator.max_frame_bytes:
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                event = None  # the translator says what is wrong with it
            kind = event.get("type") if isinstance(event, dict) else None
            event_id = event.get("event_id") if isinstance(event, dict) and isinstance(event.get("event_id"), str) else None
        if kind == "output_audio_buffer.clear":
            # OpenAI: the reply stops being generated too; the cancelled response's done comes first.
            head = self._playout[0] if self._playout else None
            if head is not None and head.response is self.translator.responses.active:
                self.translator.receive_client_event(b'{"type":"response.cancel"}', now)
                self._collect()
            if head is None or head.response.status not in CUT:
                self._cut(announce=True)
            return None
        if kind == "input_audio_buffer.append":
            self.translator.refuse(ClientError(
                "On a WebRTC call the audio travels on the microphone track: input_audio_buffer.append is for WebSocket sessions.",
                code="unsupported_event", param="type", event_id=event_id,
            ))  # fmt: skip
            return None
        self.translator.receive_client_event(data, now)
        return None

    def receive_upstream_message(self, data: bytes | str, now: float, generation: int | None = None) -> None:
        self.translator.receive_upstream_message(data, now, generation)

    def receive_upstream_closed(self, code: int, reason: str, now: float, generation: int | None = None) -> None:
        self.translator.receive_upstream_closed(code, reason, now, generation)

    def actions_to_upstream(self) -> Sequence[UpstreamAction]:
        return self.translator.actions_to_upstream()

    def events_to_client(self) -> list[ClientOutput]:
        """The translator's events, with the call's own where they belong; no audio delta ever."""
        self._collect()
        out, self._out = self._out, []
        return out

    def _collect(self) -> None:
        events = self.translator.events_to_client()
        if events:
            detection = self.translator.session.turn_detection or {}
            interrupts = detection.get("interrupt_response", True) is not False
            barge_in = False
            for event in events:
                self._out.append(event)
                if type(event) is bytes and event.startswith(SPEECH_STARTED):
                    barge_in = interrupts
            if barge_in and self._playout:
                self._cut(announce=False)  # after the cut response's done (openai-realtime.md §5.4)
            self._settle()

    def finished_responses(self, *, final: bool = False) -> list[Response]:
        return self.translator.finished_responses(final=final)

    def drain_faults(self) -> list[tuple[str, Exception]]:
        return self.translator.drain_faults()

    def next_deadline(self) -> float | None:
        return self.translator.next_deadline()

    def tick(self, now: float) -> None:
        self.translator.tick(now)

    def end(self, code: str, message: str, close: int) -> None:
        self.translator.end(code, message, close)

    # ---- the media tracks --------------------------------------------------------------------

    def receive_microphone(self, pcm: bytes, now: float) -> bytes | None:
        """24 kHz PCM16 mono from the microphone track; like ``receive_client_frame``, the Gemini
        message to send at once when it made nothing else."""
        fmt = self.translator.session.input_format
        if fmt != "pcm16":
            if self._microphone is None or self._microphone.format != fmt:
                self._microphone = OutputConverter(fmt)
            pcm = self._microphone.convert(pcm)
        return self.translator.receive_audio(base64.b64encode(pcm).decode("ascii"), now)

    def pull(self) -> bytes | None:
        """The next 20 ms to play, or None for silence (nothing to play, or Gemini is behind)."""
        playout = self._playout
        while playout:
            segment = playout[0]
            if not segment.started:
                segment.started = True
                self._emit("output_audio_buffer.started", response_id=segment.response.id)
            left = len(segment.audio) - segment.offset
            if left >= FRAME_BYTES or (left and segment.complete):
                at = segment.offset
                frame = bytes(segment.audio[at : at + FRAME_BYTES])
                segment.offset = at + len(frame)
                if segment.offset >= 1 << 16:  # what has played is let go, now and then
                    del segment.audio[: segment.offset]
                    segment.released += segment.offset
                    segment.offset = 0
                return frame if len(frame) == FRAME_BYTES else frame + bytes(FRAME_BYTES - len(frame))
            if left or segment.response.status == "in_progress":
                return None
            playout.popleft()
            self._emit("output_audio_buffer.stopped", response_id=segment.response.id)
        return None

    @property
    def pending(self) -> bool:
        """Events are waiting for the drain (``pull`` made some)."""
        return bool(self._out)

    @property
    def playing(self) -> bool:
        return bool(self._playout)

    # ---- the playout buffer ------------------------------------------------------------------

    def _queue(self, response: Response, item: dict[str, Any], data: str) -> None:
        """The translator's audio sink: Gemini's base64 24 kHz PCM16 for ``response``'s ``item``."""
        try:
            pcm = binascii.a2b_base64(data)
        except (binascii.Error, ValueError):
            return  # not base64: nothing of it can be played
        self._last_response = response.id
        playout = self._playout
        if playout and playout[-1].item is item:
            playout[-1].audio += pcm
        else:
            playout.append(Segment(response, item, bytearray(pcm)))

    def _settle(self) -> None:
        """A response cancelled or failed is cut where it is; one that never began to play is dropped."""
        playout = self._playout
        if playout and playout[0].response.status in CUT:
            self._cut(announce=False)
        for segment in list(playout):
            if segment.response.status in CUT and not segment.started:
                playout.remove(segment)

    def _cut(self, *, announce: bool) -> None:
        """Playout stops now: ``output_audio_buffer.cleared``, and the item truncated where it stopped.
        ``announce``: the client asked, and is answered even when nothing was playing."""
        playout = self._playout
        head = playout[0] if playout else None
        playout.clear()
        if head is None or not head.started:
            if announce:
                self._emit("output_audio_buffer.cleared", response_id=self._last_response)
            return
        self._emit("output_audio_buffer.cleared", response_id=head.response.id)
        played = head.released + head.offset
        if head.item["status"] != "in_progress":
            try:
                self.translator.truncate(head.item["id"], 0, played // BYTES_PER_MS)
            except ClientError:
                return  # deleted or not audio any more: nothing to truncate
            self._out.extend(self.translator.events_to_client())

    def _emit(self, kind: str, **fields: Any) -> None:
        self._out.append(orjson.dumps({"type": kind, "event_id": self.translator.ids("event"), **fields}))
