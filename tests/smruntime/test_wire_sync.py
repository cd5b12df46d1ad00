"""The blocking driver against hostile loopback peers: every case ends in a clear error, in
time, with bounded memory and no file descriptor left open."""

from __future__ import annotations

import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any, Optional

import pytest

from smruntime import Client, Config
from smruntime.exceptions import (
    BodyTooLargeError,
    ClientError,
    ConnectionClosedError,
    NotEventStreamError,
    ReadTimeoutError,
    RemoteProtocolError,
    SMRuntimeError,
)
from tests.smruntime.frames import part
from tests.smruntime.hostile_server import HostileServer

STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
    b"x-amzn-RequestId: r1\r\n"
)
OK_JSON = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def _no_fd_left_open() -> Iterator[None]:
    before = _fds()
    yield
    for _ in range(50):  # server threads close their ends asynchronously
        if _fds() <= before:
            return
        time.sleep(0.02)
    assert _fds() <= before, "a file descriptor was left open"


def make_client(url: str, **config: Any) -> Client:
    config.setdefault("max_attempts", 1)
    return Client(
        region_name="us-west-2",
        endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=Config(**config),
        environ={},
    )


def invoke(client: Client, **kw: Any) -> dict[str, Any]:
    return client.invoke_endpoint(EndpointName="e", Body=b"{}", **kw)


def stream(client: Client) -> Any:
    return client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}")["Body"]


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def reply(data: bytes) -> Any:
    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        if request is None:
            return False
        sock.sendall(data)
        return True

    return handler


# -- limits: never an unbounded allocation --------------------------------------------------


def test_endless_headers_hit_the_header_limit() -> None:
    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        srv.endless(sock, b"HTTP/1.1 200 OK\r\n", b"X-Filler: 0123456789\r\n", 1 << 30)
        return False

    with HostileServer(handler) as srv, make_client(srv.url) as client:
        started = time.monotonic()
        with pytest.raises(RemoteProtocolError, match="header") as info:
            invoke(client)
        assert time.monotonic() - started < 5
    assert info.value.offset is not None


def test_a_1_gb_header_line_hits_the_line_limit() -> None:
    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        srv.endless(sock, b"HTTP/1.1 200 OK\r\nX-Big: ", b"a", 1 << 30)
        return False

    with HostileServer(handler) as srv, make_client(srv.url) as client:
        tracemalloc.start()
        try:
            with pytest.raises(RemoteProtocolError, match="line"):
                invoke(client)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 4 * 1024 * 1024  # bounded: the line limit, not the line


@pytest.mark.parametrize("size", [b"ffffffffffff", b"zz", b"-5"])
def test_bad_chunk_sizes_are_protocol_errors(size: bytes) -> None:
    data = STREAM_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\nabc\r\n0\r\n\r\n"
    with HostileServer(reply(data)) as srv, make_client(srv.url) as client:
        with pytest.raises(SMRuntimeError, match="chunk"):
            list(stream(client))


def test_body_over_the_cap_is_a_clear_error() -> None:
    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        srv.endless(sock, head, b"10000\r\n" + b"x" * 65536 + b"\r\n", 1 << 30)
        return False

    with HostileServer(handler) as srv, make_client(srv.url, max_body_bytes=1 << 20) as client:
        body = invoke(client)["Body"]
        tracemalloc.start()
        try:
            with pytest.raises(BodyTooLargeError, match="1048576") as info:
                body.read()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        body.close()
    assert info.value.limit == 1 << 20
    assert peak < 8 * 1024 * 1024  # the cap and a read's worth, not the endless body


def test_content_length_over_the_cap_fails_at_the_first_read() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\nabc"
    with HostileServer(reply(data)) as srv, make_client(srv.url, max_body_bytes=1000) as client:
        body = invoke(client)["Body"]
        assert body.content_length == 999999999
        with pytest.raises(BodyTooLargeError, match="Content-Length 999999999"):
            body.read(1)
        body.close()


