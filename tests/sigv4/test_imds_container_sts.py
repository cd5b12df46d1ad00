"""IMDS, container and STS providers against real loopback HTTP servers (threads, port 0)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from sigv4._credentials import Credentials
from sigv4._http import HttpFetchError, HttpResult, is_direct_host, urllib_fetch
from sigv4._providers import (
    AssumeRoleProvider,
    ContainerProvider,
    InstanceMetadataProvider,
    ProfileProvider,
    WebIdentityProvider,
)
from sigv4._refresh import RefreshableCredentials
from sigv4._sts import assume_role, assume_role_with_web_identity, sts_endpoint
from sigv4.exceptions import CredentialProviderError

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
LATER = NOW + dt.timedelta(hours=6)
SECRET = "sEcReT/For+Tests/0123456789abcdefghijkl"
TOKEN = "SeSsIoNtOkEnVaLuE-very-secret"
AUTH_TOKEN = "ContainerAuthZ-secret-token"


def clock() -> dt.datetime:
    return NOW


Reply = tuple[int, dict[str, str], bytes]
Route = Callable[["Request"], Reply]


class Request:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


class Server:
    """A loopback HTTP server answering from ``routes[(method, path)]`` and recording requests."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[Request] = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                req = Request(self.command, self.path, headers, body)
                server.requests.append(req)
                route = server.routes.get((self.command, self.path))
                status, hdrs, data = route(req) if route else (404, {}, b"not found")
                self.send_response(status)
                for key, value in hdrs.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            do_GET = do_PUT = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def route(self, method: str, path: str, reply: Route | Reply) -> None:
        if callable(reply):
            self.routes[(method, path)] = reply
        else:
            fixed = reply
            self.routes[(method, path)] = lambda _req: fixed

    def paths(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    try:
        yield srv
    finally:
        srv.close()


def creds_json(exp: dt.datetime = LATER, **extra: Any) -> bytes:
    doc = {
        "Code": "Success",
        "LastUpdated": "2024-05-01T11:00:00Z",
        "Type": "AWS-HMAC",
        "AccessKeyId": "ASIAIMDSEXAMPLE",
        "SecretAccessKey": SECRET,
        "Token": TOKEN,
        "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    doc.update(extra)
    return json.dumps(doc).encode()


def assert_no_secret(text: str) -> None:
    for secret in (SECRET, TOKEN, AUTH_TOKEN, "imds-token-value"):
        assert secret not in text


# --------------------------------------------------------------------------- urllib_fetch


def test_urllib_fetch_returns_error_statuses_and_headers(server: Server) -> None:
    server.route("GET", "/x", (503, {"X-Thing": "1"}, b"busy"))
    res = urllib_fetch("GET", server.base + "/x", {}, None, 2.0)
    assert res.status == 503
    assert res.body == b"busy"
    assert res.headers["x-thing"] == "1"


def test_urllib_fetch_does_not_follow_redirects(server: Server) -> None:
    server.route("GET", "/r", (302, {"Location": "http://example.invalid/"}, b""))
    res = urllib_fetch("GET", server.base + "/r", {"Authorization": "x"}, None, 2.0)
    assert res.status == 302
    assert server.paths() == [("GET", "/r")]


def test_urllib_fetch_connection_refused() -> None:
    srv = Server()
    base = srv.base
    srv.close()
    with pytest.raises(HttpFetchError) as info:
        urllib_fetch("GET", base + "/", {}, None, 2.0)
    assert not info.value.timeout
    assert base in str(info.value)


def test_urllib_fetch_timeout(server: Server) -> None:
    def slow(_req: Request) -> Reply:
        server.release.wait(5)
        return 200, {}, b"late"

    server.route("GET", "/slow", slow)
    with pytest.raises(HttpFetchError) as info:
        urllib_fetch("GET", server.base + "/slow", {}, None, 0.2)
    assert info.value.timeout


def test_urllib_fetch_bypasses_proxy_for_loopback(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = Server()
    proxy = dead.base
    dead.close()
    monkeypatch.setenv("http_proxy", proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    server.route("GET", "/p", (200, {}, b"direct"))
    assert urllib_fetch("GET", server.base + "/p", {}, None, 2.0).body == b"direct"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "nonsense"])
def test_urllib_fetch_only_http(url: str) -> None:
    with pytest.raises(HttpFetchError, match="unsupported URL scheme"):
        urllib_fetch("GET", url, {}, None, 1.0)


def test_direct_hosts() -> None:
    assert is_direct_host("169.254.169.254")
    assert is_direct_host("127.0.0.1")
    assert is_direct_host("[fd00:ec2::254]")
    assert is_direct_host("localhost")
    assert not is_direct_host("sts.amazonaws.com")
    assert not is_direct_host("10.0.0.1")


# --------------------------------------------------------------------------- IMDS


def imds(server: Server, **kw: Any) -> InstanceMetadataProvider:
    env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": server.base, **kw.pop("env", {})}
    return InstanceMetadataProvider(environ=env, clock=clock, timeout=kw.pop("timeout", 2.0), **kw)


ROLE_LIST = "/latest/meta-data/iam/security-credentials/"


def test_imds_v2_token_flow(server: Server) -> None:
    def token(req: Request) -> Reply:
        assert req.headers["x-aws-ec2-metadata-token-ttl-seconds"] == "21600"
        return 200, {}, b"imds-token-value"

    def role_list(req: Request) -> Reply:
        assert req.headers.get("x-aws-ec2-metadata-token") == "imds-token-value"
        return 200, {}, b"my-role\n"

    def role(req: Request) -> Reply:
        assert req.headers.get("x-aws-ec2-metadata-token") == "imds-token-value"
        return 200, {}, creds_json()

    server.route("PUT", "/latest/api/token", token)
    server.route("GET", ROLE_LIST, role_list)
    server.route("GET", ROLE_LIST + "my-role", role)
    result = imds(server).load()
    assert isinstance(result, RefreshableCredentials)
    creds = result.get()
    assert creds.access_key_id == "ASIAIMDSEXAMPLE"
    assert creds.secret_access_key == SECRET
    assert creds.session_token == TOKEN
    assert creds.expiration == LATER
    assert server.paths() == [
        ("PUT", "/latest/api/token"),
        ("GET", ROLE_LIST),
        ("GET", ROLE_LIST + "my-role"),
    ]
    assert_no_secret(repr(result))


@pytest.mark.parametrize("status", [403, 404, 405])
def test_imds_v1_fallback(server: Server, status: int) -> None:
    server.route("PUT", "/latest/api/token", (status, {}, b""))
    server.route("GET", ROLE_LIST, (200, {}, b"r1"))
    server.route("GET", ROLE_LIST + "r1", (200, {}, creds_json()))
    result = imds(server).load()
    assert result is not None
    assert result.get().access_key_id == "ASIAIMDSEXAMPLE"
    assert all("x-aws-ec2-metadata-token" not in r.headers for r in server.requests[1:])


def test_imds_v1_disabled_is_an_error(server: Server) -> None:
    server.route("PUT", "/latest/api/token", (403, {}, b""))
    provider = imds(server, env={"AWS_EC2_METADATA_V1_DISABLED": "true"})
    with pytest.raises(CredentialProviderError, match="IMDSv1 is disabled"):
        provider.load()


@pytest.mark.parametrize(
    "body", [b"imds-token-value\nX", b"imds-token-value\rX", b"imds-token-value\x00", b"t\xc3\xa9"]
)
def test_imds_malformed_token_rejected_without_quoting(server: Server, body: bytes) -> None:
    server.route("PUT", "/latest/api/token", (200, {}, body))
    with pytest.raises(CredentialProviderError, match="non-printable") as info:
        imds(server).load()
    assert_no_secret(str(info.value))
    assert server.paths() == [("PUT", "/latest/api/token")]


def test_urllib_fetch_value_error_does_not_quote_headers(server: Server) -> None:
    # http.client's "Invalid header value b'...'" would carry the token into logs and errors.
    with pytest.raises(HttpFetchError) as info:
        urllib_fetch("GET", server.base + "/x", {"x-token": "imds-token-value\nX"}, None, 2.0)
    assert "ValueError" in str(info.value)
    assert_no_secret(str(info.value))


def test_imds_token_400_gives_no_credentials(server: Server) -> None:
    server.route("PUT", "/latest/api/token", (400, {}, b""))
    assert imds(server).load() is None
    assert server.paths() == [("PUT", "/latest/api/token")]


def test_imds_no_role_attached(server: Server) -> None:
    server.route("PUT", "/latest/api/token", (200, {}, b"imds-token-value"))
    # ROLE_LIST is not routed: 404
    assert imds(server).load() is None


def test_imds_500_is_a_provider_error(server: Server) -> None:
    server.route("PUT", "/latest/api/token", (200, {}, b"imds-token-value"))
    server.route("GET", ROLE_LIST, (500, {}, b"oops"))
    with pytest.raises(CredentialProviderError) as info:
        imds(server, attempts=2).load()
    assert "HTTP 500" in str(info.value)
    assert info.value.provider == "iam-role"
    assert_no_secret(str(info.value))
    assert server.paths().count(("GET", ROLE_LIST)) == 2


def test_imds_retry_within_attempts(server: Server) -> None:
    calls: list[int] = []

    def flaky(_req: Request) -> Reply:
        calls.append(1)
        return (500, {}, b"") if len(calls) == 1 else (200, {}, b"r1")

    server.route("PUT", "/latest/api/token", (200, {}, b"imds-token-value"))
    server.route("GET", ROLE_LIST, flaky)
    server.route("GET", ROLE_LIST + "r1", (200, {}, creds_json()))
    result = imds(server, env={"AWS_METADATA_SERVICE_NUM_ATTEMPTS": "2"}).load()
    assert result is not None
    assert len(calls) == 2


def test_imds_error_document(server: Server) -> None:
    server.route("PUT", "/latest/api/token", (200, {}, b"imds-token-value"))
    server.route("GET", ROLE_LIST, (200, {}, b"r1"))
    body = json.dumps({"Code": "AssumeRoleUnauthorizedAccess", "Message": "nope"}).encode()
    server.route("GET", ROLE_LIST + "r1", (200, {}, body))
    with pytest.raises(CredentialProviderError, match="AssumeRoleUnauthorizedAccess"):
        imds(server).load()


def test_imds_bad_json(server: Server) -> None:
    server.route("PUT", "/latest/api/token", (200, {}, b"imds-token-value"))
    server.route("GET", ROLE_LIST, (200, {}, b"r1"))
    server.route("GET", ROLE_LIST + "r1", (200, {}, b"{not json"))
    with pytest.raises(CredentialProviderError, match="not JSON"):
        imds(server).load()


def test_imds_timeout_gives_none(server: Server) -> None:
    def slow(_req: Request) -> Reply:
        server.release.wait(5)
        return 200, {}, b""

    server.route("PUT", "/latest/api/token", slow)
    server.route("GET", ROLE_LIST, slow)
    assert imds(server, timeout=0.2).load() is None
    # the token timed out, so it fell back to v1 once and gave up
    assert server.paths() == [("PUT", "/latest/api/token"), ("GET", ROLE_LIST)]


def test_imds_unreachable_gives_none() -> None:
    srv = Server()
    base = srv.base
    srv.close()
    provider = InstanceMetadataProvider(
        environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": base}, clock=clock, timeout=1.0
    )
    assert provider.load() is None


def test_imds_disabled_makes_no_request(server: Server) -> None:
    provider = imds(server, env={"AWS_EC2_METADATA_DISABLED": "TRUE"})
    assert provider.load() is None
    assert server.requests == []


def test_imds_static_stability_extends_near_expiry(server: Server) -> None:
    server.route("PUT", "/latest/api/token", (200, {}, b"imds-token-value"))
    server.route("GET", ROLE_LIST, (200, {}, b"r1"))
    soon = NOW + dt.timedelta(minutes=2)
    server.route("GET", ROLE_LIST + "r1", (200, {}, creds_json(soon)))
    result = imds(server, jitter=lambda lo, hi: lo).load()
    assert result is not None
    assert result.get().expiration == NOW + dt.timedelta(seconds=900 + 120)


def test_imds_refreshes_when_near_expiry(server: Server) -> None:
    now = [NOW]
    exps = [NOW + dt.timedelta(hours=1), NOW + dt.timedelta(hours=3)]
    server.route("PUT", "/latest/api/token", (200, {}, b"imds-token-value"))
    server.route("GET", ROLE_LIST, (200, {}, b"r1"))
    server.route("GET", ROLE_LIST + "r1", lambda _r: (200, {}, creds_json(exps.pop(0))))
    provider = InstanceMetadataProvider(
        environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": server.base},
        clock=lambda: now[0],
        timeout=2.0,
    )
    result = provider.load()
    assert result is not None
    assert result.get().expiration == NOW + dt.timedelta(hours=1)
    now[0] = NOW + dt.timedelta(minutes=55)
    assert result.get().expiration == NOW + dt.timedelta(hours=3)


def test_imds_default_endpoint_and_ipv6_mode() -> None:
    seen: list[str] = []

    def fake(method: str, url: str, headers: Any, body: Optional[bytes], timeout: float) -> Any:
        seen.append(url)
        assert timeout == 1.0
        raise HttpFetchError(url, "connection failed: unreachable")

    assert InstanceMetadataProvider(environ={}, http=fake).load() is None
    assert seen == ["http://169.254.169.254/latest/api/token"]
    seen.clear()
    env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"}
    assert InstanceMetadataProvider(environ=env, http=fake).load() is None
    assert seen == ["http://[fd00:ec2::254]/latest/api/token"]


def test_imds_bad_timeout_setting() -> None:
    provider = InstanceMetadataProvider(environ={"AWS_METADATA_SERVICE_TIMEOUT": "soon"})
    with pytest.raises(CredentialProviderError, match="AWS_METADATA_SERVICE_TIMEOUT"):
        provider.load()


# --------------------------------------------------------------------------- container


def container(env: dict[str, str], **kw: Any) -> ContainerProvider:
    return ContainerProvider(environ=env, clock=clock, sleep=lambda _s: None, **kw)


def test_container_full_uri_with_auth_token(server: Server) -> None:
    def creds(req: Request) -> Reply:
        assert req.headers["authorization"] == AUTH_TOKEN
        assert req.headers["accept"] == "application/json"
        return 200, {}, creds_json(AccountId="123456789012", RoleArn="arn:aws:iam::1:role/x")

    server.route("GET", "/creds", creds)
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.base + "/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": AUTH_TOKEN,
    }
    result = container(env).load()
    assert isinstance(result, RefreshableCredentials)
    assert result.get().session_token == TOKEN
    assert_no_secret(repr(result))


def test_container_token_file_read_each_fetch_and_wins(server: Server, tmp_path: Path) -> None:
    seen: list[str] = []

    def creds(req: Request) -> Reply:
        seen.append(req.headers.get("authorization", ""))
        return 200, {}, creds_json(NOW + dt.timedelta(minutes=len(seen) * 60))

    server.route("GET", "/creds", creds)
    token_file = tmp_path / "token"
    token_file.write_text("from-file-1\n")
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.base + "/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "from-env",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
    }
    now = [NOW]
    result = ContainerProvider(environ=env, clock=lambda: now[0]).load()
    assert isinstance(result, RefreshableCredentials)
    token_file.write_text("from-file-2")
    now[0] = NOW + dt.timedelta(minutes=55)
    result.get()
    assert seen == ["from-file-1", "from-file-2"]


