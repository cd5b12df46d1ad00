"""The emulator's server under pressure: deadlines, limits, many slow sockets, keep-alive."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sigv4 import Credentials
from smruntime import Client, Config
from smruntime.emulator import Emulator
from smruntime.emulator._http import H2_PREFACE
from tests.smruntime.test_emulator import call, path_for, signed_headers

# Every wait below is a generous sanity deadline, never a speed assertion.
SANITY = 30.0


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while True:
        got = sock.recv(65536)
        if not got:
            return out
        out += got


def client_for(emu: Emulator, creds: Credentials | None = None) -> Client:
    creds = creds or emu.credentials
    return Client(
        region_name=emu.region,
        endpoint_url=emu.url,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        config=Config(proxies={}),
        environ={},
    )


def emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("smruntime-emulator")]


@contextlib.contextmanager
def slow_sockets(emu: Emulator, count: int) -> Iterator[list[socket.socket]]:
    """*count* connections that each sent the start of a request head and then stall."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", emu.port), timeout=SANITY)
            sock.sendall(b"POST /endpoints/echo/invocations HTTP/1.1\r\nHost: x\r\n")
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def raise_fd_limit(needed: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} file descriptors, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def test_500_slow_sockets_cost_no_thread_and_a_normal_client_stays_served() -> None:
    raise_fd_limit(2048)
    with Emulator({"echo": "echo"}) as emu:
        client = client_for(emu)
        try:
            assert client.invoke_endpoint(EndpointName="echo", Body=b"warm")["Body"].read()
            threads_before = len(emulator_threads())
            with slow_sockets(emu, 500):
                began = time.monotonic()
                for i in range(50):
                    body = f"call {i}".encode()
                    answer = client.invoke_endpoint(EndpointName="echo", Body=body)
                    assert answer["Body"].read() == body
                stream = client.invoke_endpoint_with_response_stream(
                    EndpointName="echo", Body=b"streamed while 500 sockets stall"
                )
                assert b"".join(stream["Body"].iter_bytes()) == b"streamed while 500 sockets stall"
                assert time.monotonic() - began < SANITY
                # Threads do not grow with the stalled sockets (workers and pumps only).
                assert len(emulator_threads()) <= threads_before + 4
        finally:
            client.close()


def test_slow_head_gets_408_and_is_dropped_while_others_are_served() -> None:
    with Emulator({"echo": "echo"}, head_timeout=0.5) as emu:
        sock = socket.create_connection(("127.0.0.1", emu.port), timeout=SANITY)
        with sock:
            stop = threading.Event()

            def trickle() -> None:
                # A byte every 50 ms: always sending, never finishing within the deadline.
                for byte in b"POST /endpoints/echo/invocations HTTP/1.1\r\nHost: x\r\nX-Slow: ":
                    if stop.wait(0.05):
                        return
                    try:
                        sock.send(bytes([byte]))
                    except OSError:
                        return

            sender = threading.Thread(target=trickle, daemon=True)
            sender.start()
            assert call(emu, path_for("echo"), b"meanwhile").body == b"meanwhile"
            out = read_all(sock)
            stop.set()
            sender.join(SANITY)
        assert out.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert emu.requests[-1].body == b"meanwhile"


def test_slow_body_gets_408() -> None:
    with Emulator({"echo": "echo"}, body_timeout=0.3) as emu:
        with socket.create_connection(("127.0.0.1", emu.port), timeout=SANITY) as sock:
            sock.sendall(
                b"POST /endpoints/echo/invocations HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 10\r\n\r\n12345"
            )
            out = read_all(sock)
        assert out.startswith(b"HTTP/1.1 408 ")
        assert not emu.requests  # never reached the protocol layer


def test_idle_keep_alive_connection_is_closed_quietly() -> None:
    with Emulator({"echo": "echo"}, timeout=0.3) as emu:
        with socket.create_connection(("127.0.0.1", emu.port), timeout=SANITY) as sock:
            assert read_all(sock) == b""


