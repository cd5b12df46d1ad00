"""``smruntime sign``: show how a request is signed, and a curl command that sends it."""

from __future__ import annotations

import argparse
import datetime as _dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

from smruntime.cli._errors import EXIT_OK, UsageError
from smruntime.cli._input import read_body
from smruntime.cli._output import err, out_text

if TYPE_CHECKING:
    from sigv4 import Credentials

_REGION_IN_HOST = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$")


def cmd_sign(args: argparse.Namespace) -> int:
    """``smruntime sign``: show how a request is signed, and a curl command that sends it."""
    import shlex

    from sigv4 import sign

    headers = _parse_headers(args.header)
    body, body_file = read_body(args.body)
    now = _parse_date(args.date) if args.date else _dt.datetime.now(_dt.timezone.utc)
    region = args.region or _region_from_url(args.url)
    if region is None:
        from sigv4._region import resolve_region

        region = resolve_region(None, profile=args.profile)
    creds = _sign_credentials(args)
    method = args.method.upper()
    signed = sign(
        method,
        args.url,
        headers,
        body,
        credentials=creds,
        region=region,
        service=args.service,
        now=now,
    )
    show = args.show_secrets

    def hide(text: str) -> str:
        if show:
            return text
        text = text.replace(signed.signature, "****")
        if creds.session_token:
            text = text.replace(creds.session_token, "****")
        return text.replace(creds.access_key_id, _mask_key(creds.access_key_id))

    authorization = next(
        (value for name, value in signed.headers if name.lower() == "authorization"), ""
    )
    out_text("# Canonical request\n" + hide(signed.canonical_request) + "\n\n")
    out_text("# String to sign\n" + signed.string_to_sign + "\n\n")
    out_text("# Authorization\n" + hide(authorization) + "\n\n")
    curl = ["curl", "-sS", "-X", method]
    if args.url.rstrip("/").endswith("invocations-response-stream"):
        curl.append("--no-buffer")
    for name, value in signed.headers:
        curl += ["-H", f"{name}: {hide(value)}"]
    if body_file is not None:
        curl += ["--data-binary", "@" + body_file]
    elif body:
        try:
            curl += ["--data-binary", body.decode("utf-8")]
        except UnicodeDecodeError:
            curl += ["--data-binary", "@BODY_FILE"]
    curl.append(args.url)
    out_text("# curl\n" + " ".join(shlex.quote(part) for part in curl) + "\n")
    if not show:
        err("(signature, session token and access key id masked: --show-secrets to print them)")
    return EXIT_OK


def _parse_date(text: str) -> _dt.datetime:
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S"):
        try:
            return _dt.datetime.strptime(text, fmt).replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            continue
    raise UsageError(f"--date {text!r}: expected YYYYMMDDTHHMMSSZ, e.g. 20150830T123600Z")


def _parse_headers(raw: Sequence[str]) -> list[tuple[str, str]]:
    headers = []
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header {item!r}: expected NAME:VALUE")
        headers.append((name.strip(), value.strip()))
    return headers


def _region_from_url(url: str) -> Optional[str]:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    match = _REGION_IN_HOST.search(host)
    return match.group(1) if match else None


def _sign_credentials(args: argparse.Namespace) -> Credentials:
    from sigv4 import Credentials
    from sigv4._providers import default_chain
    from sigv4.exceptions import NoCredentialsError

    if args.access_key_id or args.secret_access_key:
        if not (args.access_key_id and args.secret_access_key):
            raise UsageError("--access-key-id and --secret-access-key go together")
        return Credentials(args.access_key_id, args.secret_access_key, args.session_token)
    loaded = default_chain(profile=args.profile).load()
    if loaded is None:
        raise NoCredentialsError()
    creds: Credentials = loaded.get()
    return creds


def _mask_key(value: str) -> str:
    return value[:4] + "****" if len(value) > 4 else "****"
