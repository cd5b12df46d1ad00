"""``smruntime.Session`` and ``smruntime.client``: boto3's entry points, for sagemaker-runtime.

``smruntime.client("sagemaker-runtime", ...)`` takes ``boto3.client``'s arguments;
``smruntime.Session(profile_name=..., region_name=..., aws_access_key_id=..., ...)`` holds
what a boto3 ``Session`` holds and makes clients with ``.client("sagemaker-runtime", ...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Optional

from smruntime._client import Client
from smruntime._meta import SERVICE_NAME
from smruntime.exceptions import ProfileNotFound

__all__ = ["ReadOnlyCredentials", "SessionCredentials", "Session", "client"]


class ReadOnlyCredentials(NamedTuple):
    """botocore's frozen credentials: one consistent set of keys (the repr hides them)."""

    access_key: str
    secret_key: str
    token: Optional[str]
    account_id: Optional[str] = None

    def __repr__(self) -> str:
        from sigv4._credentials import mask

        token = "None" if self.token is None else "'****'"
        return (
            f"ReadOnlyCredentials(access_key={mask(self.access_key)!r}, secret_key='****', "
            f"token={token}, account_id={self.account_id!r})"
        )


class SessionCredentials:
    """What ``Session.get_credentials()`` returns: botocore's ``Credentials`` attributes
    (``access_key``, ``secret_key``, ``token``, ``method``, ``get_frozen_credentials()``) over
    a credentials source; temporary credentials are refreshed on each read, as botocore's
    ``RefreshableCredentials``. The repr hides the secret and the token."""

    def __init__(self, source: Any, method: str, account_id: Optional[str] = None) -> None:
        self._source = source
        self.method = method
        self.account_id = account_id

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        """The current keys, read together (use this rather than the three attributes)."""
        creds = self._source.get()
        return ReadOnlyCredentials(
            creds.access_key_id, creds.secret_access_key, creds.session_token, self.account_id
        )

    @property
    def access_key(self) -> str:
        return self.get_frozen_credentials().access_key

    @property
    def secret_key(self) -> str:
        return self.get_frozen_credentials().secret_key

    @property
    def token(self) -> Optional[str]:
        return self.get_frozen_credentials().token

    def __repr__(self) -> str:
        return f"<SessionCredentials method={self.method!r}>"


class Session:
    """boto3's ``Session``: default credentials, region and profile for the clients it makes.

    Explicit keys given here go to every client (a client's own keys win); ``profile_name``
    selects the shared-config profile for credentials and region (:class:`ProfileNotFound` if
    neither file has it); ``region_name`` is the region of clients that name none.
    """

    def __init__(
        self,
        aws_access_key_id: Optional[str] = None,
        aws_secret_access_key: Optional[str] = None,
        aws_session_token: Optional[str] = None,
        region_name: Optional[str] = None,
        botocore_session: Any = None,
        profile_name: Optional[str] = None,
        aws_account_id: Optional[str] = None,
        *,
        environ: Optional[Mapping[str, str]] = None,
    ) -> None:
        if botocore_session is not None:
            raise TypeError("botocore_session is not supported: smruntime has no botocore")
        if profile_name is not None:
            from sigv4._profiles import load_profiles

            profiles = load_profiles(environ)
            if profile_name not in profiles:
                raise ProfileNotFound(profile_name)
        self._keys = (aws_access_key_id, aws_secret_access_key, aws_session_token)
        self._region_name = region_name
        self._profile_name = profile_name
        self.aws_account_id = aws_account_id
        self._environ = environ

    @property
    def profile_name(self) -> str:
        """The profile in use: the one given, else ``AWS_PROFILE``, else ``"default"``."""
        if self._profile_name is not None:
            return self._profile_name
        import os

        env = os.environ if self._environ is None else self._environ
        return env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"

    def get_credentials(self) -> Optional[SessionCredentials]:
        """The session's credentials, as boto3's: the keys given here, else those the default
        chain finds (the profile's, the environment's, ...), else ``None``."""
        from sigv4 import Credentials
        from sigv4.exceptions import NoCredentialsError

        key, secret, token = self._keys
        if key and secret:
            explicit = Credentials(key, secret, token)
            return SessionCredentials(explicit, "explicit", self.aws_account_id)
        from sigv4._providers import default_chain

        try:
            source = default_chain(profile=self._profile_name, environ=self._environ).load()
        except NoCredentialsError:
            return None
        return SessionCredentials(source, "default-chain", self.aws_account_id)

    @property
    def available_profiles(self) -> list[str]:
        """The profiles of the shared config and credentials files."""
        from sigv4._profiles import load_profiles

        return load_profiles(self._environ).names()

    @property
    def region_name(self) -> Optional[str]:
        """The session's region: the one given, else the environment's or the profile's."""
        if self._region_name is not None:
            return self._region_name
        from sigv4._region import resolve_region
        from sigv4.exceptions import NoRegionError

        try:
            return resolve_region(None, profile=self._profile_name, environ=self._environ)
        except NoRegionError:
            return None

    def get_available_services(self) -> list[str]:
        """The services this session can make clients for."""
        return [SERVICE_NAME]

    def client(
        self,
        service_name: str,
        region_name: Optional[str] = None,
        api_version: Optional[str] = None,
        use_ssl: bool = True,
        verify: bool | str | None = None,
        endpoint_url: Optional[str] = None,
        aws_access_key_id: Optional[str] = None,
        aws_secret_access_key: Optional[str] = None,
        aws_session_token: Optional[str] = None,
        config: Any = None,
        aws_account_id: Optional[str] = None,
        **options: Any,
    ) -> Client:
        """A :class:`Client` for ``service_name`` (``"sagemaker-runtime"``), with boto3's
        arguments; ``options`` are :class:`Client`'s own (``transport=``, ...)."""
        if aws_access_key_id is None and aws_secret_access_key is None:
            aws_access_key_id, aws_secret_access_key, session_token = self._keys
            if aws_session_token is None:
                aws_session_token = session_token
        if region_name is None:
            region_name = self._region_name
        options.setdefault("profile_name", self._profile_name)
        if self._environ is not None:
            options.setdefault("environ", self._environ)
        return Client(
            service_name,
            region_name=region_name,
            api_version=api_version,
            use_ssl=use_ssl,
            verify=verify,
            endpoint_url=endpoint_url,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            config=config,
            aws_account_id=aws_account_id or self.aws_account_id,
            **options,
        )

    def __repr__(self) -> str:
        return f"Session(region_name={self._region_name!r}, profile_name={self._profile_name!r})"


def client(service_name: str, *args: Any, **kwargs: Any) -> Client:
    """``boto3.client``: a :class:`Client` for ``service_name`` (``"sagemaker-runtime"``),
    from a default :class:`Session`."""
    return Session().client(service_name, *args, **kwargs)
