"""The emulator's HTTP/2 session (InvokeEndpointWithBidirectionalStream), driven by a minimal raw
h2 client written here: signing checks, duplex overlap, flow control both ways, models, faults,
TLS with ALPN."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

pytest.importorskip("h2")

from h2 import events as h2events
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.settings import SettingCodes

from eventstream import Decoder, Message, encode
from sigv4 import Credentials, EventSigner, sign
from smruntime._operations import (
    build_request,
    encode_request_event,
    encode_signed_event,
    event_to_dict,
    parse_error,
)
from smruntime.emulator._h2 import (
    BidiRequest,
    H2Server,
    serve_h2,
    tls_server_context,
)
from smruntime.exceptions import (
    ClientError,
    InputValidationError,
    InternalServerError,
    InternalStreamFailure,
    InvalidSignatureException,
    ModelError,
    ModelStreamError,
    ServiceUnavailableError,
    ThrottlingException,
)
from smruntime.http._tls import wrap_socket

OP = "invoke_endpoint_with_bidirectional_stream"
CREDS = Credentials("AKIDH2TEST", "h2-test-secret-key")
TLS = Path(__file__).parent.parent / "data" / "tls"
UTC = dt.timezone.utc


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


class RawClient:
    """One HTTP/2 connection: sends a signed bidirectional request and its signed events."""

    def __init__(
        self,
        server: H2Server,
        *,
        tls: bool = False,
        window: Optional[int] = None,
        auto_ack: bool = True,
    ) -> None:
        raw = socket.create_connection((server.host, server.port), timeout=10)
        if tls:
            ctx = ssl.create_default_context(cafile=str(TLS / "cert.pem"))
            ctx.set_alpn_protocols(["h2"])
            raw = wrap_socket(ctx, raw, server_hostname="localhost")
            assert raw.selected_alpn_protocol() == "h2"
        self.sock = raw
        self.conn = H2Connection(H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.auto_ack = auto_ack
        self.flush()
        self.url = server.url
        self.headers: dict[int, dict[str, str]] = {}
        self.data: dict[int, bytearray] = {}
        self.ended: set[int] = set()
        self.resets: set[int] = set()
        self.unacked: dict[int, int] = {}
        self.goaway: Optional[int] = None  # the error code of a GOAWAY received
        self.raw = bytearray()  # every byte received
        self.closed = False

    def flush(self) -> None:
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def start(
        self,
        endpoint: str = "echo",
        *,
        extra: Optional[list[tuple[str, str]]] = None,
        creds: Credentials = CREDS,
        replace_sha: bool = False,
        stream_id: Optional[int] = None,
        **params: str,
    ) -> tuple[int, EventSigner]:
        request = build_request(OP, {"EndpointName": endpoint, **params}, self.url)
        headers = list(request.headers)
        if replace_sha:
            headers = [(n, v) for n, v in headers if n.lower() != "x-amz-content-sha256"]
        headers += list(extra or [])
        signed = sign(
            request.method,
            request.url,
            headers,
            b"",
            credentials=creds,
            region="us-east-1",
            service="sagemaker",
            now=_now(),
        )
        netloc = request.url.split("/")[2]
        path = "/" + request.url.split("/", 3)[3]
        scheme = request.url.split(":")[0]
        h2_headers = [
            (b":method", b"POST"),
            (b":scheme", scheme.encode()),
            (b":authority", netloc.encode()),
            (b":path", path.encode()),
        ] + [(n.lower().encode(), v.encode()) for n, v in signed.headers]
        if stream_id is None:
            stream_id = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, h2_headers)
        self.flush()
        signer = EventSigner(
            signed.signature, credentials=creds, region="us-east-1", service="sagemaker"
        )
        return stream_id, signer

    def send_raw(self, stream_id: int, data: bytes, end: bool = False) -> None:
        self.conn.send_data(stream_id, data, end_stream=end)
        self.flush()

    def send_flow(self, stream_id: int, data: bytes) -> None:
        """Send ``data`` within the server's windows, reading while they are shut."""
        deadline = time.monotonic() + 10
        while data:
            room = min(self.conn.local_flow_control_window(stream_id), len(data))
            room = min(room, self.conn.max_outbound_frame_size)
            if room <= 0:
                assert time.monotonic() < deadline, "the server never reopened its window"
                assert self.pump(0.05)
                continue
            self.send_raw(stream_id, data[:room])
            data = data[room:]

    def send_part(self, stream_id: int, signer: EventSigner, event: object) -> None:
        inner = encode_request_event(event)
        self.send_raw(stream_id, encode_signed_event(signer.sign(inner, _now()), inner))

    def close_input(self, stream_id: int, signer: EventSigner) -> None:
        self.send_raw(stream_id, encode_signed_event(signer.finish(_now()), b""), end=True)

    def pump(self, timeout: float = 5.0) -> bool:
        """Read once (up to ``timeout``); False on EOF."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        if not data:
            self.closed = True
            return False
        self.raw += data
        for event in self.conn.receive_data(data):
            if isinstance(event, h2events.ResponseReceived):
                self.headers[event.stream_id] = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h2events.DataReceived):
                self.data.setdefault(event.stream_id, bytearray()).extend(event.data)
                if self.auto_ack:
                    self.conn.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                else:
                    self.unacked[event.stream_id] = (
                        self.unacked.get(event.stream_id, 0) + event.flow_controlled_length
                    )
            elif isinstance(event, h2events.StreamEnded):
                self.ended.add(event.stream_id)
            elif isinstance(event, h2events.StreamReset):
                self.resets.add(event.stream_id)
            elif isinstance(event, h2events.ConnectionTerminated):
                self.goaway = event.error_code
        self.flush()
        return True

    def until(self, cond: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "timed out"
            if not self.pump(0.2) and not cond():
                raise AssertionError("connection closed")

    def messages(self, stream_id: int) -> list[Message]:
        return Decoder().feed(bytes(self.data.get(stream_id, b"")))

    def events(self, stream_id: int) -> list[dict[str, Any]]:
        out = []
        for msg in self.messages(stream_id):
            event = event_to_dict(msg, OP)
            assert event is not None
            out.append(event)
        return out

    def finish(self, stream_id: int) -> None:
        self.until(lambda: stream_id in self.ended)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[H2Server]:
    srv = serve_h2(CREDS)
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def client(server: H2Server) -> Iterator[RawClient]:
    c = RawClient(server)
    try:
        yield c
    finally:
        c.close()


# -- the happy path ------------------------------------------------------------------------------


def test_echo_keeps_data_type_and_completion_state(client: RawClient, server: H2Server) -> None:
    sid, signer = client.start(
        "echo",
        ModelInvocationPath="v1/listen",
        ModelQueryString="model=nova-3",
        TargetVariant="Blue",
    )
    parts = [
        {"PayloadPart": {"Bytes": b"one", "DataType": "UTF8", "CompletionState": "PARTIAL"}},
        {"PayloadPart": {"Bytes": b"\x00\x01", "DataType": "BINARY"}},
        b"three",
    ]
    for part in parts:
        client.send_part(sid, signer, part)
    client.close_input(sid, signer)
    client.finish(sid)
    head = client.headers[sid]
    assert head[":status"] == "200"
    assert head["content-type"] == "application/vnd.amazon.eventstream"
    assert head["x-amzn-invoked-production-variant"] == "Blue"
    assert head["x-amzn-requestid"]
    assert client.events(sid) == [
        {"PayloadPart": {"Bytes": b"one", "DataType": "UTF8", "CompletionState": "PARTIAL"}},
        {"PayloadPart": {"Bytes": b"\x00\x01", "DataType": "BINARY"}},
        {"PayloadPart": {"Bytes": b"three"}},
    ]
    (request,) = server.requests
    assert request.endpoint_name == "echo"
    assert request.invocation_path == "v1/listen"
    assert request.query_string == "model=nova-3"
    assert (request.parts_received, request.parts_sent, request.status) == (3, 3, 200)
    assert "Signature" not in repr(request)


def test_responses_arrive_while_the_input_is_still_open(client: RawClient) -> None:
    sid, signer = client.start("echo")
    for i in range(5):
        client.send_part(sid, signer, f"part {i}".encode())
        client.until(lambda i=i: len(client.messages(sid)) == i + 1)
        assert sid not in client.ended
    client.close_input(sid, signer)
    client.finish(sid)
    assert [e["PayloadPart"]["Bytes"] for e in client.events(sid)] == [
        f"part {i}".encode() for i in range(5)
    ]


def test_transcribe_partials_then_final(client: RawClient) -> None:
    sid, signer = client.start("transcribe")
    for _ in range(3):
        client.send_part(
            sid, signer, {"PayloadPart": {"Bytes": b"\0" * 3200, "DataType": "BINARY"}}
        )
    client.until(lambda: len(client.messages(sid)) == 3)  # partials before the input ends
    client.close_input(sid, signer)
    client.finish(sid)
    events = [e["PayloadPart"] for e in client.events(sid)]
    assert [e["CompletionState"] for e in events] == ["PARTIAL"] * 3 + ["COMPLETE"]
    assert all(e["DataType"] == "UTF8" for e in events)
    docs = [json.loads(e["Bytes"]) for e in events]
    assert docs[0] == {"is_final": False, "text": "hello", "bytes": 3200}
    assert docs[-1] == {"is_final": True, "text": "hello from the", "bytes": 9600}


def test_transcribe_close_stream_control_message(client: RawClient) -> None:
    sid, signer = client.start("transcribe")
    client.send_part(sid, signer, b"\0" * 6400)
    client.send_part(
        sid, signer, {"PayloadPart": {"Bytes": b'{"type": "CloseStream"}', "DataType": "UTF8"}}
    )
    client.until(lambda: sid in client.ended)
    docs = [json.loads(e["PayloadPart"]["Bytes"]) for e in client.events(sid)]
    assert docs[-1]["is_final"] is True
    assert docs[-1]["text"] == "hello from"


def test_transcribe_ignores_other_utf8_parts(client: RawClient) -> None:
    sid, signer = client.start("transcribe")
    for control in (b'{"type": "KeepAlive"}', b"[1, 2]", b"not json"):
        client.send_part(sid, signer, {"PayloadPart": {"Bytes": control, "DataType": "UTF8"}})
    client.send_part(sid, signer, b"\0" * 3200)
    client.close_input(sid, signer)
    client.finish(sid)
    docs = [json.loads(e["PayloadPart"]["Bytes"]) for e in client.events(sid)]
    assert docs == [
        {"is_final": False, "text": "hello", "bytes": 3200},
        {"is_final": True, "text": "hello", "bytes": 3200},
    ]


def test_two_streams_on_one_connection(client: RawClient) -> None:
    a, sa = client.start("echo")
    b, sb = client.start("transcribe")
    client.send_part(a, sa, b"to-a")
    client.send_part(b, sb, b"\0" * 10)
    client.close_input(a, sa)
    client.close_input(b, sb)
    client.finish(a)
    client.finish(b)
    assert client.events(a) == [{"PayloadPart": {"Bytes": b"to-a"}}]
    assert json.loads(client.events(b)[-1]["PayloadPart"]["Bytes"])["is_final"] is True


# -- signatures ----------------------------------------------------------------------------------


def _expect_stream_error(client: RawClient, sid: int, cls: type[ClientError], text: str) -> None:
    client.finish(sid)
    messages = client.messages(sid)
    with pytest.raises(cls, match=text):
        for msg in messages:
            event_to_dict(msg, OP)


def test_a_bad_event_signature_ends_the_stream(client: RawClient, server: H2Server) -> None:
    sid, signer = client.start("echo")
    client.send_part(sid, signer, b"good")
    client.until(lambda: len(client.messages(sid)) == 1)
    inner = encode_request_event(b"bad")
    signed = signer.sign(inner, _now())
    raw = bytearray(signed.chunk_signature)
    raw[0] ^= 1
    bad = encode(
        Message(headers=[(":date", signed.date), (":chunk-signature", bytes(raw))], payload=inner)
    )
    client.send_raw(sid, bad)
    _expect_stream_error(client, sid, InvalidSignatureException, "event 2 of the input stream")
    assert event_to_dict(client.messages(sid)[0], OP) == {"PayloadPart": {"Bytes": b"good"}}
    assert server.requests[0].error_code == "InvalidSignatureException"


def test_a_tampered_payload_breaks_the_chain(client: RawClient) -> None:
    sid, signer = client.start("echo")
    inner = encode_request_event(b"original")
    signed = signer.sign(inner, _now())
    other = encode_request_event(b"tampered")
    client.send_raw(sid, encode_signed_event(signed, other))
    _expect_stream_error(client, sid, InvalidSignatureException, "does not match")


def test_a_missing_signature_ends_the_stream(client: RawClient) -> None:
    sid, _signer = client.start("echo")
    inner = encode_request_event(b"x")
    client.send_raw(
        sid, encode(Message(headers=[(":date", _now().replace(microsecond=0))], payload=inner))
    )
    _expect_stream_error(client, sid, InvalidSignatureException, "missing its :chunk-signature")


def test_a_short_chunk_signature_is_refused(client: RawClient) -> None:
    sid, signer = client.start("echo")
    inner = encode_request_event(b"x")
    signed = signer.sign(inner, _now())
    headers = [(":date", signed.date), (":chunk-signature", signed.chunk_signature[:31])]
    client.send_raw(sid, encode(Message(headers=headers, payload=inner)))
    _expect_stream_error(client, sid, InvalidSignatureException, r"\(32 bytes, type 6\)")


def test_extra_outer_headers_are_refused(client: RawClient) -> None:
    sid, signer = client.start("echo")
    inner = encode_request_event(b"x")
    headers = [*signer.sign(inner, _now()).headers, ("x-extra", "1")]
    client.send_raw(sid, encode(Message(headers=headers, payload=inner)))
    _expect_stream_error(client, sid, InvalidSignatureException, "unexpected headers")


def test_a_message_after_the_final_one_is_refused(client: RawClient) -> None:
    sid, signer = client.start("echo")
    client.send_raw(sid, encode_signed_event(signer.finish(_now()), b""))
    signer2 = EventSigner(
        signer.prior_signature, credentials=CREDS, region="us-east-1", service="sagemaker"
    )
    inner = encode_request_event(b"late")
    client.send_raw(sid, encode_signed_event(signer2.sign(inner, _now()), inner))
    _expect_stream_error(client, sid, InvalidSignatureException, "after the signed empty message")


def test_the_streaming_payload_hash_is_required(client: RawClient) -> None:
    sid, _ = client.start(
        "echo", extra=[("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")], replace_sha=True
    )
    client.finish(sid)
    head = client.headers[sid]
    assert head[":status"] == "400"
    err = parse_error(OP, 400, head, bytes(client.data[sid]))
    assert "STREAMING-AWS4-HMAC-SHA256-EVENTS" in err.error_message


def test_an_unsigned_inner_message_ends_the_stream(client: RawClient) -> None:
    sid, _signer = client.start("echo")
    client.send_raw(sid, encode_request_event(b"x"))
    _expect_stream_error(client, sid, InvalidSignatureException, "chunk-signature")


def test_end_stream_without_the_signed_empty_message(client: RawClient) -> None:
    sid, signer = client.start("echo")
    client.send_part(sid, signer, b"x")
    client.send_raw(sid, b"", end=True)
    _expect_stream_error(client, sid, InvalidSignatureException, "without its signed empty")


def test_a_stale_event_date_is_refused(client: RawClient) -> None:
    sid, signer = client.start("echo")
    inner = encode_request_event(b"x")
    old = _now() - dt.timedelta(minutes=20)
    client.send_raw(sid, encode_signed_event(signer.sign(inner, old), inner))
    _expect_stream_error(client, sid, InvalidSignatureException, "from the server time")


def test_a_bad_inner_event_is_an_input_validation_error(client: RawClient) -> None:
    sid, signer = client.start("echo")
    inner = encode(
        Message(headers=[(":message-type", "event"), (":event-type", "Other")], payload=b"x")
    )
    client.send_raw(sid, encode_signed_event(signer.sign(inner, _now()), inner))
    _expect_stream_error(client, sid, InputValidationError, "expected a PayloadPart event")


def test_inner_members_stay_checked_after_valid_ones(client: RawClient) -> None:
    # the emulator checks each combination of members once: a later bad one is still refused
    sid, signer = client.start("echo")
    for _ in range(2):
        client.send_part(sid, signer, {"PayloadPart": {"Bytes": b"x", "DataType": "BINARY"}})
    client.until(lambda: len(client.messages(sid)) == 2)
    inner = encode(
        Message(
            headers=[
                (":message-type", "event"),
                (":event-type", "PayloadPart"),
                ("DataType", "BINARY"),
                ("CompletionState", "SOMETIMES"),
            ],
            payload=b"x",
        )
    )
    client.send_raw(sid, encode_signed_event(signer.sign(inner, _now()), inner))
    _expect_stream_error(client, sid, InputValidationError, "CompletionState")


def test_expiring_credentials_are_checked_at_each_event_date() -> None:
    # the chain of a key pair with no expiry is signed from one day key; one that expires is
    # checked against every event's :date, as the request was
    expiring = Credentials(
        CREDS.access_key_id, CREDS.secret_access_key, expiration=_now() + dt.timedelta(seconds=60)
    )
    srv = serve_h2(expiring)
    client = RawClient(srv)
    try:
        sid, signer = client.start("echo", creds=expiring)
        client.send_part(sid, signer, b"in time")
        client.until(lambda: len(client.messages(sid)) == 1)
        inner = encode_request_event(b"late")
        late = _now() + dt.timedelta(seconds=120)  # within the clock skew, past the expiry
        client.send_raw(sid, encode_signed_event(signer.sign(inner, late), inner))
        _expect_stream_error(client, sid, InvalidSignatureException, "expired")
        assert event_to_dict(client.messages(sid)[0], OP) == {"PayloadPart": {"Bytes": b"in time"}}
    finally:
        client.close()
        srv.close()


def test_a_bad_request_signature_is_a_403(client: RawClient) -> None:
    sid, _ = client.start("echo", creds=Credentials("AKIDH2TEST", "wrong-secret"))
    client.finish(sid)
    head = client.headers[sid]
    assert head[":status"] == "403"
    err = parse_error(OP, 403, head, bytes(client.data[sid]))
    assert isinstance(err, InvalidSignatureException)


def test_an_unknown_access_key_is_refused(client: RawClient) -> None:
    sid, _ = client.start("echo", creds=Credentials("AKIDOTHER", "x"))
    client.finish(sid)
    assert client.headers[sid][":status"] == "403"


# -- request validation and HTTP faults -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"endpoint": "nope"}, "Endpoint nope of account 123456789012 not found."),
        ({"extra": [("x-amzn-sagemaker-model-query-string", "a=b c")]}, "ModelQueryString"),
    ],
)
def test_request_validation(client: RawClient, kwargs: dict[str, Any], text: str) -> None:
    sid, _ = client.start(kwargs.get("endpoint", "echo"), extra=kwargs.get("extra"))
    client.finish(sid)
    head = client.headers[sid]
    assert head[":status"] == "400"
    err = parse_error(OP, 400, head, bytes(client.data[sid]))
    assert isinstance(err, InputValidationError)
    assert text in err.error_message


@pytest.mark.parametrize(
    ("spec", "status", "cls"),
    [
        ("service-unavailable", 503, ServiceUnavailableError),
        ("internal-failure", 500, InternalServerError),
        ("throttle", 400, ThrottlingException),
        ("model-error(status=502,code=E7)", 424, ModelError),
        ("model-error", 424, ModelError),  # the container's status: 500 unless given
        ("model-not-ready", 400, InputValidationError),
        ("nonsense", 400, InputValidationError),
    ],
)
def test_http_faults_use_the_h2_names(
    client: RawClient, spec: str, status: int, cls: type[ClientError]
) -> None:
    sid, _ = client.start("echo", extra=[("x-emulator-fault", spec)])
    client.finish(sid)
    head = client.headers[sid]
    assert head[":status"] == str(status)
    err = parse_error(OP, status, head, bytes(client.data[sid]))
    assert type(err) is cls
    if spec == "throttle":
        assert err.error_code == "ThrottlingException"
    if isinstance(err, ModelError):
        assert err.original_status_code == (502 if "502" in spec else 500)
        assert err.response["ErrorCode"] == ("E7" if "E7" in spec else "SERVER_ERROR_FROM_MODEL")
        assert "Received server error (" in str(err)  # as the HTTP/1.1 side says it
        assert err.response["LogStreamArn"].endswith(":log-group:/aws/sagemaker/Endpoints/echo")


@pytest.mark.parametrize(
    ("spec", "endpoint", "status", "members"),
    [
        ("", "nope", 400, {"Message", "ErrorCode"}),  # InputValidationError
        ("service-unavailable", "echo", 503, {"Message", "ErrorCode"}),
        ("internal-failure", "echo", 500, {"Message", "ErrorCode"}),
        (
            "model-error",
            "echo",
            424,
            {"Message", "OriginalStatusCode", "OriginalMessage", "LogStreamArn", "ErrorCode"},
        ),
        ("throttle", "echo", 400, {"message"}),  # not the service's: the framework's shape
    ],
)
def test_http_error_bodies_have_the_models_members(
    client: RawClient, spec: str, endpoint: str, status: int, members: set[str]
) -> None:
    # the HTTP/2 service's model (tests/data/spec/sagemaker-runtime-http2/shapes.json) gives
    # each of its errors Message and ErrorCode; before, the emulator sent "message" and no
    # ErrorCode (but for ModelError's)
    extra = [("x-emulator-fault", spec)] if spec else None
    sid, _ = client.start(endpoint, extra=extra)
    client.finish(sid)
    head = client.headers[sid]
    assert head[":status"] == str(status)
    doc = json.loads(bytes(client.data[sid]))
    assert set(doc) == members
    code = head["x-amzn-errortype"].partition(":")[0]
    if "ErrorCode" in doc and code != "ModelError":
        assert doc["ErrorCode"] == code
    if code == "ModelError":
        assert doc["ErrorCode"] == "SERVER_ERROR_FROM_MODEL"


def test_a_bad_request_signature_keeps_the_frameworks_message_key(client: RawClient) -> None:
    sid, _ = client.start("echo", creds=Credentials("AKIDH2TEST", "wrong-secret"))
    client.finish(sid)
    assert client.headers[sid][":status"] == "403"
    doc = json.loads(bytes(client.data[sid]))
    assert set(doc) == {"message"}  # as the HTTP/1.1 side answers it


def test_an_in_stream_input_validation_error_has_its_error_code(client: RawClient) -> None:
    sid, signer = client.start("echo")
    inner = encode(Message([(":message-type", "event"), (":event-type", "Nope")], b"x"))
    client.send_raw(sid, encode_signed_event(signer.sign(inner, _now()), inner))
    _expect_stream_error(client, sid, InputValidationError, "expected a PayloadPart event")
    doc = json.loads(client.messages(sid)[-1].payload)
    assert doc == {"Message": doc["Message"], "ErrorCode": "InputValidationError"}


# -- stream faults -------------------------------------------------------------------------------


def test_model_stream_error_after_n_parts(client: RawClient) -> None:
    sid, signer = client.start(
        "echo", extra=[("x-emulator-fault", "model-stream-error(after=1,code=Boom)")]
    )
    client.send_part(sid, signer, b"a")
    client.send_part(sid, signer, b"b")
    client.finish(sid)
    messages = client.messages(sid)
    assert event_to_dict(messages[0], OP) == {"PayloadPart": {"Bytes": b"a"}}
    with pytest.raises(ModelStreamError) as info:
        event_to_dict(messages[1], OP)
    assert info.value.stream_error_code == "Boom"
    assert len(messages) == 2


def test_internal_stream_failure(client: RawClient) -> None:
    sid, signer = client.start("echo", extra=[("x-emulator-fault", "internal-stream-failure")])
    client.send_part(sid, signer, b"a")
    _expect_stream_error(client, sid, InternalStreamFailure, "Internal stream failure")


def test_cut_drops_the_connection_mid_frame(client: RawClient) -> None:
    sid, signer = client.start("echo", extra=[("x-emulator-fault", "cut(after=1)")])
    client.send_part(sid, signer, b"a")
    client.send_part(sid, signer, b"b")
    deadline = time.monotonic() + 10
    while client.pump(0.2):
        assert time.monotonic() < deadline
    decoder = Decoder()
    messages = decoder.feed(bytes(client.data[sid]))
    assert len(messages) == 1
    assert decoder.pending > 0  # half a frame, then EOF
    assert sid not in client.ended


def test_corrupt_crc(client: RawClient) -> None:
    sid, signer = client.start("echo", extra=[("x-emulator-fault", "corrupt-crc(after=1)")])
    for part in (b"a", b"b"):
        client.send_part(sid, signer, part)
    client.close_input(sid, signer)
    client.finish(sid)
    from eventstream import ChecksumMismatch, decode

    with pytest.raises(ChecksumMismatch, match="message checksum mismatch in the message at"):
        decode(bytes(client.data[sid]))


def test_delay_events(client: RawClient) -> None:
    sid, signer = client.start("echo", extra=[("x-emulator-fault", "delay-events(seconds=0.3)")])
    started = time.monotonic()
    client.send_part(sid, signer, b"a")
    client.until(lambda: len(client.messages(sid)) == 1)
    assert time.monotonic() - started >= 0.3
    client.close_input(sid, signer)
    client.finish(sid)


def test_client_reset_cancels_the_stream_and_the_connection_lives_on(
    client: RawClient, server: H2Server
) -> None:
    sid, signer = client.start("echo")
    client.send_part(sid, signer, b"a")
    client.until(lambda: len(client.messages(sid)) == 1)
    client.conn.reset_stream(sid)
    client.flush()
    deadline = time.monotonic() + 5
    while not server.requests[0].cancelled:
        client.pump(0.05)
        assert time.monotonic() < deadline
    sid2, signer2 = client.start("echo")
    client.send_part(sid2, signer2, b"again")
    client.close_input(sid2, signer2)
    client.finish(sid2)
    assert client.events(sid2) == [{"PayloadPart": {"Bytes": b"again"}}]


# -- flow control --------------------------------------------------------------------------------


def test_a_model_that_stops_reading_holds_the_client_back() -> None:
    release = threading.Event()
    consumed: list[int] = []

    def slow(request: BidiRequest, parts: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        release.wait(20)
        for part in parts:
            consumed.append(len(part["Bytes"]))
        yield {"Bytes": str(sum(consumed)).encode()}

    srv = serve_h2(CREDS, models={"slow": slow})
    c = RawClient(srv)
    try:
        sid, signer = c.start("slow")
        sent = 0
        chunk = b"\0" * 16000
        # Send until the server's window is used up: it acknowledges nothing unread.
        deadline = time.monotonic() + 10
        inner = encode_request_event(chunk)
        frame = encode_signed_event(signer.sign(inner, _now()), inner)
        while time.monotonic() < deadline:
            if c.conn.local_flow_control_window(sid) < len(frame):
                c.pump(0.3)
                if c.conn.local_flow_control_window(sid) < len(frame):
                    break
                continue
            c.send_raw(sid, frame)
            sent += len(chunk)
            frame = encode_signed_event(signer.sign(inner, _now()), inner)
        room = c.conn.local_flow_control_window(sid)
        c.send_raw(sid, frame[:room])  # fill the window to the brim
        rest = frame[room:]
        c.pump(0.3)
        assert c.conn.local_flow_control_window(sid) == 0
        assert time.monotonic() < deadline
        assert 900_000 < sent <= 1_100_000  # the 1 MiB window, no more
        assert not consumed
        release.set()
        # Now the window reopens and the rest goes through.
        c.until(lambda: c.conn.local_flow_control_window(sid) >= len(rest))
        c.send_raw(sid, rest)
        sent += len(chunk)
        for _ in range(20):
            inner = encode_request_event(chunk)
            frame = encode_signed_event(signer.sign(inner, _now()), inner)
            c.until(lambda frame=frame: c.conn.local_flow_control_window(sid) >= len(frame))
            c.send_raw(sid, frame)
            sent += len(chunk)
        c.close_input(sid, signer)
        c.finish(sid)
        assert c.events(sid) == [{"PayloadPart": {"Bytes": str(sent).encode()}}]
    finally:
        c.close()
        srv.close()


def test_output_waits_for_the_clients_window(server: H2Server) -> None:
    c = RawClient(server, window=1000, auto_ack=False)
    try:
        sid, signer = c.start("echo")
        for _ in range(4):
            c.send_part(sid, signer, b"y" * 900)
        c.close_input(sid, signer)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            c.pump(0.1)
        assert len(c.data.get(sid, b"")) <= 1000  # never more than the window
        assert sid not in c.ended
        deadline = time.monotonic() + 10
        while sid not in c.ended:
            assert time.monotonic() < deadline
            assert sid not in c.resets
            size = c.unacked.pop(sid, 0)
            if size:
                c.conn.acknowledge_received_data(size, sid)
                c.flush()
            assert c.pump(1.0)
        assert [e["PayloadPart"]["Bytes"] for e in c.events(sid)] == [b"y" * 900] * 4
    finally:
        c.close()


def test_partial_sends_keep_the_output_bound_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output queued beyond MAX_PENDING_OUTPUT makes the model wait; frames sent in pieces
    (a small client window) must be counted exactly, or the model would wait forever."""
    import smruntime.emulator._h2 as h2mod

    monkeypatch.setattr(h2mod, "MAX_PENDING_OUTPUT", 3000)
    srv = serve_h2(CREDS)
    c = RawClient(srv, window=1000)
    try:
        sid, signer = c.start("echo")
        for i in range(40):
            inner = encode_request_event(bytes([i]) * 900)
            c.send_flow(sid, encode_signed_event(signer.sign(inner, _now()), inner))
            c.pump(0.01)
        c.send_flow(sid, encode_signed_event(signer.finish(_now()), b""))
        c.send_raw(sid, b"", end=True)
        c.finish(sid)
        assert [e["PayloadPart"]["Bytes"] for e in c.events(sid)] == [
            bytes([i]) * 900 for i in range(40)
        ]
    finally:
        c.close()
        srv.close()


