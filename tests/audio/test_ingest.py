"""One client frame in one native call: the same bytes as the numpy steps, whatever the split."""

from __future__ import annotations

import base64
import binascii

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegate.audio.formats import InputConverter
from livegate.audio.ingest import ACCELERATED, Ingest
from livegate.audio.vad import FrameEnergies

FORMATS = ["pcm16", "g711_ulaw", "g711_alaw"]
ENVELOPE = (b'{"realtimeInput":{"audio":{"data":"', b'"}}}')


def client_audio(fmt: str, seed: int, ms: int) -> bytes:
    """Noise at levels that change every 10 ms, from silence to loud, in the client's format."""
    rng = np.random.default_rng(seed)
    if fmt != "pcm16":
        return rng.integers(0, 256, ms * 8, dtype=np.uint8).tobytes()
    levels = np.repeat(rng.choice([0, 30, 300, 3000, 20000], size=ms // 10 + 1), 240)[: ms * 24]
    return np.clip(rng.normal(0, 1, ms * 24) * levels, -32768, 32767).astype("<i2").tobytes()


def chunks(data: bytes, sizes: list[int]) -> list[bytes]:
    out, offset, i = [], 0, 0
    while offset < len(data):
        out.append(data[offset : offset + sizes[i % len(sizes)]])
        offset += sizes[i % len(sizes)]
        i += 1
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(FORMATS),
    st.sampled_from([0, 160]),
    st.lists(st.integers(min_value=1, max_value=2000), min_size=1, max_size=30),
    st.integers(0, 2**32 - 1),
    st.integers(0, 400),
    st.sampled_from([None, *FORMATS]),
)
def test_the_kernel_and_the_numpy_steps_give_the_same_messages_pcm_and_energies(
    fmt: str, frame: int, sizes: list[int], seed: int, switch_at: int, switch_to: str | None
) -> None:
    assert ACCELERATED, "the C kernel was not built (setup.py); CI builds it"
    fast, reference = Ingest(fmt, frame, ENVELOPE), Ingest(fmt, frame, ENVELOPE, accelerated=False)
    assert fast.accelerated and not reference.accelerated
    for i, chunk in enumerate(chunks(client_audio(fmt, seed, 600), sizes)):
        if i == switch_at and switch_to is not None:
            fast.change_format(switch_to)
            reference.change_format(switch_to)
        text = base64.b64encode(chunk).decode("ascii")
        send = (seed >> (i % 32)) & 1 == 1
        assert fast.push(text, send) == reference.push(text, send)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_pcm_is_the_converters_and_the_energies_the_detectors(fmt: str) -> None:
    ingest, converter, energies = Ingest(fmt, 160, ENVELOPE), InputConverter(fmt), FrameEnergies(160)
    for chunk in chunks(client_audio(fmt, 7, 2000), [961, 1, 480, 7]):
        done = ingest.push(base64.b64encode(chunk).decode("ascii"), True)
        assert done is not None
        message, raw, pcm, frames = done
        assert raw == chunk
        assert pcm == converter.convert(chunk)
        assert frames == energies.feed(pcm)
        assert message == (ENVELOPE[0] + base64.b64encode(pcm) + ENVELOPE[1] if pcm else None)


def test_no_message_unless_one_is_asked_for() -> None:
    ingest = Ingest("pcm16", 160, ENVELOPE)
    done = ingest.push(base64.b64encode(bytes(960)).decode("ascii"), False)
    assert done is not None
    assert done[0] is None
    assert len(done[2]) == 640


def test_a_format_change_keeps_the_detector_frame_begun() -> None:
    fast, reference = Ingest("pcm16", 160, ENVELOPE), Ingest("pcm16", 160, ENVELOPE, accelerated=False)
    first, then = base64.b64encode(client_audio("pcm16", 3, 25)).decode(), base64.b64encode(bytes(range(256)) * 2).decode()
    assert fast.push(first, False) == reference.push(first, False)  # 25 ms: two frames, and half a frame begun
    fast.change_format("g711_alaw")
    reference.change_format("g711_alaw")
    assert fast.push(then, True) == reference.push(then, True)


def canonical(text: str) -> bool:
    try:
        return base64.b64encode(binascii.a2b_base64(text, strict_mode=True)).decode("ascii") == text
    except (binascii.Error, ValueError):
        return False


TEXTS = st.one_of(
    st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode("ascii")),
    st.text(alphabet="AQgw+/=Zz9 \n\u00e9", max_size=16),
    st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode("ascii")).flatmap(
        lambda t: st.integers(0, len(t)).map(lambda i: t[:i] + "=" + t[i:])
    ),
)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(FORMATS), TEXTS)
def test_only_canonical_base64_goes_in_and_anything_else_changes_nothing(fmt: str, text: str) -> None:
    for accelerated in (True, False):
        ingest, fresh = Ingest(fmt, 160, ENVELOPE, accelerated=accelerated), Ingest(fmt, 160, ENVELOPE, accelerated=accelerated)
        ingest.push("AAE=", True)
        fresh.push("AAE=", True)
        done = ingest.push(text, True)
        assert (done is not None) == canonical(text)
        if done is None:
            after = base64.b64encode(bytes(range(200))).decode("ascii")
            assert ingest.push(after, True) == fresh.push(after, True)
        else:
            assert done[1] == binascii.a2b_base64(text, strict_mode=True)