def test_error_body_is_read_up_to_a_small_cap() -> None:
    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        head = (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        srv.endless(sock, head, b"10000\r\n" + b"<" * 65536 + b"\r\n", 1 << 30)
        return False

    with HostileServer(handler) as srv, make_client(srv.url) as client:
        with pytest.raises(ClientError) as info:
            invoke(client)
    assert info.value.status_code == 500


# -- deadlines that hold however slowly the peer sends --------------------------------------


# The deadlines below are short (well under a second), the drip far shorter still: a timer that
# restarted at every byte would never fire, so only a deadline over the whole wait ends these.
DRIP = 0.1  # seconds between two dripped bytes


def _dripper(head: bytes, dripped: bytes) -> Any:
    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        if request is None:
            return False
        sock.sendall(head)
        try:
            srv_of[0].drip(sock, dripped, every=DRIP)
        except OSError:
            pass
        return False

    srv_of: list[HostileServer] = []
    return handler, srv_of


@pytest.mark.parametrize("operation", ["invoke", "stream", "async"])
def test_a_dripped_header_block_times_out_within_the_deadline(operation: str) -> None:
    handler, srv_of = _dripper(b"", b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 400 + b"\r\n")
    with HostileServer(handler) as srv, make_client(srv.url, read_timeout=0.8) as client:
        srv_of.append(srv)
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError) as info:
            if operation == "invoke":
                invoke(client)
            elif operation == "stream":
                stream(client)
            else:
                client.invoke_endpoint_async(EndpointName="e", InputLocation="s3://b/k")
        elapsed = time.monotonic() - started
    assert 0.75 < elapsed < 1.8
    assert info.value.phase == "first-byte"


def test_total_timeout_bounds_a_dripped_header_block() -> None:
    handler, srv_of = _dripper(b"", b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 400 + b"\r\n")
    with (
        HostileServer(handler) as srv,
        make_client(srv.url, read_timeout=20.0, total_timeout=0.6) as client,
    ):
        srv_of.append(srv)
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError) as info:
            stream(client)
        elapsed = time.monotonic() - started
    assert elapsed < 1.6
    assert info.value.phase == "total"


def test_a_dripped_invoke_body_times_out_at_the_total_deadline() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    handler, srv_of = _dripper(head, b"x" * 1000)
    with (
        HostileServer(handler) as srv,
        make_client(srv.url, read_timeout=0.8, total_timeout=0.8) as client,
    ):
        srv_of.append(srv)
        started = time.monotonic()
        body = invoke(client)["Body"]
        with pytest.raises(ReadTimeoutError) as info:
            body.read()
        elapsed = time.monotonic() - started
        body.close()
    assert elapsed < 1.8
    assert info.value.phase == "total"


def test_a_dripped_stream_times_out_between_events() -> None:
    head = STREAM_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    frame = part(b"hello")
    handler, srv_of = _dripper(head + chunked(frame)[:-5], b"%x\r\n%s\r\n" % (len(frame), frame))
    with HostileServer(handler) as srv, make_client(srv.url, event_timeout=0.6) as client:
        srv_of.append(srv)
        body = stream(client)
        it = iter(body)
        started = time.monotonic()
        assert next(it) == {"PayloadPart": {"Bytes": b"hello"}}
        with pytest.raises(ReadTimeoutError) as info:
            next(it)
        elapsed = time.monotonic() - started
    assert elapsed < 1.6
    assert info.value.phase == "between-events"


def test_a_dripped_error_body_times_out() -> None:
    head = b"HTTP/1.1 500 Oops\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
    handler, srv_of = _dripper(head, b"{" * 500)
    with (
        HostileServer(handler) as srv,
        make_client(srv.url, read_timeout=10.0, total_timeout=0.8) as client,
    ):
        srv_of.append(srv)
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            invoke(client)
        elapsed = time.monotonic() - started
    assert elapsed < 1.8


