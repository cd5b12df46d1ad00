"""Providers (env, static, process, profile, web identity) and the chain, with injected worlds."""

from __future__ import annotations

import datetime as dt
import json
import shlex
import sys
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import pytest

from sigv4._credentials import Credentials
from sigv4._http import HttpFetchError, HttpResult
from sigv4._providers import (
    AssumeRoleProvider,
    ChainProvider,
    ContainerProvider,
    CredentialProvider,
    EnvProvider,
    InstanceMetadataProvider,
    ProcessProvider,
    ProfileProvider,
    StaticProvider,
    WebIdentityProvider,
    default_chain,
)
from sigv4._refresh import RefreshableCredentials
from sigv4.exceptions import (
    CredentialProviderError,
    CredentialsError,
    CredentialsExpiredError,
    NoCredentialsError,
)

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKENsecret"
ROLE = "arn:aws:iam::123456789012:role/demo"


def clock() -> dt.datetime:
    return NOW


def assert_clean(text: str) -> None:
    assert SECRET not in text
    assert TOKEN not in text


class FakeHttp:
    """An HttpFetch that answers from a function and records calls."""

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[tuple[str, str, dict[str, str], Optional[bytes]]] = []
        self.answer = answer

    def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Optional[bytes],
        timeout: float,
    ) -> HttpResult:
        self.calls.append((method, url, dict(headers), body))
        if self.answer is None:
            raise HttpFetchError(url, "connection failed: unreachable")
        result: HttpResult = self.answer(method, url, dict(headers), body)
        return result


def sts_reply(key: str = "ASIASTS", exp: dt.datetime = NOW + dt.timedelta(hours=1)) -> Any:
    def answer(method: str, url: str, headers: dict[str, str], body: Optional[bytes]) -> Any:
        action = dict(urllib.parse.parse_qsl((body or b"").decode()))["Action"]
        xml = (
            f"<{action}Response><{action}Result><Credentials>"
            f"<AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{SECRET}</SecretAccessKey>"
            f"<SessionToken>{TOKEN}</SessionToken>"
            f"<Expiration>{exp.isoformat()}</Expiration>"
            f"</Credentials></{action}Result></{action}Response>"
        )
        return HttpResult(200, {}, xml.encode())

    return answer


def write(home: Path, name: str, text: str) -> None:
    (home / ".aws").mkdir(exist_ok=True)
    (home / ".aws" / name).write_text(text)


def process_command(tmp_path: Path, output: Any, *, code: int = 0, stderr: str = "") -> str:
    script = tmp_path / f"proc{len(list(tmp_path.iterdir()))}.py"
    text = output if isinstance(output, str) else json.dumps(output)
    script.write_text(
        f"import sys\nsys.stdout.write({text!r})\nsys.stderr.write({stderr!r})\nsys.exit({code})\n"
    )
    return shlex.join([sys.executable, str(script)])


# --------------------------------------------------------------------------- static / env


def test_static_provider() -> None:
    provider = StaticProvider.from_keys("AKIASTATIC", SECRET, TOKEN)
    creds = provider.load()
    assert isinstance(creds, Credentials)
    assert creds.session_token == TOKEN
    assert provider.name == "explicit"
    assert_clean(repr(provider))


def test_env_provider_basic() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": SECRET}
    creds = EnvProvider(environ=env).load()
    assert isinstance(creds, Credentials)
    assert creds.access_key_id == "AKIAENV"
    assert creds.session_token is None


def test_env_provider_token_precedence() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAENV",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": "session",
        "AWS_SECURITY_TOKEN": "security",
    }
    creds = EnvProvider(environ=env).load()
    assert creds is not None
    assert creds.get().session_token == "security"  # botocore: legacy name first
    del env["AWS_SECURITY_TOKEN"]
    creds = EnvProvider(environ=env).load()
    assert creds is not None
    assert creds.get().session_token == "session"


def test_env_provider_not_configured() -> None:
    assert EnvProvider(environ={}).load() is None
    assert EnvProvider(environ={"AWS_ACCESS_KEY_ID": ""}).load() is None


def test_env_provider_missing_secret_is_error() -> None:
    with pytest.raises(CredentialProviderError, match="AWS_SECRET_ACCESS_KEY is not"):
        EnvProvider(environ={"AWS_ACCESS_KEY_ID": "AKIAENV"}).load()


