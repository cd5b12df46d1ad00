"""Shared AWS config and credentials files: locating, parsing and merging profiles.

* config file: ``AWS_CONFIG_FILE`` or ``~/.aws/config``; sections ``[default]`` and
  ``[profile NAME]`` (``[profile default]`` is ``default`` too); other sections are ignored.
* credentials file: ``AWS_SHARED_CREDENTIALS_FILE`` or ``~/.aws/credentials``; sections ``[NAME]``.
* the two are merged per profile; keys from the credentials file win (as botocore does). Each
  file's own keys stay available too (:meth:`Profiles.credentials_file_keys`,
  :meth:`Profiles.config_file_keys`): the credential chain looks for static keys in the
  credentials file before ``credential_process`` and in the config file after it.
* profile name: explicit > ``AWS_PROFILE`` > ``AWS_DEFAULT_PROFILE`` > ``default``. This
  deliberately differs from botocore, which checks ``AWS_DEFAULT_PROFILE`` first; the other
  AWS SDKs prefer ``AWS_PROFILE``, as here.

``~`` and ``$VAR``/``${VAR}`` in the file paths are expanded against the injected ``home`` and
``environ``. Missing files count as empty; unreadable or malformed ones raise
:class:`ProfileFileError` naming the file and the line.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Union

from sigv4.exceptions import ProfileFileError

__all__ = [
    "ProfileFileError",
    "Profiles",
    "config_file_path",
    "credentials_file_path",
    "load_profiles",
    "profile_name",
    "resolve_home",
]

PathLike = Union[str, "os.PathLike[str]"]

_VAR = re.compile(r"\$(\w+|\{[^}]*\})")


def resolve_home(home: PathLike | None, environ: Mapping[str, str]) -> Path | None:
    """The home directory: ``home`` if given, else ``HOME``/``USERPROFILE``, else ``None``."""
    if home is not None:
        return Path(home)
    for var in ("HOME", "USERPROFILE"):
        value = environ.get(var)
        if value:
            return Path(value)
    try:
        return Path.home()
    except (RuntimeError, KeyError, OSError):
        return None


def _expand(raw: str, environ: Mapping[str, str], home: Path | None) -> Path:
    def var(m: re.Match[str]) -> str:
        name = m.group(1).strip("{}")
        return environ.get(name, m.group(0))

    value = _VAR.sub(var, raw)
    if value == "~" or value.startswith(("~/", "~\\")):
        if home is None:
            return Path(value)
        return home / value[2:] if len(value) > 1 else home
    return Path(value)


def _file_path(
    env_var: str, default: str, environ: Mapping[str, str], home: PathLike | None
) -> Path | None:
    home_dir = resolve_home(home, environ)
    raw = environ.get(env_var)
    if raw:
        return _expand(raw, environ, home_dir)
    if home_dir is None:
        return None
    return home_dir / ".aws" / default


def config_file_path(
    environ: Mapping[str, str] | None = None, home: PathLike | None = None
) -> Path | None:
    """Path of the shared config file (``None`` when there is no home and no env override)."""
    env = os.environ if environ is None else environ
    return _file_path("AWS_CONFIG_FILE", "config", env, home)


def credentials_file_path(
    environ: Mapping[str, str] | None = None, home: PathLike | None = None
) -> Path | None:
    """Path of the shared credentials file (``None`` when there is no home and no override)."""
    env = os.environ if environ is None else environ
    return _file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", env, home)


def profile_name(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The profile to use: ``explicit``, else ``AWS_PROFILE``, else ``AWS_DEFAULT_PROFILE``."""
    if explicit:
        return explicit
    env = os.environ if environ is None else environ
    return env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"


