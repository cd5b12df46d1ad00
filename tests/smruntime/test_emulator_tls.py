"""The emulator over TLS: ALPN chooses ``http/1.1`` (the three operations, smruntime and boto3)
or ``h2`` (the bidirectional call) on one port; handshakes have a deadline; ``serve --tls-*``;
and the standalone HTTP/2 listener keeps serving after a connection ends."""

from __future__ import annotations

import json
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from smruntime import Client, Config
from smruntime.emulator import Emulator
from smruntime.http._tls import wrap_socket
from tests.smruntime.cli_helpers import clean_env

TLS = Path(__file__).resolve().parents[1] / "data" / "tls"
CERT, KEY = str(TLS / "cert.pem"), str(TLS / "key.pem")


def make_client(emu: Emulator, **config: Any) -> Client:
    creds = emu.credentials
    return Client(
        region_name=emu.region,
        endpoint_url=emu.url,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        verify=CERT,
        config=Config(**config) if config else None,
        environ={},
    )


def client_context(alpn: list[str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=CERT)
    ctx.set_alpn_protocols(alpn)
    return ctx


@pytest.fixture
def emu(tmp_path: Path) -> Any:
    with Emulator(tls_cert=CERT, tls_key=KEY, results_dir=tmp_path, head_timeout=1.0) as emu:
        yield emu


def test_url_is_https_and_plain_http_is_not_served(emu: Emulator) -> None:
    assert emu.url.startswith("https://127.0.0.1:")
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = sock.recv(4096)
        except ConnectionResetError:
            data = b""
    assert not data.startswith(b"HTTP/1.1")  # a TLS alert, or the close


def test_three_operations_over_tls_with_smruntime(emu: Emulator) -> None:
    with make_client(emu) as client:
        for _ in range(3):  # kept-alive TLS connection, several calls
            resp = client.invoke_endpoint(EndpointName="echo", Body=b"over tls")
            assert resp["Body"].read() == b"over tls"
        resp = client.invoke_endpoint_with_response_stream(
            EndpointName="tokens", Body=json.dumps({"inputs": "hi"})
        )
        parts = [e["PayloadPart"]["Bytes"] for e in resp["Body"]]
        assert parts
        assert b"You said: hi" in parts[-1]
        big = bytes(range(256)) * 4096  # 1 MiB: many TLS records, pending() bytes
        resp = client.invoke_endpoint(EndpointName="echo", Body=big)
        assert resp["Body"].read() == big
        resp = client.invoke_endpoint_async(
            EndpointName="echo", Body=b"async tls", InferenceId="tls-1"
        )
        assert emu.local_path(resp["OutputLocation"]).read_bytes() == b"async tls"


def test_three_operations_over_tls_with_boto3(emu: Emulator) -> None:
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config as BotoConfig

    from tests.smruntime.test_emulator_boto3 import SPEC

    core = pytest.importorskip("botocore.session").Session()
    core.get_component("data_loader").search_paths.insert(0, str(SPEC))
    creds = emu.credentials
    client = boto3.session.Session(botocore_session=core).client(
        "sagemaker-runtime",
        endpoint_url=emu.url,
        region_name=emu.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        verify=CERT,
        config=BotoConfig(retries={"total_max_attempts": 1}, read_timeout=10),
    )
    try:
        resp = client.invoke_endpoint(EndpointName="echo", Body=b"boto tls")
        assert resp["Body"].read() == b"boto tls"
        resp = client.invoke_endpoint_with_response_stream(
            EndpointName="tokens", Body=json.dumps({"inputs": "hey"})
        )
        parts = [e["PayloadPart"]["Bytes"] for e in resp["Body"]]
        assert parts
        assert b"You said: hey" in parts[-1]
        resp = client.invoke_endpoint_async(
            EndpointName="echo", Body=b"boto async", InferenceId="tls-2"
        )
        assert emu.local_path(resp["OutputLocation"]).read_bytes() == b"boto async"
    finally:
        client.close()


def test_h2_over_tls_on_the_same_port(emu: Emulator) -> None:
    pytest.importorskip("h2")
    with make_client(emu) as client:
        assert client.invoke_endpoint(EndpointName="echo", Body=b"1.1")["Body"].read() == b"1.1"
        for _ in range(2):  # a second h2 connection is served too
            resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName="echo")
            with resp["Body"] as stream:
                stream.send(b"duplex", DataType="BINARY", CompletionState="PARTIAL")
                assert next(stream)["PayloadPart"]["Bytes"] == b"duplex"
                stream.close_input()
                assert list(stream) == []
    assert len(emu.h2_requests) == 2
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as raw:
        with wrap_socket(client_context(["h2", "http/1.1"]), raw, server_hostname="localhost") as s:
            assert s.selected_alpn_protocol() == "h2"


def test_no_alpn_means_http11(emu: Emulator) -> None:
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as raw:
        with wrap_socket(client_context([]), raw, server_hostname="127.0.0.1") as s:
            assert s.selected_alpn_protocol() is None
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 ")  # answered as HTTP/1.1


