"""Event-stream signing (STREAMING-AWS4-HMAC-SHA256-EVENTS): the four public vectors, the chain
checked end to end by an independent verifier written here, and the secrets kept out of reprs."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import pickle
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sigv4
from eventstream import Decoder, Message, encode
from eventstream.exceptions import EventStreamError
from sigv4 import (
    STREAMING_EVENTS_PAYLOAD,
    Credentials,
    EventSigner,
    SignedEvent,
    SigningError,
    encode_date_header,
    sign,
    sign_event,
)

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


# -- the vectors (../shared/vectors/event-signing/README.md) -------------------------------------


def test_v1_aws_c_auth_chain() -> None:
    creds = Credentials("access", "secret")
    t0 = dt.datetime(1981, 1, 16, 6, 30, tzinfo=UTC)
    request = sign(
        "POST",
        "https://demo.us-east-1.amazonaws.com/streaming",
        [
            ("host", "demo.us-east-1.amazonaws.com"),
            ("Content-Encoding", "application/vnd.amazon.eventstream"),
            ("X-Amz-Content-SHA256", STREAMING_EVENTS_PAYLOAD),
        ],
        credentials=creds,
        region="us-east-1",
        service="demo",
        now=t0,
    )
    assert request.payload_hash == STREAMING_EVENTS_PAYLOAD
    assert request.authorization == (
        "AWS4-HMAC-SHA256 Credential=access/19810116/us-east-1/demo/aws4_request, "
        "SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date, "
        "Signature=e1d8e8c8815e60969f2a34765c9a15945ffc0badbaa4b7e3b163ea19131e949b"
    )
    signer = EventSigner(request.signature, credentials=creds, region="us-east-1", service="demo")
    got = [
        signer.sign(p, t0 + dt.timedelta(seconds=i + 1)).signature
        for i, p in enumerate([b"A", b"B", b"C"])
    ]
    got.append(signer.finish(t0 + dt.timedelta(seconds=4)).signature)
    assert got == [
        "7aabf85b765e6a4d0d500b6e968657b14726fa3e1eb7e839302728ffd77629a5",
        "f72aa9642f571d24a6e1ae42f10f073ad9448d8a028b6bcd82da081335adda02",
        "632af120435b57ec241d8bfbb12e496dfd5e2730a1a02ac0ab6eaa230ae02e9a",
        "c6f679ddb3af68f5e82f0cf6761244cb2338cf11e7d01a24130aea1b7c17e53e",
    ]
    assert signer.finished


def test_v1_payloads_given_as_ints_are_refused() -> None:
    signer = EventSigner("0" * 64, credentials=Credentials("a", "s"), region="r", service="s")
    with pytest.raises(SigningError, match="payload must be bytes"):
        signer.sign(65, EPOCH)  # type: ignore[arg-type]


def test_v2_smithy_rs_string_to_sign() -> None:
    inner = encode(Message(headers={"some-header": "value"}, payload=b"test payload"))
    assert inner.hex() == (
        "0000003000000014ded9b3920b736f6d652d68656164657207000576616c75657465737420"
        "7061796c6f61643e89b924"
    )
    signed = sign_event(
        inner,
        prior_signature=hashlib.sha256(b"last message sts").hexdigest(),
        credentials=Credentials("fake", "fake"),
        region="us-east-1",
        service="testservice",
        now=EPOCH + dt.timedelta(seconds=123456789, microseconds=1),  # ns dropped, as there
    )
    assert signed.string_to_sign == "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            "19731129T213309Z",
            "19731129/us-east-1/testservice/aws4_request",
            "be1f8c7d79ef8e1abc5254a2c70e4da3bfaf4f07328f527444e1fc6ea67273e2",
            "0c0e3b3bf66b59b976181bd7d401927bbd624107303c713fd1e5f3d3c8dd1b1e",
            "f2eba0f2e95967ee9fbc6db5e678d2fd599229c0d04b11e4fc8e0f2a02a806c6",
        ]
    )


def test_v3_java_day_rollover() -> None:
    creds = Credentials("a", "s")
    t1 = dt.datetime(2020, 1, 1, 23, 59, 59, tzinfo=UTC)
    t2 = dt.datetime(2020, 1, 2, tzinfo=UTC)
    request = sign(
        "GET",
        "http://localhost:8080",
        [("X-Amz-Content-SHA256", STREAMING_EVENTS_PAYLOAD)],
        credentials=creds,
        region="us-west-2",
        service="name",
        now=t1,
    )
    assert request.signed_headers == "host;x-amz-content-sha256;x-amz-date"
    foo = encode(Message(headers={}, payload=b"foo"))
    signer = EventSigner(request.signature, credentials=creds, region="us-west-2", service="name")
    first = signer.sign(foo, t1)
    assert (
        base64.b64encode(first.chunk_signature) == b"EFt7ZU043r/TJE8U+1GxJXscmNxoqmIdGtUIl8wE9u0="
    )
    second = signer.sign(foo, t2)
    assert "\n20200101/us-west-2/name/aws4_request\n" in first.string_to_sign
    assert "\n20200102/us-west-2/name/aws4_request\n" in second.string_to_sign
    final = signer.finish(t2)
    assert (
        base64.b64encode(final.chunk_signature) == b"UTRGo0D7BQytiVkH1VofR/8f3uFsM4V5QR1A8grr1+M="
    )


def test_v4_smithy_typescript_given_date_header() -> None:
    date_header = bytes([5, 58, 100, 97, 116, 101, 8, 0, 0, 1, 103, 247, 125, 87, 112])
    date = EPOCH + dt.timedelta(milliseconds=int.from_bytes(date_header[7:], "big"))
    assert encode_date_header(date) == date_header
    signed = sign_event(
        b"foo",
        prior_signature="",
        credentials=Credentials("akid", "secret"),
        region="REGION",
        service="SERVICE",
        now=EPOCH + dt.timedelta(milliseconds=1369353600000),
        date=date,
    )
    assert signed.signature == "204bb5e2713e95354680e9522986d3ac0304aeafd33397f39e6540ca51ffe226"
    assert signed.date == date


# -- an independent verifier --------------------------------------------------------------------


def _key(secret: str, day: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _verify_stream(wire: bytes, seed: str, secret: str, region: str, service: str) -> list[bytes]:
    """Decode the outer messages of ``wire`` and check every signature of the chain (raises
    AssertionError); returns the inner payloads, the last being the empty final one."""
    prior = seed
    out: list[bytes] = []
    decoder = Decoder()
    messages = decoder.feed(wire)
    decoder.close()  # TruncatedStream if a message is left incomplete
    for msg in messages:
        assert list(msg.headers) == [":date", ":chunk-signature"]
        date = msg.headers[":date"]
        raw = msg.headers[":chunk-signature"]
        assert isinstance(date, dt.datetime)
        assert isinstance(raw, bytes)
        ms = (date - EPOCH) // dt.timedelta(milliseconds=1)
        date_bytes = b"\x05:date\x08" + struct.pack(">q", ms)
        stamp = date.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
        sts = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                stamp,
                scope,
                prior,
                hashlib.sha256(date_bytes).hexdigest(),
                hashlib.sha256(msg.payload).hexdigest(),
            ]
        )
        want = hmac.new(_key(secret, stamp[:8], region, service), sts.encode(), hashlib.sha256)
        assert hmac.compare_digest(want.digest(), raw), f"bad signature at event {len(out)}"
        prior = want.hexdigest()
        out.append(msg.payload)
    assert out, "no messages"
    assert out[-1] == b"", "the stream does not end with the empty signed message"
    return out


def _stream(parts: list[bytes], times: list[dt.datetime], creds: Credentials) -> tuple[bytes, str]:
    seed = hashlib.sha256(b"request").hexdigest()
    signer = EventSigner(seed, credentials=creds, region="us-east-1", service="sagemaker")
    wire = b""
    for part, when in zip(parts, times):
        inner = encode(Message(headers={":event-type": "PayloadPart"}, payload=part))
        wire += encode(Message(headers=signer.sign(inner, when).headers, payload=inner))
    wire += encode(Message(headers=signer.finish(times[-1]).headers, payload=b""))
    return wire, seed


_times = st.datetimes(
    min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2099, 12, 31), timezones=st.just(UTC)
)
_parts = st.lists(st.binary(max_size=64), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(parts=_parts, start=_times, steps=st.lists(st.integers(0, 10**8), min_size=6, max_size=6))
def test_chain_verifies_end_to_end(
    parts: list[bytes], start: dt.datetime, steps: list[int]
) -> None:
    times = [start]
    for step in steps[: len(parts) - 1]:
        times.append(times[-1] + dt.timedelta(milliseconds=step))  # rollovers included
    creds = Credentials("AKIDEXAMPLE", "verysecret")
    wire, seed = _stream(parts, times, creds)
    inner = _verify_stream(wire, seed, "verysecret", "us-east-1", "sagemaker")
    assert [Decoder().feed(m)[0].payload for m in inner[:-1]] == parts


@settings(max_examples=80, deadline=None)
@given(parts=_parts, start=_times, data=st.data())
def test_any_flipped_byte_breaks_the_chain(
    parts: list[bytes], start: dt.datetime, data: st.DataObject
) -> None:
    creds = Credentials("AKIDEXAMPLE", "verysecret")
    wire, seed = _stream(parts, [start] * len(parts), creds)
    pos = data.draw(st.integers(0, len(wire) - 1))
    bit = data.draw(st.integers(0, 7))
    bad = bytearray(wire)
    bad[pos] ^= 1 << bit
    # Either the codec rejects it (CRC, lengths) or the verifier does: never accepted.
    with pytest.raises((AssertionError, EventStreamError)):
        _verify_stream(bytes(bad), seed, "verysecret", "us-east-1", "sagemaker")


def test_wrong_secret_or_seed_fails() -> None:
    creds = Credentials("AKIDEXAMPLE", "verysecret")
    wire, seed = _stream([b"x"], [EPOCH + dt.timedelta(days=20000)], creds)
    with pytest.raises(AssertionError):
        _verify_stream(wire, seed, "othersecret", "us-east-1", "sagemaker")
    with pytest.raises(AssertionError):
        _verify_stream(wire, "0" * 64, "verysecret", "us-east-1", "sagemaker")


def test_dropped_or_reordered_event_breaks_the_chain() -> None:
    creds = Credentials("AKIDEXAMPLE", "verysecret")
    when = EPOCH + dt.timedelta(days=20000)
    wire, seed = _stream([b"a", b"b", b"c"], [when] * 3, creds)
    msgs = Decoder().feed(wire)
    for order in ([0, 2, 3], [1, 0, 2, 3], [0, 1, 2]):
        rebuilt = b"".join(encode(msgs[i]) for i in order)
        with pytest.raises(AssertionError):
            _verify_stream(rebuilt, seed, "verysecret", "us-east-1", "sagemaker")


# -- behaviour ----------------------------------------------------------------------------------


def test_date_is_whole_milliseconds_and_encodes_like_the_codec() -> None:
    now = dt.datetime(2026, 12, 1, 21, 30, 15, 123456, tzinfo=UTC)
    signed = sign_event(
        b"p",
        prior_signature="a" * 64,
        credentials=Credentials("a", "s"),
        region="r",
        service="s",
        now=now,
    )
    assert signed.date == now.replace(microsecond=123000)
    assert signed.date.tzinfo == UTC
    outer = encode(Message(headers=signed.headers, payload=b"p"))
    assert encode_date_header(now) in outer  # the bytes hashed are the bytes sent
    assert signed.headers[1] == (":chunk-signature", bytes.fromhex(signed.signature))
    assert len(signed.chunk_signature) == 32


def test_non_utc_now_signs_the_utc_day() -> None:
    plus5 = dt.timezone(dt.timedelta(hours=5))
    now = dt.datetime(2026, 12, 2, 3, 0, tzinfo=plus5)  # 2026-12-01T22:00Z
    signed = sign_event(
        b"",
        prior_signature="",
        credentials=Credentials("a", "s"),
        region="r",
        service="s",
        now=now,
    )
    assert "\n20261201T220000Z\n20261201/r/s/aws4_request\n" in signed.string_to_sign


class _NoOffset(dt.tzinfo):
    """A tzinfo that knows no offset: the datetime is naive in all but its tzinfo."""

    def utcoffset(self, d: dt.datetime | None) -> None:
        return None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prior_signature": "abc"}, "64 lower-case hex digits, got 3"),
        ({"prior_signature": "a" * 63}, "64 lower-case hex digits, got 63"),
        ({"prior_signature": "a" * 65}, "64 lower-case hex digits, got 65"),
        ({"prior_signature": "A" * 64}, "64 lower-case hex digits"),
        ({"prior_signature": None}, "prior signature must be a str"),
        ({"now": dt.datetime(2020, 1, 1)}, "timezone-aware"),
        ({"date": dt.datetime(2020, 1, 1)}, "event date must be timezone-aware"),
        ({"date": 5}, "event date must be a datetime"),
        (
            {"date": dt.datetime(2020, 1, 1, tzinfo=_NoOffset())},
            "event date must be timezone-aware",
        ),
        ({"region": "us east"}, "invalid region"),
        ({"service": ""}, "invalid service"),
        ({"credentials": None}, "credentials are required"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "prior_signature": "0" * 64,
        "credentials": Credentials("a", "s"),
        "region": "us-east-1",
        "service": "sagemaker",
        "now": EPOCH,
    }
    args.update(kwargs)
    with pytest.raises(SigningError, match=message):
        sign_event(b"x", **args)  # type: ignore[arg-type]


def test_expired_credentials_refused_by_sign_event() -> None:
    creds = Credentials("a", "s", expiration=EPOCH + dt.timedelta(seconds=1))
    with pytest.raises(sigv4.CredentialsExpiredError):
        sign_event(
            b"",
            prior_signature="",
            credentials=creds,
            region="r",
            service="s",
            now=EPOCH + dt.timedelta(seconds=2),
        )


def test_signer_derives_its_key_once_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    # The signing key and scope are the day's: an EventSigner derives them at its first event
    # and again at each day rollover only, and signs exactly as sign_event does either way.
    from sigv4 import _events

    derived: list[str] = []
    real = _events._key_state

    def counting(secret: str, datestamp: str, region: str, service: str) -> object:
        derived.append(datestamp)
        return real(secret, datestamp, region, service)

    monkeypatch.setattr(_events, "_key_state", counting)
    creds = Credentials("a", "s")
    signer = EventSigner("0" * 64, credentials=creds, region="us-east-1", service="sagemaker")
    late = dt.datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)
    times = [late, late, late + dt.timedelta(seconds=2), late + dt.timedelta(seconds=3)]
    prior = "0" * 64
    for now in times:
        got = signer.sign(b"part", now)
        monkeypatch.setattr(_events, "_key_state", real)
        want = sign_event(
            b"part",
            prior_signature=prior,
            credentials=creds,
            region="us-east-1",
            service="sagemaker",
            now=now,
        )
        monkeypatch.setattr(_events, "_key_state", counting)
        assert got == want
        prior = got.signature
    assert derived == ["20261201", "20261202"]


def test_signer_resolves_refreshable_credentials_once() -> None:
    calls: list[int] = []

    class Provider:
        def get(self) -> Credentials:
            calls.append(1)
            return Credentials("a", f"s{len(calls)}")

    signer = EventSigner("0" * 64, credentials=Provider(), region="r", service="s")
    a = signer.sign(b"1", EPOCH)
    b = signer.sign(b"2", EPOCH)
    assert calls == [1]
    same = EventSigner("0" * 64, credentials=Credentials("a", "s1"), region="r", service="s")
    assert [same.sign(b"1", EPOCH), same.sign(b"2", EPOCH)] == [a, b]
    with pytest.raises(SigningError, match=r"have \.get"):
        EventSigner("0" * 64, credentials=object(), region="r", service="s")


def test_nothing_signed_after_finish() -> None:
    signer = EventSigner("0" * 64, credentials=Credentials("a", "s"), region="r", service="s")
    first = signer.sign(b"x", EPOCH)
    assert signer.prior_signature == first.signature
    signer.finish(EPOCH)
    with pytest.raises(SigningError, match="finished"):
        signer.sign(b"y", EPOCH)
    with pytest.raises(SigningError, match="finished"):
        signer.finish(EPOCH)


def test_secrets_never_in_reprs() -> None:
    secret = "SECRETSECRETSECRET"
    seed = hashlib.sha256(b"seed").hexdigest()
    signer = EventSigner(seed, credentials=Credentials("AKIDX", secret), region="r", service="s")
    signed = signer.sign(b"payload", EPOCH)
    for text in (repr(signer), str(signer), repr(signed), str(signed)):
        assert secret not in text
        assert seed not in text
        assert signed.signature not in text
        assert signed.signature[:16] not in text
    assert "****" in repr(signed)


def test_signed_event_is_an_immutable_value() -> None:
    signed = sign_event(
        b"x",
        prior_signature="",
        credentials=Credentials("a", "s"),
        region="r",
        service="s",
        now=EPOCH,
    )
    assert pickle.loads(pickle.dumps(signed)) == signed
    assert hash(signed) == hash(pickle.loads(pickle.dumps(signed)))
    with pytest.raises(AttributeError):
        signed.signature = "0"  # type: ignore[misc]
    assert isinstance(signed, SignedEvent)


def test_lazy_exports() -> None:
    for name in ("EventSigner", "SignedEvent", "sign_event", "encode_date_header"):
        assert name in sigv4.__all__
        assert name in dir(sigv4)
    assert sigv4.STREAMING_EVENTS_PAYLOAD == "STREAMING-AWS4-HMAC-SHA256-EVENTS"


def test_sign_raw_is_sign_in_the_outer_messages_bytes() -> None:
    """The same chain as :meth:`EventSigner.sign`: the :date header's bytes and the raw
    signature of each event, chaining from it (the day roll-over of vector 3 included)."""
    creds = Credentials("a", "s")
    t1 = dt.datetime(2020, 1, 1, 23, 59, 59, 123456, tzinfo=UTC)
    t2 = dt.datetime(2020, 1, 2, 0, 0, 1, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    signed = EventSigner("1" * 64, credentials=creds, region="us-west-2", service="name")
    raw = EventSigner("1" * 64, credentials=creds, region="us-west-2", service="name")
    for payload, now in ((b"foo", t1), (b"", t2), (b"bar" * 100, t2)):
        want = signed.sign(payload, now)
        date_header, signature = raw.sign_raw(payload, now)
        assert date_header == encode_date_header(want.date)
        assert signature == want.chunk_signature
        assert raw.prior_signature == want.signature == signature.hex()
    raw.finish(t2)
    with pytest.raises(SigningError, match="finished"):
        raw.sign_raw(b"x", t2)
    with pytest.raises(SigningError, match="bytes"):
        EventSigner("1" * 64, credentials=creds, region="r", service="s").sign_raw("x", t1)  # type: ignore[arg-type]


def test_finish_raw_is_finish_in_the_outer_messages_bytes() -> None:
    """The final empty message signed as :meth:`EventSigner.finish` signs it, returned as
    :meth:`EventSigner.sign_raw` returns a part; nothing is signed after it either way."""
    creds = Credentials("a", "s")
    t1 = dt.datetime(2020, 1, 1, 23, 59, 59, 123456, tzinfo=UTC)
    t2 = dt.datetime(2020, 1, 2, 0, 0, 1, 999999, tzinfo=UTC)
    signed = EventSigner("1" * 64, credentials=creds, region="us-west-2", service="name")
    raw = EventSigner("1" * 64, credentials=creds, region="us-west-2", service="name")
    signed.sign(b"foo", t1)
    raw.sign_raw(b"foo", t1)
    assert not raw.finished
    want = signed.finish(t2)
    date_header, signature = raw.finish_raw(t2)
    assert (date_header, signature) == (encode_date_header(want.date), want.chunk_signature)
    assert raw.finished
    assert raw.prior_signature == want.signature
    for again in (raw.finish_raw, raw.finish, lambda now: raw.sign_raw(b"x", now)):
        with pytest.raises(SigningError, match="finished"):
            again(t2)
