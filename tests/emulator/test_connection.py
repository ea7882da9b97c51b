"""The emulated service, driven with plain values: exact frames for every behaviour of gemini-live.md."""

from __future__ import annotations

import base64
import json
import math

import pytest

from livegate.emulator import voice
from livegate.emulator.connection import Close, Drop, SetPongDelay
from livegate.emulator.models import Flavour, ToolOrder
from livegate.emulator.routes import Credentials, Route
from livegate.emulator.script import Call, Fault, Scenario, ScriptedTurn
from livegate.emulator.state import EmulatorConfig, EmulatorState, EphemeralToken
from tests.emulator.driver import STUDIO_MODEL, T0, VERTEX, VERTEX_TEXT_MODEL, Driver, kinds

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
}


def fast(**kwargs: object) -> EmulatorConfig:
    kwargs.setdefault("turn_complete_after_playback", False)
    return EmulatorConfig(**kwargs)  # type: ignore[arg-type]


def audio_of(events: list) -> bytes:
    return b"".join(
        base64.b64decode(part["inlineData"]["data"])
        for e in events
        if isinstance(e, dict) and "modelTurn" in e.get("serverContent", {})
        for part in e["serverContent"]["modelTurn"]["parts"]
        if "inlineData" in part
    )


def transcript_of(events: list, field: str = "outputTranscription") -> str:
    return "".join(e["serverContent"][field]["text"] for e in events if isinstance(e, dict) and field in e.get("serverContent", {}))


def test_setup_complete_is_the_exact_frame_of_the_real_service() -> None:
    driver = Driver()
    assert driver.setup() == [{"setupComplete": {}}]
    # gemini-live.md Appendix B, verbatim.
    assert driver.raw[0] == b'{\n  "setupComplete": {}\n}\n'


def test_text_turn_on_a_half_cascade_model_streams_text_then_usage() -> None:
    driver = Driver(route=VERTEX)
    driver.setup(model=VERTEX_TEXT_MODEL, generationConfig={"responseModalities": ["TEXT"]})
    events = driver.send({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "hello there"}]}], "turnComplete": True}})
    events += driver.settle()
    assert kinds(events) == ["text", "text", "generationComplete", "turnComplete"]
    assert "".join(e["serverContent"]["modelTurn"]["parts"][0]["text"] for e in events[:2]) == "You said: hello there"
    usage = events[-1]["usageMetadata"]
    # Vertex names (gemini-live.md §5.3): candidatesTokenCount, trafficType.
    assert usage == {
        "promptTokenCount": 3,
        "candidatesTokenCount": 6,
        "totalTokenCount": 9,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 6}],
        "trafficType": "ON_DEMAND",
    }


