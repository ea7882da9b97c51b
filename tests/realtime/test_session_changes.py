"""session.update at any time (issue 6): applied in place where Gemini allows it, else by reconnecting
with the resumption handle; nothing the client sent is lost and the conversation goes on."""

from __future__ import annotations

import base64

from livegate.emulator.state import EmulatorConfig
from livegate.gemini.models import Flavour
from livegate.gemini.route import UpstreamRoute
from tests.bridge import Bridge, types

NATIVE_25 = UpstreamRoute(Flavour.AI_STUDIO, "gemini-2.5-flash-native-audio-preview-12-2025")
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def say(bridge: Bridge, text: str) -> list[dict[str, object]]:
    bridge.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
    return bridge.send({"type": "response.create"}) + bridge.pump(1)


def test_a_new_setup_reconnects_with_the_handle_and_keeps_the_conversation() -> None:
    bridge = Bridge(NATIVE_25)
    bridge.pump()
    bridge.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "instructions": "Be formal."}})
    say(bridge, "my name is Ada")
    events = bridge.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be casual.", "tools": [WEATHER]}})
    assert types(events) == ["session.updated"]  # once the new setup is in force, after setupComplete
    session = next(iter(bridge.state.sessions.values()))
    assert session.counters.connections == 2
    assert session.counters.resumptions == 1
    assert session.setup.system_instruction == "Be casual."
    assert [f.name for f in session.setup.functions] == ["get_weather"]
    assert session.setups[1]["sessionResumption"]["handle"]
    assert [h.text for h in session.history][:2] == ["my name is Ada", "You said: my name is Ada"]
    assert events[0]["session"]["instructions"] == "Be casual."
    assert next(e for e in say(bridge, "again") if e["type"] == "response.output_text.done")["text"] == "You said: again"


def test_gemini_3_8_changes_instructions_and_tools_in_place() -> None:
    bridge = Bridge()
    bridge.pump()
    say(bridge, "hello")
    events = bridge.send({"type": "session.update", "session": {"type": "realtime", "instructions": "New rules.", "tools": [WEATHER]}})
    assert types(events) == ["session.updated"]
    session = next(iter(bridge.state.sessions.values()))
    assert session.counters.connections == 1
    assert session.counters.context_updates == 1
    assert session.setup.system_instruction == "New rules."
    assert bridge.sent_upstream[-1] == {
        "contextUpdate": {
            "tools": {"tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather", "parametersJsonSchema": WEATHER["parameters"]}]}]},
            "systemInstruction": {"role": "user", "parts": [{"text": "New rules."}]},
        }
    }


def test_a_voice_change_waits_for_the_reply_to_end_then_switches() -> None:
    bridge = Bridge(config=EmulatorConfig(audio_pace=1.0, turn_complete_after_playback=True))
    bridge.pump()
    bridge.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a long reply please"}]}})
    bridge.send({"type": "response.create"})
    early = bridge.send({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": "verse"}}}})
    assert "session.updated" not in types(early)
    later = bridge.pump(5)
    kinds = types(later)
    assert kinds.index("response.done") < kinds.index("session.updated")
    session = next(iter(bridge.state.sessions.values()))
    assert session.setup.voice == "Fenrir"
    assert session.counters.connections == 2


def test_audio_sent_during_the_switch_is_held_and_delivered_in_order() -> None:
    bridge = Bridge(NATIVE_25, config=EmulatorConfig(record_audio=True, turn_complete_after_playback=False))
    bridge.pump()
    say(bridge, "hi")
    frames = [bytes([i]) * 960 for i in range(1, 6)]
    bridge.translator.receive_client_event('{"type": "session.update", "session": {"type": "realtime", "instructions": "switch"}}', bridge.now)
    for frame in frames:  # no pumping: these arrive while the new setup is on its way
        bridge.translator.receive_client_event('{"type": "input_audio_buffer.append", "audio": "' + base64.b64encode(frame).decode() + '"}', bridge.now)
    bridge.pump()
    session = next(iter(bridge.state.sessions.values()))
    assert session.counters.connections == 2
    assert session.counters.audio_bytes_by_rate == {16000: 5 * 640}


def test_without_a_handle_the_conversation_is_seeded_from_the_mirror() -> None:
    bridge = Bridge(NATIVE_25, config=EmulatorConfig(resumption_updates=False, turn_complete_after_playback=False))
    bridge.pump()
    bridge.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
    say(bridge, "remember the blue door")
    bridge.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}})
    sessions = list(bridge.state.sessions.values())
    assert len(sessions) == 2  # a fresh Gemini session...
    assert [h.text for h in sessions[1].history] == ["remember the blue door", "You said: remember the blue door"]  # ...given the conversation
