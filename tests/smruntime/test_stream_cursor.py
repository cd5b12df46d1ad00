"""One cursor over the events (issue #10 point 4) and iter_json on SSE (point 7).

The sync EventStream reads a scripted in-memory response: every chunking is tried, so that the
rules hold wherever the HTTP chunks fall.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Optional

import pytest

from eventstream import Message, encode
from smruntime._http import HttpHeaders
from smruntime._stream import EventStream
from smruntime.exceptions import (
    CorruptStreamError,
    IncompleteStreamError,
    ModelStreamError,
    RecordError,
    StreamError,
    TransportError,
)

from .frames import exception_frame, part

EVENT_STREAM = [("Content-Type", "application/vnd.amazon.eventstream")]


class FakeResponse:
    """An HttpResponse whose body is ``chunks``; ``cut`` ends it with a transport error."""

    status = 200
    reason = "OK"

    def __init__(self, chunks: list[bytes], *, cut: bool = False) -> None:
        self.headers = HttpHeaders(EVENT_STREAM)
        self._chunks = chunks
        self._cut = cut
        self.closed = 0
        self.reads = 0

    def iter_chunks(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            if self.closed:
                raise TransportError("the connection was closed")
            self.reads += 1
            yield chunk
        if self._cut:
            raise TransportError("connection reset by peer")

    def read(self) -> bytes:
        return b"".join(self._chunks)

    def close(self) -> None:
        self.closed += 1

    def set_read_timeout(self, seconds: Optional[float]) -> None:
        pass


def chunkings(blob: bytes, step: int = 7) -> Iterator[list[bytes]]:
    """The blob whole, byte by byte, and cut at every ``step``-th offset into two pieces."""
    yield [blob]
    yield [blob[i : i + 1] for i in range(len(blob))]
    for cut in range(1, len(blob), step):
        yield [blob[:cut], blob[cut:]]


def body_of(chunks: list[bytes], content_type: str | None = None, **kw: Any) -> EventStream:
    return EventStream(FakeResponse(chunks, **kw), content_type=content_type)


PARTS = [b"p0", b"p1", b"p2", b"p3", b"p4"]
BLOB = b"".join(part(p) for p in PARTS)


def payloads(events: Any) -> list[bytes]:
    return [e["PayloadPart"]["Bytes"] for e in events]


@pytest.mark.parametrize("chunks", list(chunkings(BLOB)))
def test_break_then_a_second_loop_continues(chunks: list[bytes]) -> None:
    body = body_of(chunks)
    got = []
    for event in body:
        got.append(event["PayloadPart"]["Bytes"])
        break
    assert not body.closed  # break keeps the stream open, as boto3's
    for event in body:
        got.append(event["PayloadPart"]["Bytes"])
        if len(got) == 3:
            break
    got += payloads(body)
    assert got == PARTS
    assert list(body) == []  # a pass after the end yields nothing
    assert body.closed
    assert body.stats.completed
    assert body.stats.events == len(PARTS)


def test_next_iter_then_a_loop() -> None:
    body = body_of([BLOB])
    first = next(iter(body))
    assert payloads([first, *body]) == PARTS


@pytest.mark.parametrize("chunks", list(chunkings(BLOB, 11)))
def test_event_views_mix_and_each_event_is_delivered_once(chunks: list[bytes]) -> None:
    body = body_of(chunks)
    got = [next(iter(body))["PayloadPart"]["Bytes"]]
    got.append(next(body.iter_bytes()))
    got.append(next(body.iter_messages()).payload)
    got += list(body.iter_bytes())
    assert got == PARTS


def test_close_then_iterate_yields_nothing_and_close_is_idempotent() -> None:
    body = body_of([BLOB])
    next(iter(body))
    body.close()
    body.close()
    assert body.closed
    assert list(body) == []
    assert list(body.iter_bytes()) == []
    assert list(body.iter_text()) == []
    assert body._response.closed == 1  # type: ignore[attr-defined]


def test_close_before_iterating_yields_nothing() -> None:
    body = body_of([BLOB])
    body.close()
    assert list(body) == []


def test_a_cut_raises_again_on_every_later_view() -> None:
    body = body_of([part(b"a"), part(b"b")[:10]], cut=True)
    got = []
    with pytest.raises(IncompleteStreamError) as first:
        for event in body:
            got.append(event["PayloadPart"]["Bytes"])
    assert got == [b"a"]
    assert "offset" in str(first.value)
    with pytest.raises(IncompleteStreamError) as again:
        list(body)
    assert again.value is first.value
    with pytest.raises(IncompleteStreamError):
        list(body.iter_text())


def test_events_before_a_corrupt_frame_are_delivered_first() -> None:
    bad = bytearray(part(b"c"))
    bad[-1] ^= 0xFF
    body = body_of([part(b"a") + part(b"b") + bytes(bad)])
    got = []
    with pytest.raises(CorruptStreamError, match="offset"):
        for event in body:
            got.append(event["PayloadPart"]["Bytes"])
    assert got == [b"a", b"b"]


def test_an_in_stream_exception_is_raised_once_per_view_after_the_events() -> None:
    body = body_of([part(b"a"), exception_frame("ModelStreamError", "boom", "X"), part(b"z")])
    assert next(iter(body)) == {"PayloadPart": {"Bytes": b"a"}}
    with pytest.raises(ModelStreamError):
        next(iter(body))
    with pytest.raises(ModelStreamError):
        list(body)
    assert body.closed


def test_iter_frames_must_come_first() -> None:
    body = body_of([BLOB])
    next(iter(body))
    with pytest.raises(StreamError, match="iter_frames"):
        body.iter_frames()
    assert not body.closed  # a refused view does not break the stream
    assert payloads(body) == PARTS[1:]


def test_iter_frames_then_events() -> None:
    body = body_of([BLOB[:30], BLOB[30:]])
    frames = body.iter_frames()
    first = next(frames)
    assert first.frame.offset == 0
    assert first.message.payload == b"p0"
    assert payloads(body) == PARTS[1:]


SSE = [
    b'data:{"token":{"text":"He"}}\n\n',
    b": keep-alive\n\n",
    b'data:{"token":{"text":"llo"}}\n\n',
    b"data: [DONE]\n\n",
]
SSE_BLOB = b"".join(part(p) for p in SSE)


@pytest.mark.parametrize("chunks", list(chunkings(SSE_BLOB, 13)))
@pytest.mark.parametrize("content_type", ["text/event-stream", None, "application/json"])
def test_iter_json_on_sse(chunks: list[bytes], content_type: str | None) -> None:
    body = body_of(chunks, content_type)
    assert list(body.iter_json()) == [{"token": {"text": "He"}}, {"token": {"text": "llo"}}]


@pytest.mark.parametrize("chunks", list(chunkings(SSE_BLOB, 13)))
@pytest.mark.parametrize("content_type", [None, "", "application/octet-stream", "binary/x"])
def test_iter_text_on_sse_whose_content_type_names_no_format(
    chunks: list[bytes], content_type: str | None
) -> None:
    # (it gave the raw "data:..." lines as the text)
    body = body_of(chunks, content_type)
    assert "".join(body.iter_text()) == "Hello"


def test_iter_text_on_plain_text_whose_content_type_names_no_format() -> None:
    text = b"\n\nid: 7\n{not json\n\n42\nend"
    chunks = [part(text[i : i + 3]) for i in range(0, len(text), 3)]
    body = body_of(chunks, "application/octet-stream")
    assert "".join(body.iter_text()) == text.decode()


def test_iter_json_on_sse_data_that_is_not_json() -> None:
    body = body_of([part(b"data: hello\n\n")], "text/event-stream")
    with pytest.raises(RecordError, match="not JSON"):
        list(body.iter_json())


def test_iter_json_on_json_lines_is_unchanged() -> None:
    body = body_of([part(b'{"a": 1}\n\n{"b"'), part(b": 2}\n")], "application/jsonlines")
    assert list(body.iter_json()) == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize("chunks", list(chunkings(SSE_BLOB, 5)))
def test_a_record_view_continues_after_break(chunks: list[bytes]) -> None:
    body = body_of(chunks, "text/event-stream")
    texts = []
    for text in body.iter_text():
        texts.append(text)
        break
    texts += list(body.iter_text())
    assert "".join(texts) == "Hello"


def test_another_view_cannot_take_over_a_started_record_view() -> None:
    body = body_of([part(b"line one\nline t"), part(b"wo\n"), part(b"three\n")])
    lines = body.iter_lines()
    assert next(lines) == "line one"
    with pytest.raises(StreamError, match="lines"):
        next(iter(body))
    with pytest.raises(StreamError):
        next(body.iter_json())
    assert list(body.iter_lines()) == ["line two", "three"]


def test_a_record_view_may_start_after_events() -> None:
    body = body_of([part(b"skip me\n"), part(b"line\n")])
    assert next(iter(body)) == {"PayloadPart": {"Bytes": b"skip me\n"}}
    assert list(body.iter_lines()) == ["line"]


def test_iter_text_parses_once_and_raises_container_errors() -> None:
    blob = [part(b'data:{"token":{"text":"a"}}\n\n'), part(b'data:{"error":"CUDA OOM"}\n\n')]
    body = body_of(blob, "text/event-stream")
    got = []
    with pytest.raises(RecordError, match="CUDA OOM"):
        for text in body.iter_text():
            got.append(text)
    assert got == ["a"]
    with pytest.raises(RecordError, match="CUDA OOM"):
        list(body.iter_text())


def test_sse_blob_is_valid_json_values() -> None:
    # guard for the fixtures above
    assert [json.loads(x[5:]) for x in (SSE[0], SSE[2])]


def _cursor_script(client: Any) -> list[Any]:
    """What a boto3 user does with one stream's cursor; the outcome of each step."""

    def open_body() -> Any:
        return client.invoke_endpoint_with_response_stream(
            EndpointName="tokens",
            Body=json.dumps({"inputs": "one two three four"}),
            ContentType="application/json",
        )["Body"]

    out: list[Any] = []
    body = open_body()
    for event in body:
        out.append(("first", event))
        break
    out.append(("second loop", list(body)[:2]))
    out.append(("after the end", list(body)))
    body = open_body()
    out.append(("next(iter)", next(iter(body))))
    out.append(("then a loop", len(list(body))))
    body = open_body()
    body.close()
    out.append(("closed before reading", list(body)))
    body.close()
    return out