def test_env_provider_secret_without_key_is_error() -> None:
    with pytest.raises(CredentialProviderError, match="AWS_ACCESS_KEY_ID is not") as info:
        EnvProvider(environ={"AWS_SECRET_ACCESS_KEY": SECRET}).load()
    assert_clean(str(info.value))


def test_env_provider_expiration_refreshes_from_env() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAOLD",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_CREDENTIAL_EXPIRATION": "2024-05-01T13:00:00Z",
    }
    now = [NOW]
    result = EnvProvider(environ=env, clock=lambda: now[0]).load()
    assert isinstance(result, RefreshableCredentials)
    assert result.get().access_key_id == "AKIAOLD"
    env["AWS_ACCESS_KEY_ID"] = "AKIANEW"
    env["AWS_CREDENTIAL_EXPIRATION"] = "2024-05-01T15:00:00Z"
    now[0] = NOW + dt.timedelta(minutes=55)
    assert result.get().access_key_id == "AKIANEW"


def test_env_provider_expired_is_error() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAENV",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_CREDENTIAL_EXPIRATION": "2024-05-01T11:00:00Z",
    }
    with pytest.raises(CredentialsExpiredError):
        EnvProvider(environ=env, clock=clock).load()


def test_env_provider_bad_expiration() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAENV",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_CREDENTIAL_EXPIRATION": "soon",
    }
    with pytest.raises(CredentialProviderError, match="AWS_CREDENTIAL_EXPIRATION"):
        EnvProvider(environ=env, clock=clock).load()


# --------------------------------------------------------------------------- process


def proc_doc(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"Version": 1, "AccessKeyId": "AKIAPROC", "SecretAccessKey": SECRET}
    doc.update(extra)
    return doc


def test_process_static(tmp_path: Path) -> None:
    creds = ProcessProvider(process_command(tmp_path, proc_doc()), clock=clock).load()
    assert isinstance(creds, Credentials)
    assert creds.access_key_id == "AKIAPROC"
    assert creds.session_token is None


def test_process_with_expiration_is_refreshable(tmp_path: Path) -> None:
    doc = proc_doc(SessionToken=TOKEN, Expiration="2024-05-01T13:00:00Z")
    result = ProcessProvider(process_command(tmp_path, doc), clock=clock).load()
    assert isinstance(result, RefreshableCredentials)
    assert result.get().session_token == TOKEN
    assert result.get().expiration == NOW + dt.timedelta(hours=1)


def test_process_argv_list(tmp_path: Path) -> None:
    cmd = shlex.split(process_command(tmp_path, proc_doc()))
    assert ProcessProvider(cmd, clock=clock).load() is not None


def test_process_nonzero_exit_shows_stderr_not_stdout(tmp_path: Path) -> None:
    cmd = process_command(tmp_path, proc_doc(), code=3, stderr="token expired, run login")
    with pytest.raises(CredentialProviderError) as info:
        ProcessProvider(cmd, clock=clock).load()
    msg = str(info.value)
    assert "status 3" in msg
    assert "token expired, run login" in msg
    assert_clean(msg)


@pytest.mark.parametrize(
    ("output", "match"),
    [
        ("not json " + SECRET, "did not print a JSON object"),
        ([1, 2], "not an object"),
        (proc_doc(Version=2), "unsupported Version 2"),
        (proc_doc(Version=True), "unsupported Version"),
        ({"Version": 1, "AccessKeyId": "AKIAPROC"}, "SecretAccessKey missing"),
        (proc_doc(SessionToken=5), "SessionToken is not a string"),
        (proc_doc(Expiration="later"), "Expiration"),
    ],
)
def test_process_bad_output(tmp_path: Path, output: Any, match: str) -> None:
    with pytest.raises(CredentialProviderError, match=match) as info:
        ProcessProvider(process_command(tmp_path, output), clock=clock).load()
    assert_clean(str(info.value))


def test_process_expired_output(tmp_path: Path) -> None:
    cmd = process_command(tmp_path, proc_doc(Expiration="2024-05-01T11:00:00Z"))
    with pytest.raises(CredentialsExpiredError):
        ProcessProvider(cmd, clock=clock).load()