def test_container_token_with_newline_rejected(server: Server) -> None:
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.base + "/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": "abc\r\nX-Evil: 1",
    }
    with pytest.raises(CredentialProviderError, match="CR or LF"):
        container(env).load()
    assert server.requests == []


def test_container_missing_token_file(server: Server, tmp_path: Path) -> None:
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.base + "/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(tmp_path / "nope"),
    }
    with pytest.raises(CredentialProviderError, match="AUTHORIZATION_TOKEN_FILE"):
        container(env).load()


def test_container_retries_then_fails_without_leaking_token(server: Server) -> None:
    body = json.dumps({"code": "AccessDenied", "message": "bad token"}).encode()
    server.route("GET", "/creds", (401, {}, body))
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.base + "/creds",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": AUTH_TOKEN,
    }
    with pytest.raises(CredentialProviderError) as info:
        container(env).load()
    msg = str(info.value)
    assert "HTTP 401" in msg
    assert "AccessDenied" in msg
    assert server.base + "/creds" in msg
    assert_no_secret(msg)
    assert len(server.requests) == 3


def test_container_recovers_after_one_failure(server: Server) -> None:
    replies: list[Reply] = [(500, {}, b""), (200, {}, b"{bad"), (200, {}, creds_json())]
    server.route("GET", "/creds", lambda _r: replies.pop(0))
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.base + "/creds"}
    sleeps: list[float] = []
    provider = ContainerProvider(environ=env, clock=clock, sleep=sleeps.append)
    assert provider.load() is not None
    assert sleeps == [1.0, 1.0]


