"""Unit tests of sign, presign, SignedRequest, the signing-key cache and parse_authorization."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import io
import pickle
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

import sigv4
from sigv4 import (
    Credentials,
    CredentialsExpiredError,
    ParsedAuthorization,
    SignedRequest,
    SigningError,
    _canonical,
    _signer,
    parse_authorization,
    presign,
    sign,
)
from sigv4._canonical import (
    EMPTY_SHA256,
    canonical_query,
    canonical_uri,
    fold_value,
    read_body,
    split_url,
)

NOW = dt.datetime(2024, 1, 15, 12, 30, 45, tzinfo=dt.timezone.utc)
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "SESSIONTOKENEXAMPLE"
CREDS = Credentials("AKIDEXAMPLE", SECRET)
TCREDS = Credentials("AKIDEXAMPLE", SECRET, session_token=TOKEN)
URL = "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/my-endpoint/invocations"


def _sign(**kw: Any) -> SignedRequest:
    args: dict[str, Any] = {
        "method": "POST",
        "url": URL,
        "headers": {"Content-Type": "application/json"},
        "body": b'{"inputs":"hi"}',
        "credentials": CREDS,
        "region": "us-east-1",
        "service": "sagemaker",
        "now": NOW,
    }
    args.update(kw)
    return sign(**args)


def _hdr(signed: SignedRequest, name: str) -> list[str]:
    return [v for n, v in signed.headers if n.lower() == name.lower()]


# -- package surface ---------------------------------------------------------------------------


def test_exports() -> None:
    for name in (
        "Credentials",
        "sign",
        "presign",
        "SignedRequest",
        "parse_authorization",
        "ParsedAuthorization",
        "SigningError",
        "SigV4Error",
        "CredentialsExpiredError",
    ):
        assert name in sigv4.__all__
        assert hasattr(sigv4, name)


# -- sign: shape of the result -----------------------------------------------------------------


def test_sign_result_headers_and_order() -> None:
    signed = _sign(credentials=TCREDS)
    names = [n for n, _ in signed.headers]
    assert names == ["Content-Type", "X-Amz-Date", "X-Amz-Security-Token", "Authorization"]
    assert _hdr(signed, "X-Amz-Date") == ["20240115T123045Z"]
    assert _hdr(signed, "X-Amz-Security-Token") == [TOKEN]
    assert signed.signed_headers == "content-type;host;x-amz-date;x-amz-security-token"
    assert signed.payload_hash == hashlib.sha256(b'{"inputs":"hi"}').hexdigest()
    assert signed.method == "POST"
    assert signed.url == URL
    assert signed.body == b'{"inputs":"hi"}'
    assert signed.authorization.endswith(f"Signature={signed.signature}")
    assert signed.string_to_sign.startswith("AWS4-HMAC-SHA256\n20240115T123045Z\n")


def test_host_not_added_to_headers_but_signed() -> None:
    signed = _sign()
    assert not _hdr(signed, "Host")
    assert "host:runtime.sagemaker.us-east-1.amazonaws.com\n" in signed.canonical_request


def test_caller_host_header_wins() -> None:
    signed = _sign(headers=[("Host", "vpce-123.example.com")])
    assert _hdr(signed, "Host") == ["vpce-123.example.com"]
    assert "host:vpce-123.example.com\n" in signed.canonical_request


def test_two_host_headers_rejected() -> None:
    with pytest.raises(SigningError, match="Host"):
        _sign(headers=[("Host", "a"), ("host", "b")])


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Example.COM/", "example.com"),
        ("https://example.com:443/", "example.com"),
        ("http://example.com:80/", "example.com"),
        ("http://example.com:443/", "example.com:443"),
        ("https://example.com:8443/x", "example.com:8443"),
        ("http://127.0.0.1:8080", "127.0.0.1:8080"),
        ("http://[::1]:8080/", "[::1]:8080"),
        ("https://[::1]:443/", "[::1]"),
        ("https://user:pw@example.com/", "example.com"),
        ("https://example.com?x=1", "example.com"),
        ("https://example.com#frag", "example.com"),
    ],
)
def test_split_url_host(url: str, host: str) -> None:
    assert split_url(url)[1] == host


def test_split_url_parts() -> None:
    assert split_url("https://h/a/b?x=1&y#f") == ("https", "h", "/a/b", "x=1&y")
    assert split_url("HTTPS://h") == ("https", "h", "", "")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "example.com/path",
        "https:///path",
        "https://example.com:99999/",
        "https://example.com:abc/",
        "https://[::1/",
        "https://[::1]x/",
        "https://example.com/a\r\nX-Injected: 1",
    ],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(SigningError):
        _sign(url=url)


def test_url_not_str() -> None:
    with pytest.raises(SigningError, match="str"):
        _sign(url=b"https://example.com/")


def test_empty_path_is_slash() -> None:
    assert _sign(url="https://example.com").canonical_request.split("\n")[1] == "/"


def test_replaces_stale_auth_headers() -> None:
    stale = [
        ("Content-Type", "application/json"),
        ("authorization", "AWS4-HMAC-SHA256 Credential=old"),
        ("x-amz-date", "20000101T000000Z"),
        ("X-Amz-Security-Token", "OLDTOKEN"),
    ]
    signed = _sign(headers=stale, credentials=TCREDS)
    assert _hdr(signed, "Authorization") == [signed.authorization]
    assert _hdr(signed, "X-Amz-Date") == ["20240115T123045Z"]
    assert _hdr(signed, "X-Amz-Security-Token") == [TOKEN]
    assert signed == _sign(credentials=TCREDS)


def test_stale_token_dropped_when_creds_have_none() -> None:
    signed = _sign(headers={"X-Amz-Security-Token": "OLD"})
    assert not _hdr(signed, "X-Amz-Security-Token")
    assert "security-token" not in signed.signed_headers


def test_caller_dict_not_mutated() -> None:
    headers = {"Content-Type": "application/json"}
    _sign(headers=headers, credentials=TCREDS)
    assert headers == {"Content-Type": "application/json"}


def test_headers_as_pairs_and_lists_and_none() -> None:
    a = _sign(headers=[("Content-Type", "application/json")])
    b = _sign(headers=[["Content-Type", "application/json"]])
    c = _sign(headers={"Content-Type": "application/json"})
    assert a.signature == b.signature == c.signature
    d = _sign(headers=None)
    assert d.signed_headers == "host;x-amz-date"


@pytest.mark.parametrize(
    "headers",
    [
        "Content-Type: x",
        b"x",
        42,
        [("only-name",)],
        [("a", "b", "c")],
        ["ab"],
    ],
)
def test_bad_header_containers(headers: Any) -> None:
    with pytest.raises(SigningError):
        _sign(headers=headers)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Bad Name", "v"),
        ("", "v"),
        ("X:Y", "v"),
        ("X\r\nY", "v"),
        (b"X-Bytes", "v"),
        ("X-Ok", "a\r\nInjected: 1"),
        ("X-Ok", "a\nb"),
        ("X-Ok", "a\x00b"),
        ("X-Ok", 5),
        ("X-Ok", None),
    ],
)
def test_bad_header_name_or_value(name: Any, value: Any) -> None:
    with pytest.raises(SigningError):
        _sign(headers=[(name, value)])


def test_bad_header_value_error_does_not_echo_value() -> None:
    with pytest.raises(SigningError) as info:
        _sign(headers=[("X-Secretish", "hunter2\r\n")])
    assert "hunter2" not in str(info.value)
    assert "X-Secretish" in str(info.value)


def test_unsigned_headers_sent_not_signed() -> None:
    headers = [
        ("User-Agent", "me/1.0"),
        ("Content-Length", "15"),
        ("Expect", "100-continue"),
        ("X-Amzn-Trace-Id", "Root=1"),
        ("Connection", "keep-alive"),
        ("Transfer-Encoding", "chunked"),
        ("traceparent", "00-abc"),
        ("Accept", "application/json"),
    ]
    signed = _sign(headers=headers)
    assert signed.signed_headers == "accept;host;x-amz-date"
    sent = [n for n, _ in signed.headers]
    for name, _ in headers:
        assert name in sent


def test_repeated_headers_joined_in_order() -> None:
    signed = _sign(headers=[("X-A", "2"), ("x-a", " 1 "), ("X-B", "z")])
    assert "\nx-a:2,1\nx-amz-date:20240115T123045Z\nx-b:z\n" in signed.canonical_request
    assert signed.signed_headers == "host;x-a;x-amz-date;x-b"


def test_header_value_folding_sent_as_given() -> None:
    signed = _sign(headers=[("X-Amzn-SageMaker-Custom-Attributes", "  a   b\t\tc  ")])
    assert "x-amzn-sagemaker-custom-attributes:a b c\n" in signed.canonical_request
    assert _hdr(signed, "X-Amzn-SageMaker-Custom-Attributes") == ["  a   b\t\tc  "]


def test_fold_value_examples() -> None:
    assert fold_value("n", "  a  b  ") == "a b"
    assert fold_value("n", '"a   b   c"') == '"a b c"'
    assert fold_value("n", "\ta\t") == "a"
    assert fold_value("n", "") == ""
    assert fold_value("n", "a\u00a0b") == "a\u00a0b"  # only SP and HTAB are folded


@pytest.mark.parametrize("method", ["", "GE T", "G\nET", None, 1])
def test_bad_method(method: Any) -> None:
    with pytest.raises(SigningError, match="method"):
        _sign(method=method)


def test_method_upper_cased() -> None:
    assert _sign(method="post").canonical_request.startswith("POST\n")


@pytest.mark.parametrize(
    "now",
    [
        dt.datetime(2024, 1, 15, 12, 30, 45),
        "20240115T123045Z",
        1705321845,
        dt.date(2024, 1, 15),
    ],
)
def test_bad_now(now: Any) -> None:
    with pytest.raises(SigningError, match="now"):
        _sign(now=now)


@pytest.mark.parametrize(
    "now",
    [
        dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc),
        dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone.utc),
        dt.datetime(1, 1, 1, 0, 0, 0, tzinfo=dt.timezone.utc),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone.utc),
        dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.timezone.utc),
        dt.datetime(2024, 3, 1, 0, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=14))),
        dt.datetime(2024, 3, 1, 0, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=-12))),
    ],
)
def test_amz_date_matches_strftime(now: dt.datetime) -> None:
    utc = now.astimezone(dt.timezone.utc)
    for warm in (False, True):
        if not warm:
            _signer._last_stamp = _signer._NO_STAMP
        signed = _sign(now=now)
        assert _hdr(signed, "X-Amz-Date") == [utc.strftime("%Y%m%dT%H%M%SZ").rjust(16, "0")]
        assert f"/{utc.strftime('%Y%m%d').rjust(8, '0')}/" in signed.authorization


def test_now_converted_to_utc_and_microseconds_dropped() -> None:
    tz = dt.timezone(dt.timedelta(hours=-5))
    local = dt.datetime(2024, 1, 15, 7, 30, 45, 999999, tzinfo=tz)
    assert _sign(now=local).signature == _sign().signature


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("region", ""),
        ("region", "us east"),
        ("region", "a/b"),
        ("service", None),
        ("service", "x\n"),
    ],
)
def test_bad_scope(field: str, value: Any) -> None:
    with pytest.raises(SigningError, match=field):
        _sign(**{field: value})


# -- credentials -------------------------------------------------------------------------------


class _Refreshable:
    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self.calls = 0

    def get(self) -> Credentials:
        self.calls += 1
        return self.creds


def test_refreshable_credentials_get_called_once() -> None:
    prov = _Refreshable(TCREDS)
    signed = _sign(credentials=prov)
    assert prov.calls == 1
    assert signed == _sign(credentials=TCREDS)


@pytest.mark.parametrize("creds", [None, "AKID:SECRET", object(), ("a", "b")])
def test_bad_credentials(creds: Any) -> None:
    with pytest.raises(SigningError, match="credentials"):
        _sign(credentials=creds)


def test_get_returning_wrong_type() -> None:
    class Bad:
        def get(self) -> Any:
            return {"access_key_id": "x"}

    with pytest.raises(SigningError, match="returned dict"):
        _sign(credentials=Bad())


def test_expired_static_credentials() -> None:
    creds = Credentials("AKIDEXAMPLE", SECRET, expiration=NOW)
    with pytest.raises(CredentialsExpiredError) as info:
        _sign(credentials=creds)
    assert SECRET not in str(info.value)
    later = Credentials("AKIDEXAMPLE", SECRET, expiration=NOW + dt.timedelta(seconds=1))
    _sign(credentials=later)


def test_bad_access_key_id() -> None:
    with pytest.raises(SigningError, match="access key"):
        _sign(credentials=Credentials("AKID/EX", SECRET))


def test_token_with_newline_rejected() -> None:
    with pytest.raises(SigningError) as info:
        _sign(credentials=Credentials("AKID", SECRET, session_token="SeCrEt\r\nX: y"))
    assert "SeCrEt" not in str(info.value)


# -- body --------------------------------------------------------------------------------------


BODY = b'{"inputs":"hi"}'
BODY_HASH = hashlib.sha256(BODY).hexdigest()


def _gen() -> Iterator[bytes]:
    yield b'{"inputs"'
    yield bytearray(b':"hi"')
    yield memoryview(b"}")


@pytest.mark.parametrize(
    "body",
    [
        BODY,
        bytearray(BODY),
        memoryview(BODY),
        BODY.decode(),
        [b'{"inputs":', b'"hi"}'],
        (b for b in [BODY]),
    ],
    ids=["bytes", "bytearray", "memoryview", "str", "list", "generator"],
)
def test_body_kinds(body: Any) -> None:
    signed = _sign(body=body)
    assert signed.payload_hash == BODY_HASH
    assert signed.body == BODY
    assert type(signed.body) is bytes


def test_body_generator_of_mixed_chunks() -> None:
    signed = _sign(body=_gen())
    assert signed.body == BODY


def test_file_body_position_restored() -> None:
    f = io.BytesIO(b"XX" + BODY)
    f.seek(2)
    signed = _sign(body=f)
    assert signed.body == BODY
    assert f.tell() == 2


def test_text_file_body() -> None:
    assert _sign(body=io.StringIO("h\u00e9")).body == "h\u00e9".encode()


class _OneShot:
    """A non-seekable stream: read once."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        data, self.data = self.data, b""
        return data


