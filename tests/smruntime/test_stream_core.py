"""The stream core alone (smruntime/_stream_core.py): bytes fed by hand, a clock set by hand.

No I/O and no waits: what the blocking and asyncio streams share, pinned where their tests
(test_stream_cursor.py, test_wire_sync.py, test_aio.py) see it only through a server.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from eventstream import Message, encode
from smruntime._stream_core import END, NEED_DATA, RecordView, StreamCore, StreamStats
from smruntime.exceptions import (
    CorruptStreamError,
    IncompleteStreamError,
    NotEventStreamError,
    StreamError,
)

from .frames import part

EVENT_STREAM = "application/vnd.amazon.eventstream"


class Clock:
    """Monotonic seconds, moved by the test."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_core(clock: Clock, **kw: Any) -> StreamCore:
    kw.setdefault("http_content_type", EVENT_STREAM)
    return StreamCore(started_at=clock.now, headers_at=clock.now, clock=clock, **kw)


# -- the statistics ------------------------------------------------------------------------


def test_stats_equal_by_value_and_not_to_other_types() -> None:
    assert StreamStats(bytes=3, frames=1) == StreamStats(bytes=3, frames=1)
    assert StreamStats(bytes=3) != StreamStats(bytes=4)
    assert StreamStats() != (None,) * 10
    assert StreamStats().__eq__(object()) is NotImplemented


def test_gaps_are_the_seconds_between_consecutive_events() -> None:
    assert StreamStats(event_times=[1.0, 1.5, 3.0]).gaps() == [0.5, 1.5]
    assert StreamStats(event_times=[2.0]).gaps() == []
    assert StreamStats().gaps() == []


# -- what is not an event stream -----------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"http_content_type": "text/html"},
        {"http_content_encoding": "gzip"},
        {},  # the right type, but the bytes fail the first prelude
    ],
)
def test_the_preview_is_the_first_256_bytes(headers: dict[str, str]) -> None:
    body = bytes(range(256)) + b"the 257th byte on"
    core = make_core(Clock(), **headers)
    with pytest.raises(NotEventStreamError) as caught:
        core.feed(body)
    assert caught.value.preview == body[:256]


def test_a_clean_stream_by_hand() -> None:
    clock = Clock()
    core = make_core(clock)
    assert core.next_event() is NEED_DATA
    clock.now += 0.5
    core.feed(part(b"a") + part(b"b"))
    assert core.next_event() == {"PayloadPart": {"Bytes": b"a"}}
    assert core.next_event() == {"PayloadPart": {"Bytes": b"b"}}
    assert core.next_event() is NEED_DATA
    core.finish()
    assert core.next_event() is END
    assert core.stats.completed
    assert core.stats.event_times == [0.5, 0.5]


def test_time_to_headers_counts_from_the_request_start() -> None:
    core = StreamCore(started_at=100.0, headers_at=100.25, clock=Clock(100.5))
    assert core.stats.time_to_headers == 0.25
    assert StreamCore(started_at=100.0, clock=Clock(100.5)).stats.time_to_headers is None


# -- the state a repr shows ----------------------------------------------------------------


def test_the_state_reads_open_until_a_view_takes_something() -> None:
    core = make_core(Clock())
    core.feed(part(b"a") + part(b"b"))
    assert core.describe_state() == "open"  # fed, nothing taken
    assert not core.consumed
    core.next_event()
    assert core.describe_state() == "reading"


@pytest.mark.parametrize("start", ["frames", "records"])
def test_starting_frames_or_records_alone_is_reading(start: str) -> None:
    core = make_core(Clock())
    if start == "frames":
        core.start_frames()
    else:
        core.start_records(RecordView("lines"))
    assert core.consumed
    assert core.describe_state() == "reading"


def test_the_states_after_the_end_a_close_and_a_failure() -> None:
    ended = make_core(Clock())
    ended.feed(part(b"a"))
    ended.finish()
    assert ended.describe_state() == "ended"
    closed = make_core(Clock())
    assert closed.close() is True
    assert closed.close() is False
    assert closed.describe_state() == "closed"
    failed = make_core(Clock())
    failed.feed(part(b"a")[:5])
    with pytest.raises(IncompleteStreamError):
        failed.finish()
    assert failed.describe_state() == "failed"


# -- deadlines -----------------------------------------------------------------------------


def test_the_timeout_error_names_the_limit_that_passed() -> None:
    clock = Clock(100.0)
    core = make_core(clock, first_event_timeout=2.0, event_timeout=1.0, total_timeout=10.0)
    clock.now = 102.0
    first = core.timeout_error(url="http://127.0.0.1:1/x")
    assert (first.phase, first.timeout, first.elapsed) == ("first-byte", 2.0, 2.0)
    assert "no event completed within 2.0 s of the response headers" in str(first)
    assert "(0 bytes, 0 frames received, 2.000 s elapsed)" in str(first)
    frame = part(b"a")
    core.feed(frame)
    clock.now = 103.0
    between = core.timeout_error()
    assert (between.phase, between.timeout) == ("between-events", 1.0)
    assert f"no event completed for 1.0 s after event 1 ({len(frame)} bytes, 1 frames" in str(
        between
    )
    clock.now = 110.0 - 0.001  # not yet the total deadline
    assert core.timeout_error().phase == "between-events"
    clock.now = 110.0 - 0.0005  # the clock's half-millisecond slack, at its edge: the total
    assert core.timeout_error().phase == "total"
    clock.now = 110.0 - 0.0004
    total = core.timeout_error()
    assert (total.phase, total.timeout) == ("total", 10.0)
    assert "the stream's total deadline of 10.0 s passed" in str(total)