def test_container_missing_field(server: Server) -> None:
    doc = json.loads(creds_json())
    del doc["Token"]
    server.route("GET", "/creds", (200, {}, json.dumps(doc).encode()))
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": server.base + "/creds"}
    with pytest.raises(CredentialProviderError, match="Token missing"):
        container(env).load()


def test_container_relative_uri_uses_ecs_host() -> None:
    seen: list[str] = []

    def fake(method: str, url: str, headers: Any, body: Optional[bytes], timeout: float) -> Any:
        seen.append(url)
        return HttpResult(200, {}, creds_json())

    env = {
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1/ignored",
    }
    assert container(env, http=fake).load() is not None
    assert seen == ["http://169.254.170.2/v2/credentials/abc"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:8080/c",
        "http://127.9.8.7/c",
        "http://[::1]/c",
        "http://localhost/c",
        "http://169.254.170.2/c",
        "http://169.254.170.23/v1/credentials",
        "http://[fd00:ec2::23]/v1/credentials",
        "https://creds.example.com/c",
    ],
)
def test_container_full_uri_allowed_hosts(uri: str) -> None:
    def fake(method: str, url: str, headers: Any, body: Optional[bytes], timeout: float) -> Any:
        assert url == uri
        return HttpResult(200, {}, creds_json())

    assert container({"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri}, http=fake).load() is not None


@pytest.mark.parametrize(
    "uri", ["http://creds.example.com/c", "http://10.0.0.1/c", "ftp://127.0.0.1/c", "nonsense"]
)
def test_container_full_uri_rejected_hosts(uri: str) -> None:
    with pytest.raises(CredentialProviderError, match="not allowed"):
        container({"AWS_CONTAINER_CREDENTIALS_FULL_URI": uri}).load()


def test_container_not_configured() -> None:
    assert container({}).load() is None


def test_container_unreachable(server: Server) -> None:
    srv = Server()
    base = srv.base
    srv.close()
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": base + "/creds"}
    with pytest.raises(CredentialProviderError, match="after 3 attempt"):
        container(env).load()


# --------------------------------------------------------------------------- STS

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def sts_xml(action: str, key: str = "ASIASTSEXAMPLE", exp: dt.datetime = LATER) -> bytes:
    return f"""<{action}Response xmlns="{STS_NS}">
  <{action}Result>
    <Credentials>
      <AccessKeyId>{key}</AccessKeyId>
      <SecretAccessKey>{SECRET}</SecretAccessKey>
      <SessionToken>{TOKEN}</SessionToken>
      <Expiration>{exp.strftime("%Y-%m-%dT%H:%M:%S.000Z")}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/demo/session</Arn>
      <AssumedRoleId>AROAEXAMPLE:session</AssumedRoleId>
    </AssumedRoleUser>
  </{action}Result>
  <ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata>
</{action}Response>""".encode()


def sts_error(code: str, message: str) -> bytes:
    return f"""<ErrorResponse xmlns="{STS_NS}">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>rid-err</RequestId>
</ErrorResponse>""".encode()


def form(req: Request) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(req.body.decode()))


ROLE = "arn:aws:iam::123456789012:role/demo"


def test_sts_endpoint() -> None:
    assert sts_endpoint("eu-west-1") == ("https://sts.eu-west-1.amazonaws.com/", "eu-west-1")
    assert sts_endpoint(None) == ("https://sts.amazonaws.com/", "us-east-1")
    assert sts_endpoint("cn-north-1")[0] == "https://sts.cn-north-1.amazonaws.com.cn/"
    # every partition's DNS suffix, not amazonaws.com for all but cn-
    for region, host in [
        ("us-gov-west-1", "sts.us-gov-west-1.amazonaws.com"),
        ("us-iso-east-1", "sts.us-iso-east-1.c2s.ic.gov"),
        ("us-isob-east-1", "sts.us-isob-east-1.sc2s.sgov.gov"),
        ("us-isof-south-1", "sts.us-isof-south-1.csp.hci.ic.gov"),
        ("eu-isoe-west-1", "sts.eu-isoe-west-1.cloud.adc-e.uk"),
        ("eusc-de-east-1", "sts.eusc-de-east-1.amazonaws.eu"),
        ("cn-northwest-1", "sts.cn-northwest-1.amazonaws.com.cn"),
        ("eu-west-1", "sts.eu-west-1.amazonaws.com"),
    ]:
        assert sts_endpoint(region) == (f"https://{host}/", region)
    assert sts_endpoint("x", "http://h/") == ("http://h/", "x")
    with pytest.raises(ValueError, match="invalid region"):
        sts_endpoint("evil.com/")


def test_web_identity_call(server: Server) -> None:
    def handle(req: Request) -> Reply:
        assert req.headers["content-type"].startswith("application/x-www-form-urlencoded")
        assert "authorization" not in req.headers
        return 200, {}, sts_xml("AssumeRoleWithWebIdentity")

    server.route("POST", "/", handle)
    result = assume_role_with_web_identity(
        role_arn=ROLE,
        session_name="s1",
        web_identity_token="jwt.token.value",
        region="eu-west-1",
        endpoint_url=server.base + "/",
    )
    assert result.credentials.access_key_id == "ASIASTSEXAMPLE"
    assert result.credentials.expiration == LATER
    assert result.account_id == "123456789012"
    params = form(server.requests[0])
    assert params == {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": ROLE,
        "RoleSessionName": "s1",
        "WebIdentityToken": "jwt.token.value",
    }


def test_web_identity_error_xml(server: Server) -> None:
    server.route(
        "POST", "/", (400, {}, sts_error("InvalidIdentityToken", "Couldn't retrieve keys"))
    )
    with pytest.raises(CredentialProviderError) as info:
        assume_role_with_web_identity(
            role_arn=ROLE,
            session_name="s1",
            web_identity_token="jwt.token.value",
            endpoint_url=server.base + "/",
        )
    msg = str(info.value)
    assert "HTTP 400" in msg
    assert "InvalidIdentityToken" in msg
    assert "Couldn't retrieve keys" in msg
    assert "rid-err" in msg
    assert "jwt.token.value" not in msg


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (500, b"<html>oops", "no XML body"),
        (200, b"<nope", "malformed XML"),
        (200, b"<X xmlns='a'><Other/></X>", "no AssumeRoleWithWebIdentityResult"),
    ],
)
def test_web_identity_bad_responses(server: Server, status: int, body: bytes, match: str) -> None:
    server.route("POST", "/", (status, {}, body))
    with pytest.raises(CredentialProviderError, match=match):
        assume_role_with_web_identity(
            role_arn=ROLE, session_name="s", web_identity_token="t" * 8, endpoint_url=server.base
        )


