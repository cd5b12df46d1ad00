"""The acceptance review's caveats on issue #10, each checked against boto3's own behaviour
(boto3 against the emulator where a request is made)."""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import smruntime
from smruntime import exceptions as sm_errors
from smruntime.emulator import Emulator

boto3 = pytest.importorskip("boto3")
botocore_config = pytest.importorskip("botocore.config")
botocore_exceptions = pytest.importorskip("botocore.exceptions")

_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def _clean_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as e:
        yield e


def _pair(emu: Emulator, **kwargs: Any) -> tuple[Any, smruntime.Client]:
    creds = emu.credentials
    common: dict[str, Any] = {
        "endpoint_url": emu.url,
        "aws_access_key_id": creds.access_key_id,
        "aws_secret_access_key": creds.secret_access_key,
        "region_name": emu.region,
        **kwargs,
    }
    theirs = boto3.client("sagemaker-runtime", **common)
    ours = smruntime.client("sagemaker-runtime", **common)
    return theirs, ours


# 1. options boto3 accepts that smruntime cannot honour: TypeError naming the option ----------


@pytest.mark.parametrize(
    "option",
    [
        {"proxies_config": {"proxy_ca_bundle": "/x"}},
        {"defaults_mode": "standard"},
        {"signature_version": "v4a"},
    ],
)
def test_unhonoured_options_are_a_type_error_naming_them(option: dict[str, Any]) -> None:
    (name,) = option
    cfg = botocore_config.Config(**option)
    boto3.client("sagemaker-runtime", region_name="us-east-1", config=cfg)  # boto3 takes it
    with pytest.raises(TypeError, match=f"'{name}' is not supported"):
        smruntime.client("sagemaker-runtime", region_name="us-east-1", config=cfg)
    with pytest.raises(TypeError, match=f"'{name}'"):
        smruntime.client(
            "sagemaker-runtime", region_name="us-east-1", config=smruntime.Config(**option)
        )


