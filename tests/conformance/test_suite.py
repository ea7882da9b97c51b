"""Conformance end to end: the openai SDK, GA and beta, through the real gateway to the emulator over
real sockets on 127.0.0.1, for every model family, with the emulator's default timing (turnComplete
after the reply's playback, as the real service sends it) and its ordering knobs. Every server event
of a run is recorded from the wire and checked against the invariants of ``invariants.py``, then
against what the flow itself must produce."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from livegate.config import load_config
from livegate.emulator import voice
from livegate.emulator.server import EmulatorServer
from livegate.emulator.state import EmulatorConfig
from livegate.gateway.app import Gateway
from tests.conformance.invariants import check

DEFAULT = "gemini-3.8-live"
STUDIO_31 = "gemini-3.1-flash-live-preview"
STUDIO_25 = "gemini-2.5-flash-native-audio-preview-12-2025"
VERTEX_NATIVE = "gemini-live-2.5-flash-native-audio"
VERTEX_CASCADE = "gemini-live-2.5-flash"
ALL_MODELS = [DEFAULT, STUDIO_31, STUDIO_25, VERTEX_NATIVE, VERTEX_CASCADE]
NATIVE_AUDIO = [DEFAULT, STUDIO_31, STUDIO_25, VERTEX_NATIVE]
VERTEX = {VERTEX_NATIVE, VERTEX_CASCADE}
# The beta types allow only OpenAI model names in session.model: beta clients ask for these aliases,
# as a deployment serving beta clients would name its models (one test asks for a Gemini id instead).
BETA_ALIAS = {
    DEFAULT: "gpt-4o-realtime-preview",
    STUDIO_31: "gpt-4o-realtime-preview-2024-10-01",
    STUDIO_25: "gpt-4o-realtime-preview-2024-12-17",
    VERTEX_NATIVE: "gpt-4o-realtime-preview-2025-06-03",
    VERTEX_CASCADE: "gpt-4o-mini-realtime-preview",
}

# The emulator's ordering knobs (gemini-live.md §11.5), on top of its default timing.
KNOBS: dict[str, dict[str, Any]] = {
    "default": {},
    "usage_standalone": {"usage_standalone": True},
    "transcription_bundled": {"transcription_bundled": True},
    "input_transcription_late": {"input_transcription_late": True},
}

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
FOUND = "Here is what I found"
TEST_LIMIT_S = 40


def cases(models: list[str], knobs: list[str], dialects: tuple[bool, ...] = (False, True)) -> list[Any]:
    return [
        pytest.param(model, beta, knob, id=f"{model}-{'beta' if beta else 'ga'}-{knob}")
        for knob in knobs
        for model in models
        for beta in dialects
    ]


# --- the stack: emulator and gateway on 127.0.0.1, one deployment per model family ---------------


def write_config(folder: Path, emulator: EmulatorServer) -> Path:
    key_file = folder / "sa.json"
    emulator.write_service_account(key_file, project="conformance-proj")
    entries = []
    for model in ALL_MODELS:
        if model in VERTEX:
            params = f"{{model: vertex_ai/{model}, vertex_project: conformance-proj, vertex_location: us-central1, vertex_credentials: '{key_file}', api_base: '{emulator.http_url}'}}"
        else:
            params = f"{{model: gemini/{model}, api_key: studio-key, api_base: '{emulator.http_url}'}}"
        entries += [f"  - {{model_name: {name}, litellm_params: {params}}}" for name in (model, BETA_ALIAS[model])]
    config = folder / "config.yaml"
    config.write_text("model_list:\n" + "\n".join(entries) + "\n")
    return config


@asynccontextmanager
async def stack(folder: Path, knob: str, **timing: Any) -> AsyncIterator[AsyncOpenAI]:
    emulator_config = EmulatorConfig(api_key="studio-key", **KNOBS[knob], **timing)
    async with EmulatorServer(emulator_config) as emulator, Gateway(load_config(write_config(folder, emulator)), port=0) as gateway:
        yield AsyncOpenAI(api_key="any", websocket_base_url=gateway.ws_url)


@asynccontextmanager
async def session(folder: Path, model: str, beta: bool, knob: str, *, alias: bool = True, **timing: Any) -> AsyncIterator[Run]:
    async with stack(folder, knob, **timing) as client, asyncio.timeout(TEST_LIMIT_S):
        realtime = client.beta.realtime if beta else client.realtime
        async with realtime.connect(model=BETA_ALIAS[model] if beta and alias else model) as connection:
            run = Run(connection, beta)
            await run.until("session.created")
            yield run


# --- one recorded run -------------------------------------------------------------------------------


@dataclass
class Response:
    id: str
    created: dict[str, Any]
    done: dict[str, Any] | None = None

    @property
    def status(self) -> str | None:
        return self.done["response"]["status"] if self.done else None

    @property
    def reason(self) -> str | None:
        details = self.done["response"].get("status_details") if self.done else None
        return details.get("reason") if details else None

    @property
    def output(self) -> list[dict[str, Any]]:
        return (self.done["response"].get("output") or []) if self.done else []

    @property
    def said(self) -> str:
        """The text or transcript of the response's message items."""
        return " ".join(
            part.get("text") or part.get("transcript") or ""
            for item in self.output
            if item.get("type") == "message"
            for part in item.get("content") or []
        )

    @property
    def calls(self) -> list[dict[str, Any]]:
        return [item for item in self.output if item.get("type") == "function_call"]