def test_the_cursor_behaves_as_boto3s() -> None:
    pytest.importorskip("boto3")
    from smruntime import Client, Config
    from smruntime.emulator import Emulator

    from .test_emulator_boto3 import make_client

    with Emulator() as emu:
        boto = make_client(emu)
        creds = emu.credentials
        ours = Client(
            region_name=emu.region,
            endpoint_url=emu.url,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=Config(proxies={}),
            environ={},
        )
        try:
            assert _cursor_script(ours) == _cursor_script(boto)
        finally:
            ours.close()
            boto.close()


def test_the_deadline_is_the_nearer_of_the_event_limit_and_the_total() -> None:
    from smruntime._stream_core import StreamCore

    now = [100.0]

    def core(**kw: Any) -> StreamCore:
        return StreamCore(started_at=100.0, headers_at=101.0, clock=lambda: now[0], **kw)

    assert core(first_event_timeout=10, total_timeout=3).deadline() == 103.0
    assert core(first_event_timeout=10, total_timeout=30).deadline() == 111.0
    assert core(event_timeout=1, total_timeout=30).deadline() == 130.0  # no first-event limit
    assert core().deadline() is None
    c = core(first_event_timeout=10, event_timeout=2, total_timeout=30)
    now[0] = 105.0
    c.feed(part(b"a"))
    assert c.deadline() == 107.0  # from the frame just completed, with the between limit


