"""Endpoints of the HTTP/2 service (InvokeEndpointWithBidirectionalStream): the model's 26 endpoint
tests, and every region of every partition against botocore's rule-set evaluator (a test-only
oracle) run on the vendored rule set."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.endpoint_provider import EndpointProvider
from botocore.exceptions import EndpointResolutionError as OracleError

from smruntime._endpoints import resolve_endpoint, resolve_h2_endpoint
from smruntime.exceptions import EndpointResolutionError

SPEC = Path(__file__).parent.parent / "data" / "spec"
DATA = SPEC / "sagemaker-runtime-http2"
RULE_SET = json.loads((DATA / "endpoint-rule-set.json").read_text("utf-8"))
CASES: list[dict[str, Any]] = json.loads((DATA / "endpoint-tests.json").read_text("utf-8"))[
    "testCases"
]
PARTITIONS = json.loads((SPEC / "partitions.json").read_text("utf-8"))


def _resolve(params: dict[str, Any]) -> str:
    return resolve_h2_endpoint(
        params.get("Region"),
        use_fips=params.get("UseFIPS", False),
        use_dualstack=params.get("UseDualStack", False),
        endpoint_url=params.get("Endpoint"),
    )


def test_case_count() -> None:
    assert len(CASES) == 26


@pytest.mark.parametrize("case", CASES, ids=[c["documentation"] for c in CASES])
def test_model_endpoint_tests(case: dict[str, Any]) -> None:
    params = case.get("params", {})
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(EndpointResolutionError, match=re.escape(expect["error"])):
            _resolve(params)
    else:
        assert _resolve(params) == expect["endpoint"]["url"]


@pytest.mark.parametrize("case", CASES, ids=[c["documentation"] for c in CASES])
def test_oracle_agrees_with_the_model_tests(case: dict[str, Any]) -> None:
    """The vendored rule set is the model's: botocore's evaluator passes its tests on it."""
    provider = EndpointProvider(RULE_SET, PARTITIONS)
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(OracleError, match=re.escape(expect["error"])):
            provider.resolve_endpoint(**case.get("params", {}))
    else:
        assert provider.resolve_endpoint(**case.get("params", {})).url == expect["endpoint"]["url"]


def _regions() -> list[str]:
    names = ["zz-nowhere-1", "eusc-fr-east-1", "us-gov-central-7", "eu-isoe-north-9"]
    for partition in PARTITIONS["partitions"]:
        names.extend(partition["regions"])
    return sorted(set(names))


@pytest.mark.parametrize("region", _regions())
def test_every_region_matches_the_oracle(region: str) -> None:
    provider = EndpointProvider(RULE_SET, PARTITIONS)
    for fips in (False, True):
        for dualstack in (False, True):
            params = {"Region": region, "UseFIPS": fips, "UseDualStack": dualstack}
            try:
                want: Any = provider.resolve_endpoint(**params).url
            except OracleError as exc:
                want = ("error", str(exc))
            try:
                got: Any = _resolve(params)
            except EndpointResolutionError as exc:
                got = ("error", str(exc))
                assert isinstance(want, tuple), (params, got, want)
                assert want[1] in got[1], (params, got, want)
                continue
            assert got == want, params


def test_endpoint_url_wins() -> None:
    assert resolve_h2_endpoint("us-east-1", endpoint_url="http://127.0.0.1:8080") == (
        "http://127.0.0.1:8080"
    )
    assert resolve_h2_endpoint(None, endpoint_url="https://h2.example:9443") == (
        "https://h2.example:9443"
    )
    with pytest.raises(EndpointResolutionError, match="FIPS and custom endpoint"):
        resolve_h2_endpoint("us-east-1-fips", endpoint_url="https://x")
    with pytest.raises(EndpointResolutionError, match="Invalid endpoint_url"):
        resolve_h2_endpoint("us-east-1", endpoint_url="ftp://x")


def test_region_checks_are_shared() -> None:
    assert (
        resolve_h2_endpoint(" US-EAST-1 ")
        == "https://runtime.sagemaker.us-east-1.amazonaws.com:8443"
    )
    assert resolve_h2_endpoint("fips-us-gov-west-1") == (
        "https://runtime-fips.sagemaker.us-gov-west-1.amazonaws.com:8443"
    )
    with pytest.raises(EndpointResolutionError, match="Missing Region"):
        resolve_h2_endpoint("")
    with pytest.raises(EndpointResolutionError, match="Invalid region"):
        resolve_h2_endpoint("us east 1")


def test_differs_from_the_classic_service_where_the_rule_sets_do() -> None:
    assert resolve_endpoint("us-gov-west-1", use_fips=True) == (
        "https://runtime.sagemaker.us-gov-west-1.amazonaws.com"
    )
    assert resolve_h2_endpoint("us-gov-west-1", use_fips=True) == (
        "https://runtime-fips.sagemaker.us-gov-west-1.amazonaws.com:8443"
    )
    assert resolve_endpoint("eu-isoe-west-1") == resolve_h2_endpoint("eu-isoe-west-1")
