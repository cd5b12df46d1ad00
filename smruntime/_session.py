"""``smruntime.Session`` and ``smruntime.client``: boto3's entry points, for sagemaker-runtime.

``smruntime.client("sagemaker-runtime", ...)`` takes ``boto3.client``'s arguments;
``smruntime.Session(profile_name=..., region_name=..., aws_access_key_id=..., ...)`` holds
what a boto3 ``Session`` holds and makes clients with ``.client("sagemaker-runtime", ...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from smruntime._client import Client
from smruntime._meta import SERVICE_NAME
from smruntime.exceptions import ProfileNotFound

__all__ = ["Session", "client"]


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
        self.profile_name = profile_name
        self.aws_account_id = aws_account_id
        self._environ = environ

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
            return resolve_region(None, profile=self.profile_name, environ=self._environ)
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
        options.setdefault("profile_name", self.profile_name)
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
        return f"Session(region_name={self._region_name!r}, profile_name={self.profile_name!r})"


def client(service_name: str, *args: Any, **kwargs: Any) -> Client:
    """``boto3.client``: a :class:`Client` for ``service_name`` (``"sagemaker-runtime"``),
    from a default :class:`Session`."""
    return Session().client(service_name, *args, **kwargs)
