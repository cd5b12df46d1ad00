"""smruntime as a drop-in for boto3's sagemaker-runtime client (issue #10).

The proof: one script of boto3 calls runs twice against the emulator, once with
``boto3.client`` / ``boto3.session.Session`` and once with ``smruntime.client`` /
``smruntime.Session``, and the results and exception classes are compared call by call. The
script is written once, against boto3's API; what differs between the runs is only the module
the names come from. Deliberate differences (no botocore exception classes) are mapped in
``_SAME_ERROR`` and listed in the README's "Differences from boto3".
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

import smruntime
from smruntime import exceptions as sm_errors
from smruntime._hooks import EventHooks
from smruntime.emulator import Emulator, Fault

boto3 = pytest.importorskip("boto3")
boto3_session = pytest.importorskip("boto3.session")
botocore_config = pytest.importorskip("botocore.config")
botocore_session = pytest.importorskip("botocore.session")
botocore_exceptions = pytest.importorskip("botocore.exceptions")
botocore_hooks = pytest.importorskip("botocore.hooks")

SPEC = Path(__file__).resolve().parent.parent / "data" / "spec"

#: botocore's exception classes that smruntime raises under another name (its own tree).
_SAME_ERROR = {
    "DataNotFoundError": "UnknownServiceError",
    "InvalidRetryConfigurationError": "ParamValidationError",
    "InvalidMaxRetryAttemptsError": "ParamValidationError",
    "InvalidRetryModeError": "ParamValidationError",
}

_MODELED = set(sm_errors.MODELED_ERRORS)

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
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "AWS_CA_BUNDLE",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
)


@pytest.fixture(autouse=True)
def _clean_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    aws = tmp_path / "aws"
    aws.mkdir()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(proxy, raising=False)


class Kit:
    """What one run of the script takes its names from."""

    def __init__(
        self,
        name: str,
        client: Callable[..., Any],
        session: Callable[..., Any],
        errors: Any,
    ) -> None:
        self.name = name
        self.errors = errors
        self.opened: list[Any] = []

        def make_client(*args: Any, **kwargs: Any) -> Any:
            made = client(*args, **kwargs)
            self.opened.append(made)
            return made

        class TrackedSession:
            def __init__(inner, **kwargs: Any) -> None:
                inner._session = session(**kwargs)

            def client(inner, *args: Any, **kwargs: Any) -> Any:
                made = inner._session.client(*args, **kwargs)
                self.opened.append(made)
                return made

        self.client = make_client
        self.Session = TrackedSession
        self.Config = botocore_config.Config  # smruntime takes botocore's Config as it is


def _boto3_core() -> Any:
    # The newest model (vendored), as in test_emulator_boto3: an older botocore on Python 3.9
    # lacks members such as InvokeEndpointAsync's inline Body.
    core = botocore_session.Session()
    core.get_component("data_loader").search_paths.insert(0, str(SPEC))
    return core


def _boto3_kit() -> Kit:
    def session(**kwargs: Any) -> Any:
        return boto3_session.Session(botocore_session=_boto3_core(), **kwargs)

    def client(*args: Any, **kwargs: Any) -> Any:
        return session().client(*args, **kwargs)

    return Kit("boto3", client, session, botocore_exceptions)


def _smruntime_kit() -> Kit:
    return Kit("smruntime", smruntime.client, smruntime.Session, sm_errors)


class Recorder:
    """Runs each step and keeps its outcome: ``("ok", value)`` or ``("raised", class, text)``."""

    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        self.outcomes: dict[str, Any] = {}

    def __call__(self, label: str, step: Callable[[], Any]) -> Any:
        assert label not in self.outcomes, label
        try:
            value = step()
        except Exception as exc:  # noqa: BLE001 - the class is what is compared
            name = type(exc).__name__
            name = _SAME_ERROR.get(name, name)
            if isinstance(exc, self.kit.errors.ClientError) and name not in _MODELED:
                # smruntime has classes for common AWS codes (ThrottlingException, ...): they
                # are ClientError subclasses, caught as boto3 code catches them.
                name = "ClientError"
            text = str(exc) if isinstance(exc, self.kit.errors.ClientError) else None
            self.outcomes[label] = ("raised", name, text)
            return None
        self.outcomes[label] = ("ok", value)
        return value


def _meta_of(response: dict[str, Any]) -> dict[str, Any]:
    meta = response["ResponseMetadata"]
    return {
        "status": meta["HTTPStatusCode"],
        "retries": meta["RetryAttempts"],
        "max_reached": meta.get("MaxAttemptsReached", False),
    }


def _invoke(client: Any, **params: Any) -> dict[str, Any]:
    response = client.invoke_endpoint(**params)
    return {
        "body": response["Body"].read(),
        "content_type": response.get("ContentType"),
        "variant": response.get("InvokedProductionVariant"),
        **_meta_of(response),
    }


def _caught(kit: Kit, call: Callable[[], Any], cls: str) -> Any:
    """``call()`` must raise ``kit.errors.<cls>``, caught by that name as boto3 code does."""
    try:
        call()
    except getattr(kit.errors, cls) as exc:
        return {
            "code": exc.response["Error"]["Code"],
            "message": exc.response["Error"]["Message"],
            "str": str(exc),
            "max_reached": exc.response.get("ResponseMetadata", {}).get("MaxAttemptsReached"),
        }
    raise AssertionError(f"{cls} was not raised")


def script(kit: Kit, emu: Emulator, home: Path) -> Recorder:
    """boto3 code, as users write it. Every step is recorded under a label."""
    rec = Recorder(kit)
    creds = emu.credentials
    keys = {
        "aws_access_key_id": creds.access_key_id,
        "aws_secret_access_key": creds.secret_access_key,
    }
    Config = kit.Config

    # 1 + 2: boto3.client's signature, botocore's Config (read_timeout, retries counted as retries)
    client = kit.client(
        "sagemaker-runtime",
        region_name=emu.region,
        endpoint_url=emu.url,
        # mode given: botocore before 1.44 (Python 3.9's) defaulted to legacy
        config=Config(read_timeout=300, retries={"max_attempts": 0, "mode": "standard"}),
        **keys,
    )
    rec("echo", lambda: _invoke(client, EndpointName="echo", Body=b'{"x": 1}'))
    positional = kit.client(
        "sagemaker-runtime",
        emu.region,
        "2017-05-13",
        True,
        None,
        emu.url,
        creds.access_key_id,
        creds.secret_access_key,
    )
    rec("positional", lambda: _invoke(positional, EndpointName="echo", Body=b"{}"))
    rec("other service", lambda: kit.client("sagemaker-runtim", region_name="us-east-1", **keys))
    rec(
        "api version",
        lambda: kit.client("sagemaker-runtime", region_name="us-east-1", api_version="2099-01-01"),
    )
    rec(
        "use_ssl=False",
        lambda: (
            kit.client(
                "sagemaker-runtime", region_name="eu-west-1", use_ssl=False, **keys
            ).meta.endpoint_url
        ),
    )
    rec("bad retries key", lambda: kit.client("sagemaker-runtime", config=Config(retries={"x": 1})))
    rec(
        "bad retries count",
        lambda: kit.client("sagemaker-runtime", config=Config(retries={"max_attempts": -1})),
    )
    rec(
        "bad retries mode",
        lambda: kit.client("sagemaker-runtime", config=Config(retries={"mode": "x"})),
    )

    # retries and MaxAttemptsReached (botocore's standard and legacy modes)
    for label, retries in (
        ("standard total 2", {"total_max_attempts": 2, "mode": "standard"}),
        ("legacy 1 retry", {"max_attempts": 1, "mode": "legacy"}),
    ):
        retrying = kit.client(
            "sagemaker-runtime",
            region_name=emu.region,
            endpoint_url=emu.url,
            config=Config(retries=retries),
            **keys,
        )
        emu.add_fault(Fault.service_unavailable())
        rec(
            f"{label}: 503",
            lambda c=retrying: _caught(
                kit, lambda: c.invoke_endpoint(EndpointName="echo", Body=b"{}"), "ClientError"
            ),
        )
        emu.clear_faults()
        rec(f"{label}: ok", lambda c=retrying: _invoke(c, EndpointName="echo", Body=b"{}"))
        rec(
            f"{label}: 4xx",
            lambda c=retrying: _caught(
                kit, lambda: c.invoke_endpoint(EndpointName="nope", Body=b"{}"), "ClientError"
            ),
        )
        emu.add_fault(Fault.service_unavailable(count=1))
        rec(f"{label}: 503 then ok", lambda c=retrying: _invoke(c, EndpointName="echo", Body=b"{}"))
        emu.clear_faults()

    # 2: Session with keys and region, and with a profile
    session = kit.Session(region_name=emu.region, **keys)
    rec(
        "session",
        lambda: _invoke(
            session.client("sagemaker-runtime", endpoint_url=emu.url),
            EndpointName="echo",
            Body=b"{}",
        ),
    )
    (home / "aws" / "config").write_text(
        f"[profile dropin]\nregion = {emu.region}\n"
        f"aws_access_key_id = {creds.access_key_id}\n"
        f"aws_secret_access_key = {creds.secret_access_key}\n",
        encoding="utf-8",
    )
    profiled = kit.Session(profile_name="dropin").client("sagemaker-runtime", endpoint_url=emu.url)
    rec("profile region", lambda: profiled.meta.region_name)
    rec(
        "no such profile",
        lambda: kit.Session(profile_name="nope").client("sagemaker-runtime", endpoint_url=emu.url),
    )
    rec("profile call", lambda: _invoke(profiled, EndpointName="echo", Body=b"{}"))

    # 3: meta
    meta = client.meta
    rec("meta.region_name", lambda: meta.region_name)
    rec("meta.endpoint_url", lambda: meta.endpoint_url.replace(emu.url, "<emulator>"))
    rec("meta.partition", lambda: meta.partition)
    rec("meta.service_name", lambda: meta.service_model.service_name)
    rec("meta.operation_names", lambda: list(meta.service_model.operation_names))
    rec("meta.config.read_timeout", lambda: meta.config.read_timeout)

    # 3: event hooks
    calls: list[Any] = []
    seen: dict[str, Any] = {}

    def provide(params: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        calls.append(("provide-client-params", sorted(kwargs)))
        return dict(params, CustomAttributes="from-provide")

    def build(params: dict[str, Any], **kwargs: Any) -> None:
        calls.append(("before-parameter-build", sorted(kwargs)))
        params["Accept"] = "text/plain"

    def sign_op(request: Any, **kwargs: Any) -> None:
        calls.append(("before-sign.sagemaker-runtime.InvokeEndpoint", sorted(kwargs)))
        request.headers["X-Extra-Signed"] = "1"

    def sign_service(**kwargs: Any) -> None:
        calls.append("before-sign.sagemaker-runtime")

    def sign_any(**kwargs: Any) -> None:
        calls.append("before-sign.*")

    def send(request: Any, **kwargs: Any) -> None:
        calls.append(("before-send", sorted(kwargs)))
        auth = request.headers["Authorization"]
        auth = auth.decode() if isinstance(auth, bytes) else auth
        signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
        # smruntime also signs its amz-sdk-* headers (botocore adds them unsigned)
        seen["signed"] = [name for name in signed if not name.startswith("amz-sdk-")]
        request.headers["X-Extra-Unsigned"] = "2"

    events = meta.events
    events.register("provide-client-params.sagemaker-runtime.InvokeEndpoint", provide)
    events.register("before-parameter-build.sagemaker-runtime", build)
    events.register("before-sign.sagemaker-runtime.InvokeEndpoint", sign_op)
    events.register("before-sign.sagemaker-runtime", sign_service)
    events.register("before-sign.*", sign_any)
    events.register("before-send.sagemaker-runtime.InvokeEndpoint", send)

    def hooked_call() -> Any:
        calls.clear()
        result = _invoke(client, EndpointName="echo", Body=b"{}")
        got = emu.requests[-1].headers
        return {
            "calls": list(calls),
            "signed": seen["signed"],
            "custom attributes": got.get("X-Amzn-SageMaker-Custom-Attributes"),
            "accept": got.get("Accept"),
            "extra signed": got.get("X-Extra-Signed"),
            "extra unsigned": got.get("X-Extra-Unsigned"),
            **result,
        }

    rec("hooks", hooked_call)
    events.unregister("before-sign.*", sign_any)
    events.unregister("before-sign.sagemaker-runtime", sign_service)
    rec("hooks after unregister", hooked_call)
    for name, handler in (
        ("provide-client-params.sagemaker-runtime.InvokeEndpoint", provide),
        ("before-parameter-build.sagemaker-runtime", build),
        ("before-sign.sagemaker-runtime.InvokeEndpoint", sign_op),
        ("before-send.sagemaker-runtime.InvokeEndpoint", send),
    ):
        events.unregister(name, handler)

    # 5: exceptions
    rec("from_code ModelError", lambda: client.exceptions.from_code("ModelError").__name__)
    rec("from_code unknown", lambda: client.exceptions.from_code("NoSuchCode").__name__)
    emu.add_fault(Fault.model_error())
    rec(
        "ModelError",
        lambda: _caught(
            kit,
            lambda: client.invoke_endpoint(EndpointName="echo", Body=b"{}"),
            "ClientError",
        ),
    )
    rec(
        "ModelError class",
        lambda: client.invoke_endpoint(EndpointName="echo", Body=b"{}"),
    )
    emu.clear_faults()
    try:
        client.invoke_endpoint(EndpointName="nope", Body=b"{}")
    except client.exceptions.ValidationError as exc:
        rec("caught ValidationError", lambda e=exc: e.response["Error"]["Code"])

    # 6: validation as botocore's: the service judges patterns and maximums
    for label, params in (
        ("name with _", {"EndpointName": "my_endpoint", "Body": b"{}"}),
        ("name of 64", {"EndpointName": "x" * 64, "Body": b"{}"}),
        (
            "custom attributes 1025",
            {"EndpointName": "echo", "Body": b"{}", "CustomAttributes": "x" * 1025},
        ),
        ("missing name", {"Body": b"{}"}),
        ("body int", {"EndpointName": "echo", "Body": 123}),
        ("unknown param", {"EndpointName": "echo", "Body": b"{}", "Foo": 1}),
        ("empty TargetModel", {"EndpointName": "echo", "Body": b"{}", "TargetModel": ""}),
        ("name type", {"EndpointName": 5, "Body": b"{}"}),
    ):
        rec(f"validation: {label}", lambda p=params: _invoke(client, **p))

    # 8: a region mismatch is the service's InvalidSignatureException
    wrong_region = kit.client(
        "sagemaker-runtime",
        region_name="us-west-2",
        endpoint_url=emu.url,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        **keys,
    )
    rec("wrong region", lambda: _invoke(wrong_region, EndpointName="echo", Body=b"{}"))

    # 10: the smaller gaps
    rec("can_paginate", lambda: client.can_paginate("invoke_endpoint"))
    rec("can_paginate unknown", lambda: client.can_paginate("no_such_operation"))
    rec("get_paginator", lambda: client.get_paginator("invoke_endpoint"))
    rec("get_waiter", lambda: client.get_waiter("endpoint_in_service"))

    def close_then_call() -> Any:
        client.close()
        return _invoke(client, EndpointName="echo", Body=b"{}")

    rec("close then call", close_then_call)

    # streaming
    def stream_all() -> Any:
        response = client.invoke_endpoint_with_response_stream(
            EndpointName="tokens", Body=b'{"inputs": "hi"}'
        )
        return {"events": list(response["Body"]), **_meta_of(response)}

    rec("stream", stream_all)

    def close_twice() -> Any:
        body = client.invoke_endpoint_with_response_stream(
            EndpointName="tokens", Body=b'{"inputs": "hi"}'
        )["Body"]
        body.close()
        body.close()
        return "closed"

    rec("stream close twice", close_twice)
    emu.add_fault(Fault.model_stream_error(after=2))

    def stream_error() -> Any:
        response = client.invoke_endpoint_with_response_stream(
            EndpointName="tokens", Body=b'{"inputs": "hi"}'
        )
        got: list[Any] = []

        def read() -> None:
            for event in response["Body"]:
                got.append(event)

        return {"error": _caught(kit, read, "EventStreamError"), "before": got}

    rec("stream error", stream_error)
    emu.clear_faults()

    # async inference
    def async_call() -> Any:
        response = client.invoke_endpoint_async(
            EndpointName="echo", InputLocation="s3://bucket/input.json"
        )
        return sorted(k for k in response if k != "ResponseMetadata"), _meta_of(response)

    rec("async", async_call)
    return rec


def _run(kit: Kit, home: Path) -> dict[str, Any]:
    with Emulator() as emu:
        try:
            return script(kit, emu, home).outcomes
        finally:
            for client in kit.opened:
                client.close()


# botocore leaves a socket of a closed event stream to the garbage collector
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.usefixtures("small_jitter")
def test_one_script_same_results_with_boto3_and_smruntime(tmp_path: Path) -> None:
    theirs = _run(_boto3_kit(), tmp_path)
    ours = _run(_smruntime_kit(), tmp_path)
    assert list(ours) == list(theirs)
    different = {
        label: {"boto3": theirs[label], "smruntime": ours[label]}
        for label in theirs
        if theirs[label] != ours[label] and not _same_param_error(theirs[label], ours[label])
    }
    assert not different, "\n".join(f"{k}: {v}" for k, v in different.items())
    # The script did exercise what it claims: a few outcomes pinned down.
    assert ours["other service"][:2] == ("raised", "UnknownServiceError")
    assert ours["standard total 2: 503"][1]["str"].startswith(
        "An error occurred (ServiceUnavailable) when calling the InvokeEndpoint operation "
        "(reached max retries: 1): "
    )
    assert ours["echo"][1]["max_reached"] is True  # one attempt in standard mode: botocore's
    assert ours["legacy 1 retry: 4xx"][1]["max_reached"] is None
    hooks = ours["hooks"][1]
    assert "x-extra-signed" in hooks["signed"]
    assert "x-extra-unsigned" not in hooks["signed"]
    assert hooks["extra unsigned"] == "2"
    assert hooks["custom attributes"] == "from-provide"
    assert ours["validation: name with _"][1] == "ValidationError"
    assert ours["validation: missing name"][1] == "ParamValidationError"
    assert ours["stream error"][1]["error"]["code"] == "ModelStreamError"


def _same_param_error(theirs: Any, ours: Any) -> bool:
    """Both raised ParamValidationError: botocore's text differs (it lists every problem)."""
    return theirs[:2] == ours[:2] == ("raised", "ParamValidationError")