def test_audio_reply_speaks_the_words_with_transcript_and_thought_on_native_audio() -> None:
    driver = Driver()
    driver.setup(outputAudioTranscription={})
    events = driver.send({"realtimeInput": {"text": "hi"}}) + driver.settle()
    assert kinds(events)[0] == "thought"
    assert events[0]["serverContent"]["modelTurn"]["parts"][0]["thought"] is True
    assert transcript_of(events) == "You said: hi"
    assert voice.hear(audio_of(events), 24000) == "you said: hi"
    audio_frames = [e for e in events if "inlineData" in json.dumps(e)]
    assert all(
        e["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["mimeType"] == "audio/pcm;rate=24000" for e in audio_frames
    )
    assert len(audio_of(events)) == 2 * 24000 * len("You said: hi") * 50 // 1000
    assert kinds(events)[-2:] == ["generationComplete", "turnComplete"]
    usage = events[-1]["usageMetadata"]
    assert usage["responseTokenCount"] == usage["responseTokensDetails"][0]["tokenCount"] == 15  # 0.6 s at 25/s
    assert usage["responseTokensDetails"][0]["modality"] == "AUDIO"
    assert "candidatesTokenCount" not in usage


def test_thoughts_are_off_with_a_zero_thinking_budget() -> None:
    driver = Driver()
    driver.setup(generationConfig={"thinkingConfig": {"thinking_budget": 0}})
    events = driver.send({"realtimeInput": {"text": "hi"}}) + driver.settle()
    assert "thought" not in kinds(events)


def test_turn_complete_waits_for_playback_after_generation_complete() -> None:
    driver = Driver(EmulatorConfig())
    driver.setup()
    events = driver.send({"realtimeInput": {"text": "abcdefghij"}})
    assert kinds(events)[-1] == "generationComplete"  # audio is sent faster than real time
    seconds = len("You said: abcdefghij") * voice.SYMBOL_SECONDS
    assert kinds(driver.advance(seconds - 0.01)) == []
    assert kinds(driver.advance(0.02)) == ["turnComplete"]


def test_latency_delays_the_first_frame_of_each_reply() -> None:
    driver = Driver(fast(latency_ms=250))
    assert driver.send({"setup": {"model": STUDIO_MODEL}}) == []
    assert driver.advance(0.25) == [{"setupComplete": {}}]
    assert driver.send({"realtimeInput": {"text": "x"}}) == []
    assert kinds(driver.advance(0.25))[0] == "thought"


def test_audio_pace_sends_reply_audio_in_real_time() -> None:
    driver = Driver(fast(audio_pace=1.0, audio_chunk_ms=100))
    driver.setup(generationConfig={"thinkingConfig": {"thinkingBudget": 0}})
    first = driver.send({"realtimeInput": {"text": "hi"}})
    assert kinds(first) == ["audio"]
    assert kinds(driver.advance(0.1)) == ["audio"]


def speech(text: str, rate: int = 16000, lead: float = 0.3, tail: float = 0.8) -> bytes:
    silence = lambda s: b"\0\0" * int(rate * s)  # noqa: E731
    return silence(lead) + voice.speak(text, rate) + silence(tail)


def stream(driver: Driver, pcm: bytes, rate: int = 16000, chunk_ms: int = 20) -> list:
    events = []
    step = rate * chunk_ms // 1000 * 2
    for i in range(0, len(pcm), step):
        chunk = base64.b64encode(pcm[i : i + step]).decode()
        events += driver.send({"realtime_input": {"audio": {"data": chunk, "mime_type": f"audio/pcm;rate={rate}"}}})
        driver.now += chunk_ms / 1000
    return events


def test_audio_turn_is_heard_transcribed_and_answered() -> None:
    driver = Driver()
    driver.setup(inputAudioTranscription={}, outputAudioTranscription={})
    events = stream(driver, speech("what time is it")) + driver.settle()
    assert transcript_of(events, "inputTranscription") == "what time is it"
    finals = [e["serverContent"]["inputTranscription"] for e in events if "finished" in json.dumps(e)]
    assert finals == [{"text": " it", "finished": True}]
    assert transcript_of(events) == "You said: what time is it"
    session = driver.state.sessions["session-000001"]
    assert session.counters.audio_bytes_by_rate == {16000: len(speech("what time is it"))}
    assert [(h.role, h.text) for h in session.history] == [("user", "what time is it"), ("model", "You said: what time is it")]
    usage = events[-1]["usageMetadata"]
    heard_seconds = session.history[0].audio_seconds
    assert 0.75 <= heard_seconds <= 0.9  # the 0.75 s utterance and the pre-roll before its onset
    assert {"modality": "AUDIO", "tokenCount": math.ceil(heard_seconds * 32)} in usage["promptTokensDetails"]


def test_undecodable_audio_is_heard_as_its_duration() -> None:
    driver = Driver()
    driver.setup()
    tone = b"".join((8000).to_bytes(2, "little", signed=True) + (-8000).to_bytes(2, "little", signed=True) for _ in range(8000))
    events = stream(driver, b"\0\0" * 4800 + tone + b"\0\0" * 16000) + driver.settle()
    assert driver.state.sessions["session-000001"].history[0].text == "(1.1 seconds of audio)"
    assert kinds(events)[-1] == "turnComplete"


def test_silence_duration_decides_when_the_turn_ends() -> None:
    driver = Driver()
    driver.setup(realtimeInputConfig={"automaticActivityDetection": {"silenceDurationMs": 1500}})
    events = stream(driver, speech("ok", tail=1.2))
    assert "turnComplete" not in kinds(events)
    events = stream(driver, b"\0\0" * 8000)
    assert "turnComplete" in kinds(events + driver.settle())


def test_vad_disabled_uses_activity_markers() -> None:
    driver = Driver()
    driver.setup(realtimeInputConfig={"automaticActivityDetection": {"disabled": True}})
    assert stream(driver, speech("ignored")) == []
    driver.send({"realtimeInput": {"activityStart": {}}})
    stream(driver, voice.speak("manual turn", 16000))
    events = driver.send({"realtimeInput": {"activityEnd": {}}}) + driver.settle()
    assert driver.state.sessions["session-000001"].history[0].text == "manual turn"
    assert kinds(events)[-1] == "turnComplete"


def test_activity_markers_with_automatic_detection_close_1007() -> None:
    driver = Driver()
    driver.setup()
    events = driver.send({"realtimeInput": {"activityStart": {}}})
    assert events == [Close(1007, "Explicit activity control is not supported when automatic activity detection is enabled.")]


def test_audio_stream_end_flushes_speech_in_progress() -> None:
    driver = Driver()
    driver.setup()
    stream(driver, speech("flush me", tail=0.1))
    events = driver.send({"realtimeInput": {"audioStreamEnd": True}}) + driver.settle()
    assert driver.state.sessions["session-000001"].history[0].text == "flush me"
    assert kinds(events)[-1] == "turnComplete"


def test_barge_in_interrupts_then_completes_and_drops_the_rest_of_the_reply() -> None:
    driver = Driver(EmulatorConfig(audio_pace=1.0))
    driver.setup(outputAudioTranscription={})
    before = driver.send({"realtimeInput": {"text": "tell me a long story please"}}) + driver.advance(0.3)
    assert "interrupted" not in kinds(before)
    during = stream(driver, voice.speak("stop", 16000))
    assert kinds(during)[:2] == ["interrupted", "turnComplete"]
    assert "generationComplete" not in kinds(during)
    # Nothing of the cut reply follows, and only what was sent is in the context (§6.3).
    after = driver.advance(10)
    assert "audio" not in kinds(after)
    session = driver.state.sessions["session-000001"]
    assert session.counters.interruptions == 1
    spoken = session.history[1].text
    assert spoken and "You said: tell me a long story please".startswith(spoken) and spoken != "You said: tell me a long story please"


def test_no_interruption_queues_the_next_turn() -> None:
    driver = Driver(EmulatorConfig(audio_pace=1.0))
    driver.setup(realtimeInputConfig={"activityHandling": "NO_INTERRUPTION"}, generationConfig={"thinkingConfig": {"thinkingBudget": 0}})
    driver.send({"realtimeInput": {"text": "first"}})
    events = driver.send({"realtimeInput": {"text": "second"}}) + driver.settle()
    assert "interrupted" not in kinds(events)
    assert kinds(events).count("turnComplete") == 2


def test_client_content_without_turn_complete_only_adds_context() -> None:
    driver = Driver()
    driver.setup()
    turns = [{"role": "user", "parts": [{"text": "my name is Ada"}]}, {"role": "model", "parts": [{"text": "Hi Ada"}]}]
    assert driver.send({"client_content": {"turns": turns}}) + driver.settle() == []
    events = driver.send({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "who am I"}]}], "turnComplete": True}})
    assert kinds(events + driver.settle())[-1] == "turnComplete"
    assert [h.text for h in driver.state.sessions["session-000001"].history][:3] == ["my name is Ada", "Hi Ada", "who am I"]