def test_sts_missing_credential_field(server: Server) -> None:
    body = sts_xml("AssumeRoleWithWebIdentity").replace(b"<SessionToken>", b"<Other>")
    body = body.replace(b"</SessionToken>", b"</Other>")
    server.route("POST", "/", (200, {}, body))
    with pytest.raises(CredentialProviderError, match="SessionToken is missing"):
        assume_role_with_web_identity(
            role_arn=ROLE, session_name="s", web_identity_token="t" * 8, endpoint_url=server.base
        )


def test_sts_unreachable() -> None:
    srv = Server()
    base = srv.base
    srv.close()
    with pytest.raises(CredentialProviderError, match="connection failed"):
        assume_role_with_web_identity(
            role_arn=ROLE, session_name="s", web_identity_token="t" * 8, endpoint_url=base
        )


def test_assume_role_is_signed(server: Server) -> None:
    def handle(req: Request) -> Reply:
        auth = req.headers["authorization"]
        assert auth.startswith(
            "AWS4-HMAC-SHA256 Credential=AKIASOURCE/20240501/eu-west-1/sts/aws4_request"
        )
        assert req.headers["x-amz-date"] == "20240501T120000Z"
        assert req.headers["x-amz-security-token"] == "source-token"
        return 200, {}, sts_xml("AssumeRole")

    server.route("POST", "/", handle)
    source = Credentials("AKIASOURCE", "source-secret", "source-token")
    result = assume_role(
        credentials=source,
        role_arn=ROLE,
        session_name="s2",
        region="eu-west-1",
        clock=clock,
        endpoint_url=server.base + "/",
        external_id="ext-1",
        duration_seconds=1800,
    )
    assert result.credentials.session_token == TOKEN
    params = form(server.requests[0])
    assert params["Action"] == "AssumeRole"
    assert params["ExternalId"] == "ext-1"
    assert params["DurationSeconds"] == "1800"
    assert params["RoleSessionName"] == "s2"