def test_nonseekable_file_read_once() -> None:
    stream = _OneShot(BODY)
    signed = _sign(body=stream)
    assert signed.body == BODY
    assert stream.data == b""


def test_file_read_error_is_signing_error() -> None:
    class Broken:
        def read(self) -> bytes:
            raise OSError("disk on fire")

    with pytest.raises(SigningError, match="disk on fire"):
        _sign(body=Broken())


def test_none_body_is_empty() -> None:
    assert _sign(body=None).payload_hash == EMPTY_SHA256


@pytest.mark.parametrize("body", [42, {"a": 1}, [b"a", 1], 3.5])
def test_bad_body(body: Any) -> None:
    with pytest.raises(SigningError, match="body"):
        _sign(body=body)


def test_read_body_returning_int_rejected() -> None:
    class Weird:
        def read(self) -> int:
            return 3

    with pytest.raises(SigningError, match="read"):
        read_body(Weird())


def test_unsigned_payload() -> None:
    signed = _sign(unsigned_payload=True)
    assert signed.payload_hash == "UNSIGNED-PAYLOAD"
    assert signed.canonical_request.endswith("\nUNSIGNED-PAYLOAD")
    assert signed.body == BODY


def test_add_content_sha256() -> None:
    signed = _sign(add_content_sha256=True, headers={"X-Amz-Content-Sha256": "stale"})
    assert _hdr(signed, "X-Amz-Content-Sha256") == [BODY_HASH]
    assert "x-amz-content-sha256" in signed.signed_headers.split(";")
    unsigned = _sign(add_content_sha256=True, unsigned_payload=True)
    assert _hdr(unsigned, "X-Amz-Content-Sha256") == ["UNSIGNED-PAYLOAD"]


