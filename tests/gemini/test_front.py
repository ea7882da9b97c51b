"""The native front's core (issue 15), without sockets: what goes up is a setup naming the deployment,
then only messages Gemini takes, in order after setupComplete; what comes down goes to the client as
it came; no frame of any kind, from either side, raises."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from livegate.config import Deployment
from livegate.emulator.messages import UNION_FIELDS
from livegate.gemini.front import NativeSession, Turn
from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from livegate.realtime.translator import CloseClient, CloseUpstream, SendUpstream, StartUpstream

# BidiGenerateContentClientMessage's union (gemini-live.md §4) but setup, in both JSON casings.
CLIENT_FIELDS = frozenset(UNION_FIELDS[1:]) | {"client_content", "realtime_input", "tool_response", "context_update"}
STUDIO = Deployment("studio-live", UpstreamRoute(Flavour.AI_STUDIO, "gemini-3.8-live"), api_key="k")
VERTEX = Deployment("vertex-live", UpstreamRoute(Flavour.VERTEX, "gemini-live-2.5-flash", project="p", location="us-central1"))
DEPLOYMENTS = {"studio-live": STUDIO, "vertex-live": VERTEX, "gemini-3.8-live": STUDIO}
T0 = 1_800_000_000.0


def session(**kwargs: Any) -> NativeSession:
    counter = itertools.count()
    return NativeSession(resolve=DEPLOYMENTS.get, ids=lambda prefix: f"{prefix}_{next(counter)}", now=T0, **kwargs)


def setup(model: str = "models/studio-live", **fields: Any) -> bytes:
    return orjson.dumps({"setup": {"model": model, **fields}})


def nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)


leaves = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
json_values = st.recursive(leaves, nested, max_leaves=8)
client_frames = st.one_of(
    st.binary(max_size=40),
    json_values.map(orjson.dumps),
    st.sampled_from([*sorted(CLIENT_FIELDS), "setup", "bogus"]).flatmap(lambda key: json_values.map(lambda v: orjson.dumps({key: v}))),
    st.just(setup()),
    st.just(setup("projects/x/locations/y/publishers/google/models/vertex-live")),
)
upstream_frames = st.one_of(
    st.binary(max_size=40),
    json_values.map(orjson.dumps),
    st.just(b'{"setupComplete":{}}'),
    json_values.map(lambda v: orjson.dumps({"usageMetadata": v})),
    st.just(b'{"serverContent":{"turnComplete":true},"usageMetadata":{"promptTokenCount":3,"responseTokenCount":2}}'),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("client"), client_frames), st.tuples(st.just("upstream"), upstream_frames)), max_size=25))
def test_no_frame_from_either_side_raises_and_only_what_gemini_takes_goes_up(steps: list[tuple[str, bytes]]) -> None:
    s = session()
    sent: list[bytes] = []
    closed = False
    for side, frame in steps:
        if side == "client":
            direct = s.receive_client_frame(frame, T0)
            if direct is not None:
                assert direct == frame and s.ready
                sent.append(direct)
        else:
            s.receive_upstream_message(frame, T0, s.generation)
        for action in s.actions_to_upstream():
            if isinstance(action, StartUpstream):
                message = orjson.loads(action.setup)
                assert list(message) == ["setup"] and message["setup"]["model"] in ("models/gemini-3.8-live", VERTEX.route.model_name)
            elif not isinstance(action, CloseUpstream):
                assert isinstance(action, SendUpstream)
                sent.append(action.frame)
        for event in s.events_to_client():
            if isinstance(event, CloseClient):
                assert event.code in (1007, 1008) and not closed
                closed = True
        for turn in s.finished_responses():
            assert isinstance(turn, Turn) and isinstance(turn.usage, dict)
    for frame in sent:
        message = orjson.loads(frame)
        assert isinstance(message, dict) and len(message) == 1 and next(iter(message)) in CLIENT_FIELDS
    assert not closed or s.closed


def test_messages_wait_for_setup_complete_in_order_then_go_straight_up() -> None:
    s = session()
    s.receive_client_frame(setup(generationConfig={"responseModalities": ["AUDIO"]}), T0)
    (start,) = s.actions_to_upstream()
    assert isinstance(start, StartUpstream) and s.deployment is STUDIO
    assert orjson.loads(start.setup) == {
        "setup": {
            "model": "models/gemini-3.8-live", "generationConfig": {"responseModalities": ["AUDIO"]},
            "contextWindowCompression": {"slidingWindow": {}}, "sessionResumption": {},
        }
    }  # fmt: skip
    early = [orjson.dumps({"realtimeInput": {"audio": {"data": base64.b64encode(bytes(2 * i + 2)).decode(), "mimeType": "audio/pcm;rate=16000"}}}) for i in range(3)]
    assert [s.receive_client_frame(frame, T0) for frame in early] == [None] * 3
    assert s.actions_to_upstream() == []
    s.receive_upstream_message(b'{"setupComplete": {}}', T0, 0)
    assert [a.frame for a in s.actions_to_upstream() if isinstance(a, SendUpstream)] == early
    assert s.events_to_client() == [b'{"setupComplete": {}}']  # as Gemini wrote it
    late = orjson.dumps({"clientContent": {"turnComplete": True}})
    assert s.receive_client_frame(late, T0) == late


def test_usage_is_read_from_any_message_that_carries_it_and_the_client_gets_the_bytes() -> None:
    s = session()
    s.receive_client_frame(setup(), T0)
    s.receive_upstream_message(b'{"setupComplete":{}}', T0, 0)
    frame = b'{"serverContent":{"turnComplete":true},"usageMetadata":{"promptTokenCount":7,"responseTokenCount":5,"thoughtsTokenCount":1}}'
    s.events_to_client()
    s.receive_upstream_message(frame, T0, 0)
    assert s.events_to_client() == [frame]
    (turn,) = s.finished_responses()
    assert (turn.usage or {})["input_tokens"] == 7 and (turn.usage or {})["output_tokens"] == 6
    assert s.receive_upstream_message(b'{"serverContent":{}}', T0, 2) is None and s.events_to_client() == []  # an old connection's


def test_the_client_is_told_as_gemini_tells_it() -> None:
    def first(frame: bytes, **kwargs: Any) -> CloseClient:
        s = session(**kwargs)
        s.receive_client_frame(frame, T0)
        (close,) = s.events_to_client()
        assert isinstance(close, CloseClient) and s.actions_to_upstream() == []
        return close

    assert first(setup("models/unknown")) == CloseClient(1008, "models/unknown is not found for API version v1beta, or is not supported for bidiGenerateContent.")
    assert first(b"{") == CloseClient(1007, "Request contains an invalid argument.")
    assert first(orjson.dumps({"setup": {"model": 5}})) == CloseClient(1007, "Request contains an invalid argument.")
    assert first(orjson.dumps({"realtimeInput": {}})) == CloseClient(1007, "Request contains an invalid argument.")
    assert first(setup("models/vertex-live"), allowed_models=frozenset({"studio-live"})) == CloseClient(1008, "This API key may not use the model 'vertex-live'.")
    s = session()
    s.receive_client_frame(setup(), T0)
    s.receive_client_frame(setup(), T0)  # a second setup (gemini-live.md §14)
    assert s.events_to_client() == [CloseClient(1007, "Request contains an invalid argument.")]
    s = session()
    s.receive_client_frame(setup(), T0)
    s.receive_upstream_closed(1008, "The operation was aborted", T0, 0)  # not retried (gemini.closes)
    assert s.events_to_client() == [CloseClient(1008, "The operation was aborted")]


def test_idle_and_maximum_durations_end_the_session() -> None:
    s = session(idle_timeout_s=5.0, max_session_s=60.0)
    assert s.next_deadline() == T0 + 5.0
    s.receive_client_frame(setup(), T0 + 4)
    assert s.next_deadline() == T0 + 9.0
    s.tick(T0 + 9.5)
    assert s.events_to_client() == [CloseClient(1000, "The session was idle for too long.")]
    assert s.next_deadline() is None


def test_a_go_away_is_answered_by_resuming_between_turns_and_the_client_sees_one_setup_complete() -> None:
    s = session()
    s.receive_client_frame(setup(), T0)
    s.actions_to_upstream()
    s.receive_upstream_message(b'{"setupComplete":{}}', T0, 0)
    update = b'{"sessionResumptionUpdate":{"newHandle":"h1","resumable":true}}'
    s.receive_upstream_message(update, T0, 0)
    s.receive_upstream_message(b'{"serverContent":{"modelTurn":{"parts":[{"text":"hi"}]}}}', T0, 0)
    s.receive_upstream_message(b'{"goAway":{"timeLeft":"50s"}}', T0, 0)
    assert s.actions_to_upstream() == []  # mid-turn: the switch waits for the turn's end
    s.receive_upstream_message(b'{"serverContent":{"turnComplete":true}}', T0, 0)
    close, start = s.actions_to_upstream()
    assert isinstance(close, CloseUpstream) and isinstance(start, StartUpstream) and start.generation == 1
    assert orjson.loads(start.setup)["setup"]["sessionResumption"] == {"handle": "h1"}
    waiting = orjson.dumps({"realtimeInput": {"text": "while switching"}})
    assert s.receive_client_frame(waiting, T0) is None
    s.receive_upstream_message(b'{"setupComplete":{}}', T0, 1)
    assert [a.frame for a in s.actions_to_upstream() if isinstance(a, SendUpstream)] == [waiting]
    assert s.events_to_client() == [
        b'{"setupComplete":{}}', b'{"serverContent":{"modelTurn":{"parts":[{"text":"hi"}]}}}', b'{"serverContent":{"turnComplete":true}}',
    ]  # fmt: skip
    assert s.reconnects == {"go_away": 1}


def test_a_client_that_asked_for_resumption_gets_its_handles_and_a_drop_is_resumed_with_backoff() -> None:
    s = session()
    s.receive_client_frame(setup(sessionResumption={"handle": "from-before"}), T0)
    (start,) = s.actions_to_upstream()
    assert orjson.loads(start.setup)["setup"]["sessionResumption"] == {"handle": "from-before"}  # its own handle
    s.receive_upstream_message(b'{"setupComplete":{}}', T0, 0)
    update = b'{"sessionResumptionUpdate":{"newHandle":"h2","resumable":true}}'
    s.receive_upstream_message(update, T0, 0)
    assert s.events_to_client() == [b'{"setupComplete":{}}', update]
    s.receive_upstream_closed(1011, "Internal error encountered.", T0, 0)
    assert s.events_to_client() == [] and not s.closed
    deadline = s.next_deadline()
    assert deadline is not None
    s.tick(deadline)
    (start,) = s.actions_to_upstream()
    assert orjson.loads(start.setup)["setup"]["sessionResumption"] == {"handle": "h2"}


def test_a_message_gemini_would_refuse_is_refused_with_its_reason_and_never_sent() -> None:
    for message, reason in (
        ({"realtimeInput": {"audio": {"data": "AA==", "mimeType": "audio/pcm;rate=16000"}}}, "Invalid audio data at 'realtime_input.audio.data'"),
        ({"realtimeInput": {"audio": {"data": "AAAA", "mimeType": "video/mp4"}}}, "Unsupported mime type for realtime_input.audio"),
        ({"clientContent": []}, "Invalid JSON payload received. Expected an object at 'client_content'."),
    ):
        s = session()
        s.receive_client_frame(setup(), T0)
        s.receive_upstream_message(b'{"setupComplete":{}}', T0, 0)
        s.actions_to_upstream()
        s.events_to_client()
        assert s.receive_client_frame(orjson.dumps(message), T0) is None
        (close,) = s.events_to_client()
        assert isinstance(close, CloseClient) and close.code == 1007 and close.reason.startswith(reason), close
        assert s.actions_to_upstream() == []
    s = session()
    s.receive_client_frame(setup(tools=[{"functionDeclarations": [{"name": 5}]}]), T0)  # a setup Gemini refuses
    (close,) = s.events_to_client()
    assert isinstance(close, CloseClient) and close.code == 1007 and s.actions_to_upstream() == []
