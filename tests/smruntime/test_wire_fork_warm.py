"""The warm call's fork rules: invocation ids drawn 64 at a time (forgotten in a
forked child by the at-fork hook) and the pool's pid kept by the hook, with the fork made from
one thread while another is in the middle of calls."""

from __future__ import annotations

import os
import socket
import threading
from typing import Optional

import pytest

from tests.smruntime.hostile_server import HostileServer
from tests.smruntime.test_wire_processes import make_client


def tagged(sock: socket.socket, request: Optional[bytes]) -> bool:
    """Answers ``<invocation id> <client port> <request body>``: which id and which socket
    carried each call."""
    if request is None:
        return False
    head, _, body = request.partition(b"\r\n\r\n")
    ident = b"-"
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"amz-sdk-invocation-id":
            ident = value.strip()
    port = str(sock.getpeername()[1]).encode()
    answer = b'"%s %s %s"' % (ident, port, body.strip(b'"'))
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
    return True


def call(client: object, text: str) -> tuple[str, str]:
    result = client.invoke_endpoint(  # type: ignore[attr-defined]
        EndpointName="e", Body=f'"{text}"'.encode(), ContentType="application/json"
    )
    ident, port, echoed = result["Body"].read().decode().strip('"').split(" ")
    assert echoed == text, f"a response crossed: {echoed!r} for {text!r}"
    return ident, port


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_another_thread_calls_shares_no_id_and_no_socket() -> None:
    with HostileServer(tagged) as srv, make_client(srv.url) as client:
        parent_ids: list[str] = []
        parent_ports: set[str] = set()
        stop = threading.Event()
        errors: list[BaseException] = []

        def busy() -> None:
            n = 0
            try:
                while not stop.is_set():
                    ident, port = call(client, f"parent-{n}")
                    parent_ids.append(ident)
                    parent_ports.add(port)
                    n += 1
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        worker = threading.Thread(target=busy, daemon=True)
        worker.start()
        children: list[tuple[int, int]] = []
        for round_ in range(4):
            while len(parent_ids) < 5 * (round_ + 1):  # the worker is mid-calls
                stop.wait(0.001)
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: the worker thread is gone, its pool is the parent's copy
                code = 1
                try:
                    os.close(read_fd)
                    idle = client._transport.idle_count()  # type: ignore[attr-defined]
                    lines = [f"idle {idle}"]
                    for i in range(10):
                        ident, port = call(client, f"child-{round_}-{i}")
                        lines.append(f"{ident} {port}")
                    os.write(write_fd, "\n".join(lines).encode())
                    code = 0
                finally:
                    os._exit(code)
            os.close(write_fd)
            children.append((pid, read_fd))
        stop.set()
        worker.join(10)
        assert not errors, errors
        child_ids: list[str] = []
        child_ports: set[str] = set()
        for pid, read_fd in children:
            with os.fdopen(read_fd, "rb") as pipe:
                lines = pipe.read().decode().splitlines()
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            assert lines[0] == "idle 0"  # the inherited idle connections were dropped
            for line in lines[1:]:
                ident, port = line.split(" ")
                child_ids.append(ident)
                child_ports.add(port)
        assert len(child_ids) == len(set(child_ids)) == 40
        assert len(parent_ids) == len(set(parent_ids))
        assert not set(child_ids) & set(parent_ids)
        assert not child_ports & parent_ports  # no call of a child went on a parent's socket