# -- DATA frames taken out before h2 (the emulator keeps their flow control) ---------------------


def _frame(
    kind: int, flags: int, stream_id: int, payload: bytes, length: Optional[int] = None
) -> bytes:
    size = len(payload) if length is None else length
    return size.to_bytes(3, "big") + bytes((kind, flags)) + stream_id.to_bytes(4, "big") + payload


def test_input_dribbled_a_few_bytes_a_read_is_echoed_whole(client: RawClient) -> None:
    sid, signer = client.start("echo")
    parts = [b"a" * 150, b"b" * 3, b""]
    for part in parts:
        inner = encode_request_event(part)
        client.conn.send_data(sid, encode_signed_event(signer.sign(inner, _now()), inner))
    client.conn.send_data(sid, encode_signed_event(signer.finish(_now()), b""), end_stream=True)
    out = client.conn.data_to_send()
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for at in range(0, len(out), 7):  # frame headers and bodies split across reads
        client.sock.sendall(out[at : at + 7])
        time.sleep(0.001)
    client.finish(sid)
    assert [e["PayloadPart"]["Bytes"] for e in client.events(sid)] == parts
    assert client.goaway is None


def test_padded_data_frames_are_read_and_their_padding_granted_back(client: RawClient) -> None:
    sid, signer = client.start("echo")
    client.until(lambda: client.conn.max_outbound_frame_size > 60_000 + 300)  # its SETTINGS
    sent = []
    deadline = time.monotonic() + 20
    for i in range(24):  # 24 x 60 KB: past the 1 MiB windows unless padding comes back too
        part = bytes([i]) * 60_000
        inner = encode_request_event(part)
        frame = encode_signed_event(signer.sign(inner, _now()), inner)
        while client.conn.local_flow_control_window(sid) < len(frame) + 256:
            assert time.monotonic() < deadline, "the server never granted the padding back"
            assert client.pump(0.05)
        client.conn.send_data(sid, frame, pad_length=255)
        client.flush()
        sent.append(part)
    client.close_input(sid, signer)
    client.finish(sid)
    assert [e["PayloadPart"]["Bytes"] for e in client.events(sid)] == sent


