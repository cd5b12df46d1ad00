from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smruntime._endpoints import normalize_region, partition_for, resolve_endpoint
from smruntime._partitions import PARTITIONS
from smruntime.exceptions import EndpointResolutionError, SMRuntimeError

SPEC = Path(__file__).parent.parent / "data" / "spec"
VECTORS = json.loads((SPEC / "sagemaker-runtime" / "test-vectors.json").read_text("utf-8"))
ENDPOINT_CASES: list[dict[str, Any]] = VECTORS["endpoints"]


def _case_id(case: dict[str, Any]) -> str:
    p = case["params"]
    flags = ("fips" if p.get("UseFIPS") else "") + ("+ds" if p.get("UseDualStack") else "")
    return f"{p.get('Region', 'no-region')}-{flags or 'plain'}-{'ep' if 'Endpoint' in p else ''}"


def test_vector_count() -> None:
    assert len(ENDPOINT_CASES) == 35


@pytest.mark.parametrize("case", ENDPOINT_CASES, ids=_case_id)
def test_endpoint_vectors(case: dict[str, Any]) -> None:
    p = case["params"]
    kwargs = {
        "use_fips": p["UseFIPS"],
        "use_dualstack": p["UseDualStack"],
        "endpoint_url": p.get("Endpoint"),
    }
    if "error" in case:
        with pytest.raises(EndpointResolutionError, match=re.escape(case["error"])):
            resolve_endpoint(p.get("Region"), **kwargs)
    else:
        assert resolve_endpoint(p.get("Region"), **kwargs) == case["url"]


def test_partitions_literal_matches_json() -> None:
    source = json.loads((SPEC / "partitions.json").read_text("utf-8"))["partitions"]
    assert [p["id"] for p in PARTITIONS] == [p["id"] for p in source]
    for ours, theirs in zip(PARTITIONS, source):
        assert ours["regionRegex"] == theirs["regionRegex"]
        assert set(ours["regions"]) == set(theirs["regions"])
        for key in (
            "dnsSuffix",
            "dualStackDnsSuffix",
            "supportsFIPS",
            "supportsDualStack",
            "implicitGlobalRegion",
        ):
            assert ours[key] == theirs["outputs"][key], (ours["id"], key)
        assert theirs["outputs"]["name"] == ours["id"]


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("aws-global", "aws"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-central-7", "aws-us-gov"),
        ("us-iso-west-9", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
        ("us-isof-north-2", "aws-iso-f"),
        ("eu-isoe-west-1", "aws-iso-e"),
        ("cn-south-9", "aws-cn"),
        ("eusc-de-east-1", "aws-eusc"),
        ("eusc-fr-east-1", "aws"),
        ("zz-nowhere-1", "aws"),
        ("local", "aws"),
    ],
)
def test_partition_for(region: str, partition: str) -> None:
    assert partition_for(region)["id"] == partition


@pytest.mark.parametrize(
    ("given", "region", "fips"),
    [
        ("us-east-1", "us-east-1", False),
        ("  US-East-1 \n", "us-east-1", False),
        ("us-east-1-fips", "us-east-1", True),
        ("fips-us-gov-west-1", "us-gov-west-1", True),
        ("us-gov-west-1-fips", "us-gov-west-1", True),
        ("local", "local", False),
    ],
)
def test_normalize_region(given: str, region: str, fips: bool) -> None:
    assert normalize_region(given) == (region, fips)


@pytest.mark.parametrize(
    "bad",
    [
        "us east 1",
        "us-east-1/",
        "-us-east-1",
        "us-east-1-",
        "12345",
        "a" * 64,
        "us_east_1",
        "us-east-1.evil.com",
        "üs-east-1",
    ],
)
def test_invalid_region_rejected(bad: str) -> None:
    with pytest.raises(EndpointResolutionError, match="Invalid region"):
        resolve_endpoint(bad)


def test_non_string_region_rejected() -> None:
    with pytest.raises(EndpointResolutionError, match="expected a string"):
        resolve_endpoint(123)  # type: ignore[arg-type]