def test_caller_content_sha256_is_the_payload_hash() -> None:
    signed = _sign(headers={"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
    assert signed.payload_hash == "UNSIGNED-PAYLOAD"
    assert _hdr(signed, "X-Amz-Content-Sha256") == ["UNSIGNED-PAYLOAD"]


# -- canonical URI / query ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("", "/"),
        ("/", "/"),
        ("/endpoints/my%20endpoint/invocations", "/endpoints/my%2520endpoint/invocations"),
        ("/a b", "/a%20b"),
        ("/a/./b/../c", "/a/c"),
        ("//a//b//", "/a/b/"),
        ("/..", "/"),
        ("/a/..", "/"),
        ("/a*@=:", "/a%2A%40%3D%3A"),
        ("/\u00e9", "/%C3%A9"),
        ("/~user", "/~user"),
    ],
)
def test_canonical_uri(path: str, canonical: str) -> None:
    assert canonical_uri(path) == canonical


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("", "/"),
        ("/my%20key", "/my%20key"),
        ("/a/./b/../c", "/a/./b/../c"),
        ("//a//", "//a//"),
        ("/a b", "/a%20b"),
        ("/\u00e9", "/%C3%A9"),
        ("/100%", "/100%25"),
        ("/a*b@c", "/a%2Ab%40c"),
        ("/a%2fb/c%7e", "/a%2Fb/c~"),
    ],
)
def test_canonical_uri_s3(path: str, canonical: str) -> None:
    assert canonical_uri(path, s3_style=True) == canonical