def test_assume_role_signature_matches_botocore(server: Server) -> None:
    botocore_auth = pytest.importorskip("botocore.auth")
    botocore_awsrequest = pytest.importorskip("botocore.awsrequest")
    botocore_credentials = pytest.importorskip("botocore.credentials")
    server.route("POST", "/", (200, {}, sts_xml("AssumeRole")))
    source = Credentials("AKIASOURCE", "source-secret", "source-token")
    assume_role(
        credentials=source,
        role_arn=ROLE,
        session_name="s2",
        region="eu-west-1",
        clock=clock,
        endpoint_url=server.base + "/",
    )
    req = server.requests[0]
    signed = req.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    sent = {k: v for k, v in req.headers.items() if k in signed}
    aws_req = botocore_awsrequest.AWSRequest(
        method="POST", url=server.base + "/", data=req.body, headers=sent
    )
    aws_req.context["timestamp"] = "20240501T120000Z"
    signer = botocore_auth.SigV4Auth(
        botocore_credentials.Credentials("AKIASOURCE", "source-secret", "source-token"),
        "sts",
        "eu-west-1",
    )
    string_to_sign = signer.string_to_sign(aws_req, signer.canonical_request(aws_req))
    sig = signer.signature(string_to_sign, aws_req)
    assert req.headers["authorization"].endswith("Signature=" + sig)


