"""Cold start: what ``import smruntime`` + ``Client(...)`` + one call imports in a fresh process.

The client's common path (explicit keys and region, ``transport="stdlib"``) must not import
modules it only needs elsewhere: each of these costs milliseconds of start-up (dataclasses pulls
in inspect; logging, urllib.request, uuid, configparser) or belongs to another feature (the record
views, ``eventstream.describe``, the credential providers). Only modules imported *after* the
process started count, so what the interpreter's own start-up (site, a coverage hook) imported is
not held against the client; none of these is imported by the standard-library modules the
client needs (http.client, ssl, json, hashlib, ...) on Python 3.9 to 3.13.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .scripted_server import Received, Reply, ScriptedServer

ROOT = Path(__file__).resolve().parents[2]

NOT_ON_THE_COMMON_PATH = (
    "requests",
    "urllib.request",
    "dataclasses",
    "logging",
    "uuid",
    "smruntime.records",
    "eventstream._describe",
    "sigv4._providers",
    "configparser",
)

CLIENT = (
    "smruntime.Client(region_name='us-east-1', endpoint_url={url!r}, aws_access_key_id='AKID', "
    "aws_secret_access_key='secret', transport='stdlib')"
)


def _imported_by(code: str, watched: tuple[str, ...] = NOT_ON_THE_COMMON_PATH) -> list[str]:
    """The modules of *watched* that ``code`` imports in a fresh interpreter."""
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"{code}\n"
        f"watched = {watched!r}\n"
        "print(__import__('json').dumps("
        "[m for m in watched if m in sys.modules and m not in before]))\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and not k.lower().endswith("_proxy")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    ).stdout
    result: list[str] = json.loads(out.strip().splitlines()[-1])
    return result


def test_import_and_client_import_nothing_off_the_common_path() -> None:
    code = "import smruntime\n" + CLIENT.format(url="http://127.0.0.1:9")
    assert _imported_by(code) == []


def test_one_call_imports_nothing_off_the_common_path() -> None:
    def handler(request: Received) -> Reply:
        return Reply(200, [("Content-Type", "application/json")], [b'{"ok": true}'])

    with ScriptedServer(handler) as srv:
        code = (
            "import smruntime\n"
            f"client = {CLIENT.format(url=srv.url)}\n"
            "body = client.invoke_endpoint(EndpointName='e', Body=b'{}')['Body'].read()\n"
            "assert body == b'{\"ok\": true}', body\n"
            "client.close()"
        )
        assert _imported_by(code) == []


def test_ssl_waits_for_the_first_https_connection() -> None:
    # ``ssl`` (and the CA store) cost about 10 ms: an http:// endpoint (a local container, the
    # emulator) never needs them (nor checks the CA bundle's path).
    def handler(request: Received) -> Reply:
        return Reply(200, [("Content-Type", "application/json")], [b"{}"])

    with ScriptedServer(handler) as srv:
        code = (
            "import smruntime\n"
            f"client = {CLIENT.format(url=srv.url)}\n"
            "client.invoke_endpoint(EndpointName='e', Body=b'{}')['Body'].read()\n"
            "client.close()"
        )
        assert _imported_by(code, ("ssl", "smruntime.http._tls")) == []


def test_the_watched_modules_are_still_importable_on_demand() -> None:
    # The lazy names resolve (and import their modules) on first use.
    code = (
        "import eventstream, smruntime, sigv4\n"
        "eventstream.describe, eventstream.FrameInfo, eventstream.HeaderValue\n"
        "sigv4.default_chain\n"
        "smruntime.Client(region_name='us-east-1', aws_access_key_id='AKID', "
        "aws_secret_access_key='secret', transport='stdlib')"
        ".invoke_endpoint_with_response_stream\n"
        "import smruntime._stream_core as s\n"
        "s._limit(None)"
    )
    imported = _imported_by(code)
    for name in ("eventstream._describe", "uuid", "sigv4._providers", "smruntime.records"):
        assert name in imported


# -- the environment proxy lookup that replaces urllib.request's --------------------------------

PROXY_ENVIRONS = [
    {},
    {"HTTP_PROXY": "http://upper:1"},
    {"http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:1"},
    {"HTTPS_PROXY": "http://s:3128", "ALL_PROXY": "http://all:1", "NO_PROXY": "example.com"},
    {"https_proxy": "", "HTTPS_PROXY": "http://upper:2"},
    {"HTTP_PROXY": "http://upper:1", "REQUEST_METHOD": "GET"},
    {"http_proxy": "http://lower:1", "REQUEST_METHOD": "GET"},
    {"Http_Proxy": "http://mixed:1", "no_proxy": "*"},
]


def test_environ_proxies_agree_with_urllib(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    from smruntime.http._config import environ_proxies

    for environ in PROXY_ENVIRONS:
        for name in list(os.environ):
            if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
                monkeypatch.delenv(name)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        assert environ_proxies(os.environ) == urllib.request.getproxies_environment(), environ


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypass"),
    [
        ("example.com", 443, None, False),
        ("example.com", 443, "", False),
        ("example.com", 443, "*", True),
        ("example.com", 443, "example.com", True),
        ("EXAMPLE.com", 443, "Example.COM", True),
        ("api.example.com", 443, "example.com", True),
        ("api.example.com", 443, ".example.com", True),
        ("badexample.com", 443, "example.com", False),
        ("example.com", 443, "other.org, example.com", True),
        ("example.com", 443, " , other.org", False),
        ("example.com", 8080, "example.com:8080", True),
        ("api.example.com", 8080, "example.com:8080", True),
        ("example.com", 443, "example.com:8080", False),
        ("127.0.0.1", 80, "127.0.0.1", True),
        ("::1", 443, "::1", True),
        ("::1", 443, "[::1]:443", True),
        ("::1", 80, "[::1]:443", False),
        ("::1", 443, "[::1]", True),  # bracketed, as in a URL (urllib and botocore take it)
        ("::2", 443, "[::1]", False),
        # CIDR blocks match IP literals (any port), never host names: no name is resolved
        ("10.1.2.3", 443, "10.0.0.0/8", True),
        ("10.255.255.255", 80, "10.0.0.0/8", True),
        ("11.0.0.0", 443, "10.0.0.0/8", False),
        ("9.255.255.255", 443, "10.0.0.0/8", False),
        ("127.0.0.1", 8080, "example.com, 127.0.0.0/8", True),
        ("127.0.0.1", 443, "127.0.0.1/32", True),
        ("127.0.0.2", 443, "127.0.0.1/32", False),
        ("10.0.0.1", 443, "10.0.0.7/8", True),  # host bits set: the block they are in
        ("::1", 443, "::1/128", True),
        ("::2", 443, "::1/128", False),
        ("fd12:3456::1", 443, "fd00::/8", True),
        ("FD12::1", 443, "FD00::/8", True),
        ("fe12::1", 443, "fd00::/8", False),
        ("fd12::1", 443, "[fd00::/8]", True),
        ("fd12::1", 443, ".fd00::/8", True),
        ("10.1.2.3", 443, "::/0", False),  # another IP version
        ("::ffff:10.1.2.3", 443, "10.0.0.0/8", False),
        ("localhost", 443, "127.0.0.0/8", False),  # a name is not looked up
        ("10.example.com", 443, "10.0.0.0/8", False),
        ("example.com", 443, "0.0.0.0/0", False),
        # malformed entries are ignored (the others still apply), never an error
        ("10.1.2.3", 443, "10.0.0.0/33", False),
        ("10.1.2.3", 443, "10.0.0.0/", False),
        ("10.1.2.3", 443, "/8", False),
        ("10.1.2.3", 443, "10.0.0.0/8/8", False),
        ("10.1.2.3", 443, "10.0.0.0/x", False),
        ("10.1.2.3", 443, "10.0.0.0/8:443", False),
        ("example.com", 443, "example.com/8", False),
        ("10.1.2.3", 443, "10.0.0.0/33, 10.1.2.3", True),
        ("10.1.2.3", 443, "bad/8, 10.0.0.0/8", True),
        ("api.example.com", 443, "10.0.0.0/8, example.com", True),
    ],
)
def test_no_proxy_matching(host: str, port: int, no_proxy: str | None, bypass: bool) -> None:
    from smruntime.http._config import bypass_proxy

    assert bypass_proxy(host, port, no_proxy) is bypass


# -- the plain classes that replaced dataclasses keep their behaviour ---------------------------


def _assert_frozen(obj: object, field: str) -> None:
    with pytest.raises(AttributeError):
        setattr(obj, field, None)
    with pytest.raises(AttributeError):
        delattr(obj, field)


def test_config_is_a_frozen_value_with_replace() -> None:
    import pickle

    from smruntime import Config

    cfg = Config(read_timeout=5.0, proxies=None)
    assert cfg == Config(read_timeout=5.0)
    assert cfg != Config()
    assert hash(cfg) == hash(Config(read_timeout=5.0))
    assert cfg.max_pool_connections == 10
    assert cfg.correct_clock_skew is True
    _assert_frozen(cfg, "read_timeout")
    changed = cfg.replace(verify=False, max_attempts=2)
    assert (changed.verify, changed.max_attempts, changed.read_timeout) == (False, 2, 5.0)
    assert cfg.verify is None  # unchanged
    with pytest.raises(TypeError):
        cfg.replace(no_such_option=1)
    assert pickle.loads(pickle.dumps(changed)) == changed
    assert repr(Config()).startswith("Config(connect_timeout=None, read_timeout=None, ")
    assert ", retry_model_not_ready=False, region_name=None, " in repr(Config())
    assert repr(Config()).endswith(", defaults_mode=None, max_body_bytes=None, inert={})")


def test_credentials_value_semantics() -> None:
    import datetime as dt
    import pickle
    import weakref

    from sigv4 import Credentials

    exp = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    creds = Credentials("AKIDEXAMPLE", "secret-key", "tok-SECRET", exp)
    same = Credentials(
        "AKIDEXAMPLE", secret_access_key="secret-key", session_token="tok-SECRET", expiration=exp
    )
    assert creds == same
    assert hash(creds) == hash(same)
    assert creds != Credentials("AKIDEXAMPLE", "other-key", "tok-SECRET", exp)
    _assert_frozen(creds, "secret_access_key")
    assert pickle.loads(pickle.dumps(creds)) == creds
    assert weakref.ref(creds)() is creds
    text = repr(creds)
    assert "secret-key" not in text
    assert "tok-SECRET" not in text
    assert "AKID****" in text
    with pytest.raises(ValueError, match="access_key_id"):
        Credentials("", "secret")


def test_signer_values_are_frozen() -> None:
    import datetime as dt
    import pickle

    from sigv4 import Credentials, parse_authorization, sign

    signed = sign(
        "GET",
        "https://example.com/",
        {},
        credentials=Credentials("AKIDEXAMPLE", "secret"),
        region="us-east-1",
        service="s3",
        now=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    )
    _assert_frozen(signed, "signature")
    assert pickle.loads(pickle.dumps(signed)) == signed
    parsed = parse_authorization(signed.authorization)
    assert parsed == parse_authorization(signed.authorization)
    assert hash(parsed) == hash(parse_authorization(signed.authorization))
    _assert_frozen(parsed, "signature")
    assert signed.signature not in repr(signed)
    assert signed.signature not in repr(parsed)


def test_http_and_retry_values() -> None:
    from smruntime._http import HttpRequest
    from smruntime._retries import RetryConfig, RetryDecision
    from smruntime._stream import StreamStats
    from smruntime.http._config import Deadlines

    req = HttpRequest("GET", "https://h/")
    assert req.headers == []
    assert req.body == b""
    assert req == HttpRequest("GET", "https://h/", [], b"")
    assert repr(req) == "HttpRequest(method='GET', url='https://h/', headers=[], body=<0 bytes>)"
    signed = HttpRequest(
        "POST",
        "https://h/",
        [
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x, Signature=" + "a" * 64),
            ("X-Amz-Security-Token", "SESSIONTOKEN"),
        ],
        b"secret body",
    )
    assert "SESSIONTOKEN" not in repr(signed)
    assert "a" * 64 not in repr(signed)
    assert "secret body" not in repr(signed)
    _assert_frozen(req, "url")
    assert Deadlines() == Deadlines(None, None, None, None)
    assert hash(Deadlines(1, 2)) == hash(Deadlines(1, 2, None, None))
    assert repr(Deadlines(1, None)) == (
        "Deadlines(connect=1, headers=None, between=None, total=None)"
    )
    _assert_frozen(Deadlines(), "total")
    assert repr(RetryConfig()) == (
        "RetryConfig(mode='standard', total_max_attempts=3, retry_after_send=False, "
        "retry_model_not_ready=False)"
    )
    assert RetryDecision(True, 0.5, "x") == RetryDecision(True, 0.5, "x")
    _assert_frozen(RetryDecision(True, 0.5, "x"), "delay")
    stats = StreamStats()
    stats.events += 1
    assert stats == StreamStats(events=1)
    assert stats.event_times == []
    assert StreamStats().event_times is not StreamStats().event_times
    with pytest.raises(TypeError):
        hash(stats)


def test_invocation_id_is_a_uuid4() -> None:
    import uuid

    from smruntime._call import invocation_id

    ids = {invocation_id() for _ in range(200)}
    assert len(ids) == 200
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_invocation_ids_drawn_in_batches_are_unique_across_threads() -> None:
    # Ids come 64 to a draw, handed out by list.pop without a lock: threads racing through
    # many refills never get the same one.
    import threading
    import uuid

    from smruntime._call import invocation_id

    got: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def take(out: list[str]) -> None:
        start.wait()
        out.extend(invocation_id() for _ in range(500))

    threads = [threading.Thread(target=take, args=(out,)) for out in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for out in got for i in out]
    assert len(set(ids)) == len(ids) == 4000
    assert all(uuid.UUID(i).version == 4 for i in ids)