def test_the_duration_is_set_when_the_stream_stops_and_not_again() -> None:
    clock = Clock(100.0)
    closed = make_core(clock)
    clock.now = 101.0
    closed.close()
    assert closed.stats.duration == 1.0
    clock.now = 105.0
    closed.fail(RuntimeError("late"))  # after a close: ignored
    assert closed.stats.duration == 1.0
    assert closed.error is None
    assert closed.next_event() is END

    ended = make_core(clock)
    clock.now = 106.0
    ended.finish()
    assert ended.stats.duration == 1.0
    clock.now = 108.0
    ended.close()
    assert ended.stats.duration == 1.0


def test_a_failure_after_the_end_is_recorded_and_raised_again() -> None:
    # a record decoded after the last byte can still fail the stream
    clock = Clock(100.0)
    core = make_core(clock)
    core.finish()
    clock.now = 103.0
    error = RuntimeError("the last record was bad")
    assert core.fail(error) is error
    assert core.describe_state() == "failed"
    assert core.stats.duration == 0.0  # set by the end, not by the failure
    with pytest.raises(RuntimeError, match="the last record was bad"):
        core.next_event()
    with pytest.raises(RuntimeError, match="the last record was bad"):
        core.next_message()


# -- the first byte's checks ---------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"http_content_type": "Application/Vnd.Amazon.EventStream"},
        {"http_content_type": EVENT_STREAM + "; charset=binary"},
        {"http_content_type": None},  # not given: not checked
        {"http_content_encoding": ""},
        {"http_content_encoding": " Identity "},
    ],
)
def test_what_passes_the_first_byte_checks(headers: dict[str, Any]) -> None:
    core = make_core(Clock(), **headers)
    core.feed(part(b"a"))
    assert core.next_event() == {"PayloadPart": {"Bytes": b"a"}}


def test_an_empty_body_of_another_type_is_not_an_event_stream() -> None:
    html = make_core(Clock(), http_content_type="text/html")
    with pytest.raises(NotEventStreamError, match="'text/html', not an event stream") as caught:
        html.finish()
    assert caught.value.preview == b""
    assert caught.value.content_type == "text/html"
    empty = make_core(Clock())
    empty.finish()  # an empty event stream: no events, a clean end
    assert empty.stats.completed
    assert empty.next_event() is END


def test_the_encoding_error_says_what_came() -> None:
    core = make_core(Clock(), http_content_encoding="gzip")
    with pytest.raises(NotEventStreamError, match="Content-Encoding 'gzip'") as caught:
        core.feed(b"\x1f\x8b\x08\x00")
    assert caught.value.content_type == EVENT_STREAM
    assert core.describe_state() == "failed"


# -- cuts and corruption -------------------------------------------------------------------


def test_a_cut_says_where_it_fell() -> None:
    a, b = part(b"a"), part(b"bb")
    inside = make_core(Clock())
    inside.feed(a + b[:7])
    with pytest.raises(IncompleteStreamError) as caught:
        inside.finish()
    assert f"inside the frame at offset {len(a)} (7 bytes of it received)" in str(caught.value)
    assert caught.value.bytes_received == len(a) + 7
    between = make_core(Clock())
    between.feed(a + b)
    error = between.cut_error("the connection was reset")
    assert str(error).endswith(
        "the stream was cut after 2 whole frames, before the end of the body: "
        "the connection was reset"
    )
    assert error.bytes_received == len(a) + len(b)


def test_a_corrupt_frame_after_good_ones_is_a_corrupt_stream_with_its_offset() -> None:
    a, b = part(b"a"), bytearray(part(b"bb"))
    b[-1] ^= 1  # the message CRC
    core = make_core(Clock())
    core.feed(a)
    assert core.next_event() == {"PayloadPart": {"Bytes": b"a"}}
    with pytest.raises(CorruptStreamError) as caught:
        core.feed(bytes(b))
    text = str(caught.value)
    assert "corrupt event stream after 1 frames (frame at offset" in text
    assert f"offset {len(a)})" in text
    assert caught.value.events == 1


def test_corrupt_bytes_after_good_frames_fail_the_payload_path_before_more_is_read() -> None:
    # The frames before the corruption come first; then the error, not a call for more bytes.
    bad = bytearray(part(b"c"))
    bad[-1] ^= 1  # the message CRC
    core = make_core(Clock())
    core.feed(part(b"a"))
    assert core.next_payload_event() == {"PayloadPart": {"Bytes": b"a"}}
    assert core.next_payload_event() is NEED_DATA
    core.feed(part(b"b") + bytes(bad))
    assert core.next_payload_event() == {"PayloadPart": {"Bytes": b"b"}}
    with pytest.raises(CorruptStreamError, match="after 2 frames"):
        core.next_payload_event()
    with pytest.raises(CorruptStreamError):
        core.next_payload_event()  # failed: the same error again