def test_a_data_frame_past_the_window_ends_the_connection() -> None:
    release = threading.Event()

    def unread(request: BidiRequest, parts: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        release.wait(20)  # reads nothing: the client's window is not reopened
        yield from ()

    srv = serve_h2(CREDS, models={"unread": unread})
    c = RawClient(srv)
    try:
        sid, signer = c.start("unread")
        inner = encode_request_event(b"\0" * 16000)
        # raw DATA frames of signed parts past the 1 MiB stream window (h2 would not send them)
        frames = [
            _frame(0, 0, sid, encode_signed_event(signer.sign(inner, _now()), inner))
            for _ in range(66)
        ]
        assert sum(len(f) - 9 for f in frames[:-1]) > 1 << 20
        c.sock.sendall(b"".join(frames))
        c.until(lambda: c.goaway is not None)
        assert c.goaway == 0x3  # FLOW_CONTROL_ERROR
        while c.pump(1.0):  # then the server ends the connection
            pass
    finally:
        release.set()
        c.close()
        srv.close()


def test_a_frame_header_over_the_frame_size_ends_the_connection_at_once(
    client: RawClient,
) -> None:
    sid, _signer = client.start("echo")
    client.sock.sendall(_frame(0, 0, sid, b"", length=(1 << 18) + 1))  # its body never sent
    client.until(lambda: client.goaway is not None, timeout=5)
    assert client.goaway == 0x6  # FRAME_SIZE_ERROR
    while client.pump(1.0):
        pass


def _signed_frames(sid: int, signer: EventSigner, size: int, count: int) -> list[bytes]:
    inner = encode_request_event(b"\0" * size)
    return [
        _frame(0, 0, sid, encode_signed_event(signer.sign(inner, _now()), inner))
        for _ in range(count)
    ]


def _unread_server() -> tuple[H2Server, threading.Event]:
    release = threading.Event()

    def unread(request: BidiRequest, parts: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        release.wait(20)  # reads nothing: the client's windows are not reopened
        yield from ()

    return serve_h2(CREDS, models={"unread": unread}), release


def test_a_data_frame_as_large_as_the_frame_size_is_taken(client: RawClient) -> None:
    sid, signer = client.start("echo")
    probe = encode_request_event(b"p")
    blank = EventSigner("0" * 64, credentials=CREDS, region="us-east-1", service="sagemaker")
    overhead = len(encode_signed_event(blank.sign(probe, _now()), probe)) - 1
    part = b"p" * ((1 << 18) - overhead)
    inner = encode_request_event(part)
    outer = encode_signed_event(signer.sign(inner, _now()), inner)
    assert len(outer) == 1 << 18  # the SETTINGS_MAX_FRAME_SIZE the emulator announced
    client.sock.sendall(_frame(0, 0, sid, outer))
    client.close_input(sid, signer)
    client.finish(sid)
    assert client.events(sid) == [{"PayloadPart": {"Bytes": part}}]
    assert client.goaway is None


def test_a_stream_id_past_24_bits_is_read(client: RawClient) -> None:
    sid, signer = client.start("echo", stream_id=(1 << 24) + 1)
    client.send_part(sid, signer, b"high")
    client.close_input(sid, signer)
    client.finish(sid)
    assert client.events(sid) == [{"PayloadPart": {"Bytes": b"high"}}]


def test_data_after_the_input_ended_is_h2s_stream_error() -> None:
    srv, release = _unread_server()
    c = RawClient(srv)
    try:
        sid, signer = c.start("unread")
        c.close_input(sid, signer)  # (the chain intact: the stream stays open for output)
        c.sock.sendall(_frame(0, 0, sid, b"late"))  # DATA on a stream half-closed by END_STREAM
        c.until(lambda: sid in c.resets)  # RST_STREAM STREAM_CLOSED, by h2
        assert c.goaway is None
    finally:
        release.set()
        c.close()
        srv.close()


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"\x05abcd", 0x1), (b"", 0x6)],  # PROTOCOL_ERROR, FRAME_SIZE_ERROR (h2's choices)
    ids=["pad-too-long", "no-pad-length"],
)
def test_a_badly_padded_data_frame_is_refused_by_h2(
    client: RawClient, body: bytes, code: int
) -> None:
    sid, _signer = client.start("echo")
    client.sock.sendall(_frame(0, 0x8, sid, body))  # PADDED
    client.until(lambda: client.goaway is not None)
    assert client.goaway == code


