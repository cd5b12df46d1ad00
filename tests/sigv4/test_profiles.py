"""Shared config/credentials files: paths, sections, merging, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigv4._profiles import (
    ProfileFileError,
    config_file_path,
    credentials_file_path,
    load_profiles,
    profile_name,
)


def write(home: Path, name: str, text: str) -> Path:
    (home / ".aws").mkdir(exist_ok=True)
    path = home / ".aws" / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_paths(tmp_path: Path) -> None:
    assert config_file_path({}, tmp_path) == tmp_path / ".aws" / "config"
    assert credentials_file_path({}, tmp_path) == tmp_path / ".aws" / "credentials"


def test_home_from_environ(tmp_path: Path) -> None:
    assert config_file_path({"HOME": str(tmp_path)}) == tmp_path / ".aws" / "config"


def test_env_overrides_with_expansion(tmp_path: Path) -> None:
    env = {
        "AWS_CONFIG_FILE": "~/custom/cfg",
        "AWS_SHARED_CREDENTIALS_FILE": "$BASE/creds",
        "BASE": "/opt/aws",
    }
    assert config_file_path(env, tmp_path) == tmp_path / "custom" / "cfg"
    assert credentials_file_path(env, tmp_path) == Path("/opt/aws/creds")


def test_missing_files_are_empty(tmp_path: Path) -> None:
    profiles = load_profiles({}, tmp_path)
    assert profiles.names() == []
    assert profiles.get("default") is None


def test_sections_and_merge(tmp_path: Path) -> None:
    write(
        tmp_path,
        "config",
        """
# comment
[default]
region = us-west-2
output = json

[profile dev]
region = eu-west-1
aws_access_key_id = FROMCONFIG

[plain]
region = ignored-without-profile-prefix

[sso-session corp]
sso_region = us-east-1
""",
    )
    write(
        tmp_path,
        "credentials",
        """
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = s1

[dev]
aws_access_key_id = FROMCREDS
aws_secret_access_key = s2

[only-creds]
aws_access_key_id = AKIAONLY
aws_secret_access_key = s3
""",
    )
    profiles = load_profiles({}, tmp_path)
    assert profiles.names() == ["default", "dev", "only-creds"]
    assert profiles.get("default") == {
        "region": "us-west-2",
        "output": "json",
        "aws_access_key_id": "AKIADEFAULT",
        "aws_secret_access_key": "s1",
    }
    dev = profiles.get("dev")
    assert dev is not None
    assert dev["aws_access_key_id"] == "FROMCREDS"  # credentials file wins
    assert dev["region"] == "eu-west-1"
    assert "plain" not in profiles
    assert "corp" not in profiles


def test_profile_default_section_form(tmp_path: Path) -> None:
    write(tmp_path, "config", "[profile default]\nregion = ap-south-1\n")
    assert load_profiles({}, tmp_path).get("default") == {"region": "ap-south-1"}


def test_plain_default_beats_profile_default(tmp_path: Path) -> None:
    write(tmp_path, "config", "[profile default]\nregion = a\n[default]\nregion = b\n")
    assert load_profiles({}, tmp_path).get("default") == {"region": "b"}


def test_case_duplicates_and_nested_values(tmp_path: Path) -> None:
    write(
        tmp_path,
        "config",
        "[default]\nRegion = us-east-2\nregion = eu-north-1\n"
        "s3 =\n  max_concurrent_requests = 10\n[DEFAULT]\nregion = x\n",
    )
    prof = load_profiles({}, tmp_path).get("default")
    assert prof is not None
    assert prof["region"] == "eu-north-1"  # last wins, names case-insensitive
    assert "max_concurrent_requests" in prof["s3"]
    assert load_profiles({}, tmp_path).get("DEFAULT") is None  # not a profile in config


def test_default_section_in_credentials_is_ordinary(tmp_path: Path) -> None:
    write(tmp_path, "credentials", "[DEFAULT]\naws_access_key_id = X\n")
    assert load_profiles({}, tmp_path).get("DEFAULT") == {"aws_access_key_id": "X"}


def test_value_with_percent_and_equals(tmp_path: Path) -> None:
    write(tmp_path, "credentials", "[p]\naws_secret_access_key = a%b=c/d+e\n")
    assert load_profiles({}, tmp_path).get("p") == {"aws_secret_access_key": "a%b=c/d+e"}


def test_malformed_file_names_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "config", "[default]\nregion = x\nthis line is junk\n")
    with pytest.raises(ProfileFileError) as info:
        load_profiles({}, tmp_path)
    assert str(path) in str(info.value)
    assert "3" in str(info.value)


def test_key_outside_section(tmp_path: Path) -> None:
    write(tmp_path, "credentials", "aws_access_key_id = X\n")
    with pytest.raises(ProfileFileError, match="line 1"):
        load_profiles({}, tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_bytes(b"[default]\nregion = \xff\n")
    with pytest.raises(ProfileFileError, match="UTF-8"):
        load_profiles({}, tmp_path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / ".aws" / "config").mkdir(parents=True)
    with pytest.raises(ProfileFileError, match="directory"):
        load_profiles({}, tmp_path)


def test_error_is_value_error_and_pickles(tmp_path: Path) -> None:
    import pickle

    err = ProfileFileError("/x", "bad")
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert again.path == "/x"
    assert str(again) == str(err)


@pytest.mark.parametrize(
    ("explicit", "env", "expected"),
    [
        (None, {}, "default"),
        ("x", {"AWS_PROFILE": "y"}, "x"),
        (None, {"AWS_PROFILE": "y", "AWS_DEFAULT_PROFILE": "z"}, "y"),
        (None, {"AWS_DEFAULT_PROFILE": "z"}, "z"),
        (None, {"AWS_PROFILE": ""}, "default"),
    ],
)
def test_profile_name(explicit: str | None, env: dict[str, str], expected: str) -> None:
    assert profile_name(explicit, env) == expected


def test_where_lists_files(tmp_path: Path) -> None:
    where = load_profiles({}, tmp_path).where()
    assert str(tmp_path / ".aws" / "config") in where
    assert str(tmp_path / ".aws" / "credentials") in where