# --------------------------------------------------------------------------- providers + STS


def test_web_identity_provider_env(server: Server, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("jwt-1")
    tokens: list[str] = []

    def handle(req: Request) -> Reply:
        tokens.append(form(req)["WebIdentityToken"])
        assert form(req)["RoleSessionName"] == "pod"
        return 200, {}, sts_xml("AssumeRoleWithWebIdentity", exp=NOW + dt.timedelta(hours=1))

    server.route("POST", "/", handle)
    env = {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_ARN": ROLE,
        "AWS_ROLE_SESSION_NAME": "pod",
        "AWS_ENDPOINT_URL_STS": server.base + "/",
    }
    now = [NOW]
    result = WebIdentityProvider(environ=env, clock=lambda: now[0], home=tmp_path).load()
    assert isinstance(result, RefreshableCredentials)
    assert server.requests == []  # lazy
    assert result.get().access_key_id == "ASIASTSEXAMPLE"
    token_file.write_text("jwt-2")
    now[0] = NOW + dt.timedelta(minutes=51)
    result.get()
    assert tokens == ["jwt-1", "jwt-2"]


def test_web_identity_provider_missing_token_file(tmp_path: Path) -> None:
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "missing"), "AWS_ROLE_ARN": ROLE}
    result = WebIdentityProvider(environ=env, clock=clock, home=tmp_path).load()
    assert result is not None
    with pytest.raises(CredentialProviderError, match="cannot read web identity token file"):
        result.get()


