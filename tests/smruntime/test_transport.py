"""Transports against real loopback servers: success, streaming arrival, every fault path."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from smruntime._http import HttpRequest
from smruntime._transport import (
    RequestsTransport,
    Transport,
    ca_bundle_from_env,
    default_transport,
)
from smruntime.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    RemoteProtocolError,
    TransportError,
)
from smruntime.http._config import Deadlines
from smruntime.http._sync import SyncPool
from smruntime.http._tls import wrap_socket
from tests.smruntime.loopback import LoopbackServer

WAIT = 10.0  # upper bound for event waits; never reached when things work


class Timeouts:
    """connect and read limits, as the tests give them: read bounds the header block and each
    wait for body bytes."""

    def __init__(self, connect: Optional[float] = 60.0, read: Optional[float] = 70.0) -> None:
        self.connect = connect
        self.read = read

    def deadlines(self) -> Deadlines:
        return Deadlines(connect=self.connect, headers=self.read, between=self.read)


FAST = Timeouts(connect=5.0, read=5.0)
SHORT = Timeouts(connect=5.0, read=0.3)


def send(transport: Transport, request: HttpRequest, timeouts: Timeouts, stream: bool) -> Any:
    """Send; with ``stream=False`` read the body and release the connection at once."""
    resp = transport.send(request, deadlines=timeouts.deadlines())
    if not stream:
        try:
            resp.read()
        finally:
            resp.close()
    return resp


# --------------------------------------------------------------------------------------------
# a raw-socket loopback server


@dataclass
class Req:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


Handler = Callable[[socket.socket, Req], bool]  # returns True to keep the connection


def _read_request(reader: Any) -> Optional[Req]:
    line = reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while True:
        raw = reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    body = reader.read(length) if length else b""
    return Req(method, target, headers, body)


class RawServer(LoopbackServer):
    def __init__(self, handler: Handler, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        super().__init__(backlog=128)
        self.handler = handler
        self.ssl_context = ssl_context
        self.requests: list[Req] = []
        self.release = threading.Event()
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.release.set()
        super().stop()

    def handle(self, conn: socket.socket) -> None:
        sock = conn
        reader = None
        try:
            if self.ssl_context is not None:
                sock = wrap_socket(self.ssl_context, conn, server_side=True)
                self.track(sock)  # wrap_socket takes over the descriptor
            reader = sock.makefile("rb")
            while not self._stop.is_set():
                req = _read_request(reader)
                if req is None:
                    return
                with self._lock:
                    self.requests.append(req)
                if not self.handler(sock, req):
                    return
        except ValueError:
            return
        finally:
            if reader is not None:
                reader.close()
            sock.close()

    def url_for(self, path: str = "/") -> str:
        return self.url + path


def head(status: int = 200, headers: tuple[tuple[str, str], ...] = (), *, chunked: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} Reason {status}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def simple(
    body: bytes = b"hello", status: int = 200, extra: tuple[tuple[str, str], ...] = ()
) -> Handler:
    def handler(sock: socket.socket, req: Req) -> bool:
        headers = (("Content-Length", str(len(body))), *extra)
        sock.sendall(head(status, headers, chunked=False) + body)
        return True

    return handler


def echo_path(sock: socket.socket, req: Req) -> bool:
    body = req.target.encode()
    sock.sendall(head(200, (("Content-Length", str(len(body))),), chunked=False) + body)
    return True


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(autouse=True)
def _no_env_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(params=["requests", "default"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def transport(kind: str) -> Iterator[Transport]:
    t = default_transport(kind)
    yield t
    t.close()


def get(url: str, **kw: Any) -> HttpRequest:
    return HttpRequest("GET", url, **kw)


# --------------------------------------------------------------------------------------------
# success


def test_non_stream_success_and_request_on_the_wire(transport: Transport) -> None:
    extra = (("X-Multi", "a"), ("X-Multi", "b"), ("Content-Type", "application/json"))
    with RawServer(simple(b'{"ok": true}', extra=extra)) as srv:
        req = HttpRequest(
            "POST",
            srv.url_for("/endpoints/e%3Ax/invocations?a=1"),
            headers=[("X-Amz-Date", "20240101T000000Z"), ("Content-Type", "text/csv")],
            body=b"1,2,3",
        )
        resp = send(transport, req, FAST, False)
        assert resp.status == 200
        assert resp.reason == "Reason 200"
        assert resp.read() == b'{"ok": true}'
        assert resp.read() == b'{"ok": true}'
        assert list(resp.iter_chunks()) == [b'{"ok": true}']
        assert resp.headers["x-multi"] == "a, b"
        assert ("X-Multi", "b") in resp.headers.items_raw()
        resp.close()
        got = srv.requests[0]
    assert got.method == "POST"
    assert got.target == "/endpoints/e%3Ax/invocations?a=1"  # exactly as signed
    assert got.body == b"1,2,3"
    assert got.header("Host") == f"127.0.0.1:{srv.port}"
    assert got.header("X-Amz-Date") == "20240101T000000Z"
    assert got.header("Content-Length") == "5"
    assert (got.header("Accept-Encoding") or "identity") == "identity"


def test_empty_post_sends_content_length_zero(transport: Transport) -> None:
    with RawServer(simple(b"")) as srv:
        resp = send(transport, HttpRequest("POST", srv.url_for("/x")), FAST, False)
        assert resp.read() == b""
        assert srv.requests[0].header("Content-Length") == "0"


def test_stream_chunks_arrive_before_the_next_is_sent(transport: Transport) -> None:
    seen_first = threading.Event()
    waited: list[bool] = []

    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(head(200, chunked=True) + chunk(b"first"))
        # The client must hand out "first" while we hold back the rest.
        waited.append(seen_first.wait(WAIT))
        sock.sendall(chunk(b"second") + LAST_CHUNK)
        return True

    with RawServer(handler) as srv:
        resp = send(transport, get(srv.url_for("/s")), FAST, True)
        chunks: list[bytes] = []
        for data in resp.iter_chunks():
            if not chunks:
                seen_first.set()
            chunks.append(data)
        resp.close()
    assert chunks[0] == b"first"
    assert b"".join(chunks) == b"firstsecond"
    assert waited == [True]


def test_stream_content_length_body_arrives_without_filling_a_buffer(
    transport: Transport, kind: str
) -> None:
    if kind == "requests":
        import urllib3

        if not hasattr(urllib3.response.HTTPResponse, "read1"):
            pytest.skip("urllib3 < 2 has no public read1: Content-Length bodies come in blocks")
    seen_first = threading.Event()
    waited: list[bool] = []

    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(head(200, (("Content-Length", "8"),), chunked=False) + b"abcd")
        waited.append(seen_first.wait(WAIT))
        sock.sendall(b"efgh")
        return True

    with RawServer(handler) as srv:
        resp = send(transport, get(srv.url_for()), FAST, True)
        chunks: list[bytes] = []
        for data in resp.iter_chunks():
            seen_first.set()
            chunks.append(data)
        resp.close()
    assert chunks[0] == b"abcd"
    assert b"".join(chunks) == b"abcdefgh"
    assert waited == [True]


def test_read_after_partial_iteration_returns_the_rest(transport: Transport) -> None:
    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(head(200, chunked=True) + chunk(b"a") + chunk(b"bc") + LAST_CHUNK)
        return True

    with RawServer(handler) as srv:
        resp = send(transport, get(srv.url_for()), FAST, True)
        total = resp.read()
        resp.close()
    assert total == b"abc"


def test_head_and_204_have_empty_bodies_and_keep_the_connection(transport: Transport) -> None:
    def handler(sock: socket.socket, req: Req) -> bool:
        if req.method == "HEAD":
            sock.sendall(head(200, (("Content-Length", "10"),), chunked=False))
        else:
            sock.sendall(head(204, chunked=False))
        return True

    with RawServer(handler) as srv:
        r1 = send(transport, HttpRequest("HEAD", srv.url_for()), FAST, False)
        r2 = send(transport, get(srv.url_for()), FAST, True)
        assert r2.read() == b""
        r2.close()
        assert (r1.status, r1.read(), r2.status) == (200, b"", 204)
        assert srv.connections == 1


# --------------------------------------------------------------------------------------------
# connect failures


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def test_connection_refused(transport: Transport) -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/x"
    with pytest.raises(EndpointConnectionError) as info:
        send(transport, get(url), FAST, True)
    err = info.value
    assert err.request_sent is False
    assert err.url == url
    assert f"127.0.0.1:{port}" in str(err)
    assert err.__cause__ is not None


def test_dns_failure(transport: Transport) -> None:
    with pytest.raises(EndpointConnectionError) as info:
        send(transport, get("http://no-such-host.invalid/"), FAST, False)
    assert info.value.request_sent is False
    assert "no-such-host.invalid:80" in str(info.value)


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full, so new SYNs are dropped and connect() hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    try:
        probe = socket.create_connection(("127.0.0.1", port), timeout=0.2)
    except socket.timeout:
        pass
    else:  # pragma: no cover - depends on the kernel
        probe.close()
        for c in fillers:
            c.close()
        listener.close()
        pytest.skip("the kernel accepted a connection over a full backlog")
    yield port
    for c in fillers:
        c.close()
    listener.close()


def test_connect_timeout(transport: Transport, full_backlog: int) -> None:
    url = f"http://127.0.0.1:{full_backlog}/"
    with pytest.raises(ConnectTimeoutError) as info:
        send(transport, get(url), Timeouts(connect=0.2, read=5.0), True)
    err = info.value
    assert err.request_sent is False
    assert "0.2 s" in str(err)
    assert f"127.0.0.1:{full_backlog}" in str(err)
    assert err.__cause__ is not None
    assert err.url == url


def test_invalid_url_is_a_transport_error(transport: Transport) -> None:
    with pytest.raises(TransportError) as info:
        send(transport, get("ftp://example.com/"), FAST, False)
    assert info.value.request_sent is False


# --------------------------------------------------------------------------------------------
# timeouts


def test_read_timeout_before_headers_is_first_byte(transport: Transport) -> None:
    def handler(sock: socket.socket, req: Req) -> bool:
        srv.release.wait(WAIT)
        return False

    with RawServer(handler) as srv:
        with pytest.raises(ReadTimeoutError) as info:
            send(transport, get(srv.url_for()), SHORT, True)
        srv.release.set()
    err = info.value
    assert err.phase == "first-byte"
    assert err.timeout == 0.3
    assert err.elapsed is not None
    assert err.request_sent is True
    assert "0.3 s" in str(err)
    assert err.__cause__ is not None


def test_read_timeout_between_chunks(transport: Transport) -> None:
    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(head(200, chunked=True) + chunk(b"one"))
        srv.release.wait(WAIT)
        return False

    with RawServer(handler) as srv:
        resp = send(transport, get(srv.url_for()), SHORT, True)
        it = resp.iter_chunks()
        assert next(it) == b"one"
        with pytest.raises(ReadTimeoutError) as info:
            next(it)
        resp.close()
        srv.release.set()
    assert info.value.phase == "between-events"
    assert info.value.timeout == 0.3
    assert info.value.__cause__ is not None


def test_set_read_timeout_shortens_the_wait(transport: Transport, kind: str) -> None:
    if kind == "requests":
        pytest.skip("requests has no public API to shorten a socket timeout after sending")

    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(head(200, chunked=True) + chunk(b"one"))
        srv.release.wait(WAIT)
        return False

    with RawServer(handler) as srv:
        resp = send(transport, get(srv.url_for()), Timeouts(5.0, 30.0), True)
        it = resp.iter_chunks()
        assert next(it) == b"one"
        resp.set_read_timeout(0.2)
        with pytest.raises(ReadTimeoutError) as info:
            next(it)
        resp.close()
        srv.release.set()
    assert info.value.timeout == 0.2
    assert info.value.phase == "between-events"


def test_set_read_timeout_lengthens_the_wait(transport: Transport) -> None:
    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(head(200, chunked=True) + chunk(b"one"))
        srv.release.wait(0.6)  # longer than the initial 0.1 s read timeout
        sock.sendall(chunk(b"two") + LAST_CHUNK)
        return True

    with RawServer(handler) as srv:
        resp = send(transport, get(srv.url_for()), Timeouts(5.0, 5.0), True)
        resp.set_read_timeout(0.1)
        resp.set_read_timeout(10.0)
        assert b"".join(resp.iter_chunks()) == b"onetwo"
        resp.close()


# --------------------------------------------------------------------------------------------
# cut connections: never a quiet end


def _cut(payload: bytes, *, reset: bool = False) -> Handler:
    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(payload)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
        return False

    return handler


CUTS = {
    "mid-chunk": head(200, chunked=True) + chunk(b"complete") + b"10\r\nabc",
    "before-last-chunk": head(200, chunked=True) + chunk(b"complete"),
    "in-chunk-size": head(200, chunked=True) + chunk(b"complete") + b"1",
    "short-content-length": head(200, (("Content-Length", "100"),), chunked=False) + b"partial",
}


@pytest.mark.parametrize("case", sorted(CUTS))
def test_cut_stream_raises(transport: Transport, case: str) -> None:
    with RawServer(_cut(CUTS[case])) as srv:
        resp = send(transport, get(srv.url_for()), FAST, True)
        got = b""
        with pytest.raises(ConnectionClosedError) as info:
            for data in resp.iter_chunks():
                got += data
        resp.close()
    assert info.value.request_sent is True
    assert info.value.url == srv.url_for()
    assert got.startswith(b"complete") or got == b"partial"


@pytest.mark.parametrize("case", sorted(CUTS))
def test_cut_body_raises_for_non_stream(transport: Transport, case: str) -> None:
    with RawServer(_cut(CUTS[case])) as srv, pytest.raises(ConnectionClosedError):
        send(transport, get(srv.url_for()), FAST, False)


def test_reset_mid_body_raises(transport: Transport) -> None:
    payload = head(200, chunked=True) + chunk(b"complete")
    with RawServer(_cut(payload, reset=True)) as srv:
        resp = send(transport, get(srv.url_for()), FAST, True)
        with pytest.raises(ConnectionClosedError):
            b"".join(resp.iter_chunks())
        resp.close()


def test_server_closes_without_response(transport: Transport) -> None:
    with RawServer(lambda sock, req: False) as srv:
        with pytest.raises(ConnectionClosedError) as info:
            send(transport, get(srv.url_for()), FAST, True)
    assert info.value.request_sent is True
    assert info.value.__cause__ is not None
    assert f"127.0.0.1:{srv.port}" in str(info.value)


def test_body_until_close_without_length_is_complete(transport: Transport) -> None:
    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        return False

    with RawServer(handler) as srv:
        resp = send(transport, get(srv.url_for()), FAST, False)
        assert resp.read() == b"all of it"


# --------------------------------------------------------------------------------------------
# release, close and the pool


def test_close_mid_body_disconnects(transport: Transport) -> None:
    saw: list[bytes] = []
    checked = threading.Event()

    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(head(200, chunked=True) + chunk(b"one"))
        sock.settimeout(WAIT)
        try:
            saw.append(sock.recv(1))
        except ConnectionResetError:
            saw.append(b"")
        except socket.timeout:  # pragma: no cover
            saw.append(b"timeout")
        checked.set()
        return False

    with RawServer(handler) as srv:
        resp = send(transport, get(srv.url_for()), FAST, True)
        assert next(iter(resp.iter_chunks())) == b"one"
        resp.close()
        resp.close()  # idempotent
        assert checked.wait(WAIT)
        with pytest.raises(ConnectionClosedError):
            list(resp.iter_chunks())
    assert saw == [b""]


def test_close_from_another_thread_wakes_a_blocked_read(transport: Transport, kind: str) -> None:
    if kind == "requests":
        import urllib3

        if not hasattr(urllib3.response.HTTPResponse, "shutdown"):
            pytest.skip("urllib3 < 2.3 has no public way to wake a blocked read")

    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(head(200, chunked=True) + chunk(b"one"))
        srv.release.wait(WAIT)
        return False

    with RawServer(handler) as srv:
        resp = send(transport, get(srv.url_for()), FAST, True)
        it = resp.iter_chunks()
        assert next(it) == b"one"
        timer = threading.Timer(0.1, resp.close)
        timer.start()
        with pytest.raises(ConnectionClosedError):
            next(it)
        timer.join()
        srv.release.set()


def test_keep_alive_reuse_and_discard_after_early_close(transport: Transport) -> None:
    def handler(sock: socket.socket, req: Req) -> bool:
        if req.target == "/stream":
            sock.sendall(head(200, chunked=True) + chunk(b"x") + chunk(b"y") + LAST_CHUNK)
        else:
            echo_path(sock, req)
        return True

    with RawServer(handler) as srv:
        for i in range(3):
            assert send(transport, get(srv.url_for(f"/{i}")), FAST, False).read()
        resp = send(transport, get(srv.url_for("/stream")), FAST, True)
        assert b"".join(resp.iter_chunks()) == b"xy"
        resp.close()
        assert send(transport, get(srv.url_for("/4")), FAST, False).read()
        assert srv.connections == 1
        # An early close must not put a half-read connection back into the pool.
        resp = send(transport, get(srv.url_for("/stream")), FAST, True)
        resp.close()
        assert send(transport, get(srv.url_for("/5")), FAST, False).read() == b"/5"
        assert srv.connections == 2


def test_connection_close_response_is_not_reused(transport: Transport) -> None:
    def handler(sock: socket.socket, req: Req) -> bool:
        body = req.target.encode()
        sock.sendall(
            head(200, (("Content-Length", str(len(body))), ("Connection", "close")), chunked=False)
            + body
        )
        return False

    with RawServer(handler) as srv:
        for i in range(3):
            resp = send(transport, get(srv.url_for(f"/{i}")), FAST, False)
            assert resp.read() == f"/{i}".encode()
        assert srv.connections == 3


def test_server_side_idle_close_is_detected(transport: Transport) -> None:
    def handler(sock: socket.socket, req: Req) -> bool:
        echo_path(sock, req)
        return False  # close after every response, without saying so

    with RawServer(handler) as srv:
        for i in range(3):
            resp = send(transport, get(srv.url_for(f"/{i}")), FAST, False)
            assert resp.read() == f"/{i}".encode()
            # Let the server's close arrive before the next request.
            srv.release.wait(0.05)


def test_32_threads_share_one_transport(transport: Transport) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(4):
                path = f"/t{n}/{i}"
                resp = send(transport, get(srv.url_for(path)), FAST, i % 2 == 0)
                body = b"".join(resp.iter_chunks())
                resp.close()
                assert body == path.encode()
        except Exception as exc:  # noqa: BLE001  # pragma: no cover - reported below
            errors.append(exc)

    with RawServer(echo_path) as srv:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
    assert len(srv.requests) == 128


# --------------------------------------------------------------------------------------------
# proxies


def test_http_proxy_gets_absolute_target(kind: str) -> None:
    with RawServer(simple(b"via proxy")) as proxy:
        t = default_transport(kind, proxies={"http": proxy.url})
        try:
            resp = send(t, get("http://service.invalid/a?b=1"), FAST, False)
        finally:
            t.close()
    assert resp.read() == b"via proxy"
    assert proxy.requests[0].target == "http://service.invalid/a?b=1"
    assert proxy.requests[0].header("Host") == "service.invalid"


def test_env_proxy_and_no_proxy(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with RawServer(simple(b"proxy")) as proxy, RawServer(simple(b"direct")) as direct:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        t = default_transport(kind)
        try:
            assert send(t, get(direct.url_for()), FAST, False).read() == b"proxy"
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            # The environment is read once, when the transport (the client) is made.
            assert send(t, get(direct.url_for()), FAST, False).read() == b"proxy"
        finally:
            t.close()
        t = default_transport(kind)
        try:
            assert send(t, get(direct.url_for()), FAST, False).read() == b"direct"
        finally:
            t.close()


def test_no_proxy_cidr_block_sends_an_ip_literal_host_direct(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RawServer(simple(b"proxy")) as proxy, RawServer(simple(b"direct")) as direct:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "10.0.0.0/8, 127.0.0.0/8")
        t = default_transport(kind)
        try:
            assert send(t, get(direct.url_for()), FAST, False).read() == b"direct"
        finally:
            t.close()
        monkeypatch.setenv("NO_PROXY", "10.0.0.0/8, 127.0.0/8")  # malformed: ignored
        t = default_transport(kind)
        try:
            assert send(t, get(direct.url_for()), FAST, False).read() == b"proxy"
        finally:
            t.close()


def test_unreachable_proxy_is_a_connect_error(kind: str) -> None:
    port = _closed_port()
    t = default_transport(kind, proxies={"http": f"http://127.0.0.1:{port}"})
    try:
        with pytest.raises(EndpointConnectionError) as info:
            send(t, get("http://service.invalid/"), FAST, False)
    finally:
        t.close()
    assert info.value.request_sent is False


# --------------------------------------------------------------------------------------------
# TLS


TLS_DIR = Path(__file__).resolve().parents[1] / "data" / "tls"


@pytest.fixture(scope="module")
def self_signed() -> tuple[str, str]:
    """The repository's self-signed test certificate for 127.0.0.1 and its key."""
    return str(TLS_DIR / "cert.pem"), str(TLS_DIR / "key.pem")