# -- smruntime's side of each point, in detail ------------------------------------------------


_OPEN: list[smruntime.Client] = []


def _client(emu: Emulator, **kwargs: Any) -> smruntime.Client:
    creds = emu.credentials
    kwargs.setdefault("region_name", emu.region)
    client = smruntime.Client(
        endpoint_url=emu.url,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        **kwargs,
    )
    _OPEN.append(client)
    return client


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as e:
        try:
            yield e
        finally:
            while _OPEN:
                _OPEN.pop().close()


def test_keyword_only_callers_keep_working(emu: Emulator) -> None:
    client = _client(emu, transport="stdlib")
    assert client.meta.region_name == client.region_name == emu.region
    assert client.invoke_endpoint(EndpointName="echo", Body=b"{}")["Body"].read() == b"{}"


def test_a_region_in_the_service_slot_is_refused_clearly() -> None:
    with pytest.raises(sm_errors.UnknownServiceError, match="did you mean region_name='us-east-1'"):
        smruntime.Client("us-east-1")
    with pytest.raises(sm_errors.UnknownServiceError, match="not yet supported"):
        smruntime.client("sagemaker-runtime-http2", region_name="us-east-1")


def test_botocore_config_by_duck_typing() -> None:
    cfg = botocore_config.Config(
        read_timeout=300,
        connect_timeout=5,
        retries={"max_attempts": 0},
        user_agent_extra="app/1",
        max_pool_connections=20,
        region_name="eu-west-1",
        s3={"addressing_style": "path"},  # botocore ignores it for this service: so do we
    )
    client = smruntime.Client(config=cfg, aws_access_key_id="AKID", aws_secret_access_key="s")
    resolved = client.meta.config
    assert isinstance(resolved, smruntime.Config)
    assert (resolved.read_timeout, resolved.connect_timeout) == (300, 5)
    assert resolved.max_attempts == 1
    assert resolved.max_pool_connections == 20
    assert client.meta.region_name == "eu-west-1"
    assert resolved.inert["s3"] == {"addressing_style": "path"}
    unsigned = botocore_config.Config(signature_version=pytest.importorskip("botocore").UNSIGNED)
    with pytest.raises(TypeError, match=r"'signature_version'.*SigV4"):
        smruntime.Client(region_name="us-east-1", config=unsigned)


