"""The kept end of a byte stream reads as a bytearray trimmed at the front would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from livegate.audio.tail import SLACK_BYTES, Tail

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 3000)),
        st.tuples(st.just("drop"), st.integers(0, 4000)),
        st.tuples(st.just("slice"), st.integers(0, 5000), st.integers(0, 5000)),
        st.tuples(st.just("clear")),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(OPERATIONS)
def test_a_tail_reads_as_a_bytearray_trimmed_at_the_front(operations: list[tuple[object, ...]]) -> None:
    tail, model, written = Tail(), bytearray(), 0
    for operation in operations:
        match operation:
            case ("append", int(size)):
                data = bytes((written + i) % 251 for i in range(size))
                written += size
                tail.append(data)
                model += data
            case ("drop", int(count)):
                tail.drop(count)
                del model[:count]
            case ("slice", int(lo), int(hi)):
                assert tail.slice(lo, max(lo, hi)) == bytes(model[lo : max(lo, hi)])
            case _:
                tail.clear()
                model.clear()
        assert len(tail) == len(model)
        assert bytes(tail) == bytes(model)


def test_what_is_let_go_is_moved_away_only_once_it_outweighs_what_is_kept() -> None:
    tail = Tail()
    tail.append(bytes(1000))
    tail.drop(400)
    assert len(tail._data) == 1000  # 400 let go, 600 kept: nothing moves yet
    tail.drop(200)
    assert len(tail._data) == 400 and len(tail) == 400


def test_a_long_tail_holds_at_most_the_slack_beside_it() -> None:
    tail = Tail()
    tail.append(bytes(3 * SLACK_BYTES))
    for _ in range(SLACK_BYTES // 640 + 2):
        tail.append(bytes(640))
        tail.drop(640)
    assert len(tail._data) - len(tail) <= SLACK_BYTES
    assert len(tail) == 3 * SLACK_BYTES