def test_a_server_that_accepts_and_never_answers() -> None:
    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        srv.pause(5)  # longer than the read timeout; ends when the test stops the server
        return False

    with HostileServer(handler) as srv, make_client(srv.url, read_timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError, match="no complete response head"):
            invoke(client)
        assert time.monotonic() - started < 1.5


# -- framing ----------------------------------------------------------------------------------


def test_content_length_larger_than_the_body_is_a_cut() -> None:
    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        return False  # close

    with HostileServer(handler) as srv, make_client(srv.url) as client:
        body = invoke(client)["Body"]
        with pytest.raises(ConnectionClosedError, match="7 bytes before the end"):
            body.read()


def test_content_length_smaller_than_the_body_keeps_only_the_body() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA"
    with HostileServer(reply(data)) as srv, make_client(srv.url) as client:
        assert invoke(client)["Body"].read() == b"abc"
        assert invoke(client)["Body"].read() == b"abc"
    assert srv.connections == 2  # bytes after the body: the connection was not reused


def test_chunk_extensions_and_trailers() -> None:
    frame = part(b"ok")
    body = b"%x;name=value\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n" % (len(frame), frame)
    data = STREAM_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body
    with HostileServer(reply(data)) as srv, make_client(srv.url) as client:
        assert list(stream(client)) == [{"PayloadPart": {"Bytes": b"ok"}}]
        assert list(stream(client)) == [{"PayloadPart": {"Bytes": b"ok"}}]
    assert srv.connections == 1  # kept alive


def test_http_1_0_close_delimited_body() -> None:
    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        sock.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"a": 1}')
        return False

    with HostileServer(handler) as srv, make_client(srv.url) as client:
        assert invoke(client)["Body"].read() == b'{"a": 1}'
        assert invoke(client)["Body"].read() == b'{"a": 1}'
    assert srv.connections == 2


def test_100_continue_is_skipped() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + OK_JSON
    with HostileServer(reply(data)) as srv, make_client(srv.url) as client:
        assert invoke(client)["Body"].read() == b"{}"


