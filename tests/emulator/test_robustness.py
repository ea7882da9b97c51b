"""Bad input never crashes the emulator: every misbehaviour ends in a close with a real code."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livegate.emulator.connection import Close
from tests.emulator.driver import Driver

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(
    ["setup", "clientContent", "client_content", "realtimeInput", "realtime_input", "toolResponse", "contextUpdate", "x"]
)
inner = st.sampled_from(
    ["audio", "video", "text", "activityStart", "activityEnd", "audioStreamEnd", "mediaChunks", "turns", "turnComplete",
     "functionResponses", "model", "generationConfig", "systemInstruction", "tools", "data", "mimeType"]
)
messages = st.one_of(
    st.dictionaries(keys, st.dictionaries(inner, json_values, max_size=3), max_size=2).map(json.dumps),
    st.binary(max_size=64),
    st.text(max_size=64),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, min_size=1, max_size=6), st.booleans())
def test_random_frames_never_crash_and_only_real_close_codes_come_out(frames: list[str | bytes], set_up: bool) -> None:
    driver = Driver()
    if set_up:
        driver.setup()
    for frame in frames:
        for event in driver.send(frame) + driver.settle(5):
            if isinstance(event, Close):
                assert event.code in (1007, 1008, 1011)
                assert len(event.reason.encode()) <= 123
