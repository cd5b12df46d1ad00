"""One test (or more) per SigV4 pitfall of USER-NEEDS §4 (S1..S13)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from typing import Any

import pytest

from sigv4 import Credentials, SignedRequest, SigningError, _signer, parse_authorization, sign

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
CREDS = Credentials("AKIDEXAMPLE", SECRET)
NOW = dt.datetime(2024, 1, 15, 12, 30, 45, tzinfo=dt.timezone.utc)
HOST = "runtime.sagemaker.us-east-1.amazonaws.com"
URL = f"https://{HOST}/endpoints/my-endpoint/invocations"


def _sign(**kw: Any) -> SignedRequest:
    args: dict[str, Any] = {
        "method": "POST",
        "url": URL,
        "headers": {"Content-Type": "application/json"},
        "body": b"{}",
        "credentials": CREDS,
        "region": "us-east-1",
        "service": "sagemaker",
        "now": NOW,
    }
    args.update(kw)
    return sign(**args)


def _creq_line(signed: SignedRequest, index: int) -> str:
    return signed.canonical_request.split("\n")[index]


def _hdr(signed: SignedRequest, name: str) -> list[str]:
    return [v for n, v in signed.headers if n.lower() == name.lower()]


# S1: the signing name is an input, never derived from the host.
def test_s1_service_name_is_not_the_host_prefix() -> None:
    signed = _sign()
    parsed = parse_authorization(signed.authorization)
    assert parsed.service == "sagemaker"
    assert "runtime.sagemaker" not in signed.authorization
    other_host = _sign(url="https://vpce-0abc.runtime.sagemaker.us-east-1.vpce.amazonaws.com/x")
    assert parse_authorization(other_host.authorization).service == "sagemaker"
    assert _sign(service="runtime.sagemaker").signature != signed.signature


# S2: non-S3 double encoding, reserved characters encoded, S3 single encoding.
@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("/endpoints/my%20endpoint/invocations", "/endpoints/my%2520endpoint/invocations"),
        ("/endpoints/ep-1/invocations", "/endpoints/ep-1/invocations"),
        ("/endpoints/a%2Ab%40c/invocations", "/endpoints/a%252Ab%2540c/invocations"),
        ("/endpoints/a*b@c=d:e/invocations", "/endpoints/a%2Ab%40c%3Dd%3Ae/invocations"),
        ("/endpoints/" + "a" * 63 + "/invocations", "/endpoints/" + "a" * 63 + "/invocations"),
    ],
)
def test_s2_path_encoding(path: str, canonical: str) -> None:
    assert _creq_line(_sign(url=f"https://{HOST}{path}"), 1) == canonical


def test_s2_s3_style_no_double_encoding() -> None:
    signed = _sign(url="https://b.s3.amazonaws.com/my%20key", s3_style=True, service="s3")
    assert _creq_line(signed, 1) == "/my%20key"


# S3: non-ASCII is UTF-8, the str body is hashed as UTF-8 exactly once, no decode errors.
def test_s3_non_ascii_body_and_path() -> None:
    text = '{"inputs":"h\u00e9llo \u4e16\u754c \U0001f600"}'
    signed = _sign(body=text, url=f"https://{HOST}/endpoints/caf\u00e9/invocations")
    assert signed.body == text.encode("utf-8")
    assert signed.payload_hash == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert _creq_line(signed, 1) == "/endpoints/caf%C3%A9/invocations"
    assert _sign(body=text.encode("utf-8")).signature == _sign(body=text).signature


def test_s3_lone_surrogates_are_signing_errors() -> None:
    with pytest.raises(SigningError, match="surrogate"):
        _sign(body="\ud800")
    with pytest.raises(SigningError, match="surrogate"):
        _sign(headers={"X-Amzn-SageMaker-Custom-Attributes": "a\udc80"})
    with pytest.raises(SigningError, match="secret access key") as info:
        _sign(credentials=Credentials("AKID", "sec\ud800ret"))
    assert "sec" not in str(info.value).replace("secret access key", "")


# S4: query canonicalisation.
def test_s4_query_sorted_by_name_then_value_not_by_pair_string() -> None:
    # sorting "a-b=2" and "a=1" as strings would put "a-b" first ('-' < '=')
    signed = _sign(url=f"https://{HOST}/?a-b=2&a=1")
    assert _creq_line(signed, 2) == "a=1&a-b=2"
    signed = _sign(url=f"https://{HOST}/?k=b&k=a")
    assert _creq_line(signed, 2) == "k=a&k=b"


def test_s4_plus_is_literal_and_space_is_percent_20() -> None:
    assert _creq_line(_sign(url=f"https://{HOST}/?q=a+b"), 2) == "q=a%2Bb"
    assert _creq_line(_sign(url=f"https://{HOST}/?q=a%2Bb"), 2) == "q=a%2Bb"
    assert _creq_line(_sign(url=f"https://{HOST}/?q=a%20b"), 2) == "q=a%20b"
    assert _creq_line(_sign(url=f"https://{HOST}/?q=a b"), 2) == "q=a%20b"


def test_s4_equivalent_spellings_sign_alike() -> None:
    a = _sign(url=f"https://{HOST}/?k=%7e%2f")
    b = _sign(url=f"https://{HOST}/?k=~%2F")
    assert a.signature == b.signature


# S5: Trimall, repeated values joined with ','.
def test_s5_trimall_and_repeats() -> None:
    signed = _sign(
        headers=[
            ("X-Amzn-SageMaker-Custom-Attributes", "  a=1;   b=2\t "),
            ("X-Amz-Meta", "x"),
            ("x-amz-meta", "  y  z"),
        ]
    )
    assert "x-amzn-sagemaker-custom-attributes:a=1; b=2\n" in signed.canonical_request
    assert "x-amz-meta:x,y z\n" in signed.canonical_request
    # sent exactly as given
    assert _hdr(signed, "X-Amzn-SageMaker-Custom-Attributes") == ["  a=1;   b=2\t "]


# S6: which headers are signed.
def test_s6_signed_header_set() -> None:
    signed = _sign(
        headers=[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
            ("X-Amzn-SageMaker-Target-Model", "m.tar.gz"),
            ("X-Amzn-SageMaker-Inference-Component", "ic"),
            ("Content-Length", "2"),
            ("User-Agent", "smruntime/0.1"),
            ("Connection", "keep-alive"),
            ("Expect", "100-continue"),
            ("amz-sdk-invocation-id", "abc"),
        ]
    )
    signed_set = signed.signed_headers.split(";")
    assert signed_set == sorted(signed_set)
    for name in ("content-type", "accept", "host", "x-amz-date"):
        assert name in signed_set
    assert "x-amzn-sagemaker-target-model" in signed_set
    assert "x-amzn-sagemaker-inference-component" in signed_set
    for name in ("content-length", "user-agent", "connection", "expect"):
        assert name not in signed_set


def test_s6_no_header_added_besides_the_auth_ones() -> None:
    signed = _sign(headers={})
    assert [n for n, _ in signed.headers] == ["X-Amz-Date", "Authorization"]


# S7: the token is signed and the list is sorted after every insertion.
def test_s7_token_signed_and_sorted() -> None:
    creds = Credentials("AKIDEXAMPLE", SECRET, session_token="TOKEN")
    signed = _sign(credentials=creds, headers={"X-Amzn-SageMaker-Target-Model": "m", "Z": "1"})
    names = signed.signed_headers.split(";")
    assert names == sorted(names)
    assert names == [
        "host",
        "x-amz-date",
        "x-amz-security-token",
        "x-amzn-sagemaker-target-model",
        "z",
    ]
    assert _hdr(signed, "X-Amz-Security-Token") == ["TOKEN"]
    assert parse_authorization(signed.authorization).signed_headers == tuple(names)


# S8: midnight, cached key across dates, no stale X-Amz-Date, no mutation.
def test_s8_scope_date_from_the_same_instant() -> None:
    before = dt.datetime(2024, 1, 15, 23, 59, 59, 999999, tzinfo=dt.timezone.utc)
    after = dt.datetime(2024, 1, 16, 0, 0, 0, tzinfo=dt.timezone.utc)
    _signer.clear_signing_key_cache()
    a = _sign(now=before)
    b = _sign(now=after)  # a cached key for the 15th must not be reused on the 16th
    assert _hdr(a, "X-Amz-Date") == ["20240115T235959Z"]
    assert "Credential=AKIDEXAMPLE/20240115/" in a.authorization
    assert _hdr(b, "X-Amz-Date") == ["20240116T000000Z"]
    assert "Credential=AKIDEXAMPLE/20240116/" in b.authorization
    fresh = _signer.signing_key(SECRET, "20240116", "us-east-1", "sagemaker")
    _signer.clear_signing_key_cache()
    assert _signer.signing_key(SECRET, "20240116", "us-east-1", "sagemaker") == fresh
    assert _sign(now=after).signature == b.signature


def test_s8_local_time_near_midnight_uses_utc_date() -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    local = dt.datetime(2024, 1, 16, 8, 0, 0, tzinfo=tokyo)  # 2024-01-15T23:00:00Z
    signed = _sign(now=local)
    assert _hdr(signed, "X-Amz-Date") == ["20240115T230000Z"]
    assert "/20240115/" in signed.authorization


def test_s8_retry_resigns_with_fresh_date() -> None:
    headers = {"Content-Type": "application/json"}
    first = _sign(headers=headers)
    retry_now = NOW + dt.timedelta(seconds=3)
    retry = _sign(headers=first.headers, now=retry_now)  # re-sign what was sent
    assert _hdr(retry, "X-Amz-Date") == ["20240115T123048Z"]
    assert len(_hdr(retry, "Authorization")) == 1
    assert retry.signature != first.signature
    assert retry == _sign(headers=headers, now=retry_now)
    assert headers == {"Content-Type": "application/json"}


# S9: time is an input, so a corrected (skewed) time can be passed; nothing reads the clock.
def test_s9_time_is_an_input() -> None:
    skew = dt.timedelta(minutes=7)
    signed = _sign(now=NOW + skew)
    assert _hdr(signed, "X-Amz-Date") == ["20240115T123745Z"]
    old = dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
    assert _sign(now=old) == _sign(now=old)


def test_s9_signer_reads_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoClock(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            raise AssertionError("the signer read the clock")

        @classmethod
        def utcnow(cls) -> Any:
            raise AssertionError("the signer read the clock")

    monkeypatch.setattr(_signer._dt, "datetime", NoClock)
    # isinstance(now, NoClock) would fail for a plain datetime, so pass a NoClock instance
    now = NoClock(2024, 1, 15, 12, 30, 45, tzinfo=dt.timezone.utc)
    assert _hdr(_sign(now=now), "X-Amz-Date") == ["20240115T123045Z"]


# S10: credentials are taken per request from a refreshing provider.
def test_s10_credentials_snapshot_per_request() -> None:
    class Rotating:
        def __init__(self) -> None:
            self.n = 0

        def get(self) -> Credentials:
            self.n += 1
            return Credentials(f"AKID{self.n}", f"{SECRET}{self.n}", session_token=f"T{self.n}")

    prov = Rotating()
    a = _sign(credentials=prov)
    b = _sign(credentials=prov)
    assert prov.n == 2
    assert "Credential=AKID1/" in a.authorization
    assert "Credential=AKID2/" in b.authorization
    assert _hdr(a, "X-Amz-Security-Token") == ["T1"]
    assert _hdr(b, "X-Amz-Security-Token") == ["T2"]


# S11: streaming bodies are hashed up front and returned as the bytes to send.
def test_s11_stream_bodies_hashed_once() -> None:
    chunks = [b'{"inputs":', b'"a long prompt"', b"}"]
    data = b"".join(chunks)
    gen = iter(chunks)
    signed = _sign(body=gen)
    assert signed.body == data
    assert list(gen) == []
    assert signed.payload_hash == hashlib.sha256(data).hexdigest()
    f = io.BytesIO(data)
    assert _sign(body=f).signature == signed.signature
    assert f.tell() == 0


# S12: canonical request and string to sign are exposed for diffing with the server's.
def test_s12_intermediates_exposed_and_maskable() -> None:
    creds = Credentials("AKIDEXAMPLE", SECRET, session_token="SECRETTOKEN")
    signed = _sign(credentials=creds)
    lines = signed.canonical_request.split("\n")
    assert lines[0] == "POST"
    assert lines[-1] == signed.payload_hash
    assert lines[-2] == signed.signed_headers
    digest = hashlib.sha256(signed.canonical_request.encode()).hexdigest()
    assert signed.string_to_sign.split("\n")[-1] == digest
    assert "SECRETTOKEN" not in signed.masked_canonical_request()
    assert "SECRETTOKEN" not in repr(signed)


# S13: the Host signed is the one sent: from the final URL, lower-case, default port dropped.
@pytest.mark.parametrize(
    ("url", "host"),
    [
        (f"https://{HOST.upper()}/x", HOST),
        (f"https://{HOST}:443/x", HOST),
        ("http://localhost:8080/endpoints/e/invocations", "localhost:8080"),
        ("https://vpce-1.example.vpce.amazonaws.com/x", "vpce-1.example.vpce.amazonaws.com"),
    ],
)
def test_s13_host_from_final_url(url: str, host: str) -> None:
    signed = _sign(url=url)
    assert f"\nhost:{host}\n" in signed.canonical_request


@pytest.mark.parametrize(
    "port", ["\u00b2", "\u0664\u0664\u0663", "+443", "0", "65536", "1" * 5000, "44 3", ""]
)
def test_url_port_must_be_ascii_digits(port: str) -> None:
    # str.isdigit() accepts "²" and Arabic-Indic digits: a bad port is a SigningError, never a
    # bare ValueError from int().
    if not port:
        assert "\nhost:h.example\n" in _sign(url="https://h.example:/x").canonical_request
        return
    with pytest.raises(SigningError, match="invalid port"):
        _sign(url=f"https://h.example:{port}/x")


def test_url_port_leading_zeros_accepted() -> None:
    assert "\nhost:h.example:8080\n" in _sign(url="https://h.example:08080/x").canonical_request


def test_s13_explicit_host_header_is_what_is_signed() -> None:
    signed = _sign(headers={"Host": "proxy.internal:8443"})
    assert "\nhost:proxy.internal:8443\n" in signed.canonical_request
    assert _hdr(signed, "Host") == ["proxy.internal:8443"]


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("ftp://h.example/x", "got scheme 'ftp'"),
        (  # the first 40 characters of it
            "runtime.sagemaker.us-east-1.amazonaws.com/x",
            "got 'runtime.sagemaker.us-east-1.amazonaws.co', which",
        ),
        ("h.example/x", "'h.example/x', which has no scheme"),
    ],
)
def test_url_without_http_scheme_names_what_it_got(url: str, said: str) -> None:
    with pytest.raises(SigningError, match="must start with http:// or https://") as info:
        _sign(url=url)
    assert said in str(info.value)