def test_the_connection_window_binds_streams_together() -> None:
    """Two streams each within its 1 MiB window, together past the connection's."""
    srv, release = _unread_server()
    c = RawClient(srv)
    try:
        first, signer1 = c.start("unread")
        second, signer2 = c.start("unread")
        frames = _signed_frames(first, signer1, 16000, 38)  # ~615 KB each
        c.sock.sendall(b"".join(frames))
        c.pump(0.3)
        assert c.goaway is None
        c.sock.sendall(b"".join(_signed_frames(second, signer2, 16000, 38)))
        c.until(lambda: c.goaway is not None)
        assert c.goaway == 0x3  # FLOW_CONTROL_ERROR
    finally:
        release.set()
        c.close()
        srv.close()


def _frames_of(raw: bytes) -> list[tuple[int, int]]:
    """(type, stream id) of each whole frame in what a client received."""
    out, pos = [], 0
    while pos + 9 <= len(raw):
        length = int.from_bytes(raw[pos : pos + 3], "big")
        out.append((raw[pos + 3], int.from_bytes(raw[pos + 5 : pos + 9], "big") & 0x7FFFFFFF))
        pos += 9 + length
    return out


def test_data_after_the_clients_own_reset_gets_no_stream_window_update() -> None:
    """The stream is closed once the client reset it: DATA the client still sends on it goes
    to h2, and nothing is sent on that stream any more (only the connection's window)."""
    srv, release = _unread_server()
    c = RawClient(srv)
    try:
        sid, signer = c.start("unread")
        frames = _signed_frames(sid, signer, 1000, 3)
        c.sock.sendall(frames[0])
        c.pump(0.3)
        seen = len(c.raw)
        c.conn.reset_stream(sid)
        # the reset and DATA after it in one write (a client that breaks the rule): one read
        c.sock.sendall(c.conn.data_to_send() + frames[1] + frames[2])
        c.until(lambda: srv.requests and srv.requests[0].cancelled)
        c.pump(0.3)
        after = _frames_of(bytes(c.raw[seen:]))
        assert (0x8, sid) not in after  # no WINDOW_UPDATE on the closed stream
        assert (0x8, 0) in after  # the connection's window is granted back
        assert c.goaway is None
    finally:
        release.set()
        c.close()
        srv.close()