def test_blocking_tool_call_before_response_order_for_2_5() -> None:
    driver = Driver()
    driver.setup(tools=[{"functionDeclarations": [WEATHER]}], generationConfig={"thinkingConfig": {"thinkingBudget": 0}})
    events = driver.send({"realtimeInput": {"text": "get weather city=Paris"}}) + driver.settle()
    assert kinds(events) == ["toolCall", "turnComplete"]
    call = events[0]["toolCall"]["functionCalls"][0]
    assert call == {"id": "function-call-000002", "name": "get_weather", "args": {"city": "Paris"}}
    events = driver.send({"toolResponse": {"functionResponses": [{"id": call["id"], "name": "get_weather", "response": {"output": {"temp_c": 21}}}]}})
    events += driver.settle()
    assert transcript_of(events) == ""
    assert voice.hear(audio_of(events), 24000) == voice.spoken_form('Here is what I found: get_weather returned {"output":{"temp_c":21}}.')
    assert kinds(events)[-2:] == ["generationComplete", "turnComplete"]


def test_blocking_tool_call_after_response_order_for_3_1() -> None:
    driver = Driver(fast(tool_order=ToolOrder.AFTER_RESPONSE))
    driver.setup(tools=[{"functionDeclarations": [WEATHER]}], generationConfig={"thinkingConfig": {"thinkingBudget": 0}})
    events = driver.send({"realtimeInput": {"text": "get_weather please"}}) + driver.settle()
    assert kinds(events) == ["toolCall"]
    call_id = events[0]["toolCall"]["functionCalls"][0]["id"]
    assert events[0]["toolCall"]["functionCalls"][0]["args"] == {"city": "example"}
    events = driver.send({"tool_response": {"function_responses": [{"id": call_id, "name": "get_weather", "response": {"output": 1}}]}})
    assert kinds(events + driver.settle())[-2:] == ["generationComplete", "turnComplete"]


