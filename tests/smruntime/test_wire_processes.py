"""The client across processes (fork, pickling, spawn pools) and through a real proxy."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import socket
import ssl
import time
from typing import Any, Optional

import pytest

from smruntime import Client, Config
from tests.smruntime.hostile_server import CERT, KEY, HostileServer, echo
from tests.smruntime.spawned import spawned_call


def make_client(url: str, **kw: Any) -> Client:
    config = kw.pop("config", None) or Config(max_attempts=1)
    return Client(
        region_name="us-west-2",
        endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=config,
        environ={},
        **kw,
    )


def call(client: Client, body: bytes) -> bytes:
    result = client.invoke_endpoint(EndpointName="e", Body=body, ContentType="application/json")
    return bytes(result["Body"].read())


# -- fork -------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_parent_and_forked_child_share_a_client_without_crossing_responses() -> None:
    with HostileServer(echo) as srv, make_client(srv.url) as client:
        assert call(client, b'"warm"') == b'"warm"'  # one pooled connection before the fork
        for round_ in range(5):
            pid = os.fork()
            if pid == 0:  # the child: same client object, its own connections
                ok = True
                try:
                    for i in range(20):
                        body = b'"child-%d-%d"' % (round_, i)
                        ok = ok and call(client, body) == body
                except BaseException:  # noqa: BLE001 - reported by the exit code
                    ok = False
                os._exit(0 if ok else 1)
            for i in range(20):
                body = b'"parent-%d-%d"' % (round_, i)
                assert call(client, body) == body
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, f"round {round_}: the child failed"


# -- pickling ---------------------------------------------------------------------------------


def test_a_client_pickles_its_configuration_not_its_connections() -> None:
    with HostileServer(echo) as srv:
        client = make_client(srv.url, config=Config(max_attempts=2, read_timeout=5.0))
        assert call(client, b"1") == b"1"
        copy = pickle.loads(pickle.dumps(client))
        assert copy.config == client.config
        assert (copy.region_name, copy.endpoint_url) == (client.region_name, client.endpoint_url)
        assert copy._transport is not client._transport
        assert call(copy, b"2") == b"2"
        copy.close()
        client.close()


def test_credentials_from_the_chain_are_not_pickled() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIDCHAIN", "AWS_SECRET_ACCESS_KEY": "chain-secret"}
    client = Client(region_name="us-west-2", endpoint_url="http://127.0.0.1:9", environ=env)
    client._credentials()  # resolved from the (explicit) environment
    state = client._pickle_state()
    assert state["credentials"] is None  # the copy resolves its own
    copy = pickle.loads(pickle.dumps(client))
    assert copy._credentials().access_key_id == "AKIDCHAIN"


def test_a_client_with_a_custom_transport_refuses_to_pickle() -> None:
    class Custom:
        def send(self, request: Any, *, deadlines: Any) -> Any:
            raise NotImplementedError

        def close(self) -> None:
            pass

    client = make_client("http://127.0.0.1:9", transport=Custom())
    with pytest.raises(TypeError, match="custom transport"):
        pickle.dumps(client)


def test_a_pickled_client_in_a_spawn_pool() -> None:
    with HostileServer(echo) as srv, make_client(srv.url) as client:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(2) as pool:
            results = pool.map(spawned_call, [(client, n) for n in range(8)])
    assert results == [b'"spawn-%d"' % n for n in range(8)]


# -- a real proxy (proxy.py, the proxy_url fixture of conftest.py) -----------------------------


@pytest.fixture(params=["default", "requests"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_plain_http_through_a_real_proxy(proxy_url: str, kind: str) -> None:
    with HostileServer(echo) as srv:
        client = make_client(
            srv.url, transport=kind, config=Config(max_attempts=1, proxies={"http": proxy_url})
        )
        with client:
            assert call(client, b'"via proxy"') == b'"via proxy"'
        assert srv.requests
        first_line = srv.requests[0].split(b"\r\n", 1)[0]
        assert first_line.startswith(b"POST /endpoints/e/invocations ")


def test_https_through_connect_on_a_real_proxy(proxy_url: str, kind: str) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(CERT, KEY)
    with HostileServer(echo, tls=ctx) as srv:
        client = make_client(
            srv.url,
            transport=kind,
            config=Config(max_attempts=1, proxies={"https": proxy_url}, verify=CERT),
        )
        with client:
            assert call(client, b'"tunnelled"') == b'"tunnelled"'
            assert call(client, b'"again"') == b'"again"'
        assert len(srv.requests) == 2


def test_https_with_the_test_certificate_direct_and_untrusted() -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(CERT, KEY)
    with HostileServer(echo, tls=ctx) as srv:
        with make_client(srv.url, config=Config(max_attempts=1, verify=CERT)) as client:
            assert call(client, b'"tls"') == b'"tls"'
        from smruntime.exceptions import EndpointConnectionError

        with (
            make_client(srv.url) as client,
            pytest.raises(EndpointConnectionError, match="TLS handshake"),
        ):
            call(client, b'"x"')


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_dropping_an_inherited_stream_leaves_the_parent_reading() -> None:
    from tests.smruntime.frames import part

    frames = [part(b"%d" % i) for i in range(3)]

    def handler(sock: socket.socket, request: Optional[bytes]) -> bool:
        if request is None:
            return False
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(frames[0]), frames[0])
        )
        time.sleep(0.5)
        for frame in frames[1:]:
            sock.sendall(b"%x\r\n%s\r\n" % (len(frame), frame))
        sock.sendall(b"0\r\n\r\n")
        return True

    with HostileServer(handler) as srv, make_client(srv.url) as client:
        body = client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}")["Body"]
        it = iter(body)
        assert next(it) == {"PayloadPart": {"Bytes": b"0"}}
        pid = os.fork()
        if pid == 0:
            body.close()  # the child's copy: must not shut the parent's connection down
            os._exit(0)
        os.waitpid(pid, 0)
        assert [e["PayloadPart"]["Bytes"] for e in it] == [b"1", b"2"]


def test_an_unpicklable_credentials_object_is_named() -> None:
    import threading

    class Provider:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def get(self) -> Any:
            raise NotImplementedError

    client = make_client("http://127.0.0.1:9")
    client._credentials_source = Provider()
    with pytest.raises(TypeError, match=r"credentials object \(Provider\)"):
        pickle.dumps(client)


def test_a_large_body_is_written_after_the_head() -> None:
    body = b'"' + b"x" * (3 * 1024 * 1024) + b'"'
    with HostileServer(echo) as srv, make_client(srv.url) as client:
        assert call(client, body) == body
        assert call(client, b'"small"') == b'"small"'
    assert srv.connections == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_draws_its_own_invocation_ids() -> None:
    # Ids are drawn from os.urandom many at a time: a child must not hand out the ones its
    # parent still holds (the parent's next ids and the child's first ones never meet).
    from smruntime._call import invocation_id

    invocation_id()  # the parent now holds a drawn batch
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        os.write(write_fd, ",".join(invocation_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        child_ids = set(pipe.read().decode().split(","))
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    parent_ids = {invocation_id() for _ in range(10)}
    assert len(child_ids) == 10
    assert not child_ids & parent_ids


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_at_fork_hook_gives_the_pool_the_childs_pid() -> None:
    # The pool compares its pid with the one the at-fork hook keeps (no getpid per request):
    # in a child the hook has set it, so the inherited idle connection is not used.
    from smruntime.http import _sync

    with HostileServer(echo) as srv, make_client(srv.url) as client:
        assert call(client, b'"warm"') == b'"warm"'
        pool = client._transport
        assert pool.idle_count() == 1  # type: ignore[attr-defined]
        pid = os.fork()
        if pid == 0:
            ok = _sync._pid == os.getpid() and pool.idle_count() == 0  # type: ignore[attr-defined]
            try:
                ok = ok and call(client, b'"child"') == b'"child"'
            except BaseException:  # noqa: BLE001 - reported by the exit code
                ok = False
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert _sync._pid == os.getpid()
        assert pool.idle_count() == 1  # type: ignore[attr-defined] # the parent's, kept
        assert call(client, b'"parent"') == b'"parent"'
    assert srv.connections == 2