def test_streams_the_client_reset_are_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reset stream leaves the connection's table (else a long connection with many resets
    keeps every one, and the I/O loop walks them all each turn)."""
    import smruntime.emulator._h2 as h2mod

    made: list[Any] = []
    real_init = h2mod.H2ServerConnection.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(h2mod.H2ServerConnection, "__init__", init)
    srv = serve_h2(CREDS)
    c = RawClient(srv)
    try:
        for _ in range(3):
            sid, signer = c.start("echo")
            c.send_part(sid, signer, b"a")
            c.until(lambda sid=sid: len(c.messages(sid)) == 1)
            c.conn.reset_stream(sid)
            c.flush()
        (conn,) = made
        deadline = time.monotonic() + 5
        while conn.streams:
            assert time.monotonic() < deadline, f"kept: {sorted(conn.streams)}"
            c.pump(0.05)
        assert [r.cancelled for r in srv.requests] == [True] * 3
    finally:
        c.close()
        srv.close()


def test_a_reset_after_the_model_finished_does_not_mark_it_cancelled(server: H2Server) -> None:
    c = RawClient(server, window=1000, auto_ack=False)  # the answer waits for our window
    try:
        sid, signer = c.start("echo")
        c.send_part(sid, signer, b"y" * 900)
        c.send_part(sid, signer, b"z" * 900)
        c.close_input(sid, signer)  # the model is done; its output is still queued
        c.pump(0.3)
        c.conn.reset_stream(sid)
        c.flush()
        c.pump(0.3)
        assert server.requests[0].cancelled is False
    finally:
        c.close()


def test_a_goaway_from_the_client_ends_the_connection(client: RawClient) -> None:
    sid, signer = client.start("echo")
    client.send_part(sid, signer, b"a")
    client.until(lambda: len(client.messages(sid)) == 1)
    client.conn.close_connection()
    client.flush()
    deadline = time.monotonic() + 5
    while client.pump(0.1):  # the server closes its side once its output is out
        assert time.monotonic() < deadline, "the server kept the connection open"


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def tls_server() -> Iterator[H2Server]:
    ctx = tls_server_context(str(TLS / "cert.pem"), str(TLS / "key.pem"))
    srv = serve_h2(CREDS, tls=ctx)
    try:
        yield srv
    finally:
        srv.close()


def test_tls_with_alpn_h2(tls_server: H2Server) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    c = RawClient(tls_server, tls=True)
    try:
        sid, signer = c.start("echo")
        c.send_part(sid, signer, b"over tls")
        c.close_input(sid, signer)
        c.finish(sid)
        assert c.events(sid) == [{"PayloadPart": {"Bytes": b"over tls"}}]
    finally:
        c.close()


def test_tls_client_without_h2_is_dropped(tls_server: H2Server) -> None:
    ctx = ssl.create_default_context(cafile=str(TLS / "cert.pem"))
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection((tls_server.host, tls_server.port), timeout=5)
    try:
        sock = wrap_socket(ctx, raw, server_hostname="localhost")
    except (ssl.SSLError, ConnectionError):
        return  # refused in the handshake (no shared ALPN protocol)
    with sock:
        assert sock.selected_alpn_protocol() is None
        try:
            assert sock.recv(10) == b""  # the h2-only listener hangs up
        except ConnectionError:
            pass


def test_close_sends_goaway_to_live_connections() -> None:
    srv = serve_h2(CREDS)
    c = RawClient(srv)
    try:
        sid, signer = c.start("echo")
        c.send_part(sid, signer, b"a")
        c.until(lambda: len(c.messages(sid)) == 1)
        closer = threading.Thread(target=srv.close)
        closer.start()
        deadline = time.monotonic() + 10
        while c.pump(0.2):
            assert time.monotonic() < deadline
        closer.join(10)
        assert not closer.is_alive()
        assert srv.requests[0].cancelled
    finally:
        c.close()


def test_serve_h2c_with_the_example_credentials() -> None:
    from smruntime.emulator._h2 import serve_h2c

    example = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    with serve_h2c() as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        c = RawClient(srv)
        try:
            sid, signer = c.start("echo", creds=example)
            c.send_part(sid, signer, b"hi")
            c.close_input(sid, signer)
            c.finish(sid)
            assert c.events(sid) == [{"PayloadPart": {"Bytes": b"hi"}}]
        finally:
            c.close()


def test_a_handed_over_connection_with_its_sniffed_preface() -> None:
    """The seam of a server that sniffs the HTTP/2 preface and hands the socket over."""
    from smruntime.emulator._h2 import PREFACE, h2_protocol_handler

    stop = threading.Event()
    requests: list[BidiRequest] = []
    handler = h2_protocol_handler(CREDS, stop=stop, requests=requests)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    done = threading.Event()

    def front() -> None:
        conn, _ = listener.accept()
        preread = b""
        while len(preread) < len(PREFACE):  # what a sniffer reads before deciding
            preread += conn.recv(len(PREFACE) - len(preread))
        assert preread == PREFACE
        handler(conn, preread)
        done.set()

    thread = threading.Thread(target=front, daemon=True)
    thread.start()

    class Target:
        host, url = "127.0.0.1", f"http://127.0.0.1:{port}"

    Target.port = port  # type: ignore[attr-defined]
    c = RawClient(Target)  # type: ignore[arg-type]
    try:
        sid, signer = c.start("echo")
        c.send_part(sid, signer, b"handed over")
        c.close_input(sid, signer)
        c.finish(sid)
        assert c.events(sid) == [{"PayloadPart": {"Bytes": b"handed over"}}]
        assert requests[0].parts_sent == 1
    finally:
        stop.set()
        c.close()
        thread.join(10)
        listener.close()
    assert done.is_set()


def test_a_bad_preface_ends_the_handed_over_connection() -> None:
    from smruntime.emulator._h2 import h2_protocol_handler

    handler = h2_protocol_handler(CREDS)
    ours, theirs = socket.socketpair()
    try:
        thread = threading.Thread(target=handler, args=(ours, b"GET / HTTP/1.1\r\n\r\n"))
        thread.start()
        thread.join(10)
        assert not thread.is_alive()
        theirs.settimeout(5)
        data = b""
        while True:
            chunk = theirs.recv(65536)
            if not chunk:
                break
            data += chunk
        assert data  # h2's SETTINGS, then the GOAWAY, then the end
    finally:
        theirs.close()


# -- inside the Emulator: h2c on the HTTP/1.1 port ------------------------------------------------


def test_the_emulator_serves_h2c_and_http11_on_one_port() -> None:
    from smruntime import Client
    from smruntime.emulator import Emulator

    with Emulator() as emu:
        c = RawClient(emu)  # type: ignore[arg-type]
        try:
            sid, signer = c.start("transcribe", creds=emu.credentials)
            c.send_part(sid, signer, b"\0" * 3200)
            c.close_input(sid, signer)
            c.finish(sid)
            docs = [json.loads(e["PayloadPart"]["Bytes"]) for e in c.events(sid)]
            assert docs[-1] == {"is_final": True, "text": "hello", "bytes": 3200}
            assert emu.h2_requests[0].endpoint_name == "transcribe"
        finally:
            c.close()
        creds = emu.credentials
        with Client(
            "sagemaker-runtime",
            region_name=emu.region,
            endpoint_url=emu.url,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
        ) as client:
            answer = client.invoke_endpoint(EndpointName="echo", Body=b"still http/1.1")
            assert answer["Body"].read() == b"still http/1.1"


def test_the_emulator_checks_h2_signatures_with_its_keys() -> None:
    from smruntime.emulator import Emulator

    with Emulator() as emu:
        c = RawClient(emu)  # type: ignore[arg-type]
        try:
            sid, _ = c.start("echo", creds=Credentials(emu.credentials.access_key_id, "wrong"))
            c.finish(sid)
            assert c.headers[sid][":status"] == "403"
        finally:
            c.close()
    with Emulator(verify_signatures=False) as emu:
        c = RawClient(emu)  # type: ignore[arg-type]
        try:
            sid, signer = c.start("echo", creds=Credentials("ANY", "thing"))
            c.send_part(sid, signer, b"unchecked")
            c.close_input(sid, signer)
            c.finish(sid)
            assert c.events(sid) == [{"PayloadPart": {"Bytes": b"unchecked"}}]
        finally:
            c.close()


def test_emulator_wide_faults_apply_to_h2() -> None:
    from smruntime.emulator import Emulator
    from smruntime.emulator._faults import Fault

    with Emulator(faults=[Fault.internal_stream_failure()]) as emu:
        c = RawClient(emu)  # type: ignore[arg-type]
        try:
            sid, signer = c.start("echo", creds=emu.credentials)
            c.send_part(sid, signer, b"a")
            _expect_stream_error(c, sid, InternalStreamFailure, "Internal stream failure")
        finally:
            c.close()


def test_stopping_the_emulator_ends_live_h2_connections() -> None:
    from smruntime.emulator import Emulator

    emu = Emulator().start()
    c = RawClient(emu)  # type: ignore[arg-type]
    try:
        sid, signer = c.start("echo", creds=emu.credentials)
        c.send_part(sid, signer, b"a")
        c.until(lambda: len(c.messages(sid)) == 1)
        started = time.monotonic()
        emu.stop()
        assert time.monotonic() - started < 5
        deadline = time.monotonic() + 5
        try:
            while c.pump(0.2):
                assert time.monotonic() < deadline
        except ConnectionError:
            pass
        assert emu.h2_requests[0].cancelled
    finally:
        c.close()


# -- models answering on the I/O thread (echo without faults) --------------------------------------


def test_an_echo_to_a_client_that_stops_reading_stops_its_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The echo runs on the I/O thread: its input is acknowledged only while the output queued
    for a client that does not read stays within MAX_PENDING_OUTPUT, so that client's own
    input stops at the server's window, with the server's memory bounded, then resumes."""
    import smruntime.emulator._h2 as h2mod

    monkeypatch.setattr(h2mod, "MAX_PENDING_OUTPUT", 3000)
    monkeypatch.setattr(h2mod, "_RECEIVE_WINDOW", 20000)
    srv = serve_h2(CREDS)
    c = RawClient(srv, window=1000, auto_ack=False)
    try:
        sid, signer = c.start("echo")
        c.until(lambda: sid in c.headers)  # the server's SETTINGS (its 20000 window) came first
        parts = [bytes([i]) * 900 for i in range(80)]
        frames = []
        for part in parts:
            inner = encode_request_event(part)
            frames.append(encode_signed_event(signer.sign(inner, _now()), inner))
        sent = 0
        deadline = time.monotonic() + 10
        while sent < len(frames) and time.monotonic() < deadline:
            if c.conn.local_flow_control_window(sid) < len(frames[sent]):
                c.pump(0.3)  # what comes back is not acknowledged
                if c.conn.local_flow_control_window(sid) < len(frames[sent]):
                    break
                continue
            c.send_raw(sid, frames[sent])
            sent += 1
        assert time.monotonic() < deadline
        # stopped by the server's window: its 20000 bytes, plus what the server let through
        # while its output stayed within 3000 bytes and the client's 1000-byte window
        assert 15 < sent < 30, sent
        assert sum(len(f) for f in frames[:sent]) < 20000 + 3000 + 1000 + 2 * len(frames[0])
        while sid not in c.ended:
            assert time.monotonic() < deadline + 10
            size = c.unacked.pop(sid, 0)
            if size:
                c.conn.acknowledge_received_data(size, sid)
                c.flush()
            while sent < len(frames) and c.conn.local_flow_control_window(sid) >= len(frames[sent]):
                c.send_raw(sid, frames[sent])
                sent += 1
                if sent == len(frames):
                    c.close_input(sid, signer)
            assert c.pump(0.2)
        assert [e["PayloadPart"]["Bytes"] for e in c.events(sid)] == parts
    finally:
        c.close()
        srv.close()


