"""Region resolution: explicit, then ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's region.

``AWS_REGION`` comes first as in every current AWS SDK except botocore (which ignores it); a
process that sets only ``AWS_DEFAULT_REGION`` behaves as with boto3.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sigv4._profiles import PathLike, load_profiles, profile_name
from sigv4.exceptions import NoRegionError

__all__ = ["resolve_region"]


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def resolve_region(
    explicit: str | None = None,
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    home: PathLike | None = None,
) -> str:
    """The region to use, or :class:`NoRegionError` listing where it was looked for.

    Raises :class:`~sigv4._profiles.ProfileFileError` if a shared file exists but is malformed.
    """
    region = _clean(explicit)
    if region:
        return region
    env = os.environ if environ is None else environ
    sources = ["region argument"]
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        region = _clean(env.get(var))
        if region:
            return region
        sources.append(var)
    profiles = load_profiles(env, home)
    name = profile_name(profile, env)
    values = profiles.get(name) or {}
    region = _clean(values.get("region"))
    if region:
        return region
    sources.append(f"profile {name!r} in {profiles.where()}")
    raise NoRegionError(sources)