def test_a_failed_stream_closed_afterwards_yields_nothing() -> None:
    core = make_core(Clock())
    core.feed(part(b"a")[:5])
    with pytest.raises(IncompleteStreamError):
        core.finish()
    with pytest.raises(IncompleteStreamError):
        core.next_event()
    assert core.close() is True
    assert core.next_event() is END
    assert core.next_message() is END


# -- the views -----------------------------------------------------------------------------

UNKNOWN = encode(Message([(":event-type", "Mystery"), (":message-type", "event")], b"??"))


def test_an_unknown_event_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    core = make_core(Clock())
    core.feed(UNKNOWN + part(b"a"))
    with caplog.at_level(logging.DEBUG, logger="smruntime.stream"):
        assert core.next_event() == {"PayloadPart": {"Bytes": b"a"}}
    assert "skipping an event of unknown type" in caplog.text
    assert "Mystery" in caplog.text
    assert core.stats.events == 1


@pytest.mark.parametrize("view", ["message", "frame"])
def test_the_first_event_time_by_messages_or_frames(view: str) -> None:
    clock = Clock(100.0)
    core = make_core(clock)
    if view == "frame":
        core.start_frames()
    take = core.next_message if view == "message" else core.next_frame
    clock.now = 100.5
    core.feed(part(b"a"))  # a reader feeds once the cursor is empty
    first = take()
    clock.now = 101.0
    core.feed(part(b"b"))
    second = take()
    assert core.stats.time_to_first_event == 0.5
    assert core.stats.event_times == [0.5, 1.0]
    if view == "frame":
        assert (first.received_at, second.received_at) == (0.5, 1.0)
        assert first.message.payload == b"a"
    else:
        assert (first.payload, second.payload) == (b"a", b"b")


def test_events_taken_by_the_payload_path_are_counted_one_or_many_per_chunk() -> None:
    # next_payload_event hands out known PayloadParts uncounted; they are counted when the
    # core is next fed or its statistics read: one per chunk or several, payloads and times.
    clock = Clock(100.0)
    core = make_core(clock)
    assert core.next_payload_event() is NEED_DATA
    clock.now = 100.5
    core.feed(part(b"a"))
    assert core.next_payload_event() == {"PayloadPart": {"Bytes": b"a"}}
    clock.now = 101.0
    core.feed(part(b"bb"))
    assert core.next_payload_event() == {"PayloadPart": {"Bytes": b"bb"}}
    assert core.next_payload_event() is NEED_DATA
    clock.now = 102.0
    core.feed(part(b"ccc") + part(b"dddd") + part(b"eeeee"))
    taken = [core.next_payload_event() for _ in range(3)]
    assert [event["PayloadPart"]["Bytes"] for event in taken] == [b"ccc", b"dddd", b"eeeee"]
    assert core.next_payload_event() is NEED_DATA
    assert core.stats.events == 5
    assert core.stats.payload_bytes == 15
    assert core.stats.event_times == [0.5, 1.0, 2.0, 2.0, 2.0]
    clock.now = 103.0
    core.feed(part(b"f"))
    assert core.next_payload_event() == {"PayloadPart": {"Bytes": b"f"}}
    core.finish()
    assert core.next_payload_event() is END
    assert (core.stats.events, core.stats.payload_bytes) == (6, 16)
    assert core.stats.event_times[-1] == 3.0


def test_a_message_taken_refuses_iter_frames_afterwards() -> None:
    core = make_core(Clock())
    core.feed(part(b"a"))
    assert core.next_message().payload == b"a"
    assert core.describe_state() == "reading"
    with pytest.raises(StreamError, match="iter_frames\\(\\) needs each frame's wire facts"):
        core.start_frames()


@pytest.mark.parametrize(
    ("view", "shown"),
    [(RecordView("json", format="jsonl"), "json('jsonl')"), (RecordView("lines"), "lines")],
)
def test_a_started_record_view_is_named_when_another_view_is_refused(
    view: RecordView, shown: str
) -> None:
    core = make_core(Clock())
    core.feed(part(b'{"a": 1}\n{"b"'))
    core.start_records(view)
    assert core.next_record() is not NEED_DATA
    with pytest.raises(StreamError, match=re.escape(f"being read as {shown} records")):
        core.next_event()


def test_records_of_a_stream_that_ended_before_the_view_started() -> None:
    core = make_core(Clock())
    core.feed(part(b'{"a": 1}\n') + part(b'{"b": 2}'))
    core.finish()  # all read before any view: the events wait in the cursor
    core.start_records(RecordView("json"))
    assert core.next_record() == {"a": 1}
    assert core.next_record() == {"b": 2}
    assert core.next_record() is END