def test_a_redirect_is_not_followed() -> None:
    with HostileServer(reply(OK_JSON)) as other:
        data = (
            f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {other.url}/elsewhere\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        with HostileServer(reply(data)) as srv, make_client(srv.url) as client:
            with pytest.raises(ClientError) as info:
                invoke(client)
        assert info.value.status_code == 307
        assert other.requests == []  # nothing (no credentials) went to the Location


def test_gzip_on_the_event_stream_is_a_clear_error() -> None:
    data = STREAM_HEAD + b"Content-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x08\x00"
    with HostileServer(reply(data)) as srv, make_client(srv.url) as client:
        with pytest.raises(NotEventStreamError, match="Content-Encoding 'gzip'"):
            list(stream(client))


# -- connections ----------------------------------------------------------------------------


def test_a_stale_pooled_connection_is_replaced() -> None:
    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        if request is None:
            return False
        sock.sendall(OK_JSON)
        return False  # close after each answer, without saying so

    with HostileServer(handler) as srv, make_client(srv.url) as client:
        for _ in range(3):
            assert invoke(client)["Body"].read() == b"{}"
            time.sleep(0.05)
    assert srv.connections == 3


def test_32_threads_x_3_streams_on_one_client() -> None:
    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        if request is None:
            return False
        path = request.split(b" ", 2)[1]
        frames = [part(path + b":%d" % i) for i in range(3)]
        sock.sendall(STREAM_HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(*frames))
        return True

    errors: list[BaseException] = []
    with HostileServer(handler) as srv, make_client(srv.url, max_pool_connections=32) as client:

        def work(n: int) -> None:
            try:
                for k in range(3):
                    name = f"t{n}-{k}"
                    body = client.invoke_endpoint_with_response_stream(
                        EndpointName=name, Body=b"{}"
                    )["Body"]
                    got = [e["PayloadPart"]["Bytes"] for e in body]
                    want = f"/endpoints/{name}/invocations-response-stream".encode()
                    assert got == [want + b":%d" % i for i in range(3)]
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, errors[:3]
    assert srv.connections <= 32


# -- the lazy InvokeEndpoint body ---------------------------------------------------------------


def test_the_body_is_a_binary_file_read_on_demand() -> None:
    import io

    text = b"line one\nline two\r\nlast"
    data = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (
        len(text),
        text,
    )
    with HostileServer(reply(data)) as srv, make_client(srv.url) as client:
        body = invoke(client)["Body"]
        assert body.readable()
        assert not body.closed
        assert list(io.TextIOWrapper(body, encoding="utf-8", newline="")) == [
            "line one\n",
            "line two\r\n",
            "last",
        ]
        assert body.closed  # the wrapper closed it
        body = invoke(client)["Body"]
        buf = bytearray(4)
        assert body.readinto(buf) == 4
        assert bytes(buf) == b"line"
        assert body.readline() == b" one\n"
        assert body.readlines() == [b"line two\r\n", b"last"]
        assert body.read() == b""
        body = invoke(client)["Body"]
        assert list(body.iter_lines()) == [b"line one", b"line two", b"last"]
        with invoke(client)["Body"] as body:
            assert body.read(3) == b"lin"
        assert body.closed
        assert invoke(client)["Body"].read() == text
    # (the body closed early had come whole with its head: its connection was reused too)
    assert srv.connections == 1


def _head_then_body(head: bytes, body: bytes, go: threading.Event) -> Any:
    """A handler that sends ``head``, then ``body`` once ``go`` is set."""

    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        if request is None:
            return False
        sock.sendall(head)
        go.wait(10)
        sock.sendall(body)
        return True

    return handler


def test_a_body_that_came_with_its_head_frees_the_connection_at_once() -> None:
    with HostileServer(reply(OK_JSON)) as srv, make_client(srv.url) as client:
        body = invoke(client)["Body"]
        assert client._transport.idle_count() == 1  # type: ignore[attr-defined]
        second = invoke(client)["Body"]  # on the same connection, the first still unread
        assert body.read() == b"{}"
        assert second.read() == b"{}"
    assert srv.connections == 1


def test_a_body_closed_before_its_bytes_came_drops_the_connection() -> None:
    go = threading.Event()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
    with HostileServer(_head_then_body(head, b"abcd", go)) as srv:
        with make_client(srv.url) as client:
            body = invoke(client)["Body"]
            assert client._transport.idle_count() == 0  # type: ignore[attr-defined]
            body.close()
            go.set()
            assert invoke(client)["Body"].read() == b"abcd"
    assert srv.connections == 2


def test_a_body_read_to_its_last_byte_frees_the_connection_before_the_end_is_asked() -> None:
    go = threading.Event()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
    with HostileServer(_head_then_body(head, b"abcd", go)) as srv:
        with make_client(srv.url) as client:
            body = invoke(client)["Body"]
            response = body._source
            go.set()
            assert response.read_some() == b"abcd"
            assert client._transport.idle_count() == 1  # type: ignore[attr-defined]
            assert response.read_some() == b""


def test_transport_requests_without_requests_names_the_extra() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['requests'] = None\n"
        "import smruntime\n"
        "try:\n"
        "    smruntime.Client(region_name='us-east-1', transport='requests', environ={})\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'smruntime[requests]'" in out.stdout


def test_an_https_proxy_url_is_refused_by_the_default_transport_only() -> None:
    from smruntime.exceptions import EndpointConnectionError

    client = make_client("https://runtime.example.com", proxies={"https": "https://p:1"})
    with client, pytest.raises(EndpointConnectionError, match="transport='requests'"):
        invoke(client)


def test_a_body_that_never_stops_arriving_meets_the_total_deadline() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"

    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        if request is not None:
            srv.endless(sock, head % (1 << 40), b"x", 1 << 40)
        return False

    with (
        HostileServer(handler) as srv,
        make_client(srv.url, total_timeout=0.4, max_body_bytes=1 << 41) as client,
    ):
        started = time.monotonic()
        body = invoke(client)["Body"]
        with pytest.raises(ReadTimeoutError) as info:
            for _ in body.iter_chunks(65536):
                pass  # bytes are always waiting: only the clock can stop this
        body.close()
    assert time.monotonic() - started < 1.4
    assert info.value.phase == "total"


def test_read_timeout_is_per_wait_not_over_the_whole_body() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n"

    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        if request is None:
            return False
        sock.sendall(head)
        for piece in (b"a", b"b", b"c", b"d"):
            time.sleep(0.12)
            sock.sendall(piece)
        return True

    with HostileServer(handler) as srv, make_client(srv.url, read_timeout=0.4) as client:
        assert invoke(client)["Body"].read() == b"abcd"  # 0.48 s in all, no gap over 0.4 s


def test_a_reused_connection_reset_before_the_write_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from smruntime.http import _sync

    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        if request is None:
            return False
        sock.sendall(OK_JSON)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        return False  # closed with a reset, without saying so

    monkeypatch.setattr(_sync._Conn, "is_dropped", lambda self: False)  # miss the reset
    with HostileServer(handler) as srv, make_client(srv.url) as client:
        assert invoke(client)["Body"].read() == b"{}"
        time.sleep(0.2)  # the reset arrives: writing the next request fails
        assert invoke(client)["Body"].read() == b"{}"  # sent again, on a new connection
    assert srv.connections == 2


def test_a_pool_used_in_another_process_starts_empty() -> None:
    with HostileServer(reply(OK_JSON)) as srv, make_client(srv.url) as client:
        assert invoke(client)["Body"].read() == b"{}"
        pool = client._transport
        assert pool.idle_count() == 1  # type: ignore[attr-defined]
        pool._pid = -1  # type: ignore[attr-defined] # as if this were a forked child
        assert invoke(client)["Body"].read() == b"{}"
    assert srv.connections == 2


def test_a_response_finished_in_another_process_is_not_pooled() -> None:
    go = threading.Event()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"
    with HostileServer(_head_then_body(head, b"{}", go)) as srv, make_client(srv.url) as client:
        pool = client._transport
        body = invoke(client)["Body"]
        pool._pid = -1  # type: ignore[attr-defined] # as if the at-fork hook had run in a child
        go.set()
        assert body.read() == b"{}"
        assert pool.idle_count() == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("prefill", [False, True])
def test_the_direct_write_hands_what_it_could_not_write_to_sendall(prefill: bool) -> None:
    # A wire larger than the socket buffers: the direct write takes part of it (or, with the
    # buffer already full, nothing: it would block) and sendall, under the timeout, the rest.
    from smruntime.http import _sync

    a, b = socket.socketpair()
    with a, b:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        conn = _sync._Conn(a, ("http", "h", 80), None)
        conn.arm(10.0)
        got = bytearray()
        if prefill:
            a.setblocking(False)
            try:
                while True:
                    a.send(b"p" * 65536)
            except BlockingIOError:
                pass
            conn.arm(10.0)
        wire = bytes(range(256)) * 4096  # 1 MiB

        def drain() -> None:
            if prefill:
                time.sleep(0.2)  # the direct write finds the buffer full
            while True:
                data = b.recv(65536)
                if not data:
                    return
                got.extend(data)

        reader = threading.Thread(target=drain)
        reader.start()
        _sync._send_all(conn, wire)
        a.shutdown(socket.SHUT_WR)
        reader.join(10)
        assert bytes(got).lstrip(b"p") == wire