def test_process_missing_program(tmp_path: Path) -> None:
    with pytest.raises(CredentialProviderError, match="cannot run"):
        ProcessProvider(str(tmp_path / "no-such-program")).load()


def test_process_bad_quoting() -> None:
    with pytest.raises(CredentialProviderError, match="cannot split"):
        ProcessProvider('unterminated "quote').load()


def test_process_from_profile(tmp_path: Path) -> None:
    cmd = process_command(tmp_path, proc_doc())
    write(tmp_path, "config", f"[profile p]\ncredential_process = {cmd}\n")
    provider = ProcessProvider(profile="p", environ={}, home=tmp_path, clock=clock)
    assert provider.load() is not None
    assert ProcessProvider(environ={}, home=tmp_path).load() is None


# --------------------------------------------------------------------------- profile


def test_profile_static_keys(tmp_path: Path) -> None:
    write(
        tmp_path,
        "credentials",
        f"[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = {SECRET}\n"
        f"aws_session_token = {TOKEN}\n",
    )
    creds = ProfileProvider(environ={}, home=tmp_path).load()
    assert isinstance(creds, Credentials)
    assert creds.access_key_id == "AKIAFILE"
    assert creds.session_token == TOKEN


def test_profile_selected_by_env(tmp_path: Path) -> None:
    write(
        tmp_path,
        "config",
        "[profile dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = x\n",
    )
    creds = ProfileProvider(environ={"AWS_PROFILE": "dev"}, home=tmp_path).load()
    assert creds is not None
    assert creds.get().access_key_id == "AKIADEV"


def test_profile_missing_default_is_none(tmp_path: Path) -> None:
    assert ProfileProvider(environ={}, home=tmp_path).load() is None


def test_profile_default_without_credentials_is_none(tmp_path: Path) -> None:
    write(tmp_path, "config", "[default]\nregion = us-east-1\n")
    assert ProfileProvider(environ={}, home=tmp_path).load() is None


@pytest.mark.parametrize("how", ["argument", "env"])
def test_profile_named_but_missing_is_error(tmp_path: Path, how: str) -> None:
    env = {"AWS_PROFILE": "ghost"} if how == "env" else {}
    provider = ProfileProvider("ghost" if how == "argument" else None, environ=env, home=tmp_path)
    with pytest.raises(CredentialProviderError, match="profile 'ghost' not found"):
        provider.load()


def test_profile_key_without_secret(tmp_path: Path) -> None:
    write(tmp_path, "credentials", "[default]\naws_access_key_id = AKIAFILE\n")
    with pytest.raises(CredentialProviderError, match="no aws_secret_access_key"):
        ProfileProvider(environ={}, home=tmp_path).load()


def test_profile_malformed_file(tmp_path: Path) -> None:
    write(tmp_path, "credentials", "garbage\n")
    with pytest.raises(CredentialProviderError, match="credentials"):
        ProfileProvider(environ={}, home=tmp_path).load()


def test_profile_sso_without_its_session_section(tmp_path: Path) -> None:
    write(
        tmp_path,
        "config",
        "[profile sso]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = r\n",
    )
    with pytest.raises(CredentialProviderError, match=r"sso_session 'corp' has no \[sso-session"):
        ProfileProvider("sso", environ={}, home=tmp_path).load()


def test_profile_credentials_file_static_beats_process(tmp_path: Path) -> None:
    write(tmp_path, "config", "[default]\ncredential_process = /nonexistent/program\n")
    write(
        tmp_path,
        "credentials",
        "[default]\naws_access_key_id = AKIASTATIC\naws_secret_access_key = x\n",
    )
    creds = ProfileProvider(environ={}, home=tmp_path).load()
    assert creds is not None
    assert creds.get().access_key_id == "AKIASTATIC"


def test_profile_process_beats_config_file_static(tmp_path: Path) -> None:
    # botocore: credential_process comes before the config file's static keys.
    cmd = process_command(
        tmp_path, {"Version": 1, "AccessKeyId": "AKIAPROC", "SecretAccessKey": SECRET}
    )
    write(
        tmp_path,
        "config",
        "[profile both]\naws_access_key_id = AKIASTATIC\naws_secret_access_key = x\n"
        f"credential_process = {cmd}\n",
    )
    chain = default_chain(environ={"AWS_PROFILE": "both"}, home=tmp_path, http=FakeHttp())
    assert chain.load().get().access_key_id == "AKIAPROC"
    assert chain.resolved_by == "profile"