def test_s3_style_flag_reaches_canonical_request() -> None:
    signed = _sign(url="https://b.s3.amazonaws.com/a//my%20key", s3_style=True)
    assert signed.canonical_request.split("\n")[1] == "/a//my%20key"


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("", ""),
        ("b=2&a=1", "a=1&b=2"),
        ("a=2&a=1", "a=1&a=2"),
        ("a", "a="),
        ("a=", "a="),
        ("a&&b", "a=&b="),
        ("a+b=c+d", "a%2Bb=c%2Bd"),
        ("a%20b=c%20d", "a%20b=c%20d"),
        ("k=a b", "k=a%20b"),
        ("k=%2f%2F", "k=%2F%2F"),
        ("k=%7E", "k=~"),
        ("k=%zz", "k=%25zz"),
        ("k=%", "k=%25"),
        ("k=%FF", "k=%FF"),
        ("k=\u00e9", "k=%C3%A9"),
        ("k=a=b", "k=a%3Db"),
        ("B=1&a=1", "B=1&a=1"),
        ("a-b=1&a=1", "a=1&a-b=1"),
    ],
)
def test_canonical_query(query: str, canonical: str) -> None:
    assert canonical_query(query) == canonical


# -- repr and secrets --------------------------------------------------------------------------


def test_repr_masks_secrets() -> None:
    signed = _sign(credentials=TCREDS)
    text = repr(signed) + str(signed)
    assert signed.signature not in text
    assert TOKEN not in text
    assert SECRET not in text
    assert "Authorization" in text
    assert "POST" in text