def test_a_tls_record_cut_across_tcp_segments_is_waited_for(emu: Emulator) -> None:
    """A record arriving in two pieces: the first is "no data yet", not an error."""
    obj_in, obj_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(["http/1.1"]).wrap_bio(obj_in, obj_out, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(obj_out.read())
                data = sock.recv(65536)
                assert data, "the server closed during the handshake"
                obj_in.write(data)
        sock.sendall(obj_out.read())
        tls.write(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        wire = obj_out.read()
        sock.sendall(wire[:7])
        time.sleep(0.3)
        sock.sendall(wire[7:])
        answer = b""
        while not answer:
            data = sock.recv(65536)
            assert data, "the server closed instead of answering"
            obj_in.write(data)
            try:
                answer = tls.read(65536)
            except ssl.SSLWantReadError:
                continue
        assert answer.startswith(b"HTTP/1.1 ")


def test_h2_is_not_offered_without_http2(tmp_path: Path) -> None:
    with Emulator(tls_cert=CERT, tls_key=KEY, http2=False, results_dir=tmp_path) as emu:
        with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as raw:
            ctx = client_context(["h2", "http/1.1"])
            with wrap_socket(ctx, raw, server_hostname="localhost") as s:
                assert s.selected_alpn_protocol() == "http/1.1"


def test_a_stalled_handshake_is_dropped_and_blocks_no_one(tmp_path: Path) -> None:
    with Emulator(tls_cert=CERT, tls_key=KEY, results_dir=tmp_path, head_timeout=1.5) as emu:
        stalled = [socket.create_connection(("127.0.0.1", emu.port), timeout=5) for _ in range(3)]
        half = socket.create_connection(("127.0.0.1", emu.port), timeout=5)
        half.sendall(b"\x16\x03\x01\x00\xff\x01")  # the start of a ClientHello, never ended
        try:
            with make_client(emu) as client:
                assert client.invoke_endpoint(EndpointName="echo", Body=b"x")["Body"].read() == b"x"
            still_open = 0
            for sock in [*stalled, half]:
                sock.setblocking(False)
                try:
                    sock.recv(1)
                except BlockingIOError:
                    still_open += 1
            assert still_open, "the call waited for the stalled handshakes to be dropped"
            for sock in [*stalled, half]:
                sock.settimeout(15)
                assert sock.recv(100) == b""  # closed by the server at the deadline
        finally:
            for sock in [*stalled, half]:
                sock.close()


def test_bad_certificate_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Emulator(tls_cert=tmp_path / "missing.pem", tls_key=KEY)
    with pytest.raises(ValueError, match="together"):
        Emulator(tls_cert=CERT)


def test_standalone_h2_listener_serves_after_a_connection_ends() -> None:
    """Regression: one connection ending set the listener-wide stop event."""
    pytest.importorskip("h2")
    from sigv4 import Credentials
    from smruntime.emulator._h2 import serve_h2

    creds = Credentials("AKIDTLS", "tls-secret")
    with serve_h2(creds) as srv:
        for i in range(3):
            with Client(
                region_name="us-east-1",
                endpoint_url=srv.url,
                aws_access_key_id=creds.access_key_id,
                aws_secret_access_key=creds.secret_access_key,
                environ={},
            ) as client:
                resp = client.invoke_endpoint_with_bidirectional_stream(
                    EndpointName="echo", Body=[f"{i}".encode()]
                )
                assert [e["PayloadPart"]["Bytes"] for e in resp["Body"]] == [f"{i}".encode()]
        assert len(srv.requests) == 3


def test_serve_with_tls_options(tmp_path: Path) -> None:
    from tests.smruntime.cli_helpers import invoke_at, serving

    keys = {"AWS_ACCESS_KEY_ID": "AKIDSERVE", "AWS_SECRET_ACCESS_KEY": "serve-secret"}
    env = clean_env(tmp_path, {**keys, "AWS_CA_BUNDLE": CERT})
    args = ("--model", "echo", "--endpoint", "e", "--tls-cert", CERT, "--tls-key", KEY)
    with serving(env, *args) as found:
        url = found["url"]
        assert url.startswith("https://"), found["stderr"]
        ok = invoke_at(env, url, "e", "--body", "hi tls")
        assert ok.returncode == 0, ok.stderr.decode()
        assert ok.stdout == b"hi tls"


def test_serve_tls_options_go_together(tmp_path: Path) -> None:
    from tests.smruntime.cli_helpers import run_cli

    proc = run_cli("serve", "--port", "0", "--tls-cert", CERT, env=clean_env(tmp_path))
    assert proc.returncode != 0
    assert b"--tls-cert and --tls-key go together" in proc.stderr
    text = " ".join(run_cli("serve", "--help", env=clean_env(tmp_path)).stdout.decode().split())
    assert "--tls-cert CERT" in text
    assert "--tls-key KEY" in text
    assert "ALPN chooses h2" in text


def test_a_stopped_emulator_holds_no_descriptor(tmp_path: Path) -> None:
    # The last net: a connection some path left open is closed by stop().
    emu = Emulator(results_dir=tmp_path).start()
    ours, theirs = socket.socketpair()
    with theirs:
        assert emu._track(ours)
        emu.stop()
        assert ours.fileno() == -1
