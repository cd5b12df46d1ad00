"""The streaming Body through the public API: a body that ends cleanly inside a frame, event
types the client does not know, and ``capture()``. One scripted server for the module: each
test's reply is chosen by the endpoint name it calls.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

import smruntime
from eventstream import Message, decode, encode
from smruntime import Client
from smruntime.exceptions import CorruptStreamError, IncompleteStreamError

from .frames import part
from .scripted_server import Cut, Received, Reply, ScriptedServer

TRANSPORTS = ["requests", "stdlib"]
STREAM_HEADERS = [("Content-Type", "application/vnd.amazon.eventstream")]

FIRST = part(b"first")
SECOND = part(b"the second part")
UNKNOWN = encode(
    Message(
        [(":event-type", "SomethingNew"), (":message-type", "event")],
        b'{"new": true}',
    )
)
BAD_CRC = bytearray(part(b"broken"))
BAD_CRC[-1] ^= 0xFF

SCRIPTS: dict[str, Reply] = {
    "ends-mid-frame-chunked": Reply(200, STREAM_HEADERS, [FIRST, SECOND[:20]]),
    "ends-mid-frame-length": Reply(200, STREAM_HEADERS, [FIRST, SECOND[:20]], chunked=False),
    "ends-mid-prelude": Reply(200, STREAM_HEADERS, [FIRST + SECOND[:5]], chunked=False),
    "unknown-event": Reply(200, STREAM_HEADERS, [FIRST, UNKNOWN, SECOND]),
    "only-unknown": Reply(200, STREAM_HEADERS, [UNKNOWN + UNKNOWN]),
    "whole": Reply(200, STREAM_HEADERS, [FIRST, SECOND[:7], SECOND[7:], UNKNOWN]),
    "corrupt": Reply(200, STREAM_HEADERS, [FIRST, bytes(BAD_CRC), SECOND]),
    "cut": Reply(200, STREAM_HEADERS, [FIRST, SECOND[:9], Cut()]),
}


def _handler(request: Received) -> Reply:
    return SCRIPTS[request.path.split("/")[2]]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with ScriptedServer(_handler) as srv:
        yield srv.url


@pytest.fixture(params=TRANSPORTS)
def client(request: pytest.FixtureRequest, url: str) -> Iterator[Client]:
    client = Client(
        region_name="us-west-2",
        endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        transport=request.param,
        environ={},
    )
    with client:
        yield client


def body(client: Client, endpoint: str) -> smruntime.EventStream:
    response = client.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body=b"{}")
    stream = response["Body"]
    assert isinstance(stream, smruntime.EventStream)
    return stream


# -- a body that ends cleanly inside a frame ------------------------------------------------


@pytest.mark.parametrize("endpoint", ["ends-mid-frame-chunked", "ends-mid-frame-length"])
def test_a_clean_end_inside_a_frame_is_an_error(client: Client, endpoint: str) -> None:
    stream = body(client, endpoint)
    got = []
    with pytest.raises(IncompleteStreamError) as info:
        for event in stream:
            got.append(event)
    assert got == [{"PayloadPart": {"Bytes": b"first"}}]
    message = str(info.value)  # names where: the frame's offset and how much of it arrived
    assert f"offset {len(FIRST)}" in message
    assert "20 bytes" in message
    assert info.value.bytes_received == len(FIRST) + 20
    assert info.value.events == 1
    assert not stream.stats.completed
    assert stream.closed


def test_a_clean_end_inside_a_prelude_is_an_error(client: Client) -> None:
    stream = body(client, "ends-mid-prelude")
    with pytest.raises(IncompleteStreamError, match=rf"offset {len(FIRST)}\b.*\b5 bytes"):
        list(stream.iter_bytes())
    assert stream.stats.frames == 1


def test_a_clean_end_inside_a_frame_raises_in_every_view(client: Client) -> None:
    for view in ("iter_bytes", "iter_frames", "iter_messages", "iter_lines"):
        stream = body(client, "ends-mid-frame-length")
        with pytest.raises(IncompleteStreamError):
            list(getattr(stream, view)())


# -- event types the client does not know ---------------------------------------------------


def test_unknown_event_types_are_skipped(client: Client) -> None:
    stream = body(client, "unknown-event")
    assert list(stream) == [
        {"PayloadPart": {"Bytes": b"first"}},
        {"PayloadPart": {"Bytes": b"the second part"}},
    ]
    assert stream.stats.completed
    assert stream.stats.frames == 3
    assert stream.stats.events == 2


def test_unknown_event_types_are_skipped_by_the_byte_view(client: Client) -> None:
    assert list(body(client, "unknown-event").iter_bytes()) == [b"first", b"the second part"]
    assert list(body(client, "only-unknown")) == []


def test_unknown_event_types_are_kept_by_the_frame_view(client: Client) -> None:
    messages = list(body(client, "unknown-event").iter_messages())
    assert [m.headers.get(":event-type") for m in messages] == [
        "PayloadPart",
        "SomethingNew",
        "PayloadPart",
    ]
    assert messages[1].payload == b'{"new": true}'


# -- capture() ------------------------------------------------------------------------------


def test_capture_keeps_every_byte_whatever_the_view(client: Client) -> None:
    whole = FIRST + SECOND + UNKNOWN
    for view in ("__iter__", "iter_bytes", "iter_frames", "iter_text"):
        sink, other = io.BytesIO(), io.BytesIO()
        stream = body(client, "whole")
        assert stream.capture(sink) is stream
        stream.capture(other)  # several sinks: each gets everything
        list(getattr(stream, view)())
        assert sink.getvalue() == other.getvalue() == whole, view
    assert decode(whole)[1].payload == b"the second part"


def test_capture_keeps_the_bytes_of_a_corrupt_stream(client: Client) -> None:
    sink = io.BytesIO()
    stream = body(client, "corrupt").capture(sink)
    with pytest.raises(CorruptStreamError):
        list(stream)
    assert sink.getvalue().startswith(FIRST + bytes(BAD_CRC))  # the bad frame is kept


def test_capture_keeps_the_bytes_of_a_cut_stream(client: Client) -> None:
    sink = io.BytesIO()
    stream = body(client, "cut").capture(sink)
    with pytest.raises(IncompleteStreamError):
        list(stream)
    assert sink.getvalue() == FIRST + SECOND[:9]


def test_capture_after_reading_began_gets_only_what_follows(client: Client) -> None:
    sink = io.BytesIO()
    stream = body(client, "whole")
    events = iter(stream)
    assert next(events) == {"PayloadPart": {"Bytes": b"first"}}
    stream.capture(sink)
    assert list(events) == [{"PayloadPart": {"Bytes": b"the second part"}}]
    # Only bytes read after capture() began: a suffix of the body (empty if the transport
    # had already read it all), never what came before.
    assert (FIRST + SECOND + UNKNOWN).endswith(sink.getvalue())
    assert FIRST not in sink.getvalue()