def _parse(path: Path | None) -> dict[str, dict[str, str]]:
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise ProfileFileError(str(path), "is a directory") from None
    except UnicodeDecodeError as exc:
        raise ProfileFileError(str(path), f"not UTF-8 (byte offset {exc.start})") from None
    except OSError as exc:
        raise ProfileFileError(str(path), exc.strerror or type(exc).__name__) from None
    # A default_section nobody can write keeps "[DEFAULT]" an ordinary section.
    parser = configparser.RawConfigParser(
        strict=False, interpolation=None, default_section="\x00default"
    )
    try:
        parser.read_string(text, source=str(path))
    except configparser.MissingSectionHeaderError as exc:
        raise ProfileFileError(str(path), f"line {exc.lineno}: key outside any section") from None
    except configparser.ParsingError as exc:
        lines = ", ".join(str(lineno) for lineno, _ in exc.errors) or "?"
        raise ProfileFileError(str(path), f"unparsable line(s) {lines}") from None
    except configparser.Error as exc:
        raise ProfileFileError(str(path), type(exc).__name__) from None
    return {
        section: {key: value.strip() for key, value in parser.items(section)}
        for section in parser.sections()
    }


def _named_section(section: str) -> str:
    """The name in ``[profile NAME]`` / ``[sso-session NAME]``, split as a shell would (as
    botocore does): ``[profile "my prof"]`` is ``my prof``; a section that is not exactly two
    words (``[profile my prof]``) names nothing."""
    import shlex

    try:
        parts = shlex.split(section)
    except ValueError:  # an unbalanced quote
        return ""
    return parts[1] if len(parts) == 2 else ""


class Profiles:
    """The merged profiles of the config and credentials files (read once at construction)."""

    def __init__(
        self,
        config: Mapping[str, Mapping[str, str]],
        credentials: Mapping[str, Mapping[str, str]],
        *,
        config_path: Path | None = None,
        credentials_path: Path | None = None,
    ) -> None:
        from_config: dict[str, dict[str, str]] = {}
        self.sso_sessions: dict[str, dict[str, str]] = {}
        for section, values in config.items():
            if section.startswith(("sso-session ", "sso-session\t")):
                session_name = _named_section(section)
                if session_name:
                    self.sso_sessions.setdefault(session_name, {}).update(values)
                continue
            if section == "default":
                name = "default"
            elif section.startswith(("profile ", "profile\t")):
                name = _named_section(section)
            else:
                continue
            # "[profile default]" counts as default, but a plain "[default]" wins over it.
            if not name or (name == "default" and section != "default" and "default" in config):
                continue
            from_config.setdefault(name, {}).update(values)
        from_credentials: dict[str, dict[str, str]] = {}
        for section, values in credentials.items():
            from_credentials.setdefault(section.strip(), {}).update(values)
        merged: dict[str, dict[str, str]] = {name: dict(v) for name, v in from_config.items()}
        for name, values in from_credentials.items():
            merged.setdefault(name, {}).update(values)
        self._config = from_config
        self._credentials = from_credentials
        self._profiles = merged
        self.config_path = config_path
        self.credentials_path = credentials_path

    def get(self, name: str) -> dict[str, str] | None:
        """The merged keys of profile ``name`` (a copy), or ``None`` if neither file has it."""
        values = self._profiles.get(name)
        return None if values is None else dict(values)

    def credentials_file_keys(self, name: str) -> dict[str, str]:
        """The keys of profile ``name`` in the credentials file alone (a copy; may be empty)."""
        return dict(self._credentials.get(name, {}))

    def config_file_keys(self, name: str) -> dict[str, str]:
        """The keys of profile ``name`` in the config file alone (a copy; may be empty)."""
        return dict(self._config.get(name, {}))

    def __contains__(self, name: object) -> bool:
        return name in self._profiles

    def names(self) -> list[str]:
        """All profile names found."""
        return sorted(self._profiles)

    def where(self) -> str:
        """The files read, for error messages."""
        paths = [str(p) for p in (self.config_path, self.credentials_path) if p is not None]
        return " and ".join(paths) if paths else "no files (no home directory)"


def load_profiles(
    environ: Mapping[str, str] | None = None, home: PathLike | None = None
) -> Profiles:
    """Read and merge the shared config and credentials files."""
    env = os.environ if environ is None else environ
    cfg_path = config_file_path(env, home)
    cred_path = credentials_file_path(env, home)
    return Profiles(
        _parse(cfg_path),
        _parse(cred_path),
        config_path=cfg_path,
        credentials_path=cred_path,
    )
