"""Partition data for endpoint resolution (the input of the rule set's ``aws.partition``).

GENERATED from botocore 1.44.8 ``botocore/data/partitions.json`` (vendored as
``tests/data/spec/partitions.json``); do not edit by hand. Only the fields the endpoint rules
use are kept. To regenerate, run from the repository root::

    python -c "import json, pprint; s = json.load(open('tests/data/spec/partitions.json')); \\
    print(pprint.pformat(tuple({'id': p['id'], 'regionRegex': p['regionRegex'], \\
    **{k: p['outputs'][k] for k in ('dnsSuffix', 'dualStackDnsSuffix', 'supportsFIPS', \\
    'supportsDualStack', 'implicitGlobalRegion')}, 'regions': tuple(sorted(p['regions']))} \\
    for p in s['partitions']), width=96, sort_dicts=False))"

and paste the output as the value of ``PARTITIONS`` (order matters: it is the lookup order).
``tests/smruntime/test_endpoints.py`` checks that this literal matches the JSON file.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["PARTITIONS", "Partition"]


class Partition(TypedDict):
    """One partition: its region regex and the outputs of ``aws.partition``."""

    id: str
    regionRegex: str
    dnsSuffix: str
    dualStackDnsSuffix: str
    supportsFIPS: bool
    supportsDualStack: bool
    implicitGlobalRegion: str
    regions: tuple[str, ...]


PARTITIONS: tuple[Partition, ...] = (
    {
        "id": "aws",
        "regionRegex": "^(us|eu|ap|sa|ca|me|af|il|mx)\\-\\w+\\-\\d+$",
        "dnsSuffix": "amazonaws.com",
        "dualStackDnsSuffix": "api.aws",
        "supportsFIPS": True,
        "supportsDualStack": True,
        "implicitGlobalRegion": "us-east-1",
        "regions": (
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "aws-global",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "me-west-1",
            "mx-central-1",
            "sa-east-1",
            "sa-west-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        ),
    },
    {
        "id": "aws-cn",
        "regionRegex": "^cn\\-\\w+\\-\\d+$",
        "dnsSuffix": "amazonaws.com.cn",
        "dualStackDnsSuffix": "api.amazonwebservices.com.cn",
        "supportsFIPS": True,
        "supportsDualStack": True,
        "implicitGlobalRegion": "cn-northwest-1",
        "regions": ("aws-cn-global", "cn-north-1", "cn-northwest-1"),
    },
    {
        "id": "aws-eusc",
        "regionRegex": "^eusc\\-(de)\\-\\w+\\-\\d+$",
        "dnsSuffix": "amazonaws.eu",
        "dualStackDnsSuffix": "api.amazonwebservices.eu",
        "supportsFIPS": True,
        "supportsDualStack": True,
        "implicitGlobalRegion": "eusc-de-east-1",
        "regions": ("eusc-de-east-1",),
    },
    {
        "id": "aws-iso",
        "regionRegex": "^us\\-iso\\-\\w+\\-\\d+$",
        "dnsSuffix": "c2s.ic.gov",
        "dualStackDnsSuffix": "api.aws.ic.gov",
        "supportsFIPS": True,
        "supportsDualStack": True,
        "implicitGlobalRegion": "us-iso-east-1",
        "regions": ("aws-iso-global", "us-iso-east-1", "us-iso-west-1"),
    },
    {
        "id": "aws-iso-b",
        "regionRegex": "^us\\-isob\\-\\w+\\-\\d+$",
        "dnsSuffix": "sc2s.sgov.gov",
        "dualStackDnsSuffix": "api.aws.scloud",
        "supportsFIPS": True,
        "supportsDualStack": True,
        "implicitGlobalRegion": "us-isob-east-1",
        "regions": ("aws-iso-b-global", "us-isob-east-1", "us-isob-west-1"),
    },
    {
        "id": "aws-iso-e",
        "regionRegex": "^eu\\-isoe\\-\\w+\\-\\d+$",
        "dnsSuffix": "cloud.adc-e.uk",
        "dualStackDnsSuffix": "api.cloud-aws.adc-e.uk",
        "supportsFIPS": True,
        "supportsDualStack": True,
        "implicitGlobalRegion": "eu-isoe-west-1",
        "regions": ("aws-iso-e-global", "eu-isoe-west-1"),
    },
    {
        "id": "aws-iso-f",
        "regionRegex": "^us\\-isof\\-\\w+\\-\\d+$",
        "dnsSuffix": "csp.hci.ic.gov",
        "dualStackDnsSuffix": "api.aws.hci.ic.gov",
        "supportsFIPS": True,
        "supportsDualStack": True,
        "implicitGlobalRegion": "us-isof-south-1",
        "regions": ("aws-iso-f-global", "us-isof-east-1", "us-isof-south-1"),
    },
    {
        "id": "aws-us-gov",
        "regionRegex": "^us\\-gov\\-\\w+\\-\\d+$",
        "dnsSuffix": "amazonaws.com",
        "dualStackDnsSuffix": "api.aws",
        "supportsFIPS": True,
        "supportsDualStack": True,
        "implicitGlobalRegion": "us-gov-west-1",
        "regions": ("aws-us-gov-global", "us-gov-east-1", "us-gov-west-1"),
    },
)