ASSUME = f"role_arn = {ROLE}\n"


def assume_env() -> dict[str, str]:
    return {"AWS_ENDPOINT_URL_STS": "http://sts.test/"}


def test_assume_role_source_profile(tmp_path: Path) -> None:
    write(
        tmp_path,
        "config",
        f"[profile src]\naws_access_key_id = AKIASRC\naws_secret_access_key = {SECRET}\n"
        f"[profile role]\n{ASSUME}source_profile = src\n",
    )
    http = FakeHttp(sts_reply())
    result = ProfileProvider("role", environ=assume_env(), http=http, clock=clock, home=tmp_path)
    creds = result.load()
    assert isinstance(creds, RefreshableCredentials)
    assert http.calls == []  # lazy
    assert creds.get().access_key_id == "ASIASTS"
    method, url, headers, body = http.calls[0]
    assert (method, url) == ("POST", "http://sts.test/")
    assert "Credential=AKIASRC/" in headers["Authorization"]
    params = dict(urllib.parse.parse_qsl((body or b"").decode()))
    assert params["RoleArn"] == ROLE
    assert params["RoleSessionName"] == "sigv4-session-1714564800"


def test_assume_role_self_source_with_static_keys(tmp_path: Path) -> None:
    write(
        tmp_path,
        "config",
        f"[default]\naws_access_key_id = AKIASELF\naws_secret_access_key = x\n{ASSUME}"
        "source_profile = default\n",
    )
    http = FakeHttp(sts_reply())
    creds = ProfileProvider(environ=assume_env(), http=http, clock=clock, home=tmp_path).load()
    assert creds is not None
    creds.get()
    assert "Credential=AKIASELF/" in http.calls[0][2]["Authorization"]


def test_assume_role_cycle(tmp_path: Path) -> None:
    write(
        tmp_path,
        "config",
        f"[profile a]\n{ASSUME}source_profile = b\n[profile b]\n{ASSUME}source_profile = c\n"
        f"[profile c]\n{ASSUME}source_profile = a\n",
    )
    with pytest.raises(CredentialProviderError, match="cycle: a -> b -> c -> a"):
        ProfileProvider("a", environ={}, home=tmp_path).load()


def test_assume_role_self_cycle_without_keys(tmp_path: Path) -> None:
    write(tmp_path, "config", f"[profile a]\n{ASSUME}source_profile = a\n")
    with pytest.raises(CredentialProviderError, match="cycle: a -> a"):
        ProfileProvider("a", environ={}, home=tmp_path).load()


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("source_profile = nowhere\n", "source_profile 'nowhere'.*not found"),
        ("", "neither source_profile nor credential_source"),
        ("source_profile = s\ncredential_source = Environment\n", "both"),
        ("credential_source = Moon\n", "not one of Environment"),
        ("source_profile = s\nmfa_serial = arn:aws:iam::1:mfa/me\n", "MFA"),
        ("source_profile = s\nduration_seconds = 10\n", "outside 900..43200"),
        ("source_profile = s\nduration_seconds = long\n", "not an integer"),
        ("source_profile = empty\n", "source_profile 'empty' has no credentials"),
        ("credential_source = Environment\n", "found no credentials"),
    ],
)
def test_assume_role_config_errors(tmp_path: Path, extra: str, match: str) -> None:
    write(
        tmp_path,
        "config",
        f"[profile r]\n{ASSUME}{extra}[profile s]\naws_access_key_id = A\n"
        "aws_secret_access_key = B\n[profile empty]\nregion = x\n",
    )
    with pytest.raises(CredentialProviderError, match=match):
        ProfileProvider("r", environ={}, home=tmp_path).load()


def test_assume_role_bad_arn(tmp_path: Path) -> None:
    write(tmp_path, "config", "[profile r]\nrole_arn = nope\nsource_profile = r\n")
    with pytest.raises(CredentialProviderError, match="not a role ARN"):
        ProfileProvider("r", environ={}, home=tmp_path).load()