def test_config_takes_boto3_spellings_with_botocore_meaning() -> None:
    env: dict[str, str] = {}

    def attempts(**options: Any) -> int:
        client = smruntime.Client(
            region_name="us-east-1", config=smruntime.Config(**options), environ=env
        )
        return int(client.config.max_attempts or 0)

    assert attempts(retries={"max_attempts": 0}) == 1  # retries, not attempts
    assert attempts(retries={"max_attempts": 4}) == 5
    assert attempts(retries={"total_max_attempts": 4}) == 4
    assert attempts(retries={"total_max_attempts": 2, "max_attempts": 9}) == 2
    assert attempts(max_attempts=2) == 2
    client = smruntime.Client(
        region_name="us-east-1",
        config=smruntime.Config(retries={"mode": "legacy"}, user_agent_appid="myapp"),
        environ=env,
    )
    assert client.config.retry_mode == "legacy"
    assert " app/myapp" in client._user_agent
    with pytest.raises(TypeError, match=r"'read_timout'.*did you mean 'read_timeout'"):
        smruntime.Config(read_timout=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="'no_such'"):
        smruntime.Config(inert={"no_such": 1})
    for bad in ({"retries": {"max": 1}}, {"retries": {"max_attempts": -1}}):
        with pytest.raises(sm_errors.ParamValidationError):
            smruntime.Config(**bad)
    for unsupported in (
        {"proxies_config": {"proxy_ca_bundle": "/x"}},
        {"signature_version": "v4a"},
        {"defaults_mode": "standard"},
    ):
        (name,) = unsupported
        with pytest.raises(TypeError, match=f"'{name}' is not supported"):
            smruntime.Client(
                region_name="us-east-1", config=smruntime.Config(**unsupported), environ=env
            )
    with pytest.raises(sm_errors.ParamValidationError):
        smruntime.Client(
            region_name="us-east-1",
            config=smruntime.Config(parameter_validation="lenient"),  # type: ignore[arg-type]
            environ=env,
        )
    ok = smruntime.Config(tcp_keepalive=False, signature_version="v4", parameter_validation=False)
    smruntime.Client(region_name="us-east-1", config=ok, environ=env)