def test_barge_in_during_a_pending_call_sends_tool_call_cancellation() -> None:
    driver = Driver(fast(tool_order=ToolOrder.AFTER_RESPONSE))
    driver.setup(tools=[{"functionDeclarations": [WEATHER]}])
    call_id = (driver.send({"realtimeInput": {"text": "get weather"}}) + driver.settle())[-1]["toolCall"]["functionCalls"][0]["id"]
    events = driver.send({"realtimeInput": {"text": "never mind"}})
    assert kinds(events)[:3] == ["interrupted", "toolCallCancellation", "turnComplete"]
    assert events[1] == {"toolCallCancellation": {"ids": [call_id]}}
    # A late answer to a cancelled call is refused.
    late = driver.send({"toolResponse": {"functionResponses": [{"id": call_id, "name": "get_weather", "response": {}}]}})
    assert late[-1] == Close(1008, "Requested entity was not found.")


def test_non_blocking_call_keeps_talking_and_answers_when_idle() -> None:
    driver = Driver()
    decl = dict(WEATHER, behavior="NON_BLOCKING")
    driver.setup(model="models/gemini-3.8-live", tools=[{"functionDeclarations": [decl]}], outputAudioTranscription={})
    events = driver.send({"realtimeInput": {"text": "get weather"}}) + driver.settle()
    assert transcript_of(events) == "Let me check."
    assert kinds(events)[-3:] == ["toolCall", "generationComplete", "turnComplete"]
    call_id = next(e for e in events if "toolCall" in e)["toolCall"]["functionCalls"][0]["id"]
    events = driver.send({"toolResponse": {"functionResponses": [{"id": call_id, "name": "get_weather", "response": {"t": 1}, "scheduling": "WHEN_IDLE"}]}})
    assert transcript_of(events + driver.settle()) == 'Here is what I found: get_weather returned {"t":1}.'


def test_silent_non_blocking_result_is_not_spoken() -> None:
    driver = Driver()
    driver.setup(model="models/gemini-3.8-live", tools=[{"functionDeclarations": [WEATHER]}])
    call_id = next(e for e in driver.send({"realtimeInput": {"text": "get weather"}}) + driver.settle() if "toolCall" in e)["toolCall"]["functionCalls"][0]["id"]
    events = driver.send({"toolResponse": {"functionResponses": [{"id": call_id, "name": "get_weather", "response": {}, "scheduling": "SILENT"}]}})
    assert events + driver.settle() == []


def test_two_calls_in_one_turn_wait_for_both_responses() -> None:
    clock = dict(WEATHER, name="get_time")
    driver = Driver()
    driver.setup(tools=[{"functionDeclarations": [WEATHER, clock]}], generationConfig={"thinkingConfig": {"thinkingBudget": 0}})
    calls = (driver.send({"realtimeInput": {"text": "get time and get weather"}}) + driver.settle())[0]["toolCall"]["functionCalls"]
    assert [c["name"] for c in calls] == ["get_time", "get_weather"]
    first = driver.send({"toolResponse": {"functionResponses": [{"id": calls[0]["id"], "name": "get_time", "response": {}}]}})
    assert first + driver.settle() == []
    second = driver.send({"toolResponse": {"functionResponses": [{"id": calls[1]["id"], "name": "get_weather", "response": {}}]}})
    assert kinds(second + driver.settle())[-1] == "turnComplete"