def test_assume_role_credential_source_environment(tmp_path: Path) -> None:
    write(tmp_path, "config", f"[default]\n{ASSUME}credential_source = Environment\n")
    env = {**assume_env(), "AWS_ACCESS_KEY_ID": "AKIAFROMENV", "AWS_SECRET_ACCESS_KEY": SECRET}
    http = FakeHttp(sts_reply())
    creds = AssumeRoleProvider(environ=env, http=http, clock=clock, home=tmp_path).load()
    assert creds is not None
    creds.get()
    assert "Credential=AKIAFROMENV/" in http.calls[0][2]["Authorization"]


def test_assume_role_credential_source_imds(tmp_path: Path) -> None:
    write(tmp_path, "config", f"[default]\n{ASSUME}credential_source = Ec2InstanceMetadata\n")
    doc = {
        "Code": "Success",
        "AccessKeyId": "ASIAIMDS",
        "SecretAccessKey": SECRET,
        "Token": TOKEN,
        "Expiration": "2024-05-01T18:00:00Z",
    }

    def answer(method: str, url: str, headers: dict[str, str], body: Optional[bytes]) -> Any:
        if url.endswith("/api/token"):
            return HttpResult(200, {}, b"tok")
        if url.endswith("security-credentials/"):
            return HttpResult(200, {}, b"role")
        if url.endswith("security-credentials/role"):
            return HttpResult(200, {}, json.dumps(doc).encode())
        return sts_reply()(method, url, headers, body)

    http = FakeHttp(answer)
    creds = AssumeRoleProvider(environ=assume_env(), http=http, clock=clock, home=tmp_path).load()
    assert creds is not None
    assert creds.get().access_key_id == "ASIASTS"
    assert "Credential=ASIAIMDS/" in http.calls[-1][2]["Authorization"]


def test_assume_role_provider_ignores_profiles_without_role(tmp_path: Path) -> None:
    write(tmp_path, "config", "[default]\naws_access_key_id = A\naws_secret_access_key = B\n")
    assert AssumeRoleProvider(environ={}, home=tmp_path).load() is None


def test_assume_role_uses_profile_region(tmp_path: Path) -> None:
    write(
        tmp_path,
        "config",
        f"[profile r]\n{ASSUME}source_profile = s\nregion = eu-west-3\n"
        "[profile s]\naws_access_key_id = A\naws_secret_access_key = B\n",
    )
    http = FakeHttp(sts_reply())
    creds = ProfileProvider("r", environ={}, http=http, clock=clock, home=tmp_path).load()
    assert creds is not None
    creds.get()
    assert http.calls[0][1] == "https://sts.eu-west-3.amazonaws.com/"
    assert "/eu-west-3/sts/aws4_request" in http.calls[0][2]["Authorization"]


# --------------------------------------------------------------------------- web identity


def test_web_identity_from_profile(tmp_path: Path) -> None:
    token = tmp_path / "jwt"
    token.write_text("header.payload.sig")
    write(
        tmp_path,
        "config",
        f"[profile w]\nweb_identity_token_file = {token}\n{ASSUME}role_session_name = ws\n",
    )
    http = FakeHttp(sts_reply())
    env = {**assume_env(), "AWS_WEB_IDENTITY_TOKEN_FILE": "/ignored", "AWS_ROLE_ARN": "x" * 30}
    creds = ProfileProvider("w", environ=env, http=http, clock=clock, home=tmp_path).load()
    assert creds is not None
    assert creds.get().access_key_id == "ASIASTS"
    _, _, headers, body = http.calls[0]
    assert "Authorization" not in headers
    params = dict(urllib.parse.parse_qsl((body or b"").decode()))
    assert params["Action"] == "AssumeRoleWithWebIdentity"
    assert params["WebIdentityToken"] == "header.payload.sig"
    assert params["RoleSessionName"] == "ws"
    assert params["RoleArn"] == ROLE