def test_masked_canonical_request() -> None:
    signed = _sign(credentials=TCREDS)
    assert TOKEN in signed.canonical_request
    masked = signed.masked_canonical_request()
    assert TOKEN not in masked
    assert "x-amz-security-token:****" in masked


def test_errors_never_hold_secret() -> None:
    creds = Credentials("AKIDEXAMPLE", SECRET, session_token=TOKEN)
    bad_inputs: list[dict[str, Any]] = [
        {"now": dt.datetime(2024, 1, 1)},
        {"url": "ftp://x"},
        {"region": ""},
        {"body": 1},
        {"headers": [("x", "\n")]},
    ]
    for bad in bad_inputs:
        with pytest.raises(SigningError) as info:
            _sign(credentials=creds, **bad)
        text = str(info.value) + repr(info.value)
        assert SECRET not in text
        assert TOKEN not in text


def test_signing_error_is_value_error_and_pickles() -> None:
    with pytest.raises(ValueError, match="http") as info:
        _sign(url="ftp://x")
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value)


# -- signing-key cache -------------------------------------------------------------------------


def test_signing_key_known_value() -> None:
    # The derived key of the AWS documentation example (secret, 20150830/us-east-1/iam).
    key = _signer.signing_key(SECRET, "20150830", "us-east-1", "iam")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"


