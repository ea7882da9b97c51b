"""The audio path's shortcut (issue 14): ``receive_client_frame`` hands the shell the Gemini message of
a plain append to send at once, and the session goes exactly as it does when every frame is drained."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.realtime.translator import CloseClient, SendUpstream, StartUpstream, Translator
from tests.bridge import T0, counter_ids
from tests.realtime.test_listening import b64, speech_like

STUDIO = UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live")
SETUP_COMPLETE = b'{"setupComplete":{}}'


def translator() -> Translator:
    return Translator(route=STUDIO, model="gpt-realtime", beta=False, ids=counter_ids(), now=T0)


def drain(t: Translator, upstream: list[bytes], client: list[Any]) -> None:
    for action in t.actions_to_upstream():
        upstream.append(action.frame if isinstance(action, SendUpstream) else action.setup if isinstance(action, StartUpstream) else b"close")
    for event in t.events_to_client():
        client.append(event if isinstance(event, CloseClient) else orjson.loads(event))


def frames(detection: dict[str, Any] | None, fmt: str, seed: int, cuts: list[int], extras: list[tuple[int, str]]) -> list[bytes]:
    session: dict[str, Any] = {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000} if fmt == "pcm16" else {"type": f"audio/{'pcmu' if fmt == 'g711_ulaw' else 'pcma'}"}, "turn_detection": detection}}}
    out = [json.dumps({"type": "session.update", "session": session}).encode()]
    audio = speech_like(fmt, seed, 3000)
    offset, inserted = 0, dict(extras)
    for i, size in enumerate(cuts):
        out.append(orjson.dumps({"type": "input_audio_buffer.append", "audio": b64(audio[offset : offset + size])}))
        offset += size
        if i in inserted:
            out.append(orjson.dumps({"type": inserted[i]}))
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([{"type": "server_vad", "silence_duration_ms": 200}, {"type": "server_vad", "create_response": False}, None]),
    st.sampled_from(["pcm16", "g711_ulaw"]),
    st.integers(0, 5),
    st.lists(st.integers(1, 2400), min_size=5, max_size=60),
    st.lists(st.tuples(st.integers(0, 60), st.sampled_from(["input_audio_buffer.commit", "input_audio_buffer.clear", "response.create"])), max_size=3),
)
def test_a_session_fed_through_the_shortcut_goes_as_one_drained_frame_by_frame(
    detection: dict[str, Any] | None, fmt: str, seed: int, cuts: list[int], extras: list[tuple[int, str]]
) -> None:
    drained, direct = translator(), translator()
    seen: dict[str, tuple[list[bytes], list[Any]]] = {"drained": ([], []), "direct": ([], [])}
    for n, frame in enumerate(frames(detection, fmt, seed, cuts, extras)):
        now = T0 + n * 0.02
        drained.receive_client_event(frame, now)
        drain(drained, *seen["drained"])
        message = direct.receive_client_frame(frame, now)
        if message is not None:
            seen["direct"][0].append(message)  # the shell sends it before anything else: nothing else waits
            assert not direct.link.actions and not direct._client
        drain(direct, *seen["direct"])
        if n == 1:  # Gemini's answer to the setup, after the first append
            for t, (up, client) in ((drained, seen["drained"]), (direct, seen["direct"])):
                t.receive_upstream_message(SETUP_COMPLETE, now, t.generation)
                drain(t, up, client)
    assert seen["direct"] == seen["drained"]
    assert list(direct.link._log._entries) == list(drained.link._log._entries)  # what a reconnect would replay


def test_the_shortcut_carries_the_steady_stream_and_leaves_speech_events_to_the_drain() -> None:
    t = translator()
    audio = speech_like("pcm16", 1, 3000)
    update = {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad"}}}}}
    t.receive_client_event(json.dumps(update), T0)
    results = []
    for n, offset in enumerate(range(0, len(audio), 960)):
        results.append(t.receive_client_frame(orjson.dumps({"type": "input_audio_buffer.append", "audio": b64(audio[offset : offset + 960])}), T0 + n * 0.02))
        if n == 0:
            assert results[0] is None  # the setup goes first: the frame waits for setupComplete
            t.receive_upstream_message(SETUP_COMPLETE, T0, t.generation)
        events = [orjson.loads(e)["type"] for e in t.events_to_client() if isinstance(e, bytes)]
        actions = t.actions_to_upstream()
        if results[-1] is not None:
            assert results[-1].startswith(b'{"realtimeInput":{"audio":') and not events and not actions
        elif n:
            assert events or actions  # what the drain had to carry
    direct = [r for r in results if r is not None]
    assert len(direct) > 0.8 * len(results)