def test_response_without_id_matches_the_only_open_call_of_that_name() -> None:
    driver = Driver(route=VERTEX)
    driver.setup(model=VERTEX_TEXT_MODEL, generationConfig={"responseModalities": ["TEXT"]}, tools=[{"functionDeclarations": [WEATHER]}])
    driver.send({"realtimeInput": {"text": "get weather"}})
    driver.settle()
    events = driver.send({"toolResponse": {"functionResponses": [{"name": "get_weather", "response": {"output": "sunny"}}]}})
    assert kinds(events + driver.settle())[-1] == "turnComplete"


def test_scripted_turns_override_the_default_script() -> None:
    scenario = Scenario(turns={2: ScriptedTurn(reply="Scripted."), 3: ScriptedTurn(calls=(Call("get_weather", {"city": "Oslo"}),))})
    driver = Driver(fast(scenario=scenario))
    driver.setup(tools=[{"functionDeclarations": [WEATHER]}], outputAudioTranscription={})
    assert transcript_of(driver.send({"realtimeInput": {"text": "one"}}) + driver.settle()) == "You said: one"
    assert transcript_of(driver.send({"realtimeInput": {"text": "two"}}) + driver.settle()) == "Scripted."
    events = driver.send({"realtimeInput": {"text": "three"}}) + driver.settle()
    assert next(e for e in events if "toolCall" in e)["toolCall"]["functionCalls"][0]["args"] == {"city": "Oslo"}


def test_resumption_updates_carry_new_handles_and_are_not_resumable_while_generating() -> None:
    driver = Driver()
    events = driver.setup(sessionResumption={})
    assert events[1] == {"sessionResumptionUpdate": {"newHandle": "handle-000002", "resumable": True}}
    events = driver.send({"realtimeInput": {"text": "x"}}) + driver.settle()
    assert events[0] == {"sessionResumptionUpdate": {}}
    assert events[-1] == {"sessionResumptionUpdate": {"newHandle": "handle-000003", "resumable": True}}


def test_resuming_with_a_handle_restores_the_conversation_and_counts() -> None:
    state = EmulatorState(fast())
    first = Driver(state=state)
    first.setup(sessionResumption={})
    events = first.send({"realtimeInput": {"text": "remember me"}}) + first.settle()
    handle = events[-1]["sessionResumptionUpdate"]["newHandle"]
    first.connection.connection_lost(first.now)
    second = Driver(state=state, now=first.now + 1)
    assert second.setup(sessionResumption={"handle": handle}) == [
        {"setupComplete": {}},
        {"sessionResumptionUpdate": {"newHandle": "handle-000004", "resumable": True}},
    ]
    session = state.sessions["session-000001"]
    assert session.counters.resumptions == 1 and session.counters.connections == 2
    assert [h.text for h in session.history] == ["remember me", "You said: remember me"]
    assert len(state.sessions) == 1


def test_resume_is_refused_while_the_old_connection_is_open() -> None:
    state = EmulatorState(fast())
    first = Driver(state=state)
    handle = first.setup(sessionResumption={})[1]["sessionResumptionUpdate"]["newHandle"]
    second = Driver(state=state)
    assert second.setup(sessionResumption={"handle": handle}) == [Close(1011, "The service is currently unavailable.")]


def test_unknown_or_expired_handle_closes_1007() -> None:
    state = EmulatorState(fast(handle_ttl_s=10))
    first = Driver(state=state)
    handle = first.setup(sessionResumption={})[1]["sessionResumptionUpdate"]["newHandle"]
    first.connection.connection_lost(first.now)
    assert Driver(state=state).setup(sessionResumption={"handle": "nope"}) == [Close(1007, "Request contains an invalid argument.")]
    late = Driver(state=state, now=T0 + 11)
    assert late.setup(sessionResumption={"handle": handle}) == [Close(1007, "Request contains an invalid argument.")]


