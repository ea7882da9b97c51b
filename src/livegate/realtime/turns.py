"""The user's side of a session: input audio, speech events, commits and their user items, activity
markers for the turns livegate takes, and input transcription (openai-realtime.md §5.2, §5.4;
gemini-live.md §4.5, §6.2). Sans-I/O: frames go up through the link, events out through ``emit``."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livegate.errors import ClientError
from livegate.gemini.setup import gemini_detects_turns
from livegate.realtime.conversation import Conversation
from livegate.realtime.link import Link
from livegate.realtime.listening import InputAudio, SpeechStarted, SpeechStopped, audio_message
from livegate.realtime.responses import Responses
from livegate.realtime.session import Session

__all__ = ["UserSpeech", "UserTurns"]

MIN_COMMIT_MS = 100  # OpenAI Realtime: a commit needs at least 100 ms of audio (§2.1)
AUDIO_FRAME_MS = 100  # held audio goes upstream in frames of this length
PCM16K_BYTES_PER_MS = 32
KEEP_ITEM_AUDIO = 8  # user items whose audio is kept for conversation.item.retrieve
TRANSCRIPT_WAIT_S = 1.0  # after the turn's end, how long an unfinished input transcription may still grow

Emit = Callable[..., None]


@dataclass
class UserSpeech:
    """A user audio item from speech start (or commit) until its transcription is complete."""

    item_id: str
    start_ms: int
    committed: bool = False
    seconds: float = 0.0
    transcript: list[str] = field(default_factory=list)
    sent: int = 0  # transcript pieces already sent as deltas


class UserTurns:
    def __init__(
        self, *, session: Session, conversation: Conversation, responses: Responses, link: Link, ids: Callable[[str], str],
        emit: Emit, start_upstream: Callable[[], None],
    ) -> None:  # fmt: skip
        self.session = session
        self.conversation = conversation
        self.responses = responses
        self.link = link
        self.ids = ids
        self.emit = emit
        self.start_upstream = start_upstream
        self.input = InputAudio(session.input_format, session.turn_detection)
        self._gemini_turns = gemini_detects_turns(session.turn_detection)  # the session's, kept by session_changed
        self.speech: UserSpeech | None = None  # the user's latest speech, being spoken or committed
        self.activity_open = False  # livegate-driven turns: activityStart sent, activityEnd not yet
        # Committed items whose transcription is not complete, oldest first: Gemini transcribes them in
        # order, but "independently of the other server messages" (gemini-live.md §6), so late.
        self._transcribing: deque[UserSpeech] = deque()
        self.transcript_by: float | None = None  # by then the transcript of ``_due`` (and older) is complete
        self._due: UserSpeech | None = None
        self._item_audio: OrderedDict[str, bytes] = OrderedDict()

    @property
    def gemini_turns(self) -> bool:
        """Whether Gemini's own activity detection ends the user's turns (else livegate does)."""
        return self._gemini_turns

    @property
    def speaking(self) -> bool:
        """The user is speaking: their turn is not committed yet."""
        return self.speech is not None and not self.speech.committed

    def audio_of(self, item_id: str) -> bytes | None:
        return self._item_audio.get(item_id)

    def forget(self, item_id: str) -> None:
        self._item_audio.pop(item_id, None)

    def session_changed(self, *, idle: bool, detection_changed: bool) -> None:
        self._gemini_turns = gemini_detects_turns(self.session.turn_detection)
        self.input.change_format(self.session.input_format)
        if idle or detection_changed:
            self.input = InputAudio(self.session.input_format, self.session.turn_detection)

    # ---- audio in ----------------------------------------------------------------------------

    def append(self, audio: str, *, direct: bool = False) -> bytes | None:
        """``direct``: the connection is ready and nothing waits for it; a Gemini message that is all
        the frame produced is then returned for the shell to send, instead of queued as an action."""
        # Audio goes up as it comes while Gemini detects the turns or livegate's turn is open; else it is
        # held until speech starts or the client commits.
        message, speech = self.input.append(audio, send=self._gemini_turns or self.activity_open)
        return self._appended(message, speech, direct)

    def append_event(self, frame: bytes) -> bytes | bool:
        """The audio path's shortcut for a connection that is ready with nothing waiting: ``frame`` read
        by the kernel as a plain append (InputAudio.append_event) and handled as ``append(direct=True)``
        handles it: the Gemini message to send at once, or True when the drain carries what it made.
        False, and nothing changed, when the frame is not a plain append."""
        done = self.input.append_event(frame, send=self._gemini_turns or self.activity_open)
        if done is None:
            return False
        return self._appended(*done, direct=True) or True

    def _appended(self, message: bytes | None, speech: list[SpeechStarted | SpeechStopped], direct: bool) -> bytes | None:
        if message is not None and direct and not speech:
            self.link.sent_directly(message)
            return message
        self.start_upstream()
        if message is not None:
            self.link.send(message)
        for event in speech:
            if isinstance(event, SpeechStarted):
                self._speech_started(event.ms)
            else:
                self._speech_stopped(event.ms)
        return None

    def _send_held(self, pcm: bytes) -> None:
        step = AUDIO_FRAME_MS * PCM16K_BYTES_PER_MS
        for offset in range(0, len(pcm), step):
            self.link.send(audio_message(pcm[offset : offset + step]))

    def clear(self) -> None:
        self.input.clear()
        self.emit("input_audio_buffer.cleared")

    # ---- speech and commits ------------------------------------------------------------------

    def _speech_started(self, ms: int) -> None:
        detection = self.session.turn_detection or {}
        padding = detection.get("prefix_padding_ms", 0)
        start = max(0, ms - (padding if isinstance(padding, int) else 0))
        self.begin_speech(start)
        if not self.gemini_turns and not self.activity_open:
            # livegate takes the turn: open the activity and send the speech with its prefix padding.
            self._open_activity()
            _, pcm = self.input.take(start, self.input.position_ms)
            self._send_held(pcm)

    def begin_speech(self, start_ms: int) -> None:
        speech = UserSpeech(self.ids("item"), start_ms)
        self.speech = speech
        self.emit("input_audio_buffer.speech_started", audio_start_ms=start_ms, item_id=speech.item_id)
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
        self.emit("input_audio_buffer.speech_stopped", audio_end_ms=ms, item_id=speech.item_id)
        raw, _ = self.input.take(speech.start_ms, ms)
        self._commit_item(speech, raw, ms - speech.start_ms)

    def reply_begins(self) -> None:
        # Gemini decided the user's turn is over: the client gets it committed before the reply.
        if self.speaking:
            self._speech_stopped(self.input.position_ms)

    def _commit_item(self, speech: UserSpeech, raw: bytes, duration_ms: float) -> None:
        speech.committed = True
        speech.seconds = duration_ms / 1000
        item = {"id": speech.item_id, "type": "message", "status": "completed", "role": "user", "content": [{"type": "input_audio", "transcript": None}]}
        previous = self.conversation.insert(item, None)
        self._item_audio[speech.item_id] = raw
        while len(self._item_audio) > KEEP_ITEM_AUDIO:
            self._item_audio.popitem(last=False)
        self.emit("input_audio_buffer.committed", previous_item_id=previous, item_id=speech.item_id)
        self.responses.item_added(item, previous)
        self.responses.item_done(item, previous)
        if self.session.transcription is not None:
            self._transcribing.append(speech)
            self._send_transcript_deltas(speech)

    def commit(self) -> None:
        buffered = self.input.buffered_ms()
        if self.speaking:
            # Mid-speech: end the user's turn here (gemini-live.md §12: audioStreamEnd flushes Gemini's detector).
            if self.gemini_turns:
                self.link.send(b'{"realtimeInput":{"audioStreamEnd":true}}')
            self._speech_stopped(self.input.position_ms)
            return
        if buffered < MIN_COMMIT_MS:
            raise ClientError(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer "
                f"only has {buffered:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        raw, pcm = self.input.take_all()
        speech = UserSpeech(self.ids("item"), self.input.position_ms - int(buffered))
        self.speech = speech
        self.start_upstream()
        if self.gemini_turns:
            self._send_held(pcm)
            self.link.send(b'{"realtimeInput":{"audioStreamEnd":true}}')
        else:
            # Manual turn: the whole buffer, from its first sample, inside activity markers; the end
            # marker waits for response.create, which is when OpenAI starts the reply (§5.2).
            self._open_activity()
            self._send_held(pcm)
        self._commit_item(speech, raw, buffered)

    def _open_activity(self) -> None:
        if not self.activity_open:
            self.activity_open = True
            self.link.send(b'{"realtimeInput":{"activityStart":{}}}')

    def end_activity(self) -> None:
        """The turn livegate took ends: Gemini starts its reply (gemini-live.md §4.5)."""
        self.activity_open = False
        self.link.send(b'{"realtimeInput":{"activityEnd":{}}}')

    def interrupted(self) -> None:
        """Gemini's ``interrupted`` of the turn the active response owns (gemini-live.md §6.3)."""
        if self.session.turn_detection is None:
            # Manual turns: the client's own activityStart cut the reply; its audio is already an item.
            self.responses.cancel("turn_detected")
        elif self.speaking:
            self.responses.cancel("turn_detected")
        else:
            self.begin_speech(self.input.position_ms)

    # ---- transcription -----------------------------------------------------------------------

    def input_transcription(self, transcription: dict[str, Any]) -> None:
        speech = self._transcribing[0] if self._transcribing else self.speech
        if speech is None or self.session.transcription is None:
            return
        text = transcription.get("text")
        if text and isinstance(text, str):
            speech.transcript.append(text)
            self._send_transcript_deltas(speech)
        if transcription.get("finished") and speech.committed:
            self._complete(speech)

    def _send_transcript_deltas(self, speech: UserSpeech) -> None:
        if not speech.committed:
            return
        for piece in speech.transcript[speech.sent :]:
            self.emit("conversation.item.input_audio_transcription.delta", item_id=speech.item_id, content_index=0, delta=piece)
        speech.sent = len(speech.transcript)

    def turn_ended(self, now: float) -> None:
        """Gemini's turn answering the user's speech is over. Its transcription may still come, so one
        Gemini has not finished is completed a moment later, or at once when Gemini says it is finished."""
        if self._transcribing and self.transcript_by is None:
            self._due = self._transcribing[-1]
            self.transcript_by = now + TRANSCRIPT_WAIT_S

    def tick(self, now: float) -> None:
        if self.transcript_by is not None and now >= self.transcript_by and self._due is not None:
            self._complete(self._due)

    def _complete(self, speech: UserSpeech) -> None:
        """One ``completed`` per user audio item, in the order of the items: ``speech``'s, after those of
        the items before it."""
        while self._transcribing:
            head = self._transcribing.popleft()
            self._completed(head)
            if head is speech:
                break
        if self._due is not None and self._due not in self._transcribing:
            self._due = self.transcript_by = None

    def _completed(self, speech: UserSpeech) -> None:
        self._send_transcript_deltas(speech)
        transcript = "".join(speech.transcript).strip()
        item = self.conversation.get(speech.item_id)
        if item is not None:
            item["content"][0]["transcript"] = transcript
        self.emit(
            "conversation.item.input_audio_transcription.completed",
            item_id=speech.item_id,
            content_index=0,
            transcript=transcript,
            usage={"type": "duration", "seconds": round(speech.seconds, 3)},
        )