def test_strict_validation_on_request(emu: Emulator) -> None:
    strict = _client(emu, config=smruntime.Config(parameter_validation="strict"))
    with pytest.raises(sm_errors.ParamValidationError, match="pattern"):
        strict.invoke_endpoint(EndpointName="my_endpoint", Body=b"{}")
    loose = _client(emu, config=smruntime.Config(parameter_validation=False))
    # validation off: the service answers (the emulator checks as the service does)
    with pytest.raises(sm_errors.ValidationError):
        loose.invoke_endpoint(EndpointName="my_endpoint", Body=b"{}")
    # ... but a header that would break the request on the wire is never sent
    for client in (loose, _client(emu)):
        with pytest.raises(sm_errors.ParamValidationError, match="CR, LF or NUL"):
            client.invoke_endpoint(EndpointName="echo", Body=b"{}", CustomAttributes="a\r\nX: 1")
        with pytest.raises(sm_errors.ParamValidationError, match="printable ASCII"):
            client.invoke_endpoint(EndpointName="echo", Body=b"{}", CustomAttributes="caf\u00e9")
    # a path label cannot climb out of /endpoints/
    with pytest.raises(sm_errors.ValidationError):
        loose.invoke_endpoint(EndpointName="../../x", Body=b"{}")
    assert emu.requests[-1].path.startswith("/endpoints/")