def test_a_container_error_in_the_last_record_is_raised_again() -> None:
    blob = part(b'data:{"token":{"text":"a"}}\n\ndata:{"error":"boom"}')  # no final blank line
    body = body_of([blob], "text/event-stream")
    got = []
    with pytest.raises(RecordError, match="boom"):
        for text in body.iter_text():
            got.append(text)
    assert got == ["a"]
    with pytest.raises(RecordError, match="boom"):
        list(body.iter_text())


def test_iter_text_without_raising_skips_error_records() -> None:
    parts = [b'data:{"token":{"text":"a"}}\n\n', b'data:{"error":"x"}\n\n', b'data:"b"\n\n']
    body = body_of([part(p) for p in parts], "text/event-stream")
    assert list(body.iter_text(raise_on_error=False)) == ["a", "b"]


def test_a_corrupt_frame_is_reported_before_the_next_read() -> None:
    bad = bytearray(part(b"c"))
    bad[-1] ^= 0xFF
    response = FakeResponse([part(b"a") + bytes(bad), part(b"never read")])
    body = EventStream(response)
    events = iter(body)
    assert next(events) == {"PayloadPart": {"Bytes": b"a"}}
    with pytest.raises(CorruptStreamError):
        next(events)
    assert response.reads == 1


# -- the event loop's counting (iter_events takes PayloadPart events uncounted; _settle counts) --