def _tls_server(cert_key: tuple[str, str], handler: Handler) -> RawServer:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert_key)
    return RawServer(handler, ssl_context=ctx)


def test_https_with_ca_bundle(kind: str, self_signed: tuple[str, str]) -> None:
    with _tls_server(self_signed, simple(b"secure")) as srv:
        t = default_transport(kind, verify=self_signed[0])
        try:
            for _ in range(2):
                resp = send(t, get(srv.url_for()), FAST, False)
                assert resp.read() == b"secure"
        finally:
            t.close()
        assert srv.connections == 1


def test_https_untrusted_certificate_fails(kind: str, self_signed: tuple[str, str]) -> None:
    with _tls_server(self_signed, simple(b"secure")) as srv:
        t = default_transport(kind)
        try:
            with pytest.raises(EndpointConnectionError) as info:
                send(t, get(srv.url_for()), FAST, False)
        finally:
            t.close()
    assert info.value.request_sent is False
    assert "TLS" in str(info.value) or "SSL" in str(info.value) or "certif" in str(info.value)


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_https_verify_false(kind: str, self_signed: tuple[str, str]) -> None:
    with _tls_server(self_signed, simple(b"secure")) as srv:
        t = default_transport(kind, verify=False)
        try:
            resp = send(t, get(srv.url_for()), FAST, True)
            assert resp.read() == b"secure"
            resp.close()
        finally:
            t.close()