def test_signing_key_cache_hashes_secret_and_is_bounded() -> None:
    _signer.clear_signing_key_cache()
    for i in range(_signer._KEY_CACHE_SIZE + 10):
        _signer.signing_key(f"{SECRET}{i}", "20240115", "us-east-1", "sagemaker")
    assert len(_signer._KEY_CACHE) == _signer._KEY_CACHE_SIZE
    for cache_key in _signer._KEY_CACHE:
        assert all(SECRET not in str(part) for part in cache_key)
        assert isinstance(cache_key[0], bytes)
        assert len(cache_key[0]) == 32


def test_signing_key_cache_hit_returns_same_key() -> None:
    _signer.clear_signing_key_cache()
    a = _signer.signing_key(SECRET, "20240115", "us-east-1", "sagemaker")
    b = _signer.signing_key(SECRET, "20240115", "us-east-1", "sagemaker")
    assert a is b
    assert _signer.signing_key(SECRET, "20240116", "us-east-1", "sagemaker") != a


def test_signing_threads_agree() -> None:
    """Threads hammering the memo tables with different scopes all get the right answers."""
    variants: list[dict[str, Any]] = [
        {"now": NOW + dt.timedelta(seconds=i % 3, days=i % 2), "credentials": c, "region": r}
        for i, (c, r) in enumerate(
            [(CREDS, "us-east-1"), (TCREDS, "eu-west-1"), (CREDS, "eu-west-1"), (TCREDS, "x")]
        )
    ]
    expected = [_sign(**kw).signature for kw in variants]
    failures: list[int] = []

    def work(offset: int) -> None:
        for i in range(200):
            k = (i + offset) % len(variants)
            if _sign(**variants[k]).signature != expected[k]:
                failures.append(k)
            if i % 50 == 0:
                _signer.clear_signing_key_cache()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# -- presign -----------------------------------------------------------------------------------


def _presign(**kw: Any) -> str:
    args: dict[str, Any] = {
        "method": "GET",
        "url": "https://example.amazonaws.com/path?b=2&a=1",
        "credentials": CREDS,
        "region": "us-east-1",
        "service": "service",
        "now": NOW,
    }
    args.update(kw)
    return presign(**args)


def test_presign_params() -> None:
    url = _presign(expires=60, credentials=TCREDS)
    parts = urlsplit(url)
    assert parts.path == "/path"
    q = dict(parse_qsl(parts.query, keep_blank_values=True))
    assert q["a"] == "1"
    assert q["b"] == "2"
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert q["X-Amz-Credential"] == "AKIDEXAMPLE/20240115/us-east-1/service/aws4_request"
    assert q["X-Amz-Date"] == "20240115T123045Z"
    assert q["X-Amz-Expires"] == "60"
    assert q["X-Amz-SignedHeaders"] == "host"
    assert q["X-Amz-Security-Token"] == TOKEN
    assert len(q["X-Amz-Signature"]) == 64
    assert url.split("&")[-1].startswith("X-Amz-Signature=")


def test_presign_replaces_existing_auth_params() -> None:
    first = _presign()
    again = _presign(url=first)
    assert again == first