def test_oversized_head_gets_431() -> None:
    with Emulator({"echo": "echo"}) as emu:
        with socket.create_connection(("127.0.0.1", emu.port), timeout=SANITY) as sock:
            head = b"POST /endpoints/echo/invocations HTTP/1.1\r\nX-Big: " + b"a" * 70000
            with contextlib.suppress(OSError):
                sock.sendall(head)
            out = read_all(sock)
        assert out.startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"POST /x HTTP/3.0\r\n\r\n", 505),
        (b"POST /x HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"POST /x HTTP/1.1\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n", 431),
    ],
)
def test_bad_heads_are_refused(line: bytes, status: int) -> None:
    with Emulator({"echo": "echo"}) as emu:
        with socket.create_connection(("127.0.0.1", emu.port), timeout=SANITY) as sock:
            sock.sendall(line)
            out = read_all(sock)
        assert out.startswith(b"HTTP/1.1 %d " % status)
        assert b"Connection: close\r\n" in out


def test_http2_preface_without_a_handler_gets_505() -> None:
    with Emulator({"echo": "echo"}, http2=False) as emu:
        with socket.create_connection(("127.0.0.1", emu.port), timeout=SANITY) as sock:
            sock.sendall(H2_PREFACE)
            assert read_all(sock).startswith(b"HTTP/1.1 505 ")


def test_http2_preface_is_handed_to_the_registered_protocol() -> None:
    seen: list[bytes] = []

    def h2(sock: socket.socket, preread: bytes) -> None:
        seen.append(preread)
        sock.sendall(b"handled by h2")

    with Emulator({"echo": "echo"}) as emu:
        emu.register_protocol("h2", h2)
        with socket.create_connection(("127.0.0.1", emu.port), timeout=SANITY) as sock:
            sock.sendall(H2_PREFACE[:5])
            time.sleep(0.05)  # the preface split across packets
            sock.sendall(H2_PREFACE[5:] + b"\x00\x00\x00")
            assert read_all(sock) == b"handled by h2"
        assert len(seen) == 1
        assert seen[0].startswith(H2_PREFACE)
        # HTTP/1.1 still works next to it.
        assert call(emu, path_for("echo"), b"one").body == b"one"


def test_connections_beyond_the_limit_wait_in_the_backlog() -> None:
    with Emulator({"echo": "echo"}, max_connections=2) as emu:
        with slow_sockets(emu, 2) as held:
            waiting = socket.create_connection(("127.0.0.1", emu.port), timeout=SANITY)
            with waiting:
                waiting.sendall(
                    b"POST /endpoints/echo/invocations HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 2\r\nConnection: close\r\n\r\nhi"
                )
                time.sleep(0.2)
                assert not emu.requests  # not accepted while two are open
                held[0].close()
                out = read_all(waiting)
        assert out.startswith(b"HTTP/1.1 403 ")  # accepted and answered (it is unsigned)


def test_pipelined_requests_are_answered_in_order() -> None:
    with Emulator({"echo": "echo"}, verify_signatures=False) as emu:
        one = (
            b"POST /endpoints/echo/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
        )
        two = (
            b"POST /endpoints/echo/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Connection: close\r\n\r\ntwo"
        )
        with socket.create_connection(("127.0.0.1", emu.port), timeout=SANITY) as sock:
            sock.sendall(one + two)
            out = read_all(sock)
        assert out.count(b"HTTP/1.1 200 OK\r\n") == 2
        assert out.index(b"\r\n\r\none") < out.index(b"\r\n\r\ntwo")


def test_expect_100_continue() -> None:
    with Emulator({"echo": "echo"}, verify_signatures=False) as emu:
        with socket.create_connection(("127.0.0.1", emu.port), timeout=SANITY) as sock:
            sock.sendall(
                b"POST /endpoints/echo/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
            )
            assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(b"ok")
            assert read_all(sock).endswith(b"\r\n\r\nok")


def test_keep_alive_serves_many_calls_on_one_connection() -> None:
    with Emulator({"echo": "echo"}) as emu:
        client = client_for(emu)
        try:
            for i in range(200):
                body = b"%d" % i
                assert client.invoke_endpoint(EndpointName="echo", Body=body)["Body"].read() == body
        finally:
            client.close()