def test_web_identity_token_file_tilde(tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text("tok.tok.tok")
    env = {**assume_env(), "AWS_WEB_IDENTITY_TOKEN_FILE": "~/jwt", "AWS_ROLE_ARN": ROLE}
    http = FakeHttp(sts_reply())
    creds = WebIdentityProvider(environ=env, http=http, clock=clock, home=tmp_path).load()
    assert creds is not None
    creds.get()
    assert b"tok.tok.tok" in (http.calls[0][3] or b"")


def test_web_identity_missing_role_arn(tmp_path: Path) -> None:
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "t")}
    with pytest.raises(CredentialProviderError, match="no role ARN"):
        WebIdentityProvider(environ=env, home=tmp_path).load()


def test_web_identity_not_configured(tmp_path: Path) -> None:
    assert WebIdentityProvider(environ={"AWS_ROLE_ARN": ROLE}, home=tmp_path).load() is None


def test_web_identity_env_ignored_for_explicit_profile(tmp_path: Path) -> None:
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "t"), "AWS_ROLE_ARN": ROLE}
    write(tmp_path, "config", "[profile p]\nregion = x\n")
    assert WebIdentityProvider(profile="p", environ=env, home=tmp_path).load() is None


def test_web_identity_empty_token(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("  \n")
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "t"), "AWS_ROLE_ARN": ROLE}
    creds = WebIdentityProvider(environ=env, clock=clock, home=tmp_path).load()
    assert creds is not None
    with pytest.raises(CredentialProviderError, match="empty"):
        creds.get()


# --------------------------------------------------------------------------- chain


class Fixed(CredentialProvider):
    def __init__(self, name: str, result: Any = None, error: BaseException | None = None) -> None:
        super().__init__()
        self.name = name
        self.result = result
        self.error = error
        self.calls = 0

    def _load(self) -> Any:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.result


def test_chain_first_wins() -> None:
    creds = Credentials("AKIAB", SECRET)
    a, b, c = Fixed("a"), Fixed("b", creds), Fixed("c", Credentials("AKIAC", SECRET))
    chain = ChainProvider([a, b, c])
    assert chain.load() is creds
    assert chain.resolved_by == "b"
    assert (a.calls, b.calls, c.calls) == (1, 1, 0)


def test_chain_none_found() -> None:
    with pytest.raises(NoCredentialsError) as info:
        ChainProvider([Fixed("a"), Fixed("b")]).load()
    assert info.value.providers == ("a", "b")
    assert "a, b" in str(info.value)


def test_chain_configured_failure_stops() -> None:
    later = Fixed("later", Credentials("AKIAL", SECRET))
    chain = ChainProvider([Fixed("broken", error=CredentialProviderError("broken", "bad")), later])
    with pytest.raises(CredentialProviderError, match="bad"):
        chain.load()
    assert later.calls == 0


def test_chain_wraps_unexpected_errors() -> None:
    chain = ChainProvider([Fixed("weird", error=KeyError(SECRET))])
    with pytest.raises(CredentialProviderError) as info:
        chain.load()
    assert info.value.provider == "weird"
    assert "KeyError" in str(info.value)
    assert_clean(str(info.value))


def test_provider_load_wraps_unexpected_errors() -> None:
    def broken(*_a: Any) -> HttpResult:
        raise IndexError(SECRET)

    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1/c"}
    with pytest.raises(CredentialProviderError, match="IndexError") as info:
        ContainerProvider(environ=env, http=broken).load()
    assert_clean(str(info.value))


def test_default_chain_order_and_names(tmp_path: Path) -> None:
    chain = default_chain(environ={}, home=tmp_path, http=FakeHttp())
    assert [p.name for p in chain.providers] == [
        "env",
        "assume-role",
        "assume-role-with-web-identity",
        "profile",
        "container-role",
        "iam-role",
    ]
    with pytest.raises(NoCredentialsError) as info:
        chain.load()
    assert info.value.providers == tuple(p.name for p in chain.providers)
    assert isinstance(info.value, CredentialsError)


def test_default_chain_explicit_profile_skips_env(tmp_path: Path) -> None:
    write(tmp_path, "credentials", "[p]\naws_access_key_id = AKIAPROF\naws_secret_access_key = s\n")
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": SECRET}
    chain = default_chain(profile="p", environ=env, home=tmp_path, http=FakeHttp())
    assert "env" not in [p.name for p in chain.providers]
    creds = chain.load()
    assert creds.get().access_key_id == "AKIAPROF"
    # AWS_PROFILE does not skip env
    chain = default_chain(environ={**env, "AWS_PROFILE": "p"}, home=tmp_path, http=FakeHttp())
    assert chain.load().get().access_key_id == "AKIAENV"