@dataclass
class Run:
    connection: Any
    beta: bool
    events: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # time.monotonic() at each event's arrival
    problems: list[str] = field(default_factory=list)

    def name(self, ga: str, beta: str) -> str:
        return beta if self.beta else ga

    async def next(self) -> dict[str, Any]:
        # The wire frame itself: the SDK's recv() builds models without validating them.
        event: dict[str, Any] = json.loads(await self.connection.recv_bytes())
        self.events.append(event)
        self.times.append(time.monotonic())
        return event

    async def until(self, want: str | Callable[[dict[str, Any]], bool], limit: float = 15, what: str = "") -> dict[str, Any]:
        matches = (lambda e: e["type"] == want) if isinstance(want, str) else want
        event: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(limit):
                while not matches(event := await self.next()):
                    pass
        except TimeoutError:
            event = None
        if event is None:
            self.problems.append(f"waited {limit} s for {what or want} after event {len(self.events) - 1}")
            self.conclude()
            raise AssertionError(self.problems[-1])  # conclude() has raised: never reached
        return event

    async def done_of(self, response_id: str, limit: float = 15) -> dict[str, Any]:
        return await self.until(
            lambda e: e["type"] == "response.done" and e["response"]["id"] == response_id, limit, f"response.done of {response_id}"
        )

    async def next_response(self, limit: float = 15, after: str | None = None) -> str:
        """The id of the next response.created to arrive (other than ``after``)."""
        created = await self.until(
            lambda e: e["type"] == "response.created" and e["response"]["id"] != after, limit, f"a response.created (after {after})"
        )
        return str(created["response"]["id"])

    async def drain(self, seconds: float) -> None:
        """Record whatever comes for ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    await self.next()
        except TimeoutError:
            pass

    async def settle(self, quiet: float = 0.5, limit: float = 15) -> None:
        """Record until nothing comes for ``quiet`` seconds and no response is in progress, to catch
        what a server sends unasked after the flow's last expected event."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                async with asyncio.timeout(quiet):
                    await self.next()
            except TimeoutError:
                if not any(r.done is None for r in self.responses()):
                    return

    async def user_text(self, text: str) -> None:
        await self.connection.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        )

    async def update(self, ga: dict[str, Any], beta: dict[str, Any]) -> dict[str, Any]:
        await self.connection.session.update(session=beta if self.beta else {"type": "realtime", **ga})
        return await self.until(lambda e: e["type"] in ("session.updated", "error"))

    def responses(self) -> list[Response]:
        found: dict[str, Response] = {}
        for event in self.events:
            if event["type"] == "response.created":
                found.setdefault(event["response"]["id"], Response(event["response"]["id"], event))
            elif event["type"] == "response.done" and event["response"]["id"] in found:
                found[event["response"]["id"]].done = event
        return list(found.values())

    def expect(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    def trace(self) -> str:
        """The run's events, one a line, audio deltas folded into counts."""
        lines: list[str] = []
        folded = 0
        for index, event in enumerate(self.events):
            kind = event["type"]
            if kind.endswith("audio.delta"):
                folded += 1
                continue
            if folded:
                lines.append(f"       ({folded} audio deltas)")
                folded = 0
            lines.append(f"  {index:4d} {self.times[index] - self.times[0]:6.2f}s {kind}{_detail(event)}")
        if folded:
            lines.append(f"       ({folded} audio deltas)")
        return "\n".join(lines)

    def conclude(self) -> None:
        """Fail with every invariant violation and every unmet expectation of the flow, and the trace."""
        violations = check(self.events, beta=self.beta)
        if violations or self.problems:
            listed = [f"  - invariant: {v}" for v in violations] + [f"  - flow: {p}" for p in self.problems]
            raise AssertionError("\n".join(["conformance failed:", *listed, "events:", self.trace()]))


def _detail(event: dict[str, Any]) -> str:
    kind = event["type"]
    if kind in ("response.created", "response.done"):
        r = event["response"]
        details = r.get("status_details") or {}
        kinds = [f"{o.get('type')}:{o.get('id')}" for o in r.get("output") or []]
        said = " ".join(p.get("text") or p.get("transcript") or "" for o in r.get("output") or [] for p in o.get("content") or [])
        extra = f" reason={details.get('reason')}" if details.get("reason") else ""
        return f" {r['id']} {r['status']}{extra} output={kinds}" + (f" said={said[:70]!r}" if said else "")
    if "response_id" in event:
        return f" {event['response_id']} {event.get('item_id') or (event.get('item') or {}).get('id', '')}"
    if "item" in event:
        item = event["item"]
        return f" {item.get('id')} {item.get('type')}/{item.get('role') or item.get('call_id', '')}"
    if "item_id" in event:
        return f" {event['item_id']}"
    if kind == "error":
        return f" {event['error'].get('code')}: {event['error'].get('message')}"
    return ""


def pcm_b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


async def speak_in_real_time(run: Run, text: str, *, lead_s: float = 0.2, tail_s: float = 1.0) -> None:
    """``text`` in the emulator's voice at 24 kHz, in 20 ms appends paced by the clock."""
    pcm = bytes(round(24000 * lead_s) * 2) + voice.speak(text, 24000) + bytes(round(24000 * tail_s) * 2)
    step = 24000 // 50 * 2
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index, offset in enumerate(range(0, len(pcm), step)):
        await run.connection.input_audio_buffer.append(audio=pcm_b64(pcm[offset : offset + step]))
        await asyncio.sleep(max(0.0, start + (index + 1) * 0.02 - loop.time()))


def transcription() -> tuple[dict[str, Any], dict[str, Any]]:
    return {"audio": {"input": {"transcription": {"model": "whisper-1"}}}}, {"input_audio_transcription": {"model": "whisper-1"}}


# --- a. a text turn ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "beta", "knob"), cases(ALL_MODELS, ["default"]) + cases([DEFAULT], ["usage_standalone"], (False,)))
async def test_a_text_turn_gets_one_answered_response(tmp_path: Path, model: str, beta: bool, knob: str) -> None:
    async with session(tmp_path, model, beta, knob) as run:
        await run.user_text("hi")
        await run.connection.response.create()
        await run.done_of(await run.next_response())
        await run.settle()
    responses = run.responses()
    run.expect(len(responses) == 1, f"{len(responses)} responses, expected exactly one")
    run.expect(bool(responses) and responses[0].status == "completed", "the response is not completed")
    run.expect(bool(responses) and "You said" in responses[0].said, "the reply does not say 'You said'")
    run.conclude()


@pytest.mark.parametrize(("model", "beta", "knob"), cases([DEFAULT], ["default"], (True,)))
async def test_a_beta_session_for_a_gemini_model_id_validates(tmp_path: Path, model: str, beta: bool, knob: str) -> None:
    async with session(tmp_path, model, beta, knob, alias=False) as run:
        await run.settle(quiet=0.3)
    run.conclude()


# --- b. a function tool round trip at real client timing --------------------------------------------


async def tool_round_trip(run: Run, *, think_s: float) -> None:
    updated = await run.update({"tools": [WEATHER]}, {"tools": [WEATHER]})
    assert updated["type"] == "session.updated", updated
    await run.user_text("what is the get_weather in Paris")
    await run.connection.response.create()
    first = await run.done_of(await run.next_response())
    calls = [item for item in first["response"]["output"] if item.get("type") == "function_call"]
    if not calls:
        run.problems.append("the first response holds no function_call")
        run.conclude()
        return
    if think_s:
        await run.drain(think_s)
    # Answer the instant the call is complete, as the Agents SDK and Pipecat do.
    await run.connection.conversation.item.create(
        item={"type": "function_call_output", "call_id": calls[0]["call_id"], "output": "Sunny"}
    )
    await run.connection.response.create()
    requested = await run.next_response(after=first["response"]["id"])
    await run.done_of(requested)
    await run.settle()
    responses = run.responses()
    run.expect(len(responses) == 2, f"{len(responses)} responses ({[r.id for r in responses]}), expected exactly two: the call and the answer")
    for r in responses:
        run.expect(r.status == "completed", f"{r.id} ended {r.status} ({r.reason})")
        run.expect(bool(r.output), f"{r.id} is empty (no output items)")
    run.expect(bool(responses[0].calls), "the first response holds no function_call")
    second = next((r for r in responses if r.id == requested), None)
    run.expect(
        second is not None and FOUND in second.said,
        f"the response created by the second response.create ({requested}) says {second.said if second else None!r}, not '{FOUND} ...'",
    )
    run.conclude()


@pytest.mark.parametrize(
    ("model", "beta", "knob"),
    cases(ALL_MODELS, ["default"]) + cases([DEFAULT], ["usage_standalone", "transcription_bundled", "input_transcription_late"], (False,)),
)
async def test_a_tool_answer_sent_the_instant_response_done_arrives_gets_the_answer(tmp_path: Path, model: str, beta: bool, knob: str) -> None:
    async with session(tmp_path, model, beta, knob) as run:
        await tool_round_trip(run, think_s=0)


@pytest.mark.parametrize(("model", "beta", "knob"), cases([DEFAULT], ["default"]) + cases([STUDIO_31], ["default"], (False,)))
async def test_a_tool_answer_sent_two_seconds_later_gets_the_answer(tmp_path: Path, model: str, beta: bool, knob: str) -> None:
    async with session(tmp_path, model, beta, knob) as run:
        await tool_round_trip(run, think_s=2.0)


# --- c. cancel, then a new turn ---------------------------------------------------------------------


@pytest.mark.parametrize(("model", "beta", "knob"), cases([DEFAULT], ["default"]) + cases([DEFAULT], ["usage_standalone"], (False,)))
async def test_a_cancelled_response_is_followed_by_an_answered_one(tmp_path: Path, model: str, beta: bool, knob: str) -> None:
    async with session(tmp_path, model, beta, knob) as run:
        await run.user_text("tell me a long story about the sea")
        await run.connection.response.create()
        first = await run.next_response()
        await run.until(lambda e: e["type"].endswith(".delta") and e.get("response_id") == first)
        await run.connection.response.cancel()
        await run.done_of(first)
        await run.user_text("and now the weather")
        await run.connection.response.create()
        await run.done_of(await run.next_response(after=first))
        await run.settle()
    responses = run.responses()
    run.expect(len(responses) == 2, f"{len(responses)} responses, expected two")
    run.expect(responses[0].status == "cancelled", f"the first response ended {responses[0].status}, not cancelled")
    if len(responses) > 1:
        run.expect(responses[-1].status == "completed", f"the second response ended {responses[-1].status}")
        run.expect("You said: and now the weather" in responses[-1].said, f"the second response says {responses[-1].said!r}")
    run.conclude()


# --- d. barge-in with server VAD ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "beta", "knob"),
    cases([DEFAULT], ["default"]) + cases([DEFAULT], ["transcription_bundled", "input_transcription_late"], (False,)),
)
async def test_speaking_over_a_reply_cancels_it_and_the_new_turn_is_answered(tmp_path: Path, model: str, beta: bool, knob: str) -> None:
    async with session(tmp_path, model, beta, knob) as run:
        await run.update(*transcription())
        speaking = asyncio.create_task(speak_in_real_time(run, "tell me a long story please", tail_s=0.8))
        first = await run.next_response()
        await run.until(lambda e: e["type"] == run.name("response.output_audio.delta", "response.audio.delta") and e.get("response_id") == first)
        await speaking
        interrupting = asyncio.create_task(speak_in_real_time(run, "stop", lead_s=0.0))
        await run.done_of(first)
        await run.done_of(await run.next_response(after=first))
        await interrupting
        await run.settle()
    responses = run.responses()
    run.expect(len(responses) == 2, f"{len(responses)} responses, expected two")
    run.expect(
        (responses[0].status, responses[0].reason) == ("cancelled", "turn_detected"),
        f"the first response ended {responses[0].status} ({responses[0].reason}), not cancelled (turn_detected)",
    )
    if len(responses) > 1:
        run.expect(responses[-1].status == "completed", f"the second response ended {responses[-1].status}")
        run.expect("You said: stop" in responses[-1].said, f"the second response says {responses[-1].said!r}")
    run.conclude()