def test_sessions_and_handles_are_let_go_once_nothing_can_resume_them() -> None:
    state = EmulatorState(fast(handle_ttl_s=10))
    first = Driver(state=state)
    first.setup(sessionResumption={})
    open_one = Driver(state=state)
    open_one.setup(sessionResumption={})
    first.connection.connection_lost(first.now)
    Driver(state=state, now=T0 + 5).setup(sessionResumption={})
    assert len(state.sessions) == 3  # within the handle's two hours (here 10 s) it can still be resumed
    Driver(state=state, now=T0 + 70).setup(sessionResumption={})
    assert len(state.sessions) == 3  # the ended one is gone; the open one and the newer ones stay
    assert open_one.connection.session is not None and open_one.connection.session.id in state.sessions
    assert all(point.expires > T0 + 70 for point in state.handles.values())


def test_transparent_resumption_reports_the_last_consumed_message_index() -> None:
    driver = Driver(route=VERTEX)
    driver.setup(model=VERTEX_TEXT_MODEL, generationConfig={"responseModalities": ["TEXT"]}, sessionResumption={"transparent": True})
    update = (driver.send({"realtimeInput": {"text": "a"}}) + driver.settle())[-1]["sessionResumptionUpdate"]
    assert update["lastConsumedClientMessageIndex"] == "0"


def test_transparent_is_vertex_only() -> None:
    driver = Driver()
    assert driver.setup(sessionResumption={"transparent": True}) == [
        Close(1007, "Invalid JSON payload received. Unknown name \"transparent\" at 'setup.session_resumption': Cannot find field.")
    ]


def test_go_away_then_deadline_close_1011() -> None:
    driver = Driver(fast(connection_lifetime_s=600))
    driver.setup()
    assert driver.advance(539) == []
    assert driver.advance(1) == [{"goAway": {"timeLeft": "60s"}}]
    assert driver.advance(60) == [Close(1011, "Deadline expired before operation could complete.")]
    assert driver.state.sessions["session-000001"].counters.go_aways == 1


def test_go_away_lead_is_capped_at_half_a_short_lifetime() -> None:
    driver = Driver(fast(connection_lifetime_s=3))
    driver.setup()
    assert driver.advance(1.5) == [{"goAway": {"timeLeft": "1.500s"}}]


def test_session_limit_without_compression_ends_the_session() -> None:
    driver = Driver(fast(session_limit_s=30))
    driver.setup()
    assert driver.advance(29.9) == []
    assert driver.advance(0.2) == [Close(1008, "The operation was aborted.")]


def test_session_limit_does_not_apply_with_compression() -> None:
    driver = Driver(fast(session_limit_s=30))
    driver.setup(contextWindowCompression={"slidingWindow": {}})
    assert driver.advance(120) == []


def test_video_shortens_the_session_limit() -> None:
    driver = Driver(fast(session_limit_s=900, video_session_limit_s=120))
    driver.setup()
    driver.send({"realtimeInput": {"video": {"data": "_9j_4A==", "mimeType": "image/jpeg"}}})
    assert driver.advance(121)[-1] == Close(1008, "The operation was aborted.")


def test_compression_drops_the_oldest_turns_and_is_counted() -> None:
    driver = Driver(fast())
    driver.setup(contextWindowCompression={"triggerTokens": 40, "slidingWindow": {"targetTokens": "20"}}, generationConfig={"thinkingConfig": {"thinkingBudget": 0}})
    for i in range(6):
        driver.send({"realtimeInput": {"text": f"message number {i} with some words"}})
        driver.settle()
    session = driver.state.sessions["session-000001"]
    assert session.counters.compressions >= 1
    assert session.history[0].text != "message number 0 with some words"


def test_context_window_overflow_without_compression_closes_1007() -> None:
    driver = Driver(fast())
    driver.setup()
    events = driver.send({"realtimeInput": {"text": "x" * 600_000}})
    assert events == [Close(1007, "The input token count (150000) exceeds the maximum number of tokens allowed (131072).")]


