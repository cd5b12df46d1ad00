"""IAM Identity Center (SSO) profiles against loopback stand-ins for the OIDC and portal
services: the token cache of ``aws sso login``, its renewal, GetRoleCredentials, the chain."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from sigv4._providers import ProfileProvider, default_chain
from sigv4._refresh import RefreshableCredentials
from sigv4.exceptions import CredentialProviderError
from tests.sigv4.test_imds_container_sts import NOW, SECRET, TOKEN, Request, Server, server

__all__ = ["server"]  # the fixture, imported for pytest

ROLE_PATH = "/federation/credentials?role_name=Inference&account_id=111122223333"
ACCESS = "sso-access-token-secret"
REFRESH = "sso-refresh-token-secret"
CLIENT_SECRET = "sso-client-secret-value"


def clock() -> dt.datetime:
    return NOW


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def role_reply(req: Request) -> tuple[int, dict[str, str], bytes]:
    if req.headers.get("x-amz-sso_bearer_token") not in (ACCESS, "renewed-access-token"):
        return 401, {}, b'{"message": "Session token not found or invalid"}'
    expiration = int((NOW + dt.timedelta(hours=1)).timestamp() * 1000)
    doc = {
        "roleCredentials": {
            "accessKeyId": "ASIASSOEXAMPLE",
            "secretAccessKey": SECRET,
            "sessionToken": TOKEN,
            "expiration": expiration,
        }
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(doc).encode()


def setup(
    home: Path,
    *,
    legacy: bool = False,
    expires: dt.datetime = NOW + dt.timedelta(hours=2),
    refreshable: bool = True,
) -> Path:
    aws = home / ".aws"
    (aws / "sso" / "cache").mkdir(parents=True)
    if legacy:
        config = (
            "[profile dev]\nsso_start_url = https://corp.awsapps.com/start\n"
            "sso_region = us-east-1\nsso_account_id = 111122223333\nsso_role_name = Inference\n"
        )
        key = hashlib.sha1(b"https://corp.awsapps.com/start").hexdigest()
    else:
        config = (
            "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\n"
            "sso_role_name = Inference\nregion = eu-west-1\n\n"
            "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
            "sso_region = us-east-1\nsso_registration_scopes = sso:account:access\n"
        )
        key = hashlib.sha1(b"corp").hexdigest()
    (aws / "config").write_text(config, encoding="utf-8")
    doc: dict[str, Any] = {
        "startUrl": "https://corp.awsapps.com/start",
        "region": "us-east-1",
        "accessToken": ACCESS,
        "expiresAt": stamp(expires),
    }
    if refreshable:
        doc.update(
            clientId="client-id",
            clientSecret=CLIENT_SECRET,
            refreshToken=REFRESH,
            registrationExpiresAt=stamp(NOW + dt.timedelta(days=60)),
        )
    cache = aws / "sso" / "cache" / f"{key}.json"
    cache.write_text(json.dumps(doc), encoding="utf-8")
    return cache


def env_for(server: Server) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL_SSO": server.base, "AWS_ENDPOINT_URL_SSO_OIDC": server.base}


def provider(home: Path, server: Server, profile: str = "dev") -> ProfileProvider:
    return ProfileProvider(profile, environ=env_for(server), home=home, clock=clock)


def test_sso_session_profile_gets_role_credentials(tmp_path: Path, server: Server) -> None:
    setup(tmp_path)
    server.route("GET", ROLE_PATH, role_reply)
    creds = provider(tmp_path, server).load()
    assert isinstance(creds, RefreshableCredentials)
    assert server.requests == []  # fetched on first use, as botocore defers it
    got = creds.get()
    assert (got.access_key_id, got.secret_access_key, got.session_token) == (
        "ASIASSOEXAMPLE",
        SECRET,
        TOKEN,
    )
    assert got.expiration == NOW + dt.timedelta(hours=1)
    assert server.paths() == [("GET", ROLE_PATH)]
    for text in (repr(creds), repr(got)):
        assert ACCESS not in text
        assert SECRET not in text


def test_legacy_profile_uses_the_start_url_cache_key(tmp_path: Path, server: Server) -> None:
    setup(tmp_path, legacy=True)
    server.route("GET", ROLE_PATH, role_reply)
    got = provider(tmp_path, server).load()
    assert got is not None
    assert got.get().access_key_id == "ASIASSOEXAMPLE"


def test_token_near_expiry_is_renewed_and_cached(tmp_path: Path, server: Server) -> None:
    cache = setup(tmp_path, expires=NOW + dt.timedelta(minutes=5))

    def create_token(req: Request) -> tuple[int, dict[str, str], bytes]:
        doc = json.loads(req.body)
        assert doc == {
            "grantType": "refresh_token",
            "clientId": "client-id",
            "clientSecret": CLIENT_SECRET,
            "refreshToken": REFRESH,
        }
        answer = {
            "accessToken": "renewed-access-token",
            "expiresIn": 28800,
            "refreshToken": "new-refresh",
            "tokenType": "Bearer",
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()

    server.route("POST", "/token", create_token)
    server.route("GET", ROLE_PATH, role_reply)
    creds = provider(tmp_path, server).load()
    assert creds is not None
    creds.get()
    assert server.paths() == [("POST", "/token"), ("GET", ROLE_PATH)]
    assert server.requests[1].headers["x-amz-sso_bearer_token"] == "renewed-access-token"
    cached = json.loads(cache.read_text(encoding="utf-8"))
    assert cached["accessToken"] == "renewed-access-token"
    assert cached["refreshToken"] == "new-refresh"
    assert cached["expiresAt"] == stamp(NOW + dt.timedelta(hours=8))
    assert cached["clientSecret"] == CLIENT_SECRET  # the rest of the file is kept


def test_failed_renewal_keeps_a_token_that_still_works(tmp_path: Path, server: Server) -> None:
    setup(tmp_path, expires=NOW + dt.timedelta(minutes=5))
    server.route("POST", "/token", (400, {}, b'{"error": "invalid_grant"}'))
    server.route("GET", ROLE_PATH, role_reply)
    creds = provider(tmp_path, server).load()
    assert creds is not None
    assert creds.get().access_key_id == "ASIASSOEXAMPLE"


def test_expired_token_says_which_login_to_run(tmp_path: Path, server: Server) -> None:
    setup(tmp_path, expires=NOW - dt.timedelta(minutes=1), refreshable=False)
    creds = provider(tmp_path, server).load()
    assert creds is not None
    with pytest.raises(Exception, match="aws sso login --sso-session corp"):
        creds.get()
    assert server.requests == []


def test_missing_cache_and_refused_token(tmp_path: Path, server: Server) -> None:
    cache = setup(tmp_path, legacy=True)
    cache.unlink()
    creds = provider(tmp_path, server).load()
    assert creds is not None
    with pytest.raises(Exception, match="aws sso login --profile dev"):
        creds.get()
    setup(tmp_path / "other")
    server.route("GET", ROLE_PATH, (401, {}, b"{}"))
    creds = provider(tmp_path / "other", server).load()
    assert creds is not None
    with pytest.raises(Exception, match="refused the cached token") as info:
        creds.get()
    assert ACCESS not in str(info.value)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[profile dev]\nsso_session = corp\nsso_account_id = 1\n", "sso-session"),
        (
            "[profile dev]\nsso_session = corp\nsso_role_name = r\n\n"
            "[sso-session corp]\nsso_start_url = https://x\nsso_region = us-east-1\n",
            "lacks sso_account_id",
        ),
        (
            "[profile dev]\nsso_start_url = https://x\nsso_account_id = 1\nsso_role_name = r\n",
            "lacks sso_region",
        ),
        (
            "[profile dev]\nsso_session = corp\nsso_region = eu-west-1\nsso_account_id = 1\n"
            "sso_role_name = r\n\n[sso-session corp]\nsso_start_url = https://x\n"
            "sso_region = us-east-1\n",
            "sso_region differs",
        ),
    ],
)
def test_incomplete_configurations(tmp_path: Path, config: str, message: str) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text(config, encoding="utf-8")
    with pytest.raises(CredentialProviderError, match=message):
        ProfileProvider("dev", environ={}, home=tmp_path, clock=clock).load()


def test_chain_position_as_botocore(tmp_path: Path, server: Server) -> None:
    """SSO comes after the environment and before the profile's static keys."""
    setup(tmp_path)
    with (tmp_path / ".aws" / "config").open("a", encoding="utf-8") as f:
        f.write("\n[profile dev]\naws_access_key_id = AKIASTATIC\naws_secret_access_key = s\n")
    server.route("GET", ROLE_PATH, role_reply)
    env = {**env_for(server), "AWS_PROFILE": "dev"}
    chain = default_chain(environ=env, home=tmp_path, clock=clock)
    creds = chain.load()
    assert chain.resolved_by == "profile"
    assert creds.get().access_key_id == "ASIASSOEXAMPLE"
    with_env = {**env, "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "e"}
    chain = default_chain(environ=with_env, home=tmp_path, clock=clock)
    assert chain.load().get().access_key_id == "AKIAENV"


def test_an_sso_profile_as_source_profile(tmp_path: Path, server: Server) -> None:
    """A role assumed with SSO credentials as its source (the common multi-account setup)."""
    setup(tmp_path)
    with (tmp_path / ".aws" / "config").open("a", encoding="utf-8") as f:
        f.write(
            "\n[profile target]\nrole_arn = arn:aws:iam::222233334444:role/Target\n"
            "source_profile = dev\n"
        )
    server.route("GET", ROLE_PATH, role_reply)
    creds = ProfileProvider("target", environ=env_for(server), home=tmp_path, clock=clock).load()
    assert isinstance(creds, RefreshableCredentials)  # AssumeRole, fetched on first use