def test_presign_with_headers() -> None:
    url = _presign(headers={"X-Amz-Meta-A": "1", "User-Agent": "x"})
    q = dict(parse_qsl(urlsplit(url).query))
    assert q["X-Amz-SignedHeaders"] == "host;x-amz-meta-a"


def test_presign_no_query_and_fragment() -> None:
    url = _presign(url="https://example.amazonaws.com/#frag")
    assert url.startswith("https://example.amazonaws.com/?X-Amz-Algorithm=")
    assert "#" not in url


@pytest.mark.parametrize("expires", [0, -1, 604801, 1.5, "60", True, None])
def test_presign_bad_expires(expires: Any) -> None:
    with pytest.raises(SigningError, match="expires"):
        _presign(expires=expires)


@pytest.mark.parametrize("expires", [1, 604800])
def test_presign_expires_bounds(expires: int) -> None:
    assert f"X-Amz-Expires={expires}&" in _presign(expires=expires)


def test_presign_unsigned_payload_changes_signature() -> None:
    assert _presign() != _presign(unsigned_payload=True)


def test_presign_naive_now() -> None:
    with pytest.raises(SigningError, match="timezone"):
        _presign(now=dt.datetime(2024, 1, 1))


# -- parse_authorization -----------------------------------------------------------------------


def test_parse_authorization_roundtrip() -> None:
    signed = _sign(credentials=TCREDS)
    parsed = parse_authorization(signed.authorization)
    assert isinstance(parsed, ParsedAuthorization)
    assert parsed.algorithm == "AWS4-HMAC-SHA256"
    assert parsed.access_key_id == "AKIDEXAMPLE"
    assert parsed.date == "20240115"
    assert parsed.region == "us-east-1"
    assert parsed.service == "sagemaker"
    assert parsed.credential_scope == "20240115/us-east-1/sagemaker/aws4_request"
    assert ";".join(parsed.signed_headers) == signed.signed_headers
    assert parsed.signature == signed.signature
    assert signed.signature not in repr(parsed)
    assert "AKIDEXAMPLE" not in repr(parsed)


def test_parse_authorization_lenient_spacing() -> None:
    sig = "a" * 64
    value = (
        f"AWS4-HMAC-SHA256 Credential=AK/20240115/r/s/aws4_request,SignedHeaders=host,"
        f"  Signature={sig}"
    )
    assert parse_authorization(value).signed_headers == ("host",)


SIG = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("", "algorithm"),
        (f"AWS4-HMAC-SHA1 Credential=a/20240101/r/s/aws4_request, Signature={SIG}", "algorithm"),
        (f"AWS4-HMAC-SHA256 Credential=a/20240101/r/s/aws4_request, Signature={SIG}", "missing"),
        ("AWS4-HMAC-SHA256 Credential=a/20240101/r/s/aws4_request, SignedHeaders=host", "missing"),
        (
            f"AWS4-HMAC-SHA256 Credential=a/2024/r/s/aws4_request, SignedHeaders=h, "
            f"Signature={SIG}",
            "date",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=a/20240101/r/s/aws5, SignedHeaders=h, Signature={SIG}",
            "aws4_request",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=r/s/aws4_request, SignedHeaders=h, Signature={SIG}",
            "Credential",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=a/20240101/r/s/aws4_request, SignedHeaders=Host, "
            f"Signature={SIG}",
            "SignedHeaders",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=a/20240101/r/s/aws4_request, SignedHeaders=a;;b, "
            f"Signature={SIG}",
            "SignedHeaders",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/20240101/r/s/aws4_request, SignedHeaders=h, "
            "Signature=XYZ",
            "Signature",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=a/20240101/r/s/aws4_request, SignedHeaders=h, "
            f"Signature={SIG}, Extra=1",
            "unknown",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=a/20240101/r/s/aws4_request, SignedHeaders=h, "
            f"Signature={SIG}, Signature={SIG}",
            "twice",
        ),
        ("AWS4-HMAC-SHA256 garbage", "no '='"),
    ],
)
def test_parse_authorization_errors(value: str, complaint: str) -> None:
    with pytest.raises(SigningError, match=complaint) as info:
        parse_authorization(value)
    assert SIG not in str(info.value)


