"""Every Python snippet of the README runs, against the emulator, with smruntime and (where boto3
has the feature) with boto3: the README's promise that the same code runs on both."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from smruntime.emulator import Emulator

boto3 = pytest.importorskip("boto3")

README = Path(__file__).resolve().parent.parent.parent / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
#: Names only smruntime has: a snippet using one runs with smruntime alone.
_SMRUNTIME_ONLY = ("smruntime.aio", "iter_text", "iter_json", "iter_lines", "iter_frames")


def _as_boto3(code: str) -> str:
    code = code.replace("import smruntime\n", "import boto3\n")
    code = code.replace("smruntime.client(", "boto3.client(")
    code = code.replace("smruntime.Client(", 'boto3.client("sagemaker-runtime", ')
    code = code.replace("smruntime.Session(", "boto3.session.Session(")
    assert "smruntime." not in code.replace("smruntime.emulator", ""), code
    return code


@pytest.fixture
def emulator_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(endpoints={"my-llm": "tokens"}) as emu:
        creds = emu.credentials
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
        for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.delenv(proxy, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", emu.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds.access_key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds.secret_access_key)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield emu


def _run(code: str) -> str:
    out = io.StringIO()
    namespace: dict[str, object] = {"__name__": "readme_snippet"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), namespace)
    for value in namespace.values():
        close = getattr(value, "close", None)
        if type(value).__name__ in ("Client", "SageMakerRuntime") and callable(close):
            close()
    return out.getvalue()


def test_the_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 4
    assert any("smruntime.client(" in s for s in SNIPPETS)


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs_with_smruntime(index: int, emulator_env: Emulator) -> None:
    _run(SNIPPETS[index])
    assert emulator_env.requests or "Emulator()" in SNIPPETS[index]


# botocore leaves a socket of a closed event stream to the garbage collector
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs_with_boto3(index: int, emulator_env: Emulator) -> None:
    code = SNIPPETS[index]
    if any(name in code for name in _SMRUNTIME_ONLY):
        pytest.skip("uses a view or client that only smruntime has")
    ours = _run(code)
    emulator_env.clear_requests()
    boto3.DEFAULT_SESSION = None  # boto3 keeps the credentials of the first call's session
    try:
        theirs = _run(_as_boto3(code))
    finally:
        boto3.DEFAULT_SESSION = None
    assert theirs == ours
