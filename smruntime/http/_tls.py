"""The ``ssl.SSLContext`` recipe both drivers use (imported when the first HTTPS connection is
made, not at start-up: loading the CA store costs tens of milliseconds)."""

from __future__ import annotations

import os
import socket
import ssl
import threading
from typing import Any, Optional

from smruntime.http._config import TLSConfig, check_ca_bundle

__all__ = ["ssl_context", "wrap_socket"]


def ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """A client context: certificate and host name verification on unless ``verify`` is False;
    HTTP/1.1 offered by ALPN; the client certificate loaded if given (``ValueError`` naming a
    missing file)."""
    verify = tls.verify
    if isinstance(verify, str):
        check_ca_bundle(verify)
        if os.path.isdir(verify):
            ctx = ssl.create_default_context(capath=verify)
        else:
            ctx = ssl.create_default_context(cafile=verify)
    else:
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    cert = tls.client_cert
    if cert is not None:
        # Loaded here, on the first TLS connection only: boto3 ignores client_cert for http://.
        files = (cert,) if isinstance(cert, str) else tuple(cert)
        for path in files:
            if not os.path.isfile(path):
                raise ValueError(f"client certificate file not found: {path} (Config.client_cert)")
        ctx.load_cert_chain(*files)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class _OwnedSSLSocket(ssl.SSLSocket):
    """An ``SSLSocket`` that notes itself (per thread) the moment it exists, so that a
    :func:`wrap_socket` failing half-way can still close it."""

    def __new__(cls, *args: Any, **kwargs: Any) -> _OwnedSSLSocket:
        self = super().__new__(cls, *args, **kwargs)
        _made.sock = self
        return self


_made = threading.local()


def wrap_socket(ctx: ssl.SSLContext, sock: socket.socket, **kwargs: Any) -> ssl.SSLSocket:
    """``ctx.wrap_socket(sock, **kwargs)`` for a connected *sock* that never leaves a descriptor
    open on failure.

    ``SSLContext.wrap_socket`` moves the descriptor into a new ``SSLSocket`` before it checks
    the connection, and a peer that is gone by then gives one of two outcomes: the check raises
    (``ECONNRESET``) with the new object out of the caller's reach, still open; or the wrap
    returns an ``SSLSocket`` that has no TLS state and that fails later in ways no caller
    expects (``AttributeError`` from ``do_handshake``). Here the first is closed before the
    error propagates (the context's documented ``sslsocket_class`` hook, set when it is the
    default, makes the object reachable), and the second is closed and raised as the
    ``OSError`` of ``getpeername``. ``sock`` is closed on failure too.
    """
    if ctx.sslsocket_class is ssl.SSLSocket:
        ctx.sslsocket_class = _OwnedSSLSocket
    _made.sock = None
    try:
        tls = ctx.wrap_socket(sock, **kwargs)
        try:
            tls.getpeername()  # a peer gone before the wrap looked: an SSLSocket without TLS
        except BaseException:
            tls.close()
            raise
        return tls
    except BaseException:
        half: Optional[ssl.SSLSocket] = _made.sock
        if half is not None:
            half.close()
        sock.close()
        raise
    finally:
        _made.sock = None
