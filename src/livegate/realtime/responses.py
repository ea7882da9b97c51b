"""OpenAI responses as Gemini's output streams in: the events of openai-realtime.md §5.1 and §5.2
in their order, in either dialect, and one ``response.done`` for every ``response.created``.

The rules of response state, all of which live here:

1. Every ``response.create``, and every turn Gemini takes by itself (its own voice activity
   detection), gets exactly one ``response.created`` and one ``response.done`` (openai-realtime.md §4.4).
2. A Gemini turn, from the message that triggers it to its ``turnComplete``, belongs to exactly one
   response: its ``owner``. Gemini's turns follow one another on a connection and each ends with one
   ``turnComplete`` (gemini-live.md §6), so ownership is a single slot, not a guess.
3. A response can be done before the turn it owns has ended: it ended with a function call (OpenAI
   clients run tools after ``response.done``, §5.3), it was cancelled or cut by a barge-in, or it is
   text-only and its text is complete at ``generationComplete`` while Gemini's ``turnComplete`` waits for
   the audio's playback time (gemini-live.md §6.2). The rest of that turn is never shown to the
   client, and its ``turnComplete`` never closes a later response.
4. A response created while an earlier response's turn is still running ``waits`` for that turn's
   ``turnComplete``; Gemini answers it with the next turn. The one exception is a blocking tool's
   result on a model that holds ``turnComplete`` until the ``toolResponse`` (gemini-3.1, gemini-live.md
   §6.4): Gemini goes on with the same turn, so the new response takes it over at once.
5. Usage is the owner's: a ``usageMetadata`` beside the turn's messages or its ``turnComplete`` belongs
   to that turn, a standalone one just after a ``turnComplete`` to the turn that just ended
   (gemini-live.md §5.3). A response reaches ``finished`` (the accounting) once its turn is over and its
   usage known, whether it completed, was cancelled, was interrupted or failed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livegate.audio.formats import OutputConverter
from livegate.gemini.usage import EMPTY_USAGE
from livegate.realtime.conversation import Conversation, render_item
from livegate.realtime.session import Session

__all__ = ["Response", "Responses"]

Emit = Callable[..., None]
AudioSink = Callable[["Response", dict[str, Any], str], None]  # the response, its audio item, Gemini's base64 24 kHz PCM16


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
    refuse_tools: bool = False  # response.create's tool_choice "none"


class Responses:
    """The response in progress, if any, and the events that make it up."""

    def __init__(
        self, *, session: Session, conversation: Conversation, conversation_id: str, beta: bool, ids: Callable[[str], str], emit: Emit,
        audio_sink: AudioSink | None = None,
    ) -> None:
        self.session = session
        self.conversation = conversation
        self.conversation_id = conversation_id
        self.beta = beta
        self.ids = ids
        self.emit = emit
        self.audio_sink = audio_sink
        self.active: Response | None = None  # created, its response.done not sent yet
        self.owner: Response | None = None  # the response the Gemini turn in progress belongs to (rule 2)
        self.waiting: Response | None = None  # created behind a turn that is not its own (rule 4)
        self._unsettled: Response | None = None  # its turn ended without usage; a standalone one may follow
        self.finished: list[Response] = []  # for the shell's accounting, drained by the translator
        self.audio_ms: dict[str, float] = {}  # assistant item -> milliseconds of audio sent to the client
        self.output = OutputConverter(session.output_format)
        names = ("text", "audio", "audio_transcript") if beta else ("output_text", "output_audio", "output_audio_transcript")
        self._text, self._audio, self._transcript = (f"response.{name}" for name in names)

    def open(self, metadata: Any, *, text_output: bool | None = None, continues_turn: bool = False) -> Response:
        """A response the client asked for; the message that triggers its Gemini turn goes up with it.
        ``continues_turn``: that message is a result Gemini answers in the turn in progress (rule 4)."""
        response = self._create(metadata, text_output)
        if self.owner is None:
            self.owner = response
        elif continues_turn:
            self._settle(self.owner)  # Gemini reports the whole turn's usage at its end: the new owner's
            self.owner = response
        else:
            self.waiting = response
        return response

    def _create(self, metadata: Any, text_output: bool | None) -> Response:
        text = not self.session.audio_output if text_output is None else text_output
        response = Response(self.ids("resp"), metadata, text_output=text)
        self.active = response
        if self.output.format != self.session.output_format:
            self.output = OutputConverter(self.session.output_format)
        self.emit("response.created", response=self.render(response))
        return response

    @property
    def answering(self) -> bool:
        """Gemini's turn in progress belongs to the response the client is still being sent."""
        return self.owner is not None and self.owner is self.active

    def target(self) -> Response | None:
        """The response Gemini's output goes to now, or None when it belongs to a response already done
        (rule 3). A turn nobody asked for (Gemini's own voice activity detection) gets a response of its
        own, announced with response.created first (openai-realtime.md §5.2)."""
        if self.owner is None:
            self._release_unsettled()
            self.owner = self._create(None, None)
        return self.owner if self.owner is self.active else None


    def carry_over(self) -> None:
        """The active response's turn ends without answering it: Gemini answers with its next turn."""
        if self.active is not None and self.owner is self.active:
            self.waiting = self.active

    def turn_complete(self) -> None:
        """Gemini's turnComplete: the owner's turn is over (rules 2, 3 and 4)."""
        owner = self.owner
        if owner is None:
            return
        if owner is self.waiting:
            self.waiting = None  # carried over: the next turn is its own
            return
        if owner is self.active:
            self.finish("completed")
        self.owner = None
        self._settle(owner)
        if self.waiting is not None:
            self.owner, self.waiting = self.waiting, None

    def usage(self, usage: dict[str, Any], *, standalone: bool) -> None:
        """A ``usageMetadata``; ``standalone``: in a frame of its own, with no content (rule 5)."""
        if standalone and self._unsettled is not None:
            self._unsettled.usage = usage
        elif self.owner is not None:
            self.owner.usage = usage
        self._release_unsettled()

    def connection_lost(self) -> None:
        """The Gemini connection ended mid-turn: a done owner's turn is gone with it; the active
        response keeps (or takes) the next turn, since what triggers it is sent again."""
        owner, self.owner = self.owner, None
        if owner is not None and owner is not self.active:
            self._settle(owner)
        if self.waiting is not None:
            self.owner, self.waiting = self.waiting, None
        elif self.active is not None:
            self.owner = self.active

    def _settle(self, response: Response) -> None:
        self._release_unsettled()
        if response.usage is None:
            self._unsettled = response
        else:
            self.finished.append(response)

    def _release_unsettled(self) -> None:
        if self._unsettled is not None:
            self.finished.append(self._unsettled)
            self._unsettled = None

    def settle_all(self) -> None:
        """The session is over: every response goes to the accounting with what is known of its usage."""
        self._release_unsettled()
        for response in {id(r): r for r in (self.owner, self.waiting, self.active) if r is not None}.values():
            self.finished.append(response)
        self.owner = self.waiting = None

    def text(self, text: str) -> None:
        response = self.target()
        if response is None:
            return  # the rest of a turn whose response is done (rule 3)
        item = self._open_message(response)
        response.parts.append(text)
        self.emit(f"{self._text}.delta", **self._ids(response, item), delta=text)

    def transcript(self, text: str) -> None:
        response = self.target()
        if response is None:
            return  # the rest of a turn whose response is done (rule 3)
        item = self._open_message(response)
        response.parts.append(text)
        self.emit(f"{self._transcript}.delta", **self._ids(response, item), delta=text)

    def audio(self, data: str) -> None:
        """Gemini's base64 24 kHz PCM16, passed through for pcm16 and converted otherwise."""
        response = self.target()
        if response is None or response.text_output:
            return  # a text-only response on a speaking model: its transcript is the text
        item = self._open_message(response)
        if self.audio_sink is not None:
            # WebRTC: the audio goes to the media track, and no delta is sent (openai-realtime.md §5.4).
            self.audio_ms[item["id"]] = self.audio_ms.get(item["id"], 0.0) + len(data) * 3 / 4 / 48
            self.audio_sink(response, item, data)
            return
        if not self.output.passthrough:
            try:
                pcm = binascii.a2b_base64(data)
            except (binascii.Error, ValueError):
                return  # not base64 (ValueError: not ASCII): nothing of it can be played
            data = base64.b64encode(self.output.convert(pcm)).decode("ascii")
        # OpenAI Realtime: ms = bytes / 48 for pcm16 at 24 kHz, bytes / 8 for G.711 (§9).
        per_ms = 8 if self.output.format != "pcm16" else 48
        self.audio_ms[item["id"]] = self.audio_ms.get(item["id"], 0.0) + len(data) * 3 / 4 / per_ms
        self.emit(f"{self._audio}.delta", **self._ids(response, item), delta=data)

    def _open_message(self, response: Response) -> dict[str, Any]:
        if response.item is not None and response.item["status"] == "in_progress":
            return response.item
        response.parts = []
        item = {"id": self.ids("item"), "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        response.item = item
        previous = self.conversation.insert(item, None)
        index = len(response.output)
        response.output.append(item)
        self.emit("response.output_item.added", response_id=response.id, output_index=index, item=render_item(item, beta=self.beta))
        self.item_added(item, previous)
        part = {"type": "text", "text": ""} if response.text_output else {"type": "audio", "transcript": ""}
        self.emit("response.content_part.added", **self._ids(response, item), part=part)
        return item

    def function_call(self, name: str, call_id: str, arguments: str) -> None:
        """A Gemini toolCall as OpenAI's sequence (openai-realtime.md §5.3): the item with empty
        arguments, the arguments, the done events; a message spoken before it comes first."""
        response = self.target()
        if response is None:
            return  # the rest of a turn whose response is done (rule 3)
        self.close_message()
        item = {"id": self.ids("item"), "type": "function_call", "status": "in_progress", "name": name, "call_id": call_id, "arguments": ""}
        previous = self.conversation.insert(item, None)
        index = len(response.output)
        response.output.append(item)
        self.emit("response.output_item.added", response_id=response.id, output_index=index, item=render_item(item, beta=self.beta))
        self.item_added(item, previous)
        ids = {"response_id": response.id, "item_id": item["id"], "output_index": index, "call_id": call_id}
        self.emit("response.function_call_arguments.delta", **ids, delta=arguments)
        done = ids | {"arguments": arguments} if self.beta else ids | {"name": name, "arguments": arguments}
        self.emit("response.function_call_arguments.done", **done)
        item["arguments"] = arguments
        item["status"] = "completed"
        self.emit("response.output_item.done", response_id=response.id, output_index=index, item=render_item(item, beta=self.beta))
        self.item_done(item, previous)

    def _ids(self, response: Response, item: dict[str, Any]) -> dict[str, Any]:
        return {"response_id": response.id, "item_id": item["id"], "output_index": response.output.index(item), "content_index": 0}

    def close_message(self, status: str = "completed") -> None:
        response = self.active
        item = response.item if response is not None else None
        if response is None or item is None or item["status"] != "in_progress":
            return
        ids = self._ids(response, item)
        text = "".join(response.parts)
        if response.text_output:
            self.emit(f"{self._text}.done", **ids, text=text)
            part = {"type": "text", "text": text}
            item["content"] = [{"type": "output_text", "text": text}]
        else:
            self.emit(f"{self._audio}.done", **ids)
            self.emit(f"{self._transcript}.done", **ids, transcript=text)
            part = {"type": "audio", "transcript": text}
            item["content"] = [{"type": "output_audio", "transcript": text}]
        self.emit("response.content_part.done", **ids, part=part)
        item["status"] = status
        self.emit("response.output_item.done", response_id=response.id, output_index=ids["output_index"], item=render_item(item, beta=self.beta))
        self.item_done(item, self.conversation.previous_id(item["id"]))

    def finish(self, status: str = "completed", details: dict[str, Any] | None = None) -> None:
        """The active response's response.done. It keeps the turn it owns, if any (rule 3)."""
        response = self.active
        if response is None:
            return
        self.close_message("completed" if status == "completed" else "incomplete")
        response.status, response.status_details = status, details
        self.active = None
        if response is not self.owner and response is not self.waiting:
            self._settle(response)
        # OpenAI Realtime: every response.created gets exactly one response.done (§4.4).
        self.emit("response.done", response=self.render(response))

    def fail(self, details: dict[str, Any]) -> None:
        """No turn will come any more (the upstream is gone for good): everything settles now."""
        self.finish("failed", details)
        self.settle_all()

    def cancel(self, reason: str) -> None:
        self.finish("cancelled", {"type": "cancelled", "reason": reason})

    def render(self, response: Response) -> dict[str, Any]:
        session = self.session.ga
        output = session["audio"]["output"]
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
                "voice": output["voice"],
                "output_audio_format": self.session.output_format,
                "temperature": 0.8 if self.session.temperature is None else self.session.temperature,
                "max_output_tokens": session["max_output_tokens"],
            }
        else:
            rendered |= {
                "output_modalities": ["text"] if response.text_output else ["audio"],
                "max_output_tokens": session["max_output_tokens"],
                "audio": {"output": {"format": output["format"], "voice": output["voice"]}},
            }
        rendered["usage"] = None if response.status == "in_progress" else (response.usage or EMPTY_USAGE)
        rendered["metadata"] = response.metadata
        return rendered

    def item_added(self, item: dict[str, Any], previous: str | None) -> None:
        rendered = render_item(item, beta=self.beta)
        if self.beta:
            # Beta has one "item appeared" event (openai-realtime.md §2.5).
            self.emit("conversation.item.created", previous_item_id=previous, item=rendered)
        else:
            self.emit("conversation.item.added", previous_item_id=previous, item=rendered)

    def item_done(self, item: dict[str, Any], previous: str | None) -> None:
        if not self.beta:
            self.emit("conversation.item.done", previous_item_id=previous, item=render_item(item, beta=False))