# --- e. truncate an assistant audio item ------------------------------------------------------------


@pytest.mark.parametrize(("model", "beta", "knob"), cases([DEFAULT], ["default"]))
async def test_truncating_a_played_reply_is_confirmed(tmp_path: Path, model: str, beta: bool, knob: str) -> None:
    async with session(tmp_path, model, beta, knob) as run:
        await run.user_text("hello there")
        await run.connection.response.create()
        done = await run.done_of(await run.next_response())
        item_id = done["response"]["output"][0]["id"]
        await run.connection.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=200)
        truncated = await run.until(lambda e: e["type"] in ("conversation.item.truncated", "error"))
        await run.settle()
    run.expect(
        (truncated["type"], truncated.get("item_id"), truncated.get("audio_end_ms")) == ("conversation.item.truncated", item_id, 200),
        f"truncate answered with {truncated}",
    )
    run.expect(len(run.responses()) == 1, f"{len(run.responses())} responses, expected one")
    run.conclude()


# --- f. session.update between two turns ------------------------------------------------------------


@pytest.mark.parametrize(("model", "beta", "knob"), cases([DEFAULT], ["default"]) + cases([VERTEX_NATIVE], ["default"], (False,)))
async def test_a_session_update_between_turns_keeps_both_answered(tmp_path: Path, model: str, beta: bool, knob: str) -> None:
    async with session(tmp_path, model, beta, knob) as run:
        await run.user_text("my name is Ada")
        await run.connection.response.create()
        await run.done_of(await run.next_response())
        updated = await run.update({"instructions": "Second rules."}, {"instructions": "Second rules."})
        run.expect(updated["type"] == "session.updated" and updated["session"].get("instructions") == "Second rules.", f"session.update answered {updated['type']}")
        await run.user_text("still there")
        await run.connection.response.create()
        await run.done_of(await run.next_response())
        await run.settle()
    responses = run.responses()
    run.expect(len(responses) == 2, f"{len(responses)} responses, expected two")
    for r, text in zip(responses, ("You said: my name is Ada", "You said: still there"), strict=False):
        run.expect(r.status == "completed" and text in r.said, f"{r.id} ended {r.status} saying {r.said!r}, expected {text!r}")
    run.conclude()