def test_several_key_pairs_and_session_tokens() -> None:
    plain = Credentials("AKIDPLAIN", "plain-secret")
    session_a = Credentials("ASIAEMU1", "session-secret", session_token="token-a")
    session_b = Credentials("ASIAEMU1", "session-secret", session_token="token-b")
    with Emulator({"echo": "echo"}, credentials=[plain, session_a, session_b]) as emu:
        assert emu.credentials == plain
        assert len(emu.accepted_credentials) == 3
        for creds in (plain, session_a, session_b):
            client = client_for(emu, creds)
            try:
                answer = client.invoke_endpoint(EndpointName="echo", Body=b"hi")
                assert answer["Body"].read() == b"hi"
            finally:
                client.close()
        for wrong in (
            Credentials("ASIAEMU1", "session-secret", session_token="token-c"),
            Credentials("ASIAEMU1", "session-secret"),
            Credentials("AKIDPLAIN", "plain-secret", session_token="token-a"),
        ):
            reply = call(emu, path_for("echo"), b"x", credentials=wrong)
            assert (reply.status, reply.error_code()) == (403, "UnrecognizedClientException")


def test_client_with_aws_session_token_in_its_environment() -> None:
    creds = Credentials("ASIAENVIRON", "env-secret", session_token="env-token")
    with Emulator({"echo": "echo"}, credentials=[creds]) as emu:
        client = Client(
            region_name=emu.region,
            endpoint_url=emu.url,
            config=Config(proxies={}),
            environ={
                "AWS_ACCESS_KEY_ID": creds.access_key_id,
                "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
                "AWS_SESSION_TOKEN": "env-token",
            },
        )
        try:
            assert client.invoke_endpoint(EndpointName="echo", Body=b"t")["Body"].read() == b"t"
        finally:
            client.close()


def test_stop_with_open_idle_and_slow_connections_leaves_no_thread() -> None:
    emu = Emulator({"echo": "echo"}).start()
    with slow_sockets(emu, 20):
        assert call(emu, path_for("echo"), b"x").body == b"x"
        emu.stop()
    assert not emulator_threads()


def exchange(emu: Emulator, *pieces: bytes) -> bytes:
    """Send *pieces* (a short pause between them) and read until the emulator closes."""
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        for index, piece in enumerate(pieces):
            if index:
                time.sleep(0.05)
            sock.sendall(piece)
        return read_all(sock)


HEAD = b"POST /endpoints/echo/invocations HTTP/1.1\r\nHost: x\r\n"


def test_framing_edges() -> None:
    with Emulator({"echo": "echo"}, verify_signatures=False) as emu:
        # a complete head larger than the limit, in one piece
        big = HEAD + b"X-Big: " + b"a" * 70000 + b"\r\nConnection: close\r\n\r\n"
        assert exchange(emu, big).startswith(b"HTTP/1.1 431 ")
        # a chunk size above the body limit is refused before its data
        huge = HEAD + b"Transfer-Encoding: chunked\r\n\r\n5000000\r\n"
        assert exchange(emu, huge).startswith(b"HTTP/1.1 413 ")
        trailers = b"X-T: 1\r\n" * 100
        many = HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n" + trailers + b"\r\n"
        assert exchange(emu, many).startswith(b"HTTP/1.1 400 ")
        # a chunk's CRLF arriving after its data
        split = HEAD + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhi"
        out = exchange(emu, split, b"\r\n0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 ")
        assert out.endswith(b"\r\n\r\nhi")
        # empty lines before the request line are ignored
        lead = b"\r\n\r\n" + HEAD + b"Content-Length: 2\r\nConnection: close\r\n\r\nok"
        assert exchange(emu, lead).endswith(b"\r\n\r\nok")


