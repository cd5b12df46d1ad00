"""The wire's pure configuration: proxies, origins, request heads, CONNECT, deadlines."""

from __future__ import annotations

import pickle

import pytest

from smruntime.http._config import (
    Deadlines,
    Proxies,
    Proxy,
    Routes,
    may_resend,
    origin_of,
    request_head,
    resolve_proxies,
    tunnel_reply_error,
    tunnel_request,
)


def test_origin_of() -> None:
    o = origin_of("https://Runtime.Example.com:443/endpoints/a%20b/invocations?x=1#frag")
    assert (o.scheme, o.host, o.port) == ("https", "runtime.example.com", 443)
    assert o.target == "/endpoints/a%20b/invocations?x=1"
    assert o.host_header == "Runtime.Example.com"
    assert origin_of("http://h:8080").target == "/"
    assert origin_of("http://h:8080").host_header == "h:8080"
    assert origin_of("http://[::1]:80/").hostport == "[::1]:80"
    assert origin_of("http://u:p@h/").host_header == "h"
    for bad in ("ftp://h/", "/relative", "http://h:99999/", "http:///x"):
        with pytest.raises(ValueError, match="URL"):
            origin_of(bad)


def test_proxies_from_the_environment_are_read_once_and_never_shown() -> None:
    env = {"HTTPS_PROXY": "user:secret@proxy.corp:3128", "NO_PROXY": ".internal,localhost"}
    proxies = resolve_proxies(None, env)
    env["HTTPS_PROXY"] = "http://other:1"
    proxy = proxies.for_origin("https", "runtime.example.com", 443)
    assert proxy is not None
    assert (proxy.host, proxy.port) == ("proxy.corp", 3128)
    assert proxy.authorization == "Basic dXNlcjpzZWNyZXQ="
    assert "secret" not in repr(proxies)
    assert "secret" not in repr(proxy)
    assert proxies.for_origin("https", "a.internal", 443) is None
    assert proxies.for_origin("https", "localhost", 443) is None
    assert Proxies({"all": "p:1", "no": " * "}).for_origin("https", "any", 443) is None
    assert proxies.for_origin("http", "runtime.example.com", 80) is None  # no http proxy
    assert pickle.loads(pickle.dumps(proxies)) == proxies
    assert resolve_proxies({}, env).for_origin("https", "x", 443) is None
    both = Proxies({"all": "http://p:1"})
    assert both.for_origin("http", "x", 80) == both.for_origin("https", "x", 443) == Proxy("p:1")
    with pytest.raises(ValueError, match="only http:// proxies"):
        Proxies({"https": "socks5://p:1"})
    secure = Proxies({"https": "https://p"}).for_origin("https", "x", 443)
    assert secure is not None
    assert (secure.scheme, secure.port) == ("https", 443)  # for transport="requests" only


def test_request_head() -> None:
    direct = origin_of("http://h:81/p?q=1")
    target, headers = request_head(direct, None, "POST", "http://h:81/p?q=1", [("A", "1")], b"")
    assert target == "/p?q=1"
    assert headers == [("Host", "h:81"), ("A", "1"), ("Content-Length", "0")]
    _, headers = request_head(direct, None, "POST", "", [("host", "x")], b"body")
    assert headers == [("host", "x")]  # the protocol adds Content-Length for a body
    _, headers = request_head(direct, None, "GET", "", [], b"")
    assert headers == [("Host", "h:81")]
    proxy = Proxy("http://u:p@proxy:3128")
    target, headers = request_head(direct, proxy, "POST", "http://h:81/p?q=1#f", [], b"x")
    assert target == "http://h:81/p?q=1"
    assert ("Proxy-Authorization", "Basic dTpw") in headers
    secure = origin_of("https://h/p")
    target, headers = request_head(secure, proxy, "POST", "https://h/p", [], b"x")
    assert target == "/p"  # through a tunnel: the proxy never sees the request
    assert all(name != "Proxy-Authorization" for name, _ in headers)