# --- g. manual turns --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "beta", "knob"),
    cases([DEFAULT], ["default"]) + cases([DEFAULT], ["input_transcription_late", "transcription_bundled"], (False,)),
)
async def test_a_manual_turn_is_answered_once(tmp_path: Path, model: str, beta: bool, knob: str) -> None:
    async with session(tmp_path, model, beta, knob) as run:
        ga, beta_fields = transcription()
        ga["audio"]["input"]["turn_detection"] = None
        updated = await run.update(ga, {**beta_fields, "turn_detection": None})
        assert updated["type"] == "session.updated", updated
        pcm = voice.speak("manual turn", 24000)
        for offset in range(0, len(pcm), 4800):
            await run.connection.input_audio_buffer.append(audio=pcm_b64(pcm[offset : offset + 4800]))
        await run.connection.input_audio_buffer.commit()
        await run.until("input_audio_buffer.committed")
        await run.connection.response.create()
        await run.done_of(await run.next_response())
        await run.settle()
    responses = run.responses()
    run.expect(len(responses) == 1, f"{len(responses)} responses, expected one")
    run.expect(bool(responses) and responses[0].status == "completed", "the response is not completed")
    run.expect(bool(responses) and "You said: manual turn" in responses[0].said, f"the reply says {responses[0].said if responses else None!r}")
    run.conclude()