def test_error_string_is_botocores_and_hint_is_a_note(emu: Emulator) -> None:
    client = _client(emu, region_name="us-west-2", config=smruntime.Config(max_attempts=1))
    with pytest.raises(sm_errors.InvalidSignatureException) as info:
        client.invoke_endpoint(EndpointName="echo", Body=b"{}")
    err = info.value
    assert "\n" not in str(err)
    assert "Hint" not in str(err)
    assert err.hint is not None
    assert "region" in err.hint
    assert "clock" not in err.hint
    assert "secret" not in err.hint
    if sys.version_info >= (3, 11):
        assert err.__notes__ == [f"Hint: {err.hint}"]
    import pickle

    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err)
    assert again.hint == err.hint


@pytest.mark.parametrize(
    ("message", "code", "fragment"),
    [
        ("Credential should be scoped to a valid region. ", "InvalidSignatureException", "region"),
        (
            "Credential should be scoped to correct service: 'sagemaker'. ",
            "InvalidSignatureException",
            "'sagemaker'",
        ),
        (
            "Signature expired: 20240115T000000Z is now earlier than 20240115T001000Z",
            "InvalidSignatureException",
            "clock",
        ),
        (
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
            "InvalidSignatureException",
            "secret key",
        ),
        (
            "The security token included in the request is expired",
            "ExpiredTokenException",
            "expired",
        ),
        (
            "The security token included in the request is invalid.",
            "UnrecognizedClientException",
            "session token",
        ),
    ],
)
def test_hints_follow_the_message(message: str, code: str, fragment: str) -> None:
    import json

    from smruntime._operations import parse_error

    body = json.dumps({"__type": code, "message": message}).encode()
    err = parse_error("invoke_endpoint", 403, {}, body)
    assert err.hint is not None
    assert fragment in err.hint, err.hint
    if fragment != "clock":
        assert "clock" not in err.hint


