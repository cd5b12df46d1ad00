"""The signer's memo tables never change a result: every call signed after any other call (memo
tables warm) equals the same call signed with every table empty.

Each memo table is keyed by what its value depends on; a key that forgets one input (the URL
table without ``s3_style``, the header table without the set of headers dropped, the block table
without the host or the session token) makes a later call reuse an earlier, different answer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Any

import pytest

from sigv4 import Credentials, SignedRequest, _canonical, _signer, sign

NOW = dt.datetime(2024, 1, 15, 12, 30, 45, tzinfo=dt.timezone.utc)
KEYS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
TEMP = Credentials("ASIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "to ken")
OTHER_TOKEN = Credentials("ASIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "other")

URL = "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/my%20ep/./a//b/../invocations?b=2&a=1"
HEADERS = {"Content-Type": "application/json", "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}
PAIRS = list(HEADERS.items())

VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "s3_style": {"s3_style": True},
    "add_content_sha256": {"add_content_sha256": True},
    "token": {"credentials": TEMP},
    "other token": {"credentials": OTHER_TOKEN},
    "other host": {"url": URL.replace("us-east-1.", "us-west-2.")},
    "host header": {"headers": {**HEADERS, "Host": "example.com"}},
    "pairs": {"headers": list(HEADERS.items())},
    "pairs, repeated name": {"headers": [*HEADERS.items(), ("X-Custom", "a"), ("x-custom", "b")]},
    "stale signature": {"headers": {**HEADERS, "Authorization": "AWS4-HMAC-SHA256 stale"}},
    "unsigned payload": {"unsigned_payload": True},
    "no headers": {"headers": None},
    # fresh headers (an SDK's per-call id and attempt): memoised without their values
    "fresh": {"headers": [*PAIRS, ("amz-sdk-invocation-id", "id-1"), ("amz-sdk-request", "a=1")]},
    "fresh, other values": {
        "headers": [*PAIRS, ("amz-sdk-invocation-id", " id-2 "), ("amz-sdk-request", "a=2;  m")]
    },
    "fresh, swapped": {
        "headers": [*PAIRS, ("amz-sdk-request", "a=1"), ("amz-sdk-invocation-id", "id-1")]
    },
    "fresh, one": {"headers": [*PAIRS, ("amz-sdk-request", "a=1")]},
    "fresh, only": {"headers": [("amz-sdk-request", "a=1")]},
    "fresh, first": {"headers": [("amz-sdk-request", "a=1"), *PAIRS]},
    "fresh, repeated": {"headers": [*PAIRS, ("amz-sdk-request", "a=1"), ("amz-sdk-request", "b")]},
    "fresh, other spelling": {
        "headers": [*PAIRS, ("Amz-Sdk-Request", "a=0"), ("amz-sdk-request", "a=1")]
    },
    "fresh, dict": {"headers": {**HEADERS, "amz-sdk-invocation-id": "id-1"}},
    "fresh, stale signature": {
        "headers": [("Authorization", "stale"), *PAIRS, ("amz-sdk-request", "a=1")]
    },
    "fresh, percent": {"headers": [("X-Custom", "100%s %(x)s"), ("amz-sdk-request", "9%")]},
    "fresh, sha256": {
        "headers": [*PAIRS, ("amz-sdk-request", "a=1")],
        "add_content_sha256": True,
    },
    "fresh, token": {"headers": [*PAIRS, ("amz-sdk-request", "a=1")], "credentials": TEMP},
}


def _sign(variant: str) -> SignedRequest:
    kwargs: dict[str, Any] = {
        "url": URL,
        "headers": HEADERS,
        "credentials": KEYS,
        "s3_style": False,
        **VARIANTS[variant],
    }
    url = kwargs.pop("url")
    headers = kwargs.pop("headers")
    return sign(
        "POST",
        url,
        headers,
        b'{"inputs": "hi"}',
        region="us-east-1",
        service="sagemaker",
        now=NOW,
        **kwargs,
    )


def _post(headers: Any) -> SignedRequest:
    """A body-less POST to URL with KEYS, at NOW."""
    return sign(
        "POST",
        URL,
        headers,
        b"",
        credentials=KEYS,
        region="us-east-1",
        service="sagemaker",
        now=NOW,
    )


def _forget() -> None:
    for table in (
        _canonical._url_cache,
        _canonical._name_cache,
        _canonical._value_cache,
        _signer._header_memo,
        _signer._block_memo,
    ):
        table.clear()


def _facts(signed: SignedRequest) -> tuple[Any, ...]:
    return (signed.canonical_request, signed.headers, signed.signature, signed.payload_hash)


COLD = {}
for _name in VARIANTS:
    _forget()
    COLD[_name] = _facts(_sign(_name))


FRESH = [v for v in VARIANTS if v.startswith("fresh")]
PAIRINGS = list(itertools.permutations([v for v in VARIANTS if v not in FRESH], 2))
PAIRINGS += list(itertools.permutations([*FRESH, "plain", "pairs", "token"], 2))


@pytest.mark.parametrize(("first", "then"), PAIRINGS)
def test_a_warm_memo_gives_the_cold_answer(first: str, then: str) -> None:
    _forget()
    _sign(first)
    assert _facts(_sign(then)) == COLD[then]
    assert _facts(_sign(then)) == COLD[then]  # served from the memo tables this time


@pytest.mark.parametrize("variant", FRESH)
def test_fresh_headers_sign_as_ordinary_ones(variant: str, monkeypatch: Any) -> None:
    # The cold answers above were themselves signed with the fresh-header memo: here the same
    # calls are signed with no header treated as fresh.
    monkeypatch.setattr(_signer, "FRESH_HEADERS", frozenset())
    _forget()
    assert _facts(_sign(variant)) == COLD[variant]


def test_fresh_values_are_checked_on_a_memo_hit() -> None:
    from sigv4 import SigningError

    _forget()
    _sign("fresh")
    for bad in ("a\r\nx: y", "a\x00", 5):
        with pytest.raises(SigningError, match="amz-sdk-request"):
            _post([*PAIRS, ("amz-sdk-invocation-id", "id-1"), ("amz-sdk-request", bad)])


def test_fresh_values_do_not_fill_the_memo_tables() -> None:
    _forget()
    for i in range(20):
        headers = [*PAIRS, ("amz-sdk-invocation-id", f"id-{i}"), ("amz-sdk-request", f"a={i}")]
        _post(headers)
    assert len(_signer._header_memo) == len(_signer._block_memo) == 1
    assert not {f"id-{i}" for i in range(20)} & set(_canonical._value_cache)


def test_the_variants_differ_where_they_should() -> None:
    # Otherwise the test above could not tell a wrong memo hit from a right one.
    assert COLD["s3_style"][0] != COLD["plain"][0]
    assert COLD["add_content_sha256"][1] != COLD["plain"][1]
    assert COLD["token"][0] != COLD["other token"][0]
    assert COLD["other host"][0] != COLD["plain"][0]


def test_add_content_sha256_replaces_the_given_hash_after_a_memoised_call() -> None:
    _forget()
    kept = _sign("plain")
    replaced = _sign("add_content_sha256")
    assert ("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") in kept.headers
    names = [n.lower() for n, _ in replaced.headers]
    assert names.count("x-amz-content-sha256") == 1
    assert replaced.payload_hash != "UNSIGNED-PAYLOAD"


def test_errors_show_at_most_16_characters_of_a_bad_scheme_or_port() -> None:
    from sigv4 import SigningError
    from sigv4._canonical import split_url

    with pytest.raises(SigningError) as info:
        split_url("abcdefghijklmnopqrstuvwxyz://host/")
    assert "'abcdefghijklmnop')" in str(info.value)
    with pytest.raises(SigningError) as info:
        split_url("https://host:12345678901234567890/")
    assert "'1234567890123456'" in str(info.value)


def test_percent_decoding_edges_of_the_query() -> None:
    from sigv4._canonical import canonical_query

    assert canonical_query("a=%4") == "a=%254"  # a cut escape is a literal percent
    assert canonical_query("a=%") == "a=%25"
    assert canonical_query("x=%a1%2a%F0") == "x=%A1%2A%F0"  # lower-case hex decodes too
    assert canonical_query("x=%g1") == "x=%25g1"


def test_canonical_memo_tables_stay_bounded() -> None:
    from sigv4._canonical import _CACHE_MAX, fold_value, header_name

    _forget()
    names, values = [], []
    for i in range(_CACHE_MAX + 10):
        header_name(f"X-H{i}")
        fold_value("x", f"v{i}")
        names.append(len(_canonical._name_cache))
        values.append(len(_canonical._value_cache))
    assert max(names) == max(values) == _CACHE_MAX
    assert names[_CACHE_MAX] == values[_CACHE_MAX] == 1  # full: cleared, then the new one


def test_only_short_header_values_are_memoised() -> None:
    from sigv4._canonical import fold_value

    _forget()
    fold_value("x", "a" * 256)
    fold_value("x", "b" * 257)
    assert list(_canonical._value_cache) == ["a" * 256]


def test_repeated_calls_are_served_from_the_memo_tables() -> None:
    _forget()
    _sign("plain")
    assert len(_signer._header_memo) == len(_signer._block_memo) == 1
    _sign("plain")
    assert len(_signer._header_memo) == len(_signer._block_memo) == 1
    _sign("add_content_sha256")  # the payload hash is in its block: never memoised
    assert len(_signer._block_memo) == 1


def test_hex_digits_end_at_9_f_and_F() -> None:
    from sigv4._canonical import canonical_query

    assert canonical_query("a=%3:&b=%4G&c=%4g&d=%@1") == "a=%253%3A&b=%254G&c=%254g&d=%25%401"


def test_unknown_authorization_component_is_shown_cut_at_32_characters() -> None:
    from sigv4 import SigningError, parse_authorization

    key = "K" * 40
    with pytest.raises(SigningError) as info:
        parse_authorization(f"AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, {key}=x")
    assert f"'{'K' * 32}'" in str(info.value)


@pytest.mark.parametrize("value", [["a"], {"a": 1}, 5, None])
def test_a_value_that_is_not_a_str_is_refused_before_any_memo(value: Any) -> None:
    from sigv4 import SigningError

    with pytest.raises(SigningError, match="value must be a str"):
        _canonical.fold_value("X-Custom", value)
    with pytest.raises(SigningError, match="value must be a str"):
        _post({"X-Custom": value})


def test_one_fresh_header_does_not_fill_the_memo_tables() -> None:
    _forget()
    for i in range(5):
        _post([*PAIRS, ("amz-sdk-request", f"a={i}")])
    assert len(_signer._header_memo) == len(_signer._block_memo) == 1


def test_the_header_memo_stays_bounded() -> None:
    _forget()
    sizes = []
    for i in range(_signer._MEMO_MAX + 3):
        _post({"X-Custom": f"v{i}"})
        sizes.append(len(_signer._header_memo))
    assert max(sizes) == _signer._MEMO_MAX
    assert sizes[_signer._MEMO_MAX] == 1  # full: cleared, then the new one


def test_canonical_caches_are_cleared_when_full_never_overfilled() -> None:
    # one entry past the bound: the table is cleared first, so it never holds more
    bound = _canonical._CACHE_MAX
    _canonical._url_cache.clear()
    _canonical._name_cache.clear()
    _canonical._value_cache.clear()
    for i in range(bound + 1):
        _canonical.url_parts(f"https://h{i}.example.com/")
        _canonical.header_name(f"X-H{i}")
        _canonical.fold_value("x", f"v{i}")
        assert len(_canonical._url_cache) <= bound
        assert len(_canonical._name_cache) <= bound
        assert len(_canonical._value_cache) <= bound
    assert len(_canonical._url_cache) == len(_canonical._name_cache) == 1


def test_header_values_up_to_256_characters_are_memoised() -> None:
    _canonical._value_cache.clear()
    _canonical.fold_value("x", "a" * 256)
    _canonical.fold_value("x", "b" * 257)
    assert list(_canonical._value_cache) == ["a" * 256]


def test_url_parts_normalises_the_path_unless_s3_style() -> None:
    _canonical._url_cache.clear()
    url = "https://h/a/../b%2Fc"
    assert _canonical.url_parts(url) == ("h", "/b%252Fc", "")
    assert _canonical.url_parts(url) == _canonical.url_parts(url, False)
    assert _canonical.url_parts(url, True) == ("h", "/a/../b%2Fc", "")


def test_split_url_ports_at_their_bounds_and_an_unterminated_ipv6_host() -> None:
    from sigv4 import SigningError
    from sigv4._canonical import split_url

    assert split_url("https://host:1/")[1] == "host:1"
    assert split_url("https://host:65535/")[1] == "host:65535"
    assert split_url("http://[::1]:1/")[1] == "[::1]:1"
    for port in ("0", "65536"):
        with pytest.raises(SigningError, match="invalid port"):
            split_url(f"https://host:{port}/")
    with pytest.raises(SigningError, match="unterminated IPv6"):
        split_url("https://[::1/x")


def test_signing_key_cache_evicts_the_least_recently_used() -> None:
    _signer.clear_signing_key_cache()
    size = _signer._KEY_CACHE_SIZE
    for i in range(size):
        _signer._key_state(f"secret-{i}", "20240101", "us-east-1", "sagemaker")
    _signer._key_state("secret-0", "20240101", "us-east-1", "sagemaker")  # a hit: now newest
    _signer._key_state("secret-new", "20240101", "us-east-1", "sagemaker")
    held = {key[0] for key in _signer._KEY_CACHE}
    digest = hashlib.sha256
    assert len(held) == size
    assert digest(b"secret-0").digest() in held
    assert digest(b"secret-new").digest() in held
    assert digest(b"secret-1").digest() not in held  # the oldest untouched one went
    _signer.clear_signing_key_cache()


def test_invalid_method_error_shows_its_first_16_characters() -> None:
    from sigv4 import SigningError

    with pytest.raises(SigningError) as info:
        _signer._method("ABCDEFGHIJKLMNOPQRST UVW")
    assert str(info.value) == "invalid HTTP method 'ABCDEFGHIJKLMNOP'"


def test_method_and_scope_parts_of_the_wrong_type_are_signing_errors() -> None:
    from sigv4 import SigningError

    for bad in (["GET"], None, 5):
        with pytest.raises(SigningError):
            _signer._method(bad)
        with pytest.raises(SigningError):
            _signer._scope_part("region", bad)


def test_scope_part_memo_is_bounded_and_errors_show_32_characters() -> None:
    from sigv4 import SigningError

    _signer._valid_scope_parts.clear()
    for i in range(300):
        assert _signer._scope_part("region", f"region-{i}") == f"region-{i}"
        assert len(_signer._valid_scope_parts) <= 256
    assert len(_signer._valid_scope_parts) == 256
    with pytest.raises(SigningError) as info:
        _signer._scope_part("region", "x" * 40 + " y")
    assert f"invalid region {'x' * 32!r}:" in str(info.value)


def test_timestamps_of_a_second_equal_to_the_day_number() -> None:
    # day 20000 since the epoch (2024-10-04) at second 20000 of that day (05:33:20), after
    # another second of the same day: computed, not taken from the last call
    _signer._last_stamp = _signer._NO_STAMP
    day = dt.datetime(2024, 10, 4, tzinfo=dt.timezone.utc)
    assert (day - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).days == 20000
    assert _signer._timestamps(day + dt.timedelta(seconds=7)) == ("20241004T000007Z", "20241004")
    got = _signer._timestamps(day + dt.timedelta(seconds=20000))
    assert got == ("20241004T053320Z", "20241004")


def test_now_whose_tzinfo_gives_no_offset_is_refused() -> None:
    from sigv4 import SigningError

    class NoOffset(dt.tzinfo):
        def utcoffset(self, when: dt.datetime | None) -> None:
            return None

    with pytest.raises(SigningError, match="timezone-aware"):
        _signer._timestamps(dt.datetime(2024, 1, 1, tzinfo=NoOffset()))


def test_invalid_header_name_error_shows_64_characters() -> None:
    from sigv4 import SigningError

    with pytest.raises(SigningError) as info:
        _canonical.header_name("n" * 70 + " x")
    assert str(info.value) == f"invalid header name {'n' * 64!r}"


def test_signer_memo_tables_are_cleared_when_full_never_overfilled() -> None:
    _forget()
    bound = _signer._MEMO_MAX
    for i in range(bound + 1):
        _post({"X-Custom": f"v{i}"})
        assert len(_signer._header_memo) <= bound
        assert len(_signer._block_memo) <= bound
    assert len(_signer._header_memo) == len(_signer._block_memo) == 1


def test_a_method_that_is_not_a_string_is_a_signing_error() -> None:
    from sigv4 import SigningError

    with pytest.raises(SigningError, match="invalid HTTP method 'list'"):
        sign(
            ["GET"],
            URL,
            {},
            b"",
            region="us-east-1",
            service="sagemaker",  # type: ignore[arg-type]
            credentials=KEYS,
            now=NOW,
        )


def test_parse_authorization_edges() -> None:
    from sigv4 import SigningError, parse_authorization

    sig = "a" * 64
    good = "AWS4-HMAC-SHA256 Credential=AK/ID/20240101/r/s/aws4_request, SignedHeaders=host, "
    assert parse_authorization(good + f"Signature={sig}").access_key_id == "AK/ID"
    for signature in ("a" * 63, "g" * 64):
        with pytest.raises(SigningError, match="Signature must be 64"):
            parse_authorization(good + f"Signature={signature}")
    cases = [
        (
            "X" * 40
            + f" Credential=A/20240101/r/s/aws4_request, SignedHeaders=host, Signature={sig}",
            f"algorithm {'X' * 32!r}, expected",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=A/{'1' * 20}/r/s/aws4_request, SignedHeaders=host, "
            f"Signature={sig}",
            f"credential date {'1' * 16!r} is not",
        ),
        (
            f"AWS4-HMAC-SHA256 Credential=A/20240101/r/s/{'t' * 40}, SignedHeaders=host, "
            f"Signature={sig}",
            f"scope ends with {'t' * 32!r}, expected",
        ),
    ]
    for value, words in cases:
        with pytest.raises(SigningError) as info:
            parse_authorization(value)
        assert words in str(info.value)


def test_presigned_url_expires_in_900_seconds_by_default() -> None:
    from sigv4 import presign

    url = presign("GET", URL, credentials=KEYS, region="us-east-1", service="sagemaker", now=NOW)
    assert "X-Amz-Expires=900&" in url
