"""``smruntime.http._tls.wrap_socket``: a wrap that fails never leaves a descriptor open.

``SSLContext.wrap_socket`` moves the descriptor into a new SSLSocket before it looks at the
connection; a peer's reset that lands first makes that look raise ``ECONNRESET`` with the new
object unreachable and open (it was the source of the stray "unclosed SSLSocket" warnings in
the TLS tests). Every wrap of ours, client and server side, goes through the helper.
"""

from __future__ import annotations

import errno
import gc
import socket
import ssl
import struct
import time
import warnings
from pathlib import Path

import pytest

from smruntime.http._tls import wrap_socket

TLS = Path(__file__).resolve().parents[1] / "data" / "tls"


def reset_pair() -> socket.socket:
    """A connected socket whose peer has already reset the connection (RST received)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.create_connection(listener.getsockname())
        theirs, _ = listener.accept()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    theirs.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # until the reset is seen: getpeername fails
        try:
            ours.getpeername()
        except OSError:
            break
        time.sleep(0.005)
    return ours


def server_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(TLS / "cert.pem"), str(TLS / "key.pem"))
    return ctx


def context_for(side: str) -> tuple[ssl.SSLContext, dict[str, object]]:
    """A context and the wrap's arguments for one end of the connection."""
    if side == "client":
        return ssl.create_default_context(), {"server_hostname": "localhost"}
    return server_context(), {"server_side": True}


@pytest.mark.parametrize("side", ["client", "server"])
def test_a_reset_before_the_wrap_closes_everything(side: str) -> None:
    ctx, kwargs = context_for(side)
    sock = reset_pair()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(ConnectionResetError):
            wrap_socket(ctx, sock, do_handshake_on_connect=False, **kwargs)
        gc.collect()
    assert sock.fileno() == -1
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize("side", ["client", "server"])
def test_a_peer_gone_with_its_reset_seen_is_an_error_not_a_socket_without_tls(side: str) -> None:
    # The reset already consumed: the standard wrap then returns an SSLSocket with no TLS state
    # (its do_handshake raises AttributeError; that failed an emulator worker, leaking it).
    ctx, kwargs = context_for(side)
    sock = reset_pair()
    with pytest.raises(ConnectionResetError):
        sock.recv(1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(OSError, match="not connected") as raised:
            wrap_socket(ctx, sock, do_handshake_on_connect=False, **kwargs)
        assert raised.value.errno == errno.ENOTCONN
        gc.collect()
    assert sock.fileno() == -1
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_the_plain_wrap_leaks_there() -> None:
    # The defect the helper exists for, shown on the standard wrap (if a future Python closes
    # the half-made socket itself, this test says so and the helper can go).
    ctx = ssl.create_default_context()
    sock = reset_pair()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(ConnectionResetError):
            ctx.wrap_socket(sock, server_hostname="localhost", do_handshake_on_connect=False)
        gc.collect()
    assert any("SSLSocket" in str(w.message) for w in caught)


def test_a_successful_wrap_is_an_sslsocket_and_keeps_nothing() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.create_connection(listener.getsockname())
        theirs, _ = listener.accept()
    with theirs:
        tls = wrap_socket(
            ssl.create_default_context(),
            ours,
            server_hostname="localhost",
            do_handshake_on_connect=False,
        )
        with tls:
            assert isinstance(tls, ssl.SSLSocket)
            assert tls.server_hostname == "localhost"


def test_a_custom_socket_class_is_left_alone() -> None:
    class Mine(ssl.SSLSocket):
        pass

    ctx = ssl.create_default_context()
    ctx.sslsocket_class = Mine
    with socket.create_server(("127.0.0.1", 0)) as listener:
        ours = socket.create_connection(listener.getsockname())
        theirs, _ = listener.accept()
    with (
        theirs,
        wrap_socket(ctx, ours, server_hostname="localhost", do_handshake_on_connect=False) as tls,
    ):
        assert type(tls) is Mine


def test_every_wrap_goes_through_the_helper() -> None:
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("smruntime", "tests", "bench"):
        for path in (root / folder).rglob("*.py"):
            if path.name in ("_tls.py", "test_tls_wrap.py"):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if ".wrap_socket(" in line and "_tls.wrap_socket(" not in line:
                    offenders.append(f"{path.relative_to(root)}:{number}")
    assert offenders == []