@pytest.mark.usefixtures("small_jitter")
def test_max_attempts_reached_and_retry_counts(emu: Emulator) -> None:
    client = _client(emu, config=smruntime.Config(retries={"total_max_attempts": 2}))
    emu.add_fault(Fault.throttle())
    with pytest.raises(sm_errors.ThrottlingException) as info:
        client.invoke_endpoint(EndpointName="echo", Body=b"{}")
    meta = info.value.response["ResponseMetadata"]
    assert (meta["RetryAttempts"], meta["MaxAttemptsReached"]) == (1, True)
    assert "(reached max retries: 1)" in str(info.value)


def test_exceptions_namespace(emu: Emulator) -> None:
    client = _client(emu)
    ex = client.exceptions
    assert ex.from_code("ModelError") is ex.ModelError
    assert ex.from_code("Whatever") is ex.ClientError
    assert issubclass(ex.ModelStreamError, ex.EventStreamError)
    assert issubclass(ex.InternalStreamFailure, ex.EventStreamError)
    assert issubclass(ex.EventStreamError, ex.ClientError)
    emu.add_fault(Fault.model_stream_error(after=1))
    body = client.invoke_endpoint_with_response_stream(EndpointName="tokens", Body=b"{}")["Body"]
    with pytest.raises(ex.EventStreamError):
        list(body)


