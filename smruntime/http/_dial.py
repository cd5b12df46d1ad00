"""Blocking TCP connect within a monotonic deadline, name resolution included (both blocking
drivers: HTTP/1.1 and HTTP/2).

``socket.create_connection`` cannot bound ``getaddrinfo`` (the system resolver has its own
timeouts: 5 s per try and server by default with glibc) and gives every address it tries the
whole timeout again. Here a numeric host needs no resolution; a name is resolved in a daemon
thread that the caller waits for only as long as the deadline allows (a resolver that overruns
cannot be interrupted: it is left to finish on its own, its answer dropped); then each address
is tried in turn with the time still left.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any, Optional

__all__ = ["open_tcp", "readable_now", "resolve"]

_AddrInfo = list[tuple[Any, Any, int, str, Any]]


def _numeric(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return True
    return False


def resolve(host: str, port: int, deadline: Optional[float]) -> _AddrInfo:
    """``getaddrinfo`` for a TCP connection to ``host``, within ``deadline`` (a
    ``time.monotonic()`` instant; None: no limit). Raises ``socket.timeout`` past it,
    ``OSError`` (``socket.gaierror``) when the name does not resolve."""
    if deadline is None or _numeric(host):
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            box.append(exc)

    worker = threading.Thread(target=run, name="smruntime-resolve", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if not box:
        raise socket.timeout(f"resolving {host!r} did not finish within the connect deadline")
    result = box[0]
    if isinstance(result, BaseException):
        raise result
    return result  # type: ignore[no-any-return]


def open_tcp(host: str, port: int, deadline: Optional[float]) -> socket.socket:
    """A connected TCP socket to ``host:port`` (left with the timeout it connected with),
    resolution and every address tried within ``deadline``. Raises ``socket.timeout`` past
    it, else the last address's ``OSError``."""
    infos = resolve(host, port, deadline)
    error: Optional[OSError] = None
    for family, kind, proto, _, address in infos:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise socket.timeout("the connect deadline passed")
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(address)
        except socket.timeout:
            sock.close()
            raise  # the deadline is spent: no time for another address
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()  # interrupted (Ctrl-C) while connecting
            raise
        return sock
    if error is not None:
        raise error
    raise OSError(f"no address found for {host!r}")


def readable_now(sock: Any) -> bool:
    """Whether ``sock`` (anything with ``fileno()``) has bytes or an EOF waiting: for an idle
    pooled connection, the server closed it (or sent stray bytes) and it must not be used."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True