def test_parse_authorization_not_str() -> None:
    with pytest.raises(SigningError, match="str"):
        parse_authorization(b"AWS4")  # type: ignore[arg-type]


# -- memo tables never change a result ---------------------------------------------------------


def _forget_everything() -> None:
    _signer.clear_signing_key_cache()
    _signer._header_memo.clear()
    _signer._block_memo.clear()
    _signer._last_stamp = _signer._NO_STAMP
    _canonical._url_cache.clear()
    _canonical._value_cache.clear()
    _canonical._name_cache.clear()


def _cold(**kw: Any) -> SignedRequest:
    _forget_everything()
    return _sign(**kw)


MEMO_SCENARIOS: list[dict[str, Any]] = [
    {},
    {"credentials": TCREDS},
    {"credentials": Credentials("AKIDEXAMPLE", SECRET + "x")},
    {"credentials": Credentials("AKIDOTHER", SECRET)},
    {"url": "https://other.example.com/endpoints/my-endpoint/invocations"},
    {"headers": {"Content-Type": "application/json", "Host": "h.example"}},
    {"add_content_sha256": True},
    {"add_content_sha256": True, "body": b"other"},
    {"headers": {"Content-Type": "application/json", "X-Amz-Content-Sha256": "abc"}},
    {"region": "eu-west-1"},
    {"service": "execute-api"},
    {"now": NOW + dt.timedelta(microseconds=500)},
    {"now": NOW.astimezone(dt.timezone(dt.timedelta(hours=3)))},
    {"now": NOW + dt.timedelta(seconds=1)},
    {"now": NOW + dt.timedelta(days=1)},
    {"method": "PUT"},
    {"s3_style": True, "url": "https://b.s3.amazonaws.com/a//b%20c"},
    {"headers": [("X-A", "1"), ("x-a", "2")]},
    {"headers": [("X-A", "2"), ("x-a", "1")]},
    {"headers": None},
]


def test_memo_tables_never_change_a_result() -> None:
    expected = [_cold(**kw) for kw in MEMO_SCENARIOS]
    _forget_everything()
    for _ in range(3):  # warm, in order, then again with every table full
        for kw, exp in zip(MEMO_SCENARIOS, expected):
            assert _sign(**kw) == exp, kw
    for kw, exp in reversed(list(zip(MEMO_SCENARIOS, expected))):
        assert _sign(**kw) == exp, kw


def test_new_credentials_object_never_reuses_a_dead_ones_scope() -> None:
    _forget_everything()
    first = Credentials("AKIDEXAMPLE", "secret-one")
    sig_one = _sign(credentials=first).signature
    del first
    gc.collect()
    second = Credentials("AKIDEXAMPLE", "secret-two")  # may get the same id()
    assert _sign(credentials=second).signature != sig_one
    assert _sign(credentials=second) == _cold(credentials=second)


def test_memo_tables_are_bounded() -> None:
    _forget_everything()
    for i in range(1200):
        _sign(
            headers={"X-Custom": f"value-{i}"},
            url=f"https://h{i}.example.com/",
            method=f"M{i % 100}",
        )
    assert len(_signer._header_memo) <= _signer._MEMO_MAX
    assert len(_signer._block_memo) <= _signer._MEMO_MAX
    assert len(_canonical._url_cache) <= _canonical._CACHE_MAX
    assert len(_canonical._value_cache) <= _canonical._CACHE_MAX
    assert len(_signer._methods) <= 64


def test_resigning_sent_headers_does_not_memoise_secrets() -> None:
    _forget_everything()
    first = _sign(credentials=TCREDS)
    _sign(headers=first.headers, credentials=TCREDS, now=NOW + dt.timedelta(seconds=5))
    for key in _signer._header_memo:
        assert TOKEN not in repr(key)
        assert first.signature not in repr(key)
    assert TOKEN not in repr(_canonical._value_cache)