def test_default_chain_profile_role_beats_web_identity_env(tmp_path: Path) -> None:
    # EKS IRSA env vars + AWS_PROFILE naming a role profile: botocore assumes the profile's role.
    token = tmp_path / "token"
    token.write_text("header.payload.sig")
    write(
        tmp_path,
        "config",
        f"[profile dev]\n{ASSUME}source_profile = base\n"
        f"[profile base]\naws_access_key_id = AKIABASE\naws_secret_access_key = {SECRET}\n",
    )
    env = {
        **assume_env(),
        "AWS_PROFILE": "dev",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "AWS_ROLE_ARN": "arn:aws:iam::222222222222:role/irsa",
    }
    http = FakeHttp(sts_reply())
    chain = default_chain(environ=env, home=tmp_path, http=http, clock=clock)
    assert chain.load().get().access_key_id == "ASIASTS"
    assert chain.resolved_by == "assume-role"
    params = dict(urllib.parse.parse_qsl((http.calls[0][3] or b"").decode()))
    assert (params["Action"], params["RoleArn"]) == ("AssumeRole", ROLE)
    assert "Credential=AKIABASE/" in http.calls[0][2]["Authorization"]


def test_default_chain_web_identity_env_beats_profile_keys(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("header.payload.sig")
    write(
        tmp_path, "credentials", "[default]\naws_access_key_id = AKIAF\naws_secret_access_key = s\n"
    )
    env = {**assume_env(), "AWS_WEB_IDENTITY_TOKEN_FILE": str(token), "AWS_ROLE_ARN": ROLE}
    http = FakeHttp(sts_reply())
    chain = default_chain(environ=env, home=tmp_path, http=http, clock=clock)
    assert chain.load().get().access_key_id == "ASIASTS"
    assert chain.resolved_by == "assume-role-with-web-identity"


def test_source_profile_static_keys_beat_its_role(tmp_path: Path) -> None:
    # botocore resolves a source_profile that has static keys to those keys, not to its role.
    write(
        tmp_path,
        "config",
        f"[profile top]\n{ASSUME}source_profile = mid\n"
        f"[profile mid]\n{ASSUME}source_profile = nowhere\n"
        f"aws_access_key_id = AKIAMID\naws_secret_access_key = {SECRET}\n",
    )
    http = FakeHttp(sts_reply())
    creds = ProfileProvider("top", environ=assume_env(), http=http, clock=clock, home=tmp_path)
    loaded = creds.load()
    assert loaded is not None
    loaded.get()
    assert len(http.calls) == 1
    assert "Credential=AKIAMID/" in http.calls[0][2]["Authorization"]


def test_default_chain_env_first(tmp_path: Path) -> None:
    write(
        tmp_path, "credentials", "[default]\naws_access_key_id = AKIAF\naws_secret_access_key = s\n"
    )
    env = {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": SECRET}
    chain = default_chain(environ=env, home=tmp_path, http=FakeHttp())
    assert chain.load().get().access_key_id == "AKIAENV"
    assert chain.resolved_by == "env"


def test_default_chain_falls_through_to_imds(tmp_path: Path) -> None:
    doc = {
        "Code": "Success",
        "AccessKeyId": "ASIAIMDS",
        "SecretAccessKey": SECRET,
        "Token": TOKEN,
        "Expiration": "2024-05-01T18:00:00Z",
    }

    def answer(method: str, url: str, headers: dict[str, str], body: Optional[bytes]) -> Any:
        if url.endswith("/api/token"):
            return HttpResult(200, {}, b"tok")
        if url.endswith("security-credentials/"):
            return HttpResult(200, {}, b"role")
        return HttpResult(200, {}, json.dumps(doc).encode())

    chain = default_chain(environ={}, home=tmp_path, http=FakeHttp(answer), clock=clock)
    creds = chain.load()
    assert chain.resolved_by == "iam-role"
    assert creds.get().access_key_id == "ASIAIMDS"
    assert_clean(repr(creds))


def test_default_chain_broken_profile_stops_before_imds(tmp_path: Path) -> None:
    write(tmp_path, "credentials", "[default]\naws_access_key_id = AKIAF\n")
    http = FakeHttp()
    with pytest.raises(CredentialProviderError):
        default_chain(environ={}, home=tmp_path, http=http).load()
    assert http.calls == []


def test_default_chain_container_before_imds(tmp_path: Path) -> None:
    def answer(method: str, url: str, headers: dict[str, str], body: Optional[bytes]) -> Any:
        assert "169.254.170.2" in url
        doc = {
            "AccessKeyId": "ASIAECS",
            "SecretAccessKey": SECRET,
            "Token": TOKEN,
            "Expiration": "2024-05-01T18:00:00Z",
        }
        return HttpResult(200, {}, json.dumps(doc).encode())

    env = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"}
    chain = default_chain(environ=env, home=tmp_path, http=FakeHttp(answer), clock=clock)
    assert chain.load().get().access_key_id == "ASIAECS"
    assert chain.resolved_by == "container-role"


def test_imds_disabled_in_chain(tmp_path: Path) -> None:
    http = FakeHttp()
    env = {"AWS_EC2_METADATA_DISABLED": "true"}
    with pytest.raises(NoCredentialsError):
        default_chain(environ=env, home=tmp_path, http=http).load()
    assert http.calls == []


def test_reprs_never_show_secrets(tmp_path: Path) -> None:
    providers: list[CredentialProvider] = [
        StaticProvider(Credentials("AKIASTATIC", SECRET, TOKEN)),
        EnvProvider(environ={"AWS_SECRET_ACCESS_KEY": SECRET}),
        InstanceMetadataProvider(environ={}),
        default_chain(environ={"AWS_SESSION_TOKEN": TOKEN}, home=tmp_path),
    ]
    for provider in providers:
        assert_clean(repr(provider))
        assert_clean(str(provider))


# -- as botocore (found by a review against it as an oracle) -----------------------------------


@pytest.mark.parametrize("sso", ["sso_session = corp", "sso_region = us-east-1"])
def test_sso_settings_without_a_role_or_account_leave_the_static_keys(
    tmp_path: Path, sso: str
) -> None:
    """botocore takes a profile for SSO only with sso_role_name or sso_account_id: an
    sso_session or sso_region alone (for tools that want a bearer token) changes nothing."""
    write(tmp_path, "config", f"[default]\n{sso}\n[sso-session corp]\nsso_region = us-east-1\n")
    write(
        tmp_path,
        "credentials",
        f"[default]\naws_access_key_id = AKIAS\naws_secret_access_key = {SECRET}\n",
    )
    creds = ProfileProvider(environ={}, home=tmp_path).load()
    assert isinstance(creds, Credentials)
    assert creds.access_key_id == "AKIAS"
    write(tmp_path, "config", "[default]\nsso_account_id = 1\n")  # now it is SSO, incomplete
    with pytest.raises(CredentialProviderError, match="sso"):
        ProfileProvider(environ={}, home=tmp_path).load()


def test_a_quoted_profile_name_is_read_as_botocore_reads_it(tmp_path: Path) -> None:
    write(
        tmp_path,
        "config",
        '[profile "my prof"]\naws_access_key_id = AKIAQ\naws_secret_access_key = x\n'
        "[profile two words]\naws_access_key_id = AKIAW\naws_secret_access_key = x\n",
    )
    creds = ProfileProvider("my prof", environ={}, home=tmp_path).load()
    assert isinstance(creds, Credentials)
    assert creds.access_key_id == "AKIAQ"
    with pytest.raises(CredentialProviderError, match="not found"):  # not two words: no name
        ProfileProvider("two words", environ={}, home=tmp_path).load()


def test_a_secret_alone_in_the_credentials_file_leaves_the_config_files_keys(
    tmp_path: Path,
) -> None:
    write(tmp_path, "credentials", f"[default]\naws_secret_access_key = {SECRET}\n")
    write(tmp_path, "config", "[default]\naws_access_key_id = AKIAC\naws_secret_access_key = y\n")
    creds = ProfileProvider(environ={}, home=tmp_path).load()
    assert isinstance(creds, Credentials)
    assert creds.access_key_id == "AKIAC"
