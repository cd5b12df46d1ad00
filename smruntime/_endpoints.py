"""Endpoint resolution for SageMaker Runtime: region + FIPS/dual-stack flags -> base URL.

A hand translation of the service's ``endpoint-rule-set-1.json`` (version 1.0) over the partition
data in :mod:`smruntime._partitions`; ``tests/smruntime/test_endpoints.py`` runs all 35 cases
botocore 1.44.8 produced from the raw rule set. :func:`resolve_h2_endpoint` does the same for
the HTTP/2 service (InvokeEndpointWithBidirectionalStream) from its Smithy rule set: port 8443
in the partitions it lists; ``tests/smruntime/test_bidi_endpoints.py`` runs its 26 model tests.
Both share the region checks, the ``endpoint_url`` override and the generic rules. Pure: no
environment, no network.
"""

from __future__ import annotations

import re
from typing import Optional
from urllib.parse import urlsplit

from smruntime._partitions import PARTITIONS, Partition
from smruntime._redact import redact_url
from smruntime.exceptions import EndpointResolutionError

__all__ = ["normalize_region", "partition_for", "resolve_endpoint", "resolve_h2_endpoint"]

# A region must be usable as one DNS label: what botocore's validate_region_name accepts.
_REGION_RE = re.compile(r"(?![0-9]+\Z)(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


def normalize_region(region: str) -> tuple[str, bool]:
    """Clean a region name; returns ``(region, fips)``.

    Surrounding blanks are removed and the name is lower-cased. The legacy FIPS pseudo-regions
    (``us-east-1-fips``, ``fips-us-gov-west-1``) are reduced to the real region with ``fips``
    True, as botocore does. Raises :class:`EndpointResolutionError` for a name that cannot be a
    host label (empty, over 63 characters, characters other than letters, digits and ``-``).
    """
    if not isinstance(region, str):
        raise EndpointResolutionError(
            f"Invalid region: expected a string such as 'us-east-1', got {type(region).__name__}"
        )
    name = region.strip().lower()
    fips = False
    if "fips-" in name or "-fips" in name:
        fips = True
        name = name.replace("fips-", "").replace("-fips", "")
    if not _REGION_RE.match(name):
        raise EndpointResolutionError(
            f"Invalid region {region!r}: a region is one DNS label of letters, digits and '-' "
            "(at most 63 characters, not all digits, no leading or trailing '-'), "
            "for example 'us-east-1'"
        )
    return name, fips


def partition_for(region: str) -> Partition:
    """The partition of ``region`` (``aws.partition``): an explicitly listed region first, then
    the first regex match, else the ``aws`` partition."""
    for partition in PARTITIONS:
        if region in partition["regions"]:
            return partition
    for partition in PARTITIONS:
        pattern = re.compile(partition["regionRegex"])  # compiled on demand; re caches it
        if pattern.match(region):
            return partition
    return PARTITIONS[0]


def _check_endpoint_url(endpoint_url: str) -> str:
    if not isinstance(endpoint_url, str):
        raise EndpointResolutionError(
            f"Invalid endpoint_url: expected a string URL, got {type(endpoint_url).__name__}"
        )
    url = endpoint_url.strip()
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        raise EndpointResolutionError(f"Invalid endpoint_url {shown!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointResolutionError(
            f"Invalid endpoint_url {shown!r}: expected an absolute http:// or https:// "
            "URL with a host, for example 'https://runtime.sagemaker.us-east-1.amazonaws.com' "
            "or 'http://127.0.0.1:8080'"
        )
    if "@" in parts.netloc:
        raise EndpointResolutionError(
            f"Invalid endpoint_url {shown!r}: user:password is not allowed (the request is "
            "authenticated by its SigV4 signature; proxy credentials go in the proxy setting)"
        )
    if parts.query or parts.fragment:
        raise EndpointResolutionError(
            f"Invalid endpoint_url {shown!r}: a query string or fragment is not allowed "
            "(the operation path is appended to the URL)"
        )
    return url


def _region_or_url(
    region: Optional[str], use_fips: bool, use_dualstack: bool, endpoint_url: Optional[str]
) -> tuple[str, Optional[Partition], bool, bool]:
    """``(url, None, ...)`` when ``endpoint_url`` decides, else ``(region, partition, fips,
    dualstack)``: the part of the rule sets before the partition-specific rules."""
    fips = bool(use_fips)
    dualstack = bool(use_dualstack)
    name: Optional[str] = None
    # An empty region counts as no region: the usual result of an unset variable.
    if region is not None and (not isinstance(region, str) or region.strip()):
        name, forced = normalize_region(region)
        fips = fips or forced
    if endpoint_url is not None:
        if fips:
            raise EndpointResolutionError(
                "Invalid Configuration: FIPS and custom endpoint are not supported"
            )
        if dualstack:
            raise EndpointResolutionError(
                "Invalid Configuration: Dualstack and custom endpoint are not supported"
            )
        return _check_endpoint_url(endpoint_url), None, False, False
    if name is None:
        raise EndpointResolutionError(
            "Invalid Configuration: Missing Region (pass region_name='us-east-1' or similar, "
            "set AWS_REGION / AWS_DEFAULT_REGION, or give an endpoint_url)"
        )
    return name, partition_for(name), fips, dualstack


def _generic(name: str, partition: Partition, fips: bool, dualstack: bool) -> str:
    """The rule sets' closing rules, for a partition without special cases."""
    if fips and dualstack:
        if partition["supportsFIPS"] and partition["supportsDualStack"]:
            return f"https://runtime.sagemaker-fips.{name}.{partition['dualStackDnsSuffix']}"
        raise EndpointResolutionError(
            "FIPS and DualStack are enabled, but this partition does not support one or both"
        )
    if fips:
        if not partition["supportsFIPS"]:
            raise EndpointResolutionError(
                "FIPS is enabled but this partition does not support FIPS"
            )
        return f"https://runtime.sagemaker-fips.{name}.{partition['dnsSuffix']}"
    if dualstack:
        if not partition["supportsDualStack"]:
            raise EndpointResolutionError(
                "DualStack is enabled but this partition does not support DualStack"
            )
        return f"https://runtime.sagemaker.{name}.{partition['dualStackDnsSuffix']}"
    return f"https://runtime.sagemaker.{name}.{partition['dnsSuffix']}"


def resolve_endpoint(
    region: Optional[str],
    *,
    use_fips: bool = False,
    use_dualstack: bool = False,
    endpoint_url: Optional[str] = None,
) -> str:
    """The base URL (scheme and host, no path) for SageMaker Runtime.

    ``endpoint_url``, when given, is returned as is (after a sanity check) and cannot be
    combined with FIPS or dual-stack. Otherwise the URL is derived from ``region`` (see
    :func:`normalize_region`; a ``-fips`` pseudo-region turns FIPS on) and the partition it
    belongs to. Sign requests with the normalized region. Raises
    :class:`EndpointResolutionError` with the rule set's message when no URL can be built.
    """
    name, partition, fips, dualstack = _region_or_url(region, use_fips, use_dualstack, endpoint_url)
    if partition is None:
        return name
    if fips and not dualstack and partition["supportsFIPS"]:
        if partition["id"] == "aws":
            return f"https://runtime-fips.sagemaker.{name}.amazonaws.com"
        if partition["id"] == "aws-us-gov":
            # GovCloud's regular host already is the FIPS endpoint.
            return f"https://runtime.sagemaker.{name}.amazonaws.com"
    return _generic(name, partition, fips, dualstack)


# The partitions for which the HTTP/2 service's rule set lists its endpoints on port 8443.
_H2_PARTITIONS = frozenset(
    ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-f", "aws-eusc")
)
H2_PORT = 8443


def resolve_h2_endpoint(
    region: Optional[str],
    *,
    use_fips: bool = False,
    use_dualstack: bool = False,
    endpoint_url: Optional[str] = None,
) -> str:
    """The base URL of the HTTP/2 service (InvokeEndpointWithBidirectionalStream).

    As :func:`resolve_endpoint`, by the HTTP/2 service's rule set: in the partitions aws,
    aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-f and aws-eusc the host is
    ``runtime[-fips].sagemaker.{region}.{dnsSuffix or dualStackDnsSuffix}:8443`` (FIPS there
    also in GovCloud); other partitions get the generic rules, without a port.
    ``endpoint_url`` wins, as given (the emulator: ``http://127.0.0.1:PORT``).
    """
    name, partition, fips, dualstack = _region_or_url(region, use_fips, use_dualstack, endpoint_url)
    if partition is None:
        return name
    if partition["id"] in _H2_PARTITIONS:
        host = "runtime-fips.sagemaker" if fips else "runtime.sagemaker"
        suffix = partition["dualStackDnsSuffix"] if dualstack else partition["dnsSuffix"]
        return f"https://{host}.{name}.{suffix}:{H2_PORT}"
    return _generic(name, partition, fips, dualstack)
