"""``smruntime serve``: keys from the environment, a profile or generated; help; options."""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path

import pytest

from smruntime.emulator._faults import FAULT_KINDS
from tests.smruntime.cli_helpers import clean_env, run_cli, serving, stderr_text
from tests.smruntime.cli_helpers import invoke_at as invoke


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def test_help_lists_models_faults_with_examples_and_defaults(home: Path) -> None:
    proc = run_cli("serve", "--help", env=clean_env(home))
    assert proc.returncode == 0, stderr_text(proc)
    text = proc.stdout.decode()
    for model in ("tokens", "tokens-jsonl", "echo", "chat"):
        assert re.search(rf"^  {re.escape(model)}\s", text, re.M), model
    for kind in FAULT_KINDS:
        assert re.search(rf"^  {re.escape(kind)}[(\s]", text, re.M), kind
    assert "X-Emulator-Fault: SPEC" in text
    assert "emulator-fault=SPEC" in text
    for default in ("default 8080", "default 127.0.0.1", "default us-east-1", "default 0.05"):
        assert default in " ".join(text.split()), default
    assert "docker run -p 8080:8080" in " ".join(text.split())


def test_generated_keys_are_printed_as_export_lines_that_work(home: Path) -> None:
    with serving(clean_env(home), "--model", "echo", "--endpoint", "e") as found:
        exports = dict(re.findall(r"export (AWS_[A-Z_]+)=(\S+)", found["stderr"]))
        assert set(exports) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
        env = clean_env(home, {k: shlex.split(v)[0] for k, v in exports.items()})
        ok = invoke(env, found["url"], "e", "--body", "hi")
        assert ok.returncode == 0, stderr_text(ok)
        assert ok.stdout == b"hi"


def test_keys_and_session_token_from_the_environment(home: Path) -> None:
    keys = {
        "AWS_ACCESS_KEY_ID": "ASIASERVEENV",
        "AWS_SECRET_ACCESS_KEY": "env-secret",
        "AWS_SESSION_TOKEN": "env-session-token",
    }
    env = clean_env(home, keys)
    with serving(env, "--model", "echo", "--endpoint", "e") as found:
        assert "env-secret" not in found["stderr"]
        assert "env-session-token" not in found["stderr"]
        ok = invoke(env, found["url"], "e", "--body", "with token")
        assert ok.returncode == 0, stderr_text(ok)
        assert ok.stdout == b"with token"
        other = dict(env, AWS_SESSION_TOKEN="another-token")
        bad = invoke(other, found["url"], "e", "--body", "x", "--max-attempts", "1")
        assert bad.returncode == 3
        assert "UnrecognizedClientException" in stderr_text(bad)


def test_keys_from_a_profile(home: Path) -> None:
    credentials = home / "credentials"
    credentials.write_text(
        "[emu]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n"
    )
    env = clean_env(home, {"AWS_SHARED_CREDENTIALS_FILE": str(credentials)})
    with serving(env, "--profile", "emu", "--model", "echo", "--endpoint", "e") as found:
        assert "profile-secret" not in found["stderr"]
        ok = invoke(env, found["url"], "e", "--body", "p", "--profile", "emu")
        assert ok.returncode == 0, stderr_text(ok)
        assert ok.stdout == b"p"


def test_secret_on_the_command_line_still_works_with_a_warning(home: Path) -> None:
    args = ("--access-key-id", "AKIDOLD", "--secret-access-key", "old-secret", "--model", "echo")
    with serving(clean_env(home), *args, "--endpoint", "e") as found:
        assert "--secret-access-key is deprecated" in found["stderr"]
        assert "old-secret" not in found["stderr"]
        env = clean_env(
            home, {"AWS_ACCESS_KEY_ID": "AKIDOLD", "AWS_SECRET_ACCESS_KEY": "old-secret"}
        )
        assert invoke(env, found["url"], "e", "--body", "o").stdout == b"o"


