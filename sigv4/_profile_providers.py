"""Providers configured by the shared config/credentials files (and their environment
variables): ProfileProvider, AssumeRoleProvider, ProcessProvider (``credential_process``) and
WebIdentityProvider (``AssumeRoleWithWebIdentity``).

``source_profile`` chains and ``credential_source`` are followed by one resolver shared by
:class:`ProfileProvider` and :class:`AssumeRoleProvider`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Callable

from sigv4._credentials import Credentials
from sigv4._http import HttpFetch
from sigv4._local_providers import EnvProvider
from sigv4._profiles import (
    PathLike,
    ProfileFileError,
    Profiles,
    load_profiles,
    profile_name,
    resolve_home,
)
from sigv4._provider_base import (
    AnyCredentials,
    CredentialProvider,
    _clip,
    _read_token_file,
    _refreshable,
)
from sigv4._refresh import Clock, RefreshableCredentials, parse_timestamp
from sigv4._remote_providers import ContainerProvider, InstanceMetadataProvider
from sigv4._sts import assume_role, assume_role_with_web_identity
from sigv4.exceptions import CredentialProviderError

__all__ = ["AssumeRoleProvider", "ProcessProvider", "ProfileProvider", "WebIdentityProvider"]

_ARN_MIN = 20


def _region_from(environ: Mapping[str, str], profile: Mapping[str, str] | None) -> str | None:
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region and profile:
        region = profile.get("region")
    return region.strip() if region and region.strip() else None


def _sts_url(explicit: str | None, environ: Mapping[str, str]) -> str | None:
    return explicit or environ.get("AWS_ENDPOINT_URL_STS") or None


def _default_session_name(clock: Clock) -> str:
    return f"sigv4-session-{int(clock().timestamp())}"


def _read_profiles(provider: str, environ: Mapping[str, str], home: PathLike | None) -> Profiles:
    try:
        return load_profiles(environ, home)
    except ProfileFileError as exc:
        raise CredentialProviderError(provider, str(exc)) from None


def _expand_user(path: str, environ: Mapping[str, str], home: PathLike | None) -> Path:
    if path == "~" or path.startswith(("~/", "~\\")):
        home_dir = resolve_home(home, environ)
        if home_dir is not None:
            return home_dir / path[2:] if len(path) > 1 else home_dir
    return Path(path)


class WebIdentityProvider(CredentialProvider):
    """``AssumeRoleWithWebIdentity`` with a token file (EKS IRSA and the like).

    Settings come from ``AWS_WEB_IDENTITY_TOKEN_FILE``, ``AWS_ROLE_ARN``,
    ``AWS_ROLE_SESSION_NAME`` (unless ``use_environment`` is false; by default it is false when
    ``profile`` is given in code), falling back to the profile's ``web_identity_token_file``,
    ``role_arn``, ``role_session_name``. The token file is read again on every refresh.
    Credentials are fetched on first use.
    """

    name = "assume-role-with-web-identity"

    def __init__(
        self,
        *,
        profile: str | None = None,
        use_environment: bool | None = None,
        region: str | None = None,
        sts_endpoint_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        http: HttpFetch | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
    ) -> None:
        super().__init__(environ=environ, http=http, clock=clock, home=home)
        self._profile = profile
        self._use_env = profile is None if use_environment is None else use_environment
        self._region = region
        self._sts_endpoint_url = sts_endpoint_url

    def _load(self) -> AnyCredentials | None:
        env = self.environ
        token_file = role_arn = session = None
        if self._use_env:
            token_file = env.get("AWS_WEB_IDENTITY_TOKEN_FILE") or None
            role_arn = env.get("AWS_ROLE_ARN") or None
            session = env.get("AWS_ROLE_SESSION_NAME") or None
        prof: dict[str, str] | None = None
        name = profile_name(self._profile, env)
        if not (token_file and role_arn and session):
            prof = _read_profiles(self.name, env, self._home).get(name)
            if prof is not None:
                token_file = token_file or prof.get("web_identity_token_file") or None
                if token_file:
                    role_arn = role_arn or prof.get("role_arn") or None
                    session = session or prof.get("role_session_name") or None
        if not token_file:
            return None
        if not role_arn:
            raise CredentialProviderError(
                self.name,
                f"web identity token file {token_file} is set but no role ARN "
                f"(AWS_ROLE_ARN or role_arn in profile {name!r})",
            )
        region = self._region or _region_from(env, prof)
        return RefreshableCredentials(
            self._fetcher(token_file, role_arn, session, region), clock=self.clock, name=self.name
        )

    def _fetcher(
        self, token_file: str, role_arn: str, session: str | None, region: str | None
    ) -> Callable[[], Credentials]:
        path = _expand_user(token_file, self.environ, self._home)

        def fetch() -> Credentials:
            token = _read_token_file(self.name, "web identity token file", path)
            if not token.strip():
                raise CredentialProviderError(self.name, f"web identity token file {path} is empty")
            return assume_role_with_web_identity(
                role_arn=role_arn,
                session_name=session or _default_session_name(self.clock),
                web_identity_token=token,
                region=region,
                http=self.http,
                endpoint_url=_sts_url(self._sts_endpoint_url, self.environ),
                provider=self.name,
            ).credentials

        return fetch


class ProcessProvider(CredentialProvider):
    """``credential_process``: run a command (no shell) that prints credentials as JSON.

    The JSON must have ``Version: 1``, ``AccessKeyId``, ``SecretAccessKey`` and may have
    ``SessionToken`` and ``Expiration`` (then the command is run again to refresh). The command
    is ``command`` if given, else the profile's ``credential_process``.
    """

    name = "custom-process"

    def __init__(
        self,
        command: str | Sequence[str] | None = None,
        *,
        profile: str | None = None,
        timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
    ) -> None:
        super().__init__(environ=environ, clock=clock, home=home)
        self._command = command
        self._profile = profile
        self._timeout = timeout

    def _argv(self) -> list[str] | None:
        command = self._command
        if command is None:
            name = profile_name(self._profile, self.environ)
            prof = _read_profiles(self.name, self.environ, self._home).get(name) or {}
            command = prof.get("credential_process") or None
            if command is None:
                return None
        if isinstance(command, str):
            try:
                argv = shlex.split(command, posix=os.name != "nt")
            except ValueError as exc:
                raise CredentialProviderError(
                    self.name, f"cannot split credential_process command: {exc}"
                ) from None
        else:
            argv = [str(part) for part in command]
        if not argv:
            raise CredentialProviderError(self.name, "credential_process command is empty")
        return argv

    def _run(self, argv: list[str]) -> Credentials:
        prog = argv[0]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=self._timeout, check=False)
        except subprocess.TimeoutExpired:
            raise CredentialProviderError(
                self.name, f"{prog} did not finish within {self._timeout} s"
            ) from None
        except OSError as exc:
            raise CredentialProviderError(
                self.name, f"cannot run {prog}: {exc.strerror or type(exc).__name__}"
            ) from None
        if proc.returncode != 0:
            stderr = proc.stderr.decode("utf-8", "replace")
            raise CredentialProviderError(
                self.name, f"{prog} exited with status {proc.returncode}: {_clip(stderr)}"
            )
        try:
            data = json.loads(proc.stdout.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            # The output is never quoted: it may hold the secret.
            raise CredentialProviderError(
                self.name, f"{prog} did not print a JSON object on stdout"
            ) from None
        if not isinstance(data, dict):
            raise CredentialProviderError(self.name, f"{prog} printed JSON that is not an object")
        version = data.get("Version")
        if version != 1 or isinstance(version, bool):
            raise CredentialProviderError(
                self.name, f"{prog}: unsupported Version {version!r} (expected 1)"
            )
        for field in ("AccessKeyId", "SecretAccessKey"):
            if not isinstance(data.get(field), str) or not data[field]:
                raise CredentialProviderError(self.name, f"{prog}: {field} missing or not a string")
        token = data.get("SessionToken")
        if token is not None and not isinstance(token, str):
            raise CredentialProviderError(self.name, f"{prog}: SessionToken is not a string")
        expiration = None
        if data.get("Expiration") is not None:
            try:
                expiration = parse_timestamp(data["Expiration"])
            except ValueError as exc:
                raise CredentialProviderError(self.name, f"{prog}: {exc}") from None
        return Credentials(data["AccessKeyId"], data["SecretAccessKey"], token or None, expiration)

    def _load(self) -> AnyCredentials | None:
        argv = self._argv()
        if argv is None:
            return None
        return _refreshable(lambda: self._run(argv), self.clock, self.name)


_CREDENTIAL_SOURCES = ("Environment", "Ec2InstanceMetadata", "EcsContainer")


class _ProfileResolvingProvider(CredentialProvider):
    """Base of :class:`ProfileProvider` and :class:`AssumeRoleProvider`: their settings and
    the :class:`_Resolver` built from them."""

    def __init__(
        self,
        profile: str | None = None,
        *,
        region: str | None = None,
        sts_endpoint_url: str | None = None,
        process_timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        http: HttpFetch | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
    ) -> None:
        super().__init__(environ=environ, http=http, clock=clock, home=home)
        self._profile = profile
        self._region = region
        self._sts_endpoint_url = sts_endpoint_url
        self._process_timeout = process_timeout

    def _resolver(self, profiles: Profiles) -> _Resolver:
        return _Resolver(
            self,
            profiles,
            region=self._region,
            sts_endpoint_url=self._sts_endpoint_url,
            process_timeout=self._process_timeout,
        )


class AssumeRoleProvider(_ProfileResolvingProvider):
    """STS ``AssumeRole`` for a profile with ``role_arn`` and ``source_profile`` or
    ``credential_source`` (``Environment``, ``Ec2InstanceMetadata``, ``EcsContainer``).

    ``source_profile`` chains are followed (a cycle is an error); ``external_id``,
    ``role_session_name`` and ``duration_seconds`` are honoured; ``mfa_serial`` is refused.
    Returns ``None`` if the profile has no ``role_arn``. Credentials are fetched on first use.
    """

    name = "assume-role"

    def __init__(
        self,
        *,
        profile: str | None = None,
        region: str | None = None,
        sts_endpoint_url: str | None = None,
        process_timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        http: HttpFetch | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
    ) -> None:
        # Only ``profile`` differs from the base: here it is keyword-only.
        super().__init__(
            profile,
            region=region,
            sts_endpoint_url=sts_endpoint_url,
            process_timeout=process_timeout,
            environ=environ,
            http=http,
            clock=clock,
            home=home,
        )

    def _load(self) -> AnyCredentials | None:
        profiles = _read_profiles(self.name, self.environ, self._home)
        name = profile_name(self._profile, self.environ)
        prof = profiles.get(name)
        if prof is None or not prof.get("role_arn") or prof.get("web_identity_token_file"):
            return None
        return self._resolver(profiles).resolve(name, [])


class _Resolver:
    """Resolves a profile to credentials, following ``source_profile`` chains."""

    def __init__(
        self,
        owner: CredentialProvider,
        profiles: Profiles,
        *,
        region: str | None,
        sts_endpoint_url: str | None,
        process_timeout: float | None,
    ) -> None:
        self.owner = owner
        self.profiles = profiles
        self.name = owner.name
        self.region = region
        self.sts_endpoint_url = sts_endpoint_url
        self.process_timeout = process_timeout

    def fail(self, reason: str) -> CredentialProviderError:
        return CredentialProviderError(self.name, reason)

    def resolve(self, name: str, visited: list[str], *, top: bool = True) -> AnyCredentials | None:
        """Credentials of profile ``name`` in botocore's order.

        ``top`` is the profile the chain was asked for: its ``role_arn`` (without
        ``web_identity_token_file``) is assumed even when it also has static keys. A
        ``source_profile`` (``top`` false) that has static keys uses them, not its own role
        (botocore's ``_resolve_credentials_from_profile``).
        """
        if name in visited:
            cycle = " -> ".join([*visited, name])
            raise self.fail(f"source_profile cycle: {cycle}")
        prof = self.profiles.get(name)
        if prof is None:
            raise self.fail(
                f"source_profile {name!r} (of profile {visited[-1]!r}) not found in "
                f"{self.profiles.where()}"
            )
        assumes_role = bool(prof.get("role_arn")) and not prof.get("web_identity_token_file")
        if assumes_role and (top or not prof.get("aws_access_key_id")):
            return self._assume_role(name, prof, [*visited, name])
        creds = self._without_role(name, prof)
        if creds is not None or top:
            return creds
        raise self.fail(f"source_profile {name!r} has no credentials")

    def _without_role(self, name: str, prof: Mapping[str, str]) -> AnyCredentials | None:
        """botocore's per-profile providers after assume-role: web identity, SSO,
        credentials-file static keys, login (refused), ``credential_process``, config-file
        static keys. ``None`` if the profile has none of them."""
        if prof.get("web_identity_token_file"):
            if not prof.get("role_arn"):
                raise self.fail(f"profile {name!r} has web_identity_token_file but no role_arn")
            return self._web_identity(name)
        # As botocore: a role name or an account id makes it an SSO profile (an sso_session
        # or sso_region alone, for tools that only want a bearer token, does not)
        if "sso_role_name" in prof or "sso_account_id" in prof:
            from sigv4._sso import sso_credentials  # only SSO users pay for it

            owner = self.owner
            return sso_credentials(
                name,
                prof,
                self.profiles.sso_sessions,
                environ=owner.environ,
                http=owner.http,
                clock=owner.clock,
                home=owner._home,
            )
        static = self._static(name, self.profiles.credentials_file_keys(name))
        if static is not None:
            return static
        if prof.get("login_session"):
            raise self.fail(f"profile {name!r} uses login_session, which is not supported")
        if prof.get("credential_process"):
            return ProcessProvider(
                prof["credential_process"],
                timeout=self.process_timeout,
                environ=self.owner._environ,
                clock=self.owner._clock,
                home=self.owner._home,
            ).load()
        return self._static(name, self.profiles.config_file_keys(name))

    def _static(self, name: str, prof: Mapping[str, str]) -> Credentials | None:
        key = prof.get("aws_access_key_id") or ""
        secret = prof.get("aws_secret_access_key") or ""
        if not key:  # (a secret alone is not these keys, as botocore: the chain goes on)
            return None
        if not secret:
            raise self.fail(f"profile {name!r} has aws_access_key_id but no aws_secret_access_key")
        token = prof.get("aws_security_token") or prof.get("aws_session_token") or None
        return Credentials(key, secret, token)

    def _web_identity(self, name: str) -> AnyCredentials | None:
        return WebIdentityProvider(
            profile=name,
            use_environment=False,
            region=self.region,
            sts_endpoint_url=self.sts_endpoint_url,
            **self.owner._injected(),
        ).load()

    def _assume_role(self, name: str, prof: Mapping[str, str], chain: list[str]) -> AnyCredentials:
        role_arn = prof["role_arn"]
        if len(role_arn) < _ARN_MIN or not role_arn.startswith("arn:"):
            raise self.fail(f"profile {name!r}: role_arn {role_arn!r} is not a role ARN")
        if prof.get("mfa_serial"):
            raise self.fail(
                f"profile {name!r} sets mfa_serial: MFA-protected roles are not supported "
                "(no interactive prompt); use credential_process instead"
            )
        source_profile = prof.get("source_profile")
        credential_source = prof.get("credential_source")
        if source_profile and credential_source:
            raise self.fail(
                f"profile {name!r} sets both source_profile and credential_source; use one"
            )
        duration: int | None = None
        raw_duration = prof.get("duration_seconds")
        if raw_duration:
            try:
                duration = int(raw_duration)
            except ValueError:
                raise self.fail(
                    f"profile {name!r}: duration_seconds {raw_duration[:20]!r} is not an integer"
                ) from None
            if not 900 <= duration <= 43200:
                raise self.fail(
                    f"profile {name!r}: duration_seconds {duration} is outside 900..43200"
                )
        source: AnyCredentials | None
        if source_profile:
            source = None
            if source_profile == name and prof.get("aws_access_key_id"):
                # A profile may name itself as source for its own static keys.
                source = self._without_role(name, prof)
            if source is None:
                source = self.resolve(source_profile, chain, top=False)
        elif credential_source:
            source = self._credential_source(name, credential_source)
        else:
            raise self.fail(
                f"profile {name!r} has role_arn but neither source_profile nor credential_source"
            )
        if source is None:
            raise self.fail(f"profile {name!r}: the source of credentials returned none")
        src: AnyCredentials = source
        env = self.owner.environ
        region = self.region or _region_from(env, self.profiles.get(chain[0]))
        owner = self.owner
        external_id = prof.get("external_id") or None
        session = prof.get("role_session_name") or None

        def fetch() -> Credentials:
            return assume_role(
                credentials=src.get(),
                role_arn=role_arn,
                session_name=session or _default_session_name(owner.clock),
                region=region,
                http=owner.http,
                clock=owner.clock,
                endpoint_url=_sts_url(self.sts_endpoint_url, env),
                external_id=external_id,
                duration_seconds=duration,
                provider=self.name,
            ).credentials

        return RefreshableCredentials(fetch, clock=owner.clock, name=f"{self.name}:{name}")

    def _credential_source(self, name: str, source: str) -> AnyCredentials | None:
        injected = self.owner._injected()
        provider: CredentialProvider
        if source == "Environment":
            provider = EnvProvider(environ=injected["environ"], clock=injected["clock"])
        elif source == "Ec2InstanceMetadata":
            provider = InstanceMetadataProvider(**injected)
        elif source == "EcsContainer":
            provider = ContainerProvider(**injected)
        else:
            raise self.fail(
                f"profile {name!r}: credential_source {source!r} is not one of "
                f"{', '.join(_CREDENTIAL_SOURCES)}"
            )
        creds = provider.load()
        if creds is None:
            raise self.fail(f"profile {name!r}: credential_source {source} found no credentials")
        return creds


class ProfileProvider(_ProfileResolvingProvider):
    """Credentials from the shared config/credentials files for one profile.

    In botocore's order: ``role_arn`` without ``web_identity_token_file`` (assume role), web
    identity (``web_identity_token_file`` + ``role_arn``), SSO (IAM Identity Center, from the
    ``aws sso login`` token cache: :mod:`sigv4._sso`),
    static keys from the credentials file (``aws_access_key_id``, ``aws_secret_access_key``,
    ``aws_security_token`` / ``aws_session_token``), ``login_session`` (refused),
    ``credential_process``, static keys from the config file. So a config-file profile with both
    static keys and ``credential_process`` gets the process's credentials.
    The profile is ``profile``, else ``AWS_PROFILE``/``AWS_DEFAULT_PROFILE``, else ``default``; a
    named profile that does not exist is an error, a missing ``default`` is not.
    """

    name = "profile"

    def _load(self) -> AnyCredentials | None:
        env = self.environ
        profiles = _read_profiles(self.name, env, self._home)
        name = profile_name(self._profile, env)
        if name not in profiles:
            named = bool(self._profile or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE"))
            if named:
                raise CredentialProviderError(
                    self.name, f"profile {name!r} not found in {profiles.where()}"
                )
            return None
        return self._resolver(profiles).resolve(name, [])