def write_config(home: Path, text: str) -> None:
    (home / ".aws").mkdir(exist_ok=True)
    (home / ".aws" / "config").write_text(text)


def test_profile_assume_role_source_profile_chain(server: Server, tmp_path: Path) -> None:
    write_config(
        tmp_path,
        f"""
[profile base]
aws_access_key_id = AKIABASE
aws_secret_access_key = base-secret

[profile middle]
role_arn = arn:aws:iam::111111111111:role/middle
source_profile = base
region = eu-central-1

[profile top]
role_arn = {ROLE}
source_profile = middle
role_session_name = top-session
external_id = ext-top
duration_seconds = 3600
""",
    )
    seen: list[tuple[str, str]] = []

    def handle(req: Request) -> Reply:
        params = form(req)
        cred = req.headers["authorization"].split("Credential=")[1].split("/")[0]
        seen.append((params["RoleArn"], cred))
        key = "ASIAMIDDLE" if params["RoleArn"].endswith("middle") else "ASIATOP"
        return 200, {}, sts_xml("AssumeRole", key=key)

    server.route("POST", "/", handle)
    env = {"AWS_ENDPOINT_URL_STS": server.base + "/"}
    result = ProfileProvider("top", environ=env, clock=clock, home=tmp_path).load()
    assert isinstance(result, RefreshableCredentials)
    assert result.get().access_key_id == "ASIATOP"
    assert seen == [
        ("arn:aws:iam::111111111111:role/middle", "AKIABASE"),
        (ROLE, "ASIAMIDDLE"),
    ]
    last = form(server.requests[-1])
    assert last["RoleSessionName"] == "top-session"
    assert last["ExternalId"] == "ext-top"
    assert last["DurationSeconds"] == "3600"