@pytest.mark.parametrize("text", ["AAAA=", "AB==", "AAA", "A===", "====", "AA AA", "\u00e9AAA", "QUJD\n"])
def test_text_that_is_not_canonical_base64_comes_back_as_none(text: str) -> None:
    assert Ingest("pcm16", 160, ENVELOPE).push(text, True) is None
    assert Ingest("pcm16", 160, ENVELOPE, accelerated=False).push(text, True) is None


def test_the_empty_text_is_no_audio() -> None:
    assert Ingest("g711_ulaw", 160, ENVELOPE).push("", True) == (None, b"", b"", [])


def test_a_huge_append_and_then_frames_give_what_the_numpy_steps_give() -> None:
    fast, reference = Ingest("pcm16", 160, ENVELOPE), Ingest("pcm16", 160, ENVELOPE, accelerated=False)
    for size in (960, 24000 * 2 * 30 + 1, 960, 959, 960):  # thirty seconds at once, and a torn sample
        text = base64.b64encode(client_audio("pcm16", size, size // 48 + 1)[:size]).decode("ascii")
        assert fast.push(text, True) == reference.push(text, True)


APPEND = "input_audio_buffer.append"
WHITESPACE = st.sampled_from(["", " ", "\n", "\t", " \r\n "])


@st.composite
def append_frames(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """JSON-ish text around an append, written in many ways, some of them not an append at all; and
    the audio a parser would find, when it is one of those the kernel should take."""
    audio = base64.b64encode(draw(st.binary(max_size=60))).decode()
    fields: list[tuple[str, str]] = [("type", f'"{draw(st.sampled_from([APPEND, APPEND, "session.update", APPEND + "x"]))}"'), ("audio", f'"{audio}"')]
    if draw(st.booleans()):
        fields.append(("event_id", '"' + draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)).replace("\\", "").replace('"', "") + '"'))
    extra = draw(st.sampled_from([None, ("other", "1"), ("audio", '"AAAA"'), ("type", f'"{APPEND}"'), ("audio", "5"), ("event_id", '"a\\u0041"')]))
    if extra is not None:
        fields.append(extra)
    fields = draw(st.permutations(fields))
    ws = draw(st.lists(WHITESPACE, min_size=4 * len(fields) + 2, max_size=4 * len(fields) + 2))
    body = ",".join(f'{ws[4 * i]}"{key}"{ws[4 * i + 1]}:{ws[4 * i + 2]}{value}{ws[4 * i + 3]}' for i, (key, value) in enumerate(fields))
    text = ws[-2] + "{" + body + "}" + ws[-1] + draw(st.sampled_from(["", "", "x", "}"]))
    return text.encode(), audio


@pytest.mark.skipif(not ACCELERATED, reason="the JSON reading is the kernel's; without it every frame is parsed in Python")
@settings(max_examples=500, deadline=None)
@given(st.one_of(append_frames(), st.binary(max_size=80).map(lambda b: (b, None))), st.booleans())
def test_the_kernel_takes_a_plain_append_exactly_when_a_json_parser_reads_one(case: tuple[bytes, str | None], send: bool) -> None:
    import orjson

    from livegate.realtime.events import MAX_EVENT_ID

    frame, _ = case
    kernel, twin = Ingest("pcm16", 160, ENVELOPE), Ingest("pcm16", 160, ENVELOPE)
    got = kernel.push_event(frame, send)
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError:
        event = None
    plain = (
        isinstance(event, dict) and event.get("type") == APPEND and isinstance(event.get("audio"), str)
        and set(event) <= {"type", "audio", "event_id"}
        and (event.get("event_id") is None or (isinstance(event["event_id"], str) and len(event["event_id"]) <= MAX_EVENT_ID))
    )  # fmt: skip
    if got is not None:
        # Taken by the kernel: the parser reads the same plain append, and the audio is the same.
        assert plain and isinstance(event, dict)
        assert got == twin.push(event["audio"], send)
    elif plain and isinstance(event, dict) and frame == orjson.dumps(event):
        # As orjson and the SDKs write it, a plain append is always taken (when its base64 is canonical).
        assert twin.push(event["audio"], send) is None