# --- h. text-only output on a native-audio model ----------------------------------------------------


# audio_pace 0 (the default): the transcript is all there at once and playback lasts after it; 1.0:
# the emulator streams audio and transcript in real time.
@pytest.mark.parametrize("pace", [pytest.param(0.0, id="pace0")])
@pytest.mark.parametrize(("model", "beta", "knob"), cases(NATIVE_AUDIO, ["default"]))
async def test_a_text_only_reply_is_done_promptly_after_its_text(tmp_path: Path, model: str, beta: bool, knob: str, pace: float) -> None:
    await text_only_reply(tmp_path, model, beta, knob, pace)


@pytest.mark.parametrize("pace", [pytest.param(1.0, id="pace1")])
@pytest.mark.parametrize(("model", "beta", "knob"), cases([DEFAULT], ["default"]))
async def test_a_text_only_reply_paced_in_real_time_is_done_promptly_after_its_text(
    tmp_path: Path, model: str, beta: bool, knob: str, pace: float
) -> None:
    await text_only_reply(tmp_path, model, beta, knob, pace)


async def text_only_reply(tmp_path: Path, model: str, beta: bool, knob: str, pace: float) -> None:
    async with session(tmp_path, model, beta, knob, audio_pace=pace) as run:
        updated = await run.update({"output_modalities": ["text"]}, {"modalities": ["text"]})
        assert updated["type"] == "session.updated", updated
        await run.user_text("hello there")
        await run.connection.response.create()
        response_id = await run.next_response()
        await run.done_of(response_id)
        await run.settle()
    responses = run.responses()
    delta = run.name("response.output_text.delta", "response.text.delta")
    deltas = [i for i, e in enumerate(run.events) if e["type"] == delta and e.get("response_id") == response_id]
    done = next(i for i, e in enumerate(run.events) if e["type"] == "response.done" and e["response"]["id"] == response_id)
    run.expect(bool(deltas), f"no {delta} in the response")
    if deltas:
        gap = run.times[done] - run.times[deltas[-1]]
        run.expect(gap < 0.5, f"response.done came {gap:.2f} s after the last text delta (limit 0.5 s)")
    run.expect(len(responses) == 1, f"{len(responses)} responses, expected one")
    run.expect(bool(responses) and "You said: hello there" in responses[0].said, f"the reply says {responses[0].said if responses else None!r}")
    audio = [e["type"] for e in run.events if "audio" in e["type"] and e["type"].startswith("response.")]
    run.expect(not audio, f"audio events in a text-only response: {sorted(set(audio))}")
    run.conclude()