def test_assume_role_provider_credential_source_container(server: Server, tmp_path: Path) -> None:
    write_config(
        tmp_path,
        f"[default]\nrole_arn = {ROLE}\ncredential_source = EcsContainer\n",
    )
    server.route("GET", "/creds", (200, {}, creds_json()))
    server.route("POST", "/", (200, {}, sts_xml("AssumeRole", key="ASIAFROMECS")))
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.base + "/creds",
        "AWS_ENDPOINT_URL_STS": server.base + "/",
    }
    result = AssumeRoleProvider(environ=env, clock=clock, home=tmp_path).load()
    assert result is not None
    assert result.get().access_key_id == "ASIAFROMECS"
    auth = server.requests[-1].headers["authorization"]
    assert "Credential=ASIAIMDSEXAMPLE/" in auth


def test_assume_role_sts_error_surfaces(server: Server, tmp_path: Path) -> None:
    write_config(
        tmp_path,
        f"[default]\nrole_arn = {ROLE}\ncredential_source = Environment\n",
    )
    server.route("POST", "/", (403, {}, sts_error("AccessDenied", "not authorized")))
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAENV",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL_STS": server.base,
    }
    result = ProfileProvider(environ=env, clock=clock, home=tmp_path).load()
    assert result is not None
    with pytest.raises(CredentialProviderError) as info:
        result.get()
    assert "AccessDenied" in str(info.value)
    assert_no_secret(str(info.value))


def test_urllib_fetch_holds_its_timeout_over_a_trickled_body() -> None:
    """Each read waits at most the timeout, and the whole body must come within it: a server
    sending a byte every 0.15 s cannot stretch a 0.4 s fetch (the IMDS call on every start)."""
    import socket
    import threading
    import time

    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")
            for _ in range(40):
                time.sleep(0.15)
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(HttpFetchError, match=r"did not arrive within 0\.4 s") as info:
            urllib_fetch("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/", {}, None, 0.4)
        assert info.value.timeout
        assert time.monotonic() - started < 0.4 + 0.4 + 0.5  # the deadline, one read, slack
    finally:
        listener.close()