@pytest.mark.parametrize(
    ("message", "close"),
    [
        ({"realtimeInput": {"text": "early"}}, Close(1007, "Setup must be the first message and only the first.")),
        ("not json", Close(1007, "Invalid JSON payload received. Unexpected token.")),
        (
            {"setup": {"model": STUDIO_MODEL}, "clientContent": {}},
            Close(1007, "Invalid JSON payload received. Oneof field 'message_type' is already set. Cannot set 'clientContent'"),
        ),
        (
            {"setup": {"model": "models/gemini-0-nope"}},
            Close(1008, "models/gemini-0-nope is not found for API version v1beta, or is not supported for bidiGenerateContent. Call ListModels to s"),
        ),
        (
            {"setup": {"model": STUDIO_MODEL, "generationConfig": {"responseModalities": ["AUDIO", "TEXT"]}}},
            Close(1007, "The requested combination of response modalities (AUDIO, TEXT) is not supported by the model"),
        ),
        (
            {"setup": {"model": STUDIO_MODEL, "generationConfig": {"responseModalities": ["TEXT"]}}},
            Close(1007, "The requested combination of response modalities (TEXT) is not supported by the model"),
        ),
        (
            {"setup": {"model": STUDIO_MODEL, "generation_config": {"temprature": 1}}},
            Close(1007, "Invalid JSON payload received. Unknown name \"temprature\" at 'setup.generation_config': Cannot find field."),
        ),
        (
            {"setup": {"model": STUDIO_MODEL, "generationConfig": {"responseModalities": ["audio"]}}},
            Close(1007, "Invalid value at 'setup.generation_config.response_modalities[0]' (TYPE_ENUM), \"audio\""),
        ),
    ],
)
def test_client_misbehaviour_closes_with_the_real_code(message: object, close: Close) -> None:
    events = Driver().send(message)  # type: ignore[arg-type]
    assert events == [close]
    assert len(close.reason.encode()) <= 123


def test_second_setup_closes_1007() -> None:
    driver = Driver()
    driver.setup()
    assert driver.send({"setup": {"model": STUDIO_MODEL}}) == [Close(1007, "Setup must be the first message and only the first.")]


def test_a_closed_connection_ignores_everything_after() -> None:
    driver = Driver()
    driver.send("garbage")
    assert driver.send({"setup": {"model": STUDIO_MODEL}}) == []


def test_vertex_model_names_and_regions_are_checked() -> None:
    model = "projects/p/locations/global/publishers/google/models/gemini-live-2.5-flash-native-audio"
    events = Driver(route=VERTEX).setup(model=model)
    assert events[0].code == 1008 and events[0].reason.startswith("Publisher model `projects/p/locations/global/")
    regional = model.replace("/global/", "/us-central1/")
    assert Driver(route=VERTEX).setup(model=regional) == [{"setupComplete": {}}]
    assert Driver(route=VERTEX).setup(model="models/gemini-3.8-live")[0].code == 1007


def test_credentials_are_checked_as_the_real_service_does() -> None:
    keyed = EmulatorState(fast(api_key="right"))
    assert Driver(state=keyed, credentials=Credentials(api_key="wrong")).setup() == [
        Close(1008, "API key not valid. Please pass a valid API key.")
    ]
    assert Driver(state=keyed, credentials=Credentials(api_key="right")).setup() == [{"setupComplete": {}}]
    assert Driver(credentials=Credentials()).setup()[0].code == 1008
    bad_bearer = Driver(route=VERTEX, credentials=Credentials(bearer="ya29.forged")).setup(model=VERTEX_TEXT_MODEL)
    assert bad_bearer[0].reason.startswith("Request had invalid authentication credentials.")


def test_ephemeral_token_uses_expiry_and_locked_fields() -> None:
    state = EmulatorState(fast())
    locked = {"model": STUDIO_MODEL, "systemInstruction": {"parts": [{"text": "locked"}]}}
    state.ephemeral_tokens["auth_tokens/t"] = EphemeralToken("auth_tokens/t", 1, T0 + 100, T0 + 10, locked, ("systemInstruction",))
    route = Route(Flavour.AI_STUDIO, "v1alpha", constrained=True)
    driver = Driver(state=state, route=route, credentials=Credentials(ephemeral="auth_tokens/t"))
    driver.setup(systemInstruction={"parts": [{"text": "client"}]}, sessionResumption={})
    assert state.sessions["session-000001"].setup.system_instruction == "locked"
    # One use: a second new session is refused...
    again = Driver(state=state, route=route, credentials=Credentials(ephemeral="auth_tokens/t"))
    assert again.setup()[0].code == 1008
    # ...but resuming the first does not count as a use.
    handle = state.sessions["session-000001"].handle
    driver.connection.connection_lost(driver.now)
    resumed = Driver(state=state, route=route, credentials=Credentials(ephemeral="auth_tokens/t"), now=T0 + 50)
    assert resumed.setup(sessionResumption={"handle": handle}) == [{"setupComplete": {}}, {"sessionResumptionUpdate": {"newHandle": "handle-000003", "resumable": True}}]
    # After expireTime every message is refused.
    assert resumed.advance(60) == []
    assert resumed.send({"realtimeInput": {"text": "late"}}) == [Close(1008, "The ephemeral token has expired.")]