def test_connections_that_cannot_be_reused_are_closed() -> None:
    with Emulator({"echo": "echo"}, verify_signatures=False) as emu:
        http10 = b"POST /endpoints/echo/invocations HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi"
        out = exchange(emu, http10)  # read_all returns: the emulator closed it
        assert b"Connection: close\r\n" in out
        assert out.endswith(b"\r\n\r\nhi")
        both = HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        out = exchange(emu, both)
        assert b"Connection: close\r\n" in out
        assert out.endswith(b"\r\n\r\nhi")
        kept = (
            b"POST /endpoints/echo/invocations HTTP/1.0\r\nConnection: keep-alive\r\n"
            b"Content-Length: 1\r\n\r\na"
        )
        with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
            sock.sendall(kept)
            first = sock.recv(65536)
            sock.sendall(kept.replace(b"keep-alive", b"close"))
            rest = read_all(sock)
        assert first.endswith(b"\r\n\r\na")
        assert rest.endswith(b"\r\n\r\na")


@pytest.mark.parametrize(
    ("amz_date", "expected"),
    [
        ("20241345T000000Z", "is not a valid date"),
        ("20240101T250000Z", "is not a valid date"),
        ("2024010\u00b2T000000Z", "ISO-8601 basic format"),
        ("2024-01-01T00:00:00Z", "ISO-8601 basic format"),
    ],
)
def test_bad_amz_dates_are_refused(amz_date: str, expected: str) -> None:
    with Emulator({"echo": "echo"}) as emu:
        good = dict(signed_headers(emu, path_for("echo"), b"x"))
        good["X-Amz-Date"] = amz_date
        reply = call(emu, path_for("echo"), b"x", raw_headers=list(good.items()))
        assert (reply.status, reply.error_code()) == (400, "IncompleteSignatureException")
        assert expected in reply.json()["message"]


class RecordingSocket:
    """Stands in for a client socket: records every sendall."""

    def __init__(self, peer: socket.socket) -> None:
        self.writes: list[bytes] = []
        self.fileno = peer.fileno  # polled for "client gone": an idle socket pair end

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def shutdown(self, how: int) -> None:
        pass


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/endpoints/echo/invocations", b"x" * 1024),  # an answer
        ("/endpoints/nope/invocations", b"x"),  # an error
        ("/endpoints/echo/invocations-response-stream", b"tiny"),  # a stream of one part
    ],
)
def test_head_and_small_body_leave_in_one_write(path: str, body: bytes) -> None:
    from smruntime.emulator._http import _Request, parse_head
    from smruntime.emulator._protocol import RequestHandler

    with Emulator({"echo": "echo"}, verify_signatures=False) as emu:
        assert emu._server is not None
        head = parse_head(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}".encode()
        )
        left, right = socket.socketpair()
        with left, right:
            sock = RecordingSocket(left)
            request = _Request(head, body, None, False)
            fake: Any = sock
            RequestHandler(emu._server, fake, ("127.0.0.1", 1), request).handle()
    first = sock.writes[0]
    assert first.startswith(b"HTTP/1.1 ")
    if "stream" in path:
        # the head leaves with the first frame; frames follow as the model yields them
        assert first.split(b"\r\n\r\n", 1)[1].endswith(b"tiny" + first[-6:-2] + b"\r\n")
        assert b"".join(sock.writes).endswith(b"0\r\n\r\n")
    else:
        assert len(sock.writes) == 1
        length = int(first.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
        assert len(first.split(b"\r\n\r\n", 1)[1]) == length


@pytest.mark.parametrize("value", [b"a\x00b", b"a\rb", b"a\x7f", b"\x01"])
def test_a_control_character_in_a_header_value_is_a_400(value: bytes) -> None:
    from smruntime.emulator._http import _HeadError, parse_head

    with pytest.raises(_HeadError, match="header 'X-A'") as info:
        parse_head(b"POST /ping HTTP/1.1\r\nHost: x\r\nX-A: " + value)
    assert info.value.status == 400


def test_tab_space_and_obs_text_in_a_header_value_are_kept() -> None:
    from smruntime.emulator._http import parse_head

    head = parse_head(b"POST /ping HTTP/1.1\r\nHost: x\r\nX-A: a\tb c\xe9")
    assert head.get("X-A") == "a\tb c\xe9"