def test_part_size_fault_and_default_delay(home: Path) -> None:
    keys = {"AWS_ACCESS_KEY_ID": "AKIDOPTS", "AWS_SECRET_ACCESS_KEY": "opts-secret"}
    env = clean_env(home, keys)
    capture = home / "stream.bin"
    args = ("--endpoint", "t", "--part-size", "5", "--fault", "throttle(count=1)")
    with serving(env, *args) as found:
        body = '{"inputs": "a b c", "parameters": {"max_new_tokens": 2}}'
        first = invoke(env, found["url"], "t", "--body", body, "--max-attempts", "1")
        assert first.returncode == 3
        assert "ThrottlingException" in stderr_text(first)
        began = time.monotonic()
        ok = invoke(env, found["url"], "t", "--stream", "--body", body, "--save", str(capture))
        assert ok.returncode == 0, stderr_text(ok)
        assert ok.stdout.decode() == "You said:\n"
        assert time.monotonic() - began >= 0.1  # the default delay paces the tokens
    from eventstream import decode

    parts = [m.payload for m in decode(capture.read_bytes())]
    assert all(len(p) <= 5 for p in parts)
    assert len(parts) > 10


def test_chat_model_from_the_command_line(home: Path) -> None:
    keys = {"AWS_ACCESS_KEY_ID": "AKIDCHAT", "AWS_SECRET_ACCESS_KEY": "chat-secret"}
    env = clean_env(home, keys)
    with serving(env, "--model", "chat", "--endpoint", "c", "--delay", "0") as found:
        body = json.dumps({"messages": [{"role": "user", "content": "hi there"}]})
        ok = invoke(env, found["url"], "c", "--stream", "--body", body)
        assert ok.returncode == 0, stderr_text(ok)
        assert ok.stdout.decode() == "You said: hi there\n"


def test_async_results_land_in_results_dir_and_serve_says_where(home: Path) -> None:
    import smruntime

    keys = {"AWS_ACCESS_KEY_ID": "AKIASERVEASYNC", "AWS_SECRET_ACCESS_KEY": "async-secret"}
    env = clean_env(home, keys)
    results = home / "results"
    inputs = results / "in-bucket"
    inputs.mkdir(parents=True)
    (inputs / "req.json").write_bytes(b"async body")
    with serving(env, "--model", "echo", "--endpoint", "e", "--results-dir", str(results)) as found:
        assert f"s3://BUCKET/KEY is {results}/BUCKET/KEY" in found["stderr"]
        client = smruntime.client(
            "sagemaker-runtime",
            region_name="us-east-1",
            endpoint_url=found["url"],
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        )
        try:
            reply = client.invoke_endpoint_async(
                EndpointName="e", InputLocation="s3://in-bucket/req.json"
            )
        finally:
            client.close()
        bucket, _, key = reply["OutputLocation"][len("s3://") :].partition("/")
        assert (results / bucket / key).read_bytes() == b"async body"
    assert (results / bucket / key).exists()  # a given folder is kept


def test_default_results_folder_is_announced_as_temporary(home: Path) -> None:
    env = clean_env(home, {"AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "s"})
    with serving(env, "--model", "echo") as found:
        assert "deleted on stop; see --results-dir" in found["stderr"]


@pytest.mark.parametrize("name", ["bad_name", "a" * 64, "-x", "x-", "é"])
def test_an_endpoint_name_no_client_could_call_is_a_usage_error(home: Path, name: str) -> None:
    result = run_cli("serve", "--port", "0", f"--endpoint={name}", env=clean_env(home, {}))
    assert result.returncode == 2, stderr_text(result)
    assert "endpoint name is 1-63 letters" in stderr_text(result)


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"AWS_SECRET_ACCESS_KEY": "s"}, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID"),
        ({"AWS_ACCESS_KEY_ID": "AKID"}, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_half_a_key_pair_is_a_usage_error_as_for_the_client(
    home: Path, env: dict[str, str], said: str
) -> None:
    # before, serve generated a new pair that no client in the same shell could sign with
    result = run_cli("serve", "--port", "0", env=clean_env(home, env))
    assert result.returncode == 2, stderr_text(result)
    assert said in stderr_text(result)


def test_duplex_model_sets_what_the_endpoint_names_answer_on_http2() -> None:
    from smruntime.cli._parser import build_parser
    from smruntime.cli._serve import _serve_endpoints

    args = build_parser().parse_args(["serve", "--endpoint", "asr", "--duplex-model", "transcribe"])
    assert _serve_endpoints(args)["asr"].duplex == "transcribe"
    args = build_parser().parse_args(["serve", "--endpoint", "asr"])
    assert _serve_endpoints(args)["asr"].duplex == "echo"