def test_clientcontent_after_the_first_model_turn_is_refused_by_3_1() -> None:
    driver = Driver()
    driver.setup(model="models/gemini-3.1-flash-live-preview")
    driver.send({"realtimeInput": {"text": "hi"}})
    driver.settle()
    events = driver.send({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "x"}]}], "turnComplete": True}})
    assert events == [Close(1007, "Request contains an invalid argument.")]


def test_context_update_replaces_instructions_and_tools() -> None:
    driver = Driver()
    driver.setup(systemInstruction={"parts": [{"text": "old"}]})
    driver.send({"contextUpdate": {"systemInstruction": {"parts": [{"text": "new"}]}, "tools": {"tools": [{"functionDeclarations": [WEATHER]}]}}})
    setup = driver.state.sessions["session-000001"].setup
    assert setup.system_instruction == "new"
    assert [f.name for f in setup.functions] == ["get_weather"]


def test_faults_close_drop_delay_and_slow_pongs_at_chosen_moments() -> None:
    scenario = Scenario(
        faults=(
            Fault(when="setup", action="slow_pong", ms=25000),
            Fault(when="turn", at=2, action="close", code=1011, reason="Internal error encountered."),
        )
    )
    driver = Driver(fast(scenario=scenario))
    assert driver.setup() == [SetPongDelay(25000), {"setupComplete": {}}]
    driver.send({"realtimeInput": {"text": "one"}})
    driver.settle()
    assert driver.send({"realtimeInput": {"text": "two"}}) == [Close(1011, "Internal error encountered.")]
    dropper = Driver(fast(scenario=Scenario(faults=(Fault(when="seconds", at=5, action="drop"),))))
    dropper.setup()
    assert dropper.advance(5) == [Drop()]
    slow = Driver(fast(scenario=Scenario(faults=(Fault(when="reply", at=1, action="delay", ms=500),))))
    slow.setup(generationConfig={"thinkingConfig": {"thinkingBudget": 0}})
    slow.send({"realtimeInput": {"text": "one"}})
    slow.settle()
    assert slow.send({"realtimeInput": {"text": "two"}}) == []
    assert kinds(slow.advance(0.49)) == []
    assert kinds(slow.advance(0.01))[0] == "audio"


def test_injected_go_away_closes_after_time_left() -> None:
    driver = Driver()
    driver.setup()
    driver.connection.inject(Fault(when="seconds", action="go_away", time_left_s=2), driver.now)
    assert driver.advance(0) == [{"goAway": {"timeLeft": "2s"}}]
    assert driver.advance(2) == [Close(1011, "Deadline expired before operation could complete.")]


def test_record_audio_keeps_every_byte_per_rate() -> None:
    driver = Driver(fast(record_audio=True))
    driver.setup()
    pcm = speech("abc", rate=24000)
    stream(driver, pcm, rate=24000)
    assert bytes(driver.state.sessions["session-000001"].audio[24000]) == pcm


def test_mime_without_rate_is_16k_and_odd_pcm_is_refused() -> None:
    driver = Driver()
    driver.setup()
    assert driver.send({"realtimeInput": {"audio": {"data": "AAA=", "mimeType": "audio/pcm"}}}) == []
    assert driver.state.sessions["session-000001"].counters.audio_bytes_by_rate == {16000: 2}
    events = driver.send({"realtimeInput": {"audio": {"data": "AAAA", "mimeType": "audio/pcm"}}})
    assert events == [Close(1007, "Invalid audio data at 'realtime_input.audio.data': PCM16 needs an even number of bytes.")]