UNKNOWN = encode(Message([(":event-type", "Mystery"), (":message-type", "event")], b"??"))
ODD_HEADERS = encode(
    Message(
        [(":message-type", "event"), (":event-type", "PayloadPart"), (":content-type", "x")],
        b"odd",
    )
)


def _expect_counts(body: EventStream, got: list[bytes], uncounted: bytes = b"") -> None:
    stats = body.stats
    assert stats.events == len(got)
    # iter_messages hands out messages, not PayloadPart events: their bytes are not counted
    assert stats.payload_bytes == sum(map(len, got)) - len(uncounted)
    assert len(stats.event_times) == len(got)


SIZED = [b"a", b"bb" * 5, b"ccc", b"d" * 17, b"e" * 2]  # each view's count shows in the bytes


@pytest.mark.parametrize("chunks", list(chunkings(b"".join(part(p) for p in SIZED), 5)))
def test_the_stats_count_each_event_as_it_is_handed_out(chunks: list[bytes]) -> None:
    body = body_of(chunks)
    held = body.stats  # a StreamStats taken before reading stays current
    got: list[bytes] = []
    _expect_counts(body, got)
    events = iter(body)
    for _ in range(2):
        got.append(next(events)["PayloadPart"]["Bytes"])
        _expect_counts(body, got)
    got.append(next(body.iter_bytes()))
    _expect_counts(body, got)
    message = next(body.iter_messages()).payload
    got.append(message)
    _expect_counts(body, got, message)
    got += payloads(events)
    _expect_counts(body, got, message)
    assert got == SIZED
    assert held.events == len(SIZED)
    assert held == body.stats
    assert held.to_dict()["events"] == len(SIZED)


def test_events_and_their_arrival_times_follow_the_reads_across_views() -> None:
    response = FakeResponse([part(b"a") + part(b"b"), part(b"c") + part(b"d"), part(b"e")])
    body = EventStream(response, started_at=0.0, clock=lambda: float(response.reads))
    events = iter(body)
    assert next(events)["PayloadPart"]["Bytes"] == b"a"
    others = body.iter_bytes()
    assert [next(others), next(others)] == [b"b", b"c"]  # the second read, by another view
    assert payloads(events) == [b"d", b"e"]  # the first loop resumes on the new batch
    assert body.stats.event_times == [1.0, 1.0, 2.0, 2.0, 3.0]
    assert body.stats.time_to_first_event == 1.0
    assert body.stats.events == 5


def test_a_loop_left_mid_batch_and_closed_counts_only_what_it_handed_out() -> None:
    body = body_of([BLOB])
    events = iter(body)
    got = [next(events)["PayloadPart"]["Bytes"], next(events)["PayloadPart"]["Bytes"]]
    body.close()
    assert list(events) == []
    _expect_counts(body, got)


def test_unknown_events_and_other_headers_inside_a_batch() -> None:
    blob = part(b"a") + UNKNOWN + part(b"b") + ODD_HEADERS + part(b"c")
    for chunks in chunkings(blob, 9):
        body = body_of(chunks)
        assert payloads(body) == [b"a", b"b", b"odd", b"c"]  # the unknown event is skipped
        assert body.stats.events == 4
        assert body.stats.payload_bytes == 6
        assert body.stats.frames == 5


def test_an_in_stream_exception_carries_the_count_of_the_events_before_it() -> None:
    blob = part(b"a") + part(b"b") + exception_frame("ModelStreamError", "boom", "X")
    body = body_of([blob, part(b"never")])
    got = []
    with pytest.raises(ModelStreamError) as caught:
        for event in body:
            got.append(event["PayloadPart"]["Bytes"])
    assert got == [b"a", b"b"]
    assert caught.value.events == 2  # type: ignore[attr-defined]
    assert body.stats.events == 2


