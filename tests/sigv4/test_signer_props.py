"""Property tests of the signer, and a differential test against botocore's SigV4 signers."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigv4 import Credentials, SignedRequest, parse_authorization, presign, sign
from sigv4._canonical import canonical_query, canonical_uri

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

# -- strategies --------------------------------------------------------------------------------

methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
regions = st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"])
services = st.sampled_from(["sagemaker", "service", "s3", "execute-api"])
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True)
ports = st.one_of(st.none(), st.integers(1, 65535))
instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),
    max_value=dt.datetime(2099, 12, 31),
    timezones=st.just(dt.timezone.utc),
)
segment_chars = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/?#%\\")
segments = st.one_of(
    st.text(segment_chars, max_size=12),
    st.sampled_from([".", "..", "", "%20", "a%2Fb", "my%20endpoint"]),
)
paths = st.lists(segments, max_size=6).map(lambda segs: "/" + "/".join(segs))
query_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
query_pairs = st.lists(st.tuples(query_text, query_text), max_size=5)
name_tails = st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True)
header_names = st.one_of(
    name_tails.map(lambda t: "X-T" + t),
    st.sampled_from(["X-Dup", "x-dup", "Content-Type", "Accept", "X-Amzn-SageMaker-Target-Model"]),
)
header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from([" ", "\t"]),
    max_size=20,
)
headers = st.lists(st.tuples(header_names, header_values), max_size=6)
bodies = st.binary(max_size=256)
tokens = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9+/=]{1,40}", fullmatch=True))


def _encode_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def _url(host: str, port: int | None, path: str, query: str) -> str:
    netloc = host if port is None else f"{host}:{port}"
    return f"https://{netloc}{path}" + (f"?{query}" if query else "")


def _sign(
    method: str,
    url: str,
    hdrs: list[tuple[str, str]],
    body: bytes,
    now: dt.datetime,
    region: str = "us-east-1",
    service: str = "service",
    token: str | None = None,
) -> SignedRequest:
    return sign(
        method,
        url,
        hdrs,
        body,
        credentials=Credentials("AKIDEXAMPLE", SECRET, session_token=token),
        region=region,
        service=service,
        now=now,
    )


# -- invariants --------------------------------------------------------------------------------


@given(
    hosts,
    paths,
    st.lists(st.tuples(header_names, header_values), max_size=6, unique_by=lambda p: p[0].lower()),
    bodies,
    instants,
    st.randoms(use_true_random=False),
)
def test_header_order_and_name_case_do_not_matter(
    host: str,
    path: str,
    hdrs: list[tuple[str, str]],
    body: bytes,
    now: dt.datetime,
    rnd: Any,
) -> None:
    url = _url(host, None, path, "")
    base = _sign("POST", url, hdrs, body, now)
    shuffled = list(hdrs)
    rnd.shuffle(shuffled)
    recased = [
        ("".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in n), v) for n, v in shuffled
    ]
    assert _sign("POST", url, recased, body, now).signature == base.signature
    assert _sign("POST", url, dict(recased), body, now).signature == base.signature


@given(
    methods,
    hosts,
    paths,
    query_pairs,
    st.lists(st.tuples(header_names, header_values), min_size=1, max_size=5),
    bodies,
    instants,
    regions,
    st.sampled_from(["method", "path", "query", "header", "body", "date", "region", "service"]),
    st.data(),
)
def test_any_change_to_a_signed_part_changes_the_signature(
    method: str,
    host: str,
    path: str,
    pairs: list[tuple[str, str]],
    hdrs: list[tuple[str, str]],
    body: bytes,
    now: dt.datetime,
    region: str,
    part: str,
    data: st.DataObject,
) -> None:
    query = _encode_query(pairs)
    args: dict[str, Any] = {
        "method": method,
        "url": _url(host, None, path, query),
        "hdrs": hdrs,
        "body": body,
        "now": now,
        "region": region,
        "service": "sagemaker",
    }
    base = _sign(**args)
    if part == "method":
        args["method"] = data.draw(methods.filter(lambda m: m != method))
    elif part == "path":
        args["url"] = _url(host, None, path.rstrip("/") + "/zz", query)
    elif part == "query":
        args["url"] = _url(host, None, path, (query + "&" if query else "") + "zz=1")
    elif part == "header":
        i = data.draw(st.integers(0, len(hdrs) - 1))
        changed = list(hdrs)
        changed[i] = (hdrs[i][0], hdrs[i][1] + "x")
        args["hdrs"] = changed
    elif part == "body":
        args["body"] = body + b"\x00"
    elif part == "date":
        args["now"] = now + dt.timedelta(seconds=data.draw(st.sampled_from([1, -1, 86400])))
    elif part == "region":
        args["region"] = data.draw(regions.filter(lambda r: r != region))
    else:
        args["service"] = "sagemaker-x"
    changed_sig = _sign(**args)
    assert changed_sig.signature != base.signature
    assert changed_sig.canonical_request != base.canonical_request or part in (
        "date",
        "region",
        "service",
    )


@given(methods, hosts, paths, query_pairs, headers, bodies, instants, regions, services, tokens)
def test_authorization_parses_back(
    method: str,
    host: str,
    path: str,
    pairs: list[tuple[str, str]],
    hdrs: list[tuple[str, str]],
    body: bytes,
    now: dt.datetime,
    region: str,
    service: str,
    token: str | None,
) -> None:
    signed = _sign(
        method,
        _url(host, None, path, _encode_query(pairs)),
        hdrs,
        body,
        now,
        region,
        service,
        token,
    )
    parsed = parse_authorization(signed.authorization)
    assert parsed.signature == signed.signature
    assert ";".join(parsed.signed_headers) == signed.signed_headers
    assert (parsed.region, parsed.service) == (region, service)
    assert parsed.date == now.strftime("%Y%m%d")
    names = signed.signed_headers.split(";")
    assert names == sorted(set(names))


_CANON_URI = re.compile(r"(?:[A-Za-z0-9\-._~/]|%[0-9A-F]{2})*")


@given(st.text(max_size=40), st.booleans())
def test_canonical_uri_total_and_well_formed(path: str, s3: bool) -> None:
    result = canonical_uri(path, s3_style=s3)
    assert result
    if not s3:
        assert _CANON_URI.fullmatch(result)
        assert "//" not in result


@given(st.text(max_size=40))
def test_canonical_query_total_and_idempotent(query: str) -> None:
    once = canonical_query(query)
    assert canonical_query(once) == once
    for pair in filter(None, once.split("&")):
        name, eq, value = pair.partition("=")
        assert eq == "="
        assert _CANON_URI.fullmatch(name.replace("/", "%2F"))
        assert _CANON_URI.fullmatch(value.replace("/", "%2F"))


@given(query_pairs)
def test_canonical_query_of_encoded_pairs_is_sorted_pairs(pairs: list[tuple[str, str]]) -> None:
    encoded = [(quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs]
    expected = "&".join(f"{k}={v}" for k, v in sorted(encoded))
    assert canonical_query(_encode_query(pairs)) == expected


# -- differential against botocore -------------------------------------------------------------


def _botocore_sign(
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    url: str,
    hdrs: list[tuple[str, str]],
    body: bytes,
    now: dt.datetime,
    region: str,
    service: str,
    token: str | None,
) -> Any:
    auth = pytest.importorskip("botocore.auth")
    awsrequest = pytest.importorskip("botocore.awsrequest")
    bcreds = pytest.importorskip("botocore.credentials")
    monkeypatch.setattr(auth, "get_current_datetime", lambda *a, **k: now.replace(tzinfo=None))
    req = awsrequest.AWSRequest(method=method, url=url, data=body)
    for name, value in hdrs:
        req.headers[name] = value
    signer = auth.SigV4Auth(bcreds.Credentials("AKIDEXAMPLE", SECRET, token), service, region)
    req.context["payload_signing_enabled"] = True
    canonical = None
    orig = signer.canonical_request

    def capture(r: Any) -> Any:
        nonlocal canonical
        canonical = orig(r)
        return canonical

    signer.canonical_request = capture  # type: ignore[method-assign]
    signer.add_auth(req)
    return req, canonical


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    methods, hosts, ports, paths, query_pairs, headers, bodies, instants, regions, services, tokens
)
def test_matches_botocore_sigv4auth(
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    host: str,
    port: int | None,
    path: str,
    pairs: list[tuple[str, str]],
    hdrs: list[tuple[str, str]],
    body: bytes,
    now: dt.datetime,
    region: str,
    service: str,
    token: str | None,
) -> None:
    url = _url(host, port, path, _encode_query(pairs))
    req, canonical = _botocore_sign(
        monkeypatch, method, url, hdrs, body, now, region, service, token
    )
    ours = _sign(method, url, hdrs, body, now, region, service, token)
    assert ours.canonical_request == canonical
    assert ours.authorization == req.headers["Authorization"]
    assert dict(ours.headers)["X-Amz-Date"] == req.headers["X-Amz-Date"]
    if token:
        assert dict(ours.headers)["X-Amz-Security-Token"] == req.headers["X-Amz-Security-Token"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    methods,
    hosts,
    paths,
    st.lists(st.tuples(query_text, query_text), max_size=4, unique_by=lambda p: p[0]),
    instants,
    regions,
    services,
    tokens,
    st.integers(1, 604800),
)
def test_presign_matches_botocore_sigv4queryauth(
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    host: str,
    path: str,
    pairs: list[tuple[str, str]],
    now: dt.datetime,
    region: str,
    service: str,
    token: str | None,
    expires: int,
) -> None:
    auth = pytest.importorskip("botocore.auth")
    awsrequest = pytest.importorskip("botocore.awsrequest")
    bcreds = pytest.importorskip("botocore.credentials")
    monkeypatch.setattr(auth, "get_current_datetime", lambda *a, **k: now.replace(tzinfo=None))
    url = _url(host, None, path, _encode_query(pairs))
    req = awsrequest.AWSRequest(method=method, url=url)
    signer = auth.SigV4QueryAuth(
        bcreds.Credentials("AKIDEXAMPLE", SECRET, token), service, region, expires=expires
    )
    signer.add_auth(req)
    ours = presign(
        method,
        url,
        credentials=Credentials("AKIDEXAMPLE", SECRET, session_token=token),
        region=region,
        service=service,
        now=now,
        expires=expires,
    )
    theirs_q = sorted(parse_qsl(urlsplit(req.url).query, keep_blank_values=True))
    ours_q = sorted(parse_qsl(urlsplit(ours).query, keep_blank_values=True))
    assert ours_q == theirs_q
    assert urlsplit(ours).path == urlsplit(req.url).path