def test_hooks_order_matches_botocore_emitter() -> None:
    names = [
        "before-sign",
        "before-sign.sagemaker-runtime",
        "before-sign.*.InvokeEndpoint",
        "before-sign.sagemaker-runtime.InvokeEndpoint",
        "before-sign.*",
        "before-sign.*.*",
        "before-send",
    ]
    ours, theirs = EventHooks(), botocore_hooks.HierarchicalEmitter()
    for i, name in enumerate(names):
        for emitter in (ours, theirs):
            register = (emitter.register_last, emitter.register, emitter.register_first)[i % 3]
            register(name, _tagged(name))
    for event in (
        "before-sign.sagemaker-runtime.InvokeEndpoint",
        "before-sign.sagemaker-runtime.InvokeEndpointAsync",
        "before-sign.sagemaker-runtime",
        "before-send.sagemaker-runtime.InvokeEndpoint",
        "after-call.sagemaker-runtime.InvokeEndpoint",
    ):
        assert [r for _, r in ours.emit(event)] == [r for _, r in theirs.emit(event)], event
    handler = _tagged("x")
    for emitter in (ours, theirs):
        emitter.register("a.b", handler, unique_id="one")
        emitter.register("a.b", _tagged("y"), unique_id="one")  # ignored: same id
    assert [r for _, r in ours.emit("a.b.c")] == [r for _, r in theirs.emit("a.b.c")] == ["x"]
    for emitter in (ours, theirs):
        emitter.unregister("a.b", unique_id="one")
    assert ours.emit("a.b.c") == theirs.emit("a.b.c") == []
    with pytest.raises(ValueError, match="keyword arguments"):
        ours.register("x", lambda: None)


