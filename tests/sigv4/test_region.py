"""resolve_region: explicit, AWS_REGION, AWS_DEFAULT_REGION, profile region."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigv4._profiles import ProfileFileError
from sigv4._region import resolve_region
from sigv4.exceptions import NoRegionError


def config(home: Path, text: str) -> None:
    (home / ".aws").mkdir(exist_ok=True)
    (home / ".aws" / "config").write_text(text)


def test_explicit_wins(tmp_path: Path) -> None:
    env = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}
    assert resolve_region("ap-south-1", environ=env, home=tmp_path) == "ap-south-1"


def test_aws_region_before_default_region(tmp_path: Path) -> None:
    env = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}
    assert resolve_region(environ=env, home=tmp_path) == "eu-west-1"


def test_default_region(tmp_path: Path) -> None:
    config(tmp_path, "[default]\nregion = us-west-1\n")
    env = {"AWS_REGION": "  ", "AWS_DEFAULT_REGION": "eu-west-2"}
    assert resolve_region(environ=env, home=tmp_path) == "eu-west-2"


def test_profile_region(tmp_path: Path) -> None:
    config(tmp_path, "[default]\nregion = us-west-1\n[profile dev]\nregion = eu-central-1\n")
    assert resolve_region(environ={}, home=tmp_path) == "us-west-1"
    assert resolve_region(profile="dev", environ={}, home=tmp_path) == "eu-central-1"
    assert resolve_region(environ={"AWS_PROFILE": "dev"}, home=tmp_path) == "eu-central-1"


def test_region_from_credentials_file(tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\nregion = sa-east-1\n")
    assert resolve_region(environ={}, home=tmp_path) == "sa-east-1"


def test_env_beats_explicit_profile(tmp_path: Path) -> None:
    config(tmp_path, "[profile dev]\nregion = eu-central-1\n")
    env = {"AWS_DEFAULT_REGION": "us-east-2"}
    assert resolve_region(profile="dev", environ=env, home=tmp_path) == "us-east-2"


def test_no_region_lists_sources(tmp_path: Path) -> None:
    config(tmp_path, "[default]\noutput = json\n")
    with pytest.raises(NoRegionError) as info:
        resolve_region("", environ={}, home=tmp_path)
    sources = info.value.sources
    assert sources[:3] == ("region argument", "AWS_REGION", "AWS_DEFAULT_REGION")
    assert "'default'" in sources[3]
    assert str(tmp_path) in str(info.value)


def test_custom_config_path(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.ini"
    cfg.write_text("[profile x]\nregion = me-south-1\n")
    env = {"AWS_CONFIG_FILE": str(cfg), "AWS_PROFILE": "x"}
    assert resolve_region(environ=env, home=tmp_path) == "me-south-1"


def test_malformed_config_is_clear(tmp_path: Path) -> None:
    config(tmp_path, "junk\n")
    with pytest.raises(ProfileFileError, match="config"):
        resolve_region(environ={}, home=tmp_path)


def test_env_region_does_not_read_files(tmp_path: Path) -> None:
    config(tmp_path, "junk\n")
    assert resolve_region(environ={"AWS_REGION": "eu-west-3"}, home=tmp_path) == "eu-west-3"
