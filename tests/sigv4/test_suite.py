"""The official AWS SigV4 test suite and the five SageMaker Runtime vectors, matched exactly."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from sigv4 import Credentials, sign

DATA = Path(__file__).parent.parent / "data"
SUITE = DATA / "vectors" / "sigv4" / "aws-sig-v4-test-suite"
SM_VECTORS = DATA / "spec" / "sagemaker-runtime" / "test-vectors.json"

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_NOW = dt.datetime(2015, 8, 30, 12, 36, 0, tzinfo=dt.timezone.utc)

# The published .sreq of this case carries a signature copied from get-vanilla; .authz is right.
SREQ_SIGNATURE_WRONG = {"get-vanilla-with-session-token"}


def _cases() -> list[Path]:
    return sorted(p.with_suffix("") for p in SUITE.rglob("*.req"))


CASES = _cases()


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").replace("\r\n", "\n")


def parse_req(text: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """Parse a suite .req: request line, headers (with obs-fold continuation lines), body."""
    head, _, body = text.partition("\n\n")
    lines = head.rstrip("\n").split("\n")
    method, _, rest = lines[0].partition(" ")
    target = rest.rpartition(" ")[0]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            # obs-fold: a continuation line is replaced by one space (RFC 7230 §3.2.4)
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip(" \t"))
            continue
        name, _, value = line.partition(":")
        headers.append((name, value))
    return method, target, headers, body.encode("utf-8")


def test_suite_is_complete() -> None:
    assert len(CASES) >= 28
    for case in CASES:
        for ext in (".req", ".creq", ".sts", ".authz", ".sreq"):
            assert case.with_suffix(ext).exists(), f"{case.name}{ext}"


def _token_from_creq(creq: str) -> str | None:
    for line in creq.split("\n"):
        if line.startswith("x-amz-security-token:"):
            return line.partition(":")[2]
    return None


def _sign_case(case: Path) -> Any:
    method, target, headers, body = parse_req(_read(case.with_suffix(".req")))
    token = _token_from_creq(_read(case.with_suffix(".creq")))
    host = next(v for n, v in headers if n.lower() == "host")
    creds = Credentials(AKID, SECRET, session_token=token)
    return sign(
        method,
        f"https://{host}{target}",
        headers,
        body,
        credentials=creds,
        region="us-east-1",
        service="service",
        now=SUITE_NOW,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_official_case(case: Path) -> None:
    signed = _sign_case(case)
    assert signed.canonical_request == _read(case.with_suffix(".creq"))
    assert signed.string_to_sign == _read(case.with_suffix(".sts"))
    assert signed.authorization == _read(case.with_suffix(".authz"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_official_case_signed_request(case: Path) -> None:
    """The headers we send are those of the published .sreq (same names, values, order)."""
    signed = _sign_case(case)
    _, _, expected, body = parse_req(_read(case.with_suffix(".sreq")))
    expected = [(n, v.lstrip(" ") if n == "Authorization" else v) for n, v in expected]
    ours = list(signed.headers)
    if case.name == "post-sts-header-after":
        # the token is added after signing, as the case's name says
        ours += [(n, v) for n, v in expected if n == "X-Amz-Security-Token"]
    if case.name in SREQ_SIGNATURE_WRONG:
        expected = [(n, v) for n, v in expected if n != "Authorization"]
        ours = [(n, v) for n, v in ours if n != "Authorization"]
    # The suite lists X-Amz-Date where the .req had it; ours follows the caller's headers.
    assert sorted(ours) == sorted(expected)
    assert signed.body == body


def test_sts_header_after_is_not_signed() -> None:
    """post-sts-header-after: the token is added after signing, so sign without it."""
    case = SUITE / "post-sts-token" / "post-sts-header-after" / "post-sts-header-after"
    signed = _sign_case(case)
    assert "x-amz-security-token" not in signed.signed_headers
    assert all(n != "X-Amz-Security-Token" for n, _ in signed.headers)


SM = json.loads(SM_VECTORS.read_text(encoding="utf-8"))["sigv4"]


@pytest.mark.parametrize("vec", SM, ids=[f"{i}-{v['operation']}" for i, v in enumerate(SM)])
def test_sagemaker_vector(vec: dict[str, Any]) -> None:
    now = dt.datetime.strptime(vec["amz_date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    creds = Credentials(vec["access_key"], vec["secret_key"], session_token=vec["session_token"])
    computed = {"X-Amz-Date", "X-Amz-Security-Token", "Authorization", "Content-Length"}
    given = [(n, v) for n, v in vec["headers_sent"].items() if n not in computed]
    signed = sign(
        vec["method"],
        vec["url"],
        given,
        vec["body_utf8"].encode("utf-8"),
        credentials=creds,
        region=vec["region"],
        service=vec["service"],
        now=now,
    )
    assert signed.canonical_request == vec["canonical_request"]
    assert signed.string_to_sign == vec["string_to_sign"]
    assert signed.authorization == vec["authorization"]
    sent = dict(signed.headers)
    for name, value in vec["headers_sent"].items():
        if name != "Content-Length":
            assert sent[name] == value, name


def test_sagemaker_vectors_cover_the_brief() -> None:
    assert len(SM) == 5
    assert any(v["session_token"] for v in SM)
    assert any("%20" in v["url"] for v in SM)