def _tagged(tag: str) -> Callable[..., str]:
    def handler(**kwargs: Any) -> str:
        return tag

    return handler


def test_before_send_may_not_fake_a_response(emu: Emulator) -> None:
    client = _client(emu)
    client.meta.events.register("before-send", lambda **kwargs: object())
    with pytest.raises(TypeError, match="before-send"):
        client.invoke_endpoint(EndpointName="echo", Body=b"{}")


def test_session_defaults(emu: Emulator) -> None:
    creds = emu.credentials
    session = smruntime.Session(
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        region_name=emu.region,
    )
    assert session.region_name == emu.region
    assert session.get_available_services() == ["sagemaker-runtime"]
    with session.client("sagemaker-runtime", endpoint_url=emu.url) as client:
        assert client.invoke_endpoint(EndpointName="echo", Body=b"1")["Body"].read() == b"1"
    with pytest.raises(TypeError, match="botocore_session"):
        smruntime.Session(botocore_session=object())


def test_an_sso_profile_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Client(profile_name=...)`` / ``Session(profile_name=...)`` of an ``sso_session`` profile:
    the cached token is exchanged (loopback portal) for credentials the emulator accepts."""
    import datetime as dt
    import hashlib
    import json

    from sigv4 import Credentials
    from tests.sigv4.test_imds_container_sts import Request, Server

    role = Credentials("ASIASSOEXAMPLE", "sso-role-secret", "sso-session-token")
    portal = Server()
    try:

        def role_reply(req: Request) -> tuple[int, dict[str, str], bytes]:
            assert req.headers["x-amz-sso_bearer_token"] == "cached-access-token"
            expiration = int((dt.datetime.now(dt.timezone.utc).timestamp() + 3600) * 1000)
            doc = {
                "roleCredentials": {
                    "accessKeyId": role.access_key_id,
                    "secretAccessKey": role.secret_access_key,
                    "sessionToken": role.session_token,
                    "expiration": expiration,
                }
            }
            return 200, {}, json.dumps(doc).encode()

        portal.route(
            "GET", "/federation/credentials?role_name=Inference&account_id=111122223333", role_reply
        )
        aws = tmp_path / "aws"
        (aws / "config").write_text(
            "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\n"
            "sso_role_name = Inference\nregion = us-east-1\n\n"
            "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
            "sso_region = us-east-1\n",
            encoding="utf-8",
        )
        cache = tmp_path / ".aws" / "sso" / "cache"
        cache.mkdir(parents=True)
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
        (cache / f"{hashlib.sha1(b'corp').hexdigest()}.json").write_text(
            json.dumps(
                {
                    "accessToken": "cached-access-token",
                    "expiresAt": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            ),
            encoding="utf-8",
        )
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSO", portal.base)
        with Emulator(credentials={role.access_key_id: role}) as emu:
            session = smruntime.Session(profile_name="dev")
            assert session.region_name == "us-east-1"
            with session.client("sagemaker-runtime", endpoint_url=emu.url) as client:
                body = client.invoke_endpoint(EndpointName="echo", Body=b"sso")["Body"].read()
                assert body == b"sso"
            assert emu.requests[-1].access_key_id == role.access_key_id
    finally:
        portal.close()