def test_fips_pseudo_region_turns_fips_on() -> None:
    assert (
        resolve_endpoint("us-east-1-fips")
        == "https://runtime-fips.sagemaker.us-east-1.amazonaws.com"
    )
    assert resolve_endpoint("fips-us-gov-west-1") == (
        "https://runtime.sagemaker.us-gov-west-1.amazonaws.com"
    )
    assert resolve_endpoint("us-east-1-fips", use_dualstack=True) == (
        "https://runtime.sagemaker-fips.us-east-1.api.aws"
    )


def test_fips_pseudo_region_with_custom_endpoint_is_an_error() -> None:
    with pytest.raises(EndpointResolutionError, match="FIPS and custom endpoint"):
        resolve_endpoint("us-east-1-fips", endpoint_url="https://example.com")


@pytest.mark.parametrize("region", [None, "", "   "])
def test_missing_region(region: str | None) -> None:
    with pytest.raises(EndpointResolutionError, match="Missing Region") as info:
        resolve_endpoint(region)
    assert isinstance(info.value, SMRuntimeError)


def test_empty_region_with_endpoint_url() -> None:
    assert resolve_endpoint("", endpoint_url="http://127.0.0.1:8080") == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "https://example.com/prefix",
        "http://[::1]:9000",
        "https://vpce-1.runtime.sagemaker.us-east-1.vpce.amazonaws.com",
    ],
)
def test_custom_endpoint_verbatim(url: str) -> None:
    assert resolve_endpoint("us-east-1", endpoint_url=url) == url


@pytest.mark.parametrize(
    "url",
    [
        "example.com",
        "ftp://example.com",
        "https://",
        "http://host:notaport",
        "http://host:99999",
        "https://example.com/?a=1",
        "https://example.com/#frag",
    ],
)
def test_bad_custom_endpoint(url: str) -> None:
    with pytest.raises(EndpointResolutionError, match="Invalid endpoint_url"):
        resolve_endpoint("us-east-1", endpoint_url=url)


def test_non_string_endpoint_url() -> None:
    with pytest.raises(EndpointResolutionError, match="expected a string URL"):
        resolve_endpoint("us-east-1", endpoint_url=b"http://x")  # type: ignore[arg-type]


def test_partition_without_fips_or_dualstack(monkeypatch: pytest.MonkeyPatch) -> None:
    import smruntime._endpoints as mod

    limited = dict(PARTITIONS[0], supportsFIPS=False, supportsDualStack=False)
    monkeypatch.setattr(mod, "partition_for", lambda region: limited)
    with pytest.raises(EndpointResolutionError, match="does not support FIPS"):
        resolve_endpoint("us-east-1", use_fips=True)
    with pytest.raises(EndpointResolutionError, match="does not support DualStack"):
        resolve_endpoint("us-east-1", use_dualstack=True)
    with pytest.raises(EndpointResolutionError, match="does not support one or both"):
        resolve_endpoint("us-east-1", use_fips=True, use_dualstack=True)


_label = st.from_regex(r"[a-z]{2}-[a-z]{2,10}-[1-9]", fullmatch=True)


@given(region=_label, fips=st.booleans(), dualstack=st.booleans())
def test_resolved_url_shape(region: str, fips: bool, dualstack: bool) -> None:
    url = resolve_endpoint(region, use_fips=fips, use_dualstack=dualstack)
    assert url.startswith("https://runtime")
    assert f".{region}." in url
    assert ("fips" in url) == (fips and partition_for(region)["id"] != "aws-us-gov")


def test_matches_botocore_provider_for_every_listed_region() -> None:
    provider_mod = pytest.importorskip("botocore.endpoint_provider")
    rules = json.loads(
        (SPEC / "sagemaker-runtime" / "2017-05-13" / "endpoint-rule-set-1.json").read_text()
    )
    partitions = json.loads((SPEC / "partitions.json").read_text())
    provider = provider_mod.EndpointProvider(rules, partitions)
    for partition in PARTITIONS:
        for region in partition["regions"]:
            for fips in (False, True):
                for dualstack in (False, True):
                    expected = provider.resolve_endpoint(
                        Region=region, UseFIPS=fips, UseDualStack=dualstack
                    ).url
                    got = resolve_endpoint(region, use_fips=fips, use_dualstack=dualstack)
                    assert got == expected, (region, fips, dualstack)