# --------------------------------------------------------------------------------------------
# construction, helpers, import weight


def test_default_transport_names() -> None:
    t1 = default_transport("requests")
    t2 = default_transport("stdlib")  # an alias of the default, kept for old code
    t3 = default_transport()
    t4 = default_transport("default")
    try:
        assert isinstance(t1, RequestsTransport)
        assert isinstance(t2, SyncPool)
        assert isinstance(t3, SyncPool)  # the default even when requests is installed
        assert isinstance(t4, SyncPool)
    finally:
        for t in (t1, t2, t3, t4):
            t.close()
    with pytest.raises(ValueError, match="unknown transport"):
        default_transport("curl")


def test_missing_ca_bundle_is_refused_on_the_first_https_request(kind: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    transport = default_transport(kind, verify=missing)  # as boto3: not checked until needed
    try:
        with RawServer(simple(b"{}")) as srv:
            assert (
                send(transport, HttpRequest("POST", srv.url_for("/x")), FAST, False).status == 200
            )
            https = srv.url_for("/x").replace("http://", "https://")
            with pytest.raises(ValueError, match=r"CA bundle not found: .*missing\.pem"):
                send(transport, HttpRequest("POST", https), FAST, False)
    finally:
        transport.close()


def test_ca_bundle_from_env() -> None:
    assert ca_bundle_from_env({}) is None
    assert ca_bundle_from_env({"AWS_CA_BUNDLE": ""}) is None
    assert ca_bundle_from_env({"AWS_CA_BUNDLE": " /etc/ca.pem "}) == "/etc/ca.pem"


def test_error_url_masks_presigned_secrets(transport: Transport) -> None:
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/x?X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok"
    with pytest.raises(EndpointConnectionError) as info:
        send(transport, get(url), FAST, False)
    assert "deadbeef" not in str(info.value.url)
    assert "tok" not in str(info.value.url).replace("Token", "")
    assert "deadbeef" not in str(info.value)


def test_errors_pickle(transport: Transport) -> None:
    import pickle

    with pytest.raises(EndpointConnectionError) as info:
        send(transport, get(f"http://127.0.0.1:{_closed_port()}/"), FAST, False)
    err = pickle.loads(pickle.dumps(info.value))
    assert (err.url, err.request_sent) == (info.value.url, False)


def test_importing_the_module_does_not_import_requests() -> None:
    code = (
        "import sys, smruntime._transport as t\n"
        "assert 'requests' not in sys.modules, 'requests imported'\n"
        "t.default_transport().close()\n"
        "assert 'requests' not in sys.modules\n"
        "t.default_transport('requests').close()\n"
        "assert 'requests' in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_unencodable_header_is_an_invalid_request(transport: Transport) -> None:
    with RawServer(simple()) as srv:
        req = get(srv.url_for(), headers=[("X-Bad", "price \u20ac")])
        with pytest.raises(TransportError, match="invalid request") as info:
            send(transport, req, FAST, False)
    assert info.value.request_sent is False
    assert not isinstance(info.value, EndpointConnectionError)


def test_dropped_response_shuts_the_socket(transport: Transport) -> None:
    import gc

    saw: list[bytes] = []
    checked = threading.Event()

    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(head(200, chunked=True) + chunk(b"one"))
        sock.settimeout(WAIT)
        try:
            saw.append(sock.recv(1))
        except OSError:
            saw.append(b"")
        checked.set()
        return False

    with RawServer(handler) as srv:
        resp = send(transport, get(srv.url_for()), FAST, True)
        assert next(iter(resp.iter_chunks())) == b"one"
        del resp
        gc.collect()
        assert checked.wait(WAIT)
    assert saw == [b""]


def test_default_transport_takes_a_wire_config_or_its_options() -> None:
    from smruntime.http._config import WireConfig

    config = WireConfig()
    t = default_transport(None, config)
    assert t.config is config  # type: ignore[attr-defined]
    t.close()
    with pytest.raises(TypeError, match="not both"):
        default_transport(None, config, verify=False)


def raw_reply(data: bytes) -> Handler:
    def handler(sock: socket.socket, req: Req) -> bool:
        sock.sendall(data)
        return False  # then close

    return handler


def test_a_response_requests_cannot_parse_is_a_protocol_error_never_resent(
    transport: Transport,
) -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nbody!"
    with RawServer(raw_reply(reply)) as srv:
        with pytest.raises(RemoteProtocolError) as info:
            send(transport, HttpRequest("POST", srv.url_for("/x"), body=b"{}"), FAST, False)
        assert info.value.request_sent is True  # it may have been answered: no resend
        assert len(srv.requests) == 1


def test_an_informational_response_is_skipped_or_refused_never_taken_for_the_answer(
    transport: Transport, kind: str
) -> None:
    reply = (
        b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    with RawServer(raw_reply(reply)) as srv:
        request = HttpRequest("POST", srv.url_for("/x"), body=b"{}")
        if kind == "requests":  # http.client skips 100 only: said, not a 103 with no body
            with pytest.raises(RemoteProtocolError, match="answered 103 Early Hints") as info:
                send(transport, request, FAST, False)
            assert info.value.request_sent is True
        else:
            response = transport.send(request, deadlines=FAST.deadlines())
            assert response.status == 200
            assert response.read() == b"ok"
            response.close()
