"""The shipped pytest plugin works in a user's own test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USER_TESTS = """
pytest_plugins = ["smruntime.emulator.pytest_plugin"]


def test_stream(smruntime_client, smruntime_emulator):
    response = smruntime_client.invoke_endpoint_with_response_stream(
        EndpointName="tokens", Body=b'{"inputs": "hi", "parameters": {"max_new_tokens": 3}}'
    )
    assert response["Body"].read_text()
    assert len(smruntime_emulator.requests) == 1


def test_echo(smruntime_client):
    response = smruntime_client.invoke_endpoint(EndpointName="echo", Body=b"ping")
    assert response["Body"].read() == b"ping"
"""


def test_plugin_fixtures_in_a_user_test_run(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    # The plugin is named by pytest_plugins, not found by entry point: the installed plugins
    # (hypothesis, xdist, langsmith, ...) would only add a second or two of imports.
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