def test_a_failing_part_by_part_model_ends_with_a_model_stream_error() -> None:
    class Broken:
        def __call__(self, request: BidiRequest, parts: Iterator[Any]) -> Iterator[Any]:
            for part in parts:
                yield from self.answer_part(request, part)

        def answer_part(self, request: BidiRequest, part: dict[str, Any]) -> list[Any]:
            if part["Bytes"] == b"bad":
                raise ValueError("cannot echo that")
            return [part]

    srv = serve_h2(CREDS, models={"broken": Broken()})
    c = RawClient(srv)
    try:
        sid, signer = c.start("broken")
        c.send_part(sid, signer, b"good")
        c.send_part(sid, signer, b"bad")
        c.send_part(sid, signer, b"ignored")
        c.finish(sid)
        messages = c.messages(sid)
        assert event_to_dict(messages[0], OP) == {"PayloadPart": {"Bytes": b"good"}}
        with pytest.raises(ModelStreamError, match="model failed: cannot echo that") as info:
            event_to_dict(messages[1], OP)
        assert info.value.stream_error_code == "ModelError"
        assert len(messages) == 2
        assert srv.requests[-1].error_code == "ModelStreamError"
        # the connection lives on: another stream is served
        sid2, signer2 = c.start("broken")
        c.send_part(sid2, signer2, b"again")
        c.close_input(sid2, signer2)
        c.finish(sid2)
        assert c.events(sid2) == [{"PayloadPart": {"Bytes": b"again"}}]
    finally:
        c.close()
        srv.close()