def test_tunnel_request_and_reply() -> None:
    origin = origin_of("https://h:8443/")
    proxy = Proxy("http://u:p@proxy:3128")
    assert tunnel_request(origin, proxy) == (
        b"CONNECT h:8443 HTTP/1.1\r\nHost: h:8443\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
    )
    assert tunnel_reply_error(b"HTTP/1.1 200 Connection established\r\n\r\n", origin, proxy) is None
    assert tunnel_reply_error(b"HTTP/1.0 200 OK\r\nX: y\r\n\r\n", origin, proxy) is None
    assert "refused" in str(tunnel_reply_error(b"HTTP/1.1 407 Auth\r\n\r\n", origin, proxy))
    assert "refused" in str(tunnel_reply_error(b"HTTP/1.1 199 x\r\n\r\n", origin, proxy))
    assert "refused" in str(tunnel_reply_error(b"HTTP/1.1 300 x\r\n\r\n", origin, proxy))
    assert "answered CONNECT" in str(tunnel_reply_error(b"SSH-2.0\r\n\r\n", origin, proxy))
    assert "closed" in str(tunnel_reply_error(b"HTTP/1.1 200", origin, proxy))
    assert "3 bytes after" in str(tunnel_reply_error(b"HTTP/1.1 200 OK\r\n\r\nabc", origin, proxy))
    assert "1 bytes after" in str(tunnel_reply_error(b"HTTP/1.1 200 OK\r\n\r\na", origin, proxy))
    # a proxy that echoes our credentials in its reason phrase: masked
    echoed = tunnel_reply_error(b"HTTP/1.1 407 bad Basic dTpw\r\n\r\n", origin, proxy)
    assert echoed == "the proxy proxy:3128 refused CONNECT h:8443: HTTP/1.1 407 bad Basic ****"
    bare = Proxy("http://proxy:3128")  # no credentials: nothing to mask
    assert "dTpw" in str(tunnel_reply_error(b"HTTP/1.1 407 dTpw\r\n\r\n", origin, bare))


def test_may_resend() -> None:
    assert may_resend(reused=True, written=False, response_started=False, method="POST")
    assert not may_resend(reused=False, written=False, response_started=False, method="GET")
    assert not may_resend(reused=True, written=True, response_started=False, method="POST")
    assert may_resend(reused=True, written=True, response_started=False, method="get")
    assert not may_resend(reused=True, written=True, response_started=True, method="GET")


def test_deadline_phases_and_the_total_cap() -> None:
    d = Deadlines(connect=1, headers=2, between=3, total=10).start(100.0)
    assert d.remaining(100.25) == (0.75, "connect")
    d.connected(101.0)
    assert d.remaining(101.0) == (2, "first-byte")
    d.sent(101.5)
    assert d.remaining(102.0) == (1.5, "first-byte")
    d.body_started(103.0)
    assert d.remaining(103.0) == (3, "between-events")
    assert d.limit_of_phase() == 3
    d.progress(108.0, 0.5)
    assert d.remaining(108.0) == (0.5, "between-events")
    assert d.limit_of_phase() == 0.5
    d.progress(109.0)  # back to `between`, now capped by the total (110)
    assert d.remaining(109.0) == (1.0, "total")
    d.progress(108.5, 0.0)
    assert d.remaining(108.5) == (0.0, "between-events")
    d.progress(109.0, None)
    assert d.remaining(109.5) == (0.5, "total")
    assert d.remaining(111.0) == (-1.0, "total")
    free = Deadlines().start(0.0)
    assert free.remaining(5.0) == (None, "connect")
    free.progress(1.0, None)
    assert free.remaining(9.0) == (None, "between-events")
    at_total = Deadlines(headers=5, total=5).start(0.0)
    at_total.sent(0.0)
    assert at_total.remaining(1.0) == (4.0, "total")  # equal instants: the total is named


def test_no_proxy_cidr_blocks_send_ip_literal_hosts_direct() -> None:
    # NO_PROXY=10.0.0.0/8,::1/128 (as curl and requests read it): an IP literal of a block
    # goes direct; a host name goes through the proxy (nothing is resolved)
    env = {"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "10.0.0.0/8, ::1/128, 1.2.3/8"}
    proxies = resolve_proxies(None, env)
    assert proxies.for_origin("https", "10.20.30.40", 443) is None
    assert proxies.for_origin("https", "::1", 8443) is None
    assert proxies.for_origin("https", "11.0.0.1", 443) is not None
    assert proxies.for_origin("https", "runtime.example.com", 443) is not None
    routes = Routes(proxies)
    assert routes.of("https://10.1.1.1:8443/endpoints/e/invocations")[1] is None
    assert routes.of("https://[::1]/endpoints/e/invocations")[1] is None
    assert routes.of("https://[::2]/endpoints/e/invocations")[1] is not None


def test_routes_per_url_origin_proxy_and_redacted_form() -> None:
    routes = Routes(Proxies({"https": "http://proxy.example:3128", "no": "localhost"}))
    origin, proxy, shown = routes.of("https://user:pw@runtime.example/endpoints/e/invocations")
    assert (origin.scheme, origin.host, origin.port) == ("https", "runtime.example", 443)
    assert proxy is not None
    assert proxy.hostport == "proxy.example:3128"
    assert "pw" not in shown
    assert routes.of("https://user:pw@runtime.example/endpoints/e/invocations")[0] is origin
    assert routes.of("https://localhost:8080/x")[1] is None  # NO_PROXY
    assert routes.of("http://runtime.example/x")[1] is None  # no http proxy set
    with pytest.raises(ValueError, match="not an absolute http"):
        routes.of("ftp://runtime.example/x")
    for n in range(300):  # bounded: the cache is emptied, answers stay right
        assert routes.of(f"https://runtime.example/endpoints/e{n}/invocations")[0].port == 443
