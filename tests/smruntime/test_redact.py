"""Masking of secrets in headers, URLs, text and canonical requests."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smruntime._http import HttpHeaders
from smruntime._redact import (
    REDACTED,
    mask,
    redact_authorization,
    redact_canonical_request,
    redact_headers,
    redact_text,
    redact_url,
)

SIG = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sagemaker/aws4_request, "
    f"SignedHeaders=host;x-amz-date, Signature={SIG}"
)
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN//////////wEaCXVzLWVhc3QtMSJHMEUCIQD"


def test_mask() -> None:
    assert mask("AKIDEXAMPLE") == "AKID****"
    assert mask("AKIDEXAMPLE", keep=2) == "AK****"
    assert mask("abc") == "***"
    assert mask(None) == "None"


def test_authorization_keeps_what_debugging_needs() -> None:
    out = redact_authorization(AUTH)
    assert SIG not in out
    assert "AKIDEXAMPLE" not in out
    assert out == (
        "AWS4-HMAC-SHA256 Credential=AKID****/20150830/us-east-1/sagemaker/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=****"
    )


def test_authorization_other_schemes_are_masked_whole() -> None:
    assert redact_authorization("Bearer abc.def.ghi") == "Bearer ****"
    assert redact_authorization("opaque") == REDACTED
    weird = "AWS4-HMAC-SHA256 garbage-with-secret"
    assert "secret" not in redact_authorization(weird)


def test_redact_headers_pairs_and_mapping() -> None:
    pairs = [
        ("Authorization", AUTH),
        ("X-Amz-Security-Token", TOKEN),
        ("Cookie", "session=abc"),
        ("Set-Cookie", "a=b"),
        ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
        ("X-Amz-Date", "20150830T123600Z"),
        ("x-custom", "1"),
        ("x-custom", "2"),
    ]
    out = redact_headers(pairs)
    assert [k for k, _ in out] == [k for k, _ in pairs]
    joined = repr(out)
    for secret in (SIG, TOKEN, "session=abc", "dXNlcjpwYXNz", "AKIDEXAMPLE"):
        assert secret not in joined
    assert ("X-Amz-Date", "20150830T123600Z") in out
    assert out[-2:] == [("x-custom", "1"), ("x-custom", "2")]
    assert redact_headers({"authorization": AUTH})[0][1].endswith("Signature=****")
    assert redact_headers(HttpHeaders([("X-AMZ-SECURITY-TOKEN", TOKEN)])) == [
        ("X-AMZ-SECURITY-TOKEN", REDACTED)
    ]


def test_redact_text() -> None:
    text = f"secret={TOKEN} and again {TOKEN}; short=ab"
    out = redact_text(text, [TOKEN, None, ""])
    assert TOKEN not in out
    assert out.count(REDACTED) == 2
    # Overlapping secrets: the longer one is replaced whole.
    assert redact_text("abcdef", ["abc", "abcdef"]) == REDACTED
    assert redact_text("nothing here", []) == "nothing here"


def test_redact_url_presigned() -> None:
    url = (
        "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/e/invocations"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fsagemaker%2Faws4_request"
        "&X-Amz-Date=20150830T123600Z&X-Amz-Expires=900"
        f"&X-Amz-Security-Token={TOKEN.replace('/', '%2F')}"
        f"&X-Amz-SignedHeaders=host&X-Amz-Signature={SIG}"
    )
    out = redact_url(url)
    assert SIG not in out
    assert "AKIDEXAMPLE" not in out
    assert "IQoJ" not in out
    assert "X-Amz-Credential=AKID%2A%2A%2A%2A%2F20150830%2Fus-east-1" not in out
    assert "X-Amz-Credential=AKID****%2F20150830%2Fus-east-1%2Fsagemaker%2Faws4_request" in out
    assert "X-Amz-Date=20150830T123600Z" in out
    assert out.startswith("https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/e/")


def test_redact_url_plain_and_userinfo() -> None:
    plain = "https://host/endpoints/x/invocations"
    assert redact_url(plain) == plain
    assert redact_url("http://user:pa55@proxy:3128") == "http://user:****@proxy:3128"
    assert redact_url("http://user@proxy:3128") == "http://user@proxy:3128"
    assert "****" in redact_url("http://h/?x-amz-signature=abc")


@given(st.text(max_size=80))
def test_redact_url_never_raises(text: str) -> None:
    assert isinstance(redact_url(text), str)


def test_redact_canonical_request() -> None:
    canonical = "\n".join(
        [
            "POST",
            "/endpoints/e/invocations",
            f"X-Amz-Date=20150830T123600Z&X-Amz-Security-Token={TOKEN}",
            "host:runtime.sagemaker.us-east-1.amazonaws.com",
            "x-amz-date:20150830T123600Z",
            f"x-amz-security-token:{TOKEN}",
            "",
            "host;x-amz-date;x-amz-security-token",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ]
    )
    out = redact_canonical_request(canonical)
    assert TOKEN not in out
    assert "x-amz-security-token:****" in out
    assert "X-Amz-Security-Token=****" in out
    assert "host;x-amz-date;x-amz-security-token" in out
    assert out.count("\n") == canonical.count("\n")