def test_sigv4_variants_and_tcp_keepalive_are_honoured(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for sig in ("v4", "s3v4"):
        cfg = botocore_config.Config(signature_version=sig)
        _, ours = _pair(emu, config=cfg)
        with ours:
            assert ours.invoke_endpoint(EndpointName="echo", Body=b"x")["Body"].read() == b"x"
    options: list[tuple[int, int, int]] = []
    real = socket.socket.setsockopt

    def spy(sock: socket.socket, level: int, opt: int, value: Any) -> None:
        options.append((level, opt, value))
        real(sock, level, opt, value)

    monkeypatch.setattr(socket.socket, "setsockopt", spy)
    _, ours = _pair(emu, config=botocore_config.Config(tcp_keepalive=True))
    with ours:
        ours.invoke_endpoint(EndpointName="echo", Body=b"x")
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in options
    with pytest.raises(TypeError, match=r"'tcp_keepalive'.*requests"):
        smruntime.Client(
            region_name="us-east-1",
            config=smruntime.Config(tcp_keepalive=True),
            transport="requests",
        )


# 2. Session.get_credentials and friends --------------------------------------------------------


def test_session_credentials_as_boto3(tmp_path: Path) -> None:
    keys = {
        "aws_access_key_id": "AKIDEXAMPLE1234",
        "aws_secret_access_key": "SECRETSECRET",
        "aws_session_token": "TOKENTOKEN",
        "region_name": "eu-west-1",
    }
    theirs, ours = boto3.Session(**keys), smruntime.Session(**keys)
    for session in (theirs, ours):
        creds = session.get_credentials()
        assert (creds.access_key, creds.secret_key, creds.token) == (
            "AKIDEXAMPLE1234",
            "SECRETSECRET",
            "TOKENTOKEN",
        )
        frozen = creds.get_frozen_credentials()
        assert (frozen.access_key, frozen.secret_key, frozen.token) == tuple(
            list(keys.values())[:3]
        )
        assert session.region_name == "eu-west-1"
        assert session.profile_name == "default"
        assert session.available_profiles == []
    ours_creds = ours.get_credentials()
    assert ours_creds is not None
    for shown in (repr(ours_creds), repr(ours_creds.get_frozen_credentials())):
        assert "SECRETSECRET" not in shown
        assert "TOKENTOKEN" not in shown
    # nothing found: None, as boto3
    assert boto3.Session().get_credentials() is None
    assert smruntime.Session().get_credentials() is None
    (tmp_path / "credentials").write_text(
        "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = devsecret\n"
    )
    dev = smruntime.Session(profile_name="dev")
    dev_creds = dev.get_credentials()
    assert dev_creds is not None
    assert dev_creds.access_key == "AKIDDEV"
    assert dev.profile_name == boto3.Session(profile_name="dev").profile_name == "dev"
    assert dev.available_profiles == boto3.Session().available_profiles == ["dev"]


# 3. client_cert loaded only when a TLS connection is made --------------------------------------


def test_missing_client_cert_is_ignored_over_http(emu: Emulator, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    theirs, ours = _pair(emu, config=botocore_config.Config(client_cert=missing))
    with ours:
        assert theirs.invoke_endpoint(EndpointName="echo", Body=b"x")["Body"].read() == b"x"
        assert ours.invoke_endpoint(EndpointName="echo", Body=b"x")["Body"].read() == b"x"
    from smruntime.http._config import TLSConfig
    from smruntime.http._tls import ssl_context

    with pytest.raises(ValueError, match=r"client certificate file not found: .*nope\.pem"):
        ssl_context(TLSConfig(True, missing))
    with pytest.raises(ValueError, match=r"not found: .*nope\.pem"):
        ssl_context(TLSConfig(True, (missing, missing)))


def test_missing_ca_bundle_is_ignored_over_http(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = str(tmp_path / "stale-ca.pem")  # a stale AWS_CA_BUNDLE in an image
    monkeypatch.setenv("AWS_CA_BUNDLE", missing)
    theirs, ours = _pair(emu)
    with ours:
        assert theirs.invoke_endpoint(EndpointName="echo", Body=b"x")["Body"].read() == b"x"
        assert ours.invoke_endpoint(EndpointName="echo", Body=b"x")["Body"].read() == b"x"
    from smruntime.http._config import TLSConfig
    from smruntime.http._tls import ssl_context

    with pytest.raises(ValueError, match=r"CA bundle not found: .*stale-ca\.pem"):
        ssl_context(TLSConfig(missing, None))


# 4. None for a string member; an empty EndpointName ------------------------------------------


def test_none_parameters_are_type_errors_as_in_botocore(emu: Emulator) -> None:
    theirs, ours = _pair(emu)
    with ours:
        for params in (
            {"EndpointName": "echo", "Body": b"x", "ContentType": None},
            {"EndpointName": None, "Body": b"x"},
            {"EndpointName": "echo", "Body": None},
        ):
            with pytest.raises(botocore_exceptions.ParamValidationError):
                theirs.invoke_endpoint(**params)
            (name,) = (k for k, v in params.items() if v is None)
            with pytest.raises(sm_errors.ParamValidationError, match=rf"{name}.*NoneType"):
                ours.invoke_endpoint(**params)
        # documented difference: botocore sends /endpoints//invocations, smruntime refuses it
        with pytest.raises(sm_errors.ParamValidationError, match="EndpointName"):
            ours.invoke_endpoint(EndpointName="", Body=b"x")


# 5. a FIPS pseudo-region with endpoint_url: endpoint_url wins ----------------------------------


def test_fips_pseudo_region_with_endpoint_url(emu: Emulator) -> None:
    for region in ("us-east-1-fips", "fips-us-east-1"):
        theirs, ours = _pair(emu, region_name=region)
        with ours:
            assert ours.meta.region_name == theirs.meta.region_name == "us-east-1"
            assert ours.meta.endpoint_url == theirs.meta.endpoint_url == emu.url
    without = smruntime.client(
        "sagemaker-runtime",
        region_name="us-east-1-fips",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    assert without.meta.region_name == "us-east-1"
    assert without.meta.endpoint_url == "https://runtime-fips.sagemaker.us-east-1.amazonaws.com"


@pytest.mark.parametrize("url", ["", " ", "foo"])
def test_an_unusable_endpoint_url_is_a_value_error_as_in_botocore(url: str) -> None:
    kwargs: dict[str, Any] = {
        "region_name": "us-east-1",
        "endpoint_url": url,
        "aws_access_key_id": "AKID",
        "aws_secret_access_key": "secret",
    }
    with pytest.raises(ValueError, match="Invalid endpoint"):
        boto3.client("sagemaker-runtime", **kwargs)
    with pytest.raises(ValueError, match="Invalid endpoint_url") as caught:
        smruntime.client("sagemaker-runtime", **kwargs)
    assert isinstance(caught.value, sm_errors.EndpointResolutionError)


@pytest.mark.parametrize(
    ("config", "env", "attempts"),
    [
        ({"retries": {"mode": "legacy"}}, {}, 5),  # botocore's legacy default: 5 attempts
        ({}, {"AWS_RETRY_MODE": "legacy"}, 5),
        ({}, {"AWS_RETRY_MODE": "legacy", "AWS_MAX_ATTEMPTS": "2"}, 2),
        ({"retries": {"mode": "legacy", "max_attempts": 1}}, {}, 2),  # retries, not attempts
        ({"retries": {"max_attempts": 2}}, {}, 3),
        ({"retries": {"total_max_attempts": 4}}, {}, 4),
        ({}, {}, 3),
        ({"retries": {"mode": "adaptive"}}, {}, 3),
    ],
)
def test_retry_attempts_and_meta_config_as_botocore(
    config: dict[str, Any], env: dict[str, str], attempts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    kwargs: dict[str, Any] = {
        "region_name": "eu-west-2",
        "aws_access_key_id": "AKID",
        "aws_secret_access_key": "secret",
    }
    # (a copy each: botocore rewrites the retries dict it is given, in place)
    theirs = boto3.client(
        "sagemaker-runtime", config=botocore_config.Config(**copy.deepcopy(config)), **kwargs
    )
    ours = smruntime.client(
        "sagemaker-runtime", config=smruntime.Config(**copy.deepcopy(config)), **kwargs
    )
    assert ours._config.max_attempts == attempts
    names = ["region_name", "signature_version", "retries"]
    if "mode" not in config.get("retries", {}) and "AWS_RETRY_MODE" not in env:
        import botocore.session

        if botocore.session.get_session().get_config_variable("retry_mode") != "standard":
            names.remove("retries")  # an older botocore (Python 3.9): legacy by default
    for name in names:
        assert getattr(ours.meta.config, name) == getattr(theirs.meta.config, name), name