@pytest.mark.parametrize("before", [1, 2])  # suspended after its first event, or mid-batch
def test_a_suspended_event_loop_is_refused_once_a_record_view_took_over(before: int) -> None:
    body = body_of([b"".join(part(b"%d\n" % n) for n in range(4))])
    events = iter(body)
    assert payloads(next(events) for _ in range(before)) == [b"%d\n" % n for n in range(before)]
    lines = body.iter_lines()
    assert next(lines) == str(before)
    with pytest.raises(StreamError, match="lines"):
        next(events)
    assert list(body.iter_lines()) == [str(n) for n in range(before + 1, 4)]
    assert body.stats.events == 4


def test_iter_frames_is_refused_after_the_event_loop_took_everything_read() -> None:
    body = body_of([part(b"a") + part(b"b"), part(b"c")])
    events = iter(body)
    assert payloads([next(events), next(events)]) == [b"a", b"b"]  # the whole first batch
    with pytest.raises(StreamError, match="iter_frames"):
        body.iter_frames()
    assert payloads(events) == [b"c"]


# -- read_text keeps the text received before an error ----------------------------------------

# TGI's stream: one SSE event per part, each a token
TEXT_PARTS = [b'data: {"token": {"text": "%s"}}\n\n' % t for t in (b"Hel", b"lo, ", b"wor")]


@pytest.mark.parametrize(
    ("tail", "cut", "error"),
    [
        (
            exception_frame("ModelStreamError", "model died", "StreamBroken"),
            False,
            ModelStreamError,
        ),
        (part(b"ld")[:7], False, IncompleteStreamError),  # the body ended inside a frame
        (b"", True, IncompleteStreamError),  # the connection broke between frames
    ],
)
def test_read_text_keeps_the_text_received_before_an_error(
    tail: bytes, cut: bool, error: type[Exception]
) -> None:
    blob = b"".join(part(p) for p in TEXT_PARTS) + tail
    for chunks in chunkings(blob, 13):
        body = body_of(chunks, "text/event-stream", cut=cut)
        with pytest.raises(error) as info:
            body.read_text()
        assert info.value.partial_text == "Hello, wor"  # type: ignore[attr-defined]
        # the failed stream raises the same error again; what the first read kept stays
        with pytest.raises(error) as again:
            body.read_text()
        assert again.value is info.value
        assert again.value.partial_text == "Hello, wor"  # type: ignore[attr-defined]


def test_read_text_partial_text_is_empty_when_nothing_came_and_kept_by_pickle() -> None:
    import pickle

    body = body_of([exception_frame("ModelStreamError", "at once", "E")], "text/plain")
    with pytest.raises(ModelStreamError) as info:
        body.read_text()
    assert info.value.partial_text == ""
    restored = pickle.loads(pickle.dumps(info.value))
    assert restored.partial_text == ""
    assert ModelStreamError.partial_text is None  # other errors: None
    body = body_of([part(b"abc"), exception_frame("ModelStreamError", "x", "E")])
    raised = _raised(lambda: body.read_text("text"))  # format="text": the bytes as they come
    assert pickle.loads(pickle.dumps(raised)).partial_text == "abc"


def test_an_error_met_by_another_view_first_is_not_given_partial_text_later() -> None:
    # iter_text met the error (no partial_text: not read_text's); read_text then raises it
    # again and sets what it received (nothing), never a stale or invented text
    body = body_of([part(b"abc"), exception_frame("ModelStreamError", "x", "E")])
    got = []
    with pytest.raises(ModelStreamError) as info:
        for text in body.iter_text("text"):
            got.append(text)
    assert got == ["abc"]
    assert info.value.partial_text is None
    with pytest.raises(ModelStreamError):
        body.read_text("text")
    assert info.value.partial_text == ""


def test_a_record_cut_by_the_error_is_not_in_partial_text() -> None:
    # only text the view delivered: a line without its end (the "lines" view of text/plain)
    # is not text yet, as an SSE event without its blank line is not
    chunks = [part(b"one\ntw"), exception_frame("ModelStreamError", "x", "E")]
    with pytest.raises(ModelStreamError) as info:
        body_of(chunks, "text/plain").read_text()
    assert info.value.partial_text == "one\n"


def _raised(call: Any) -> Any:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the test looks at it
        return exc
    raise AssertionError("nothing raised")
