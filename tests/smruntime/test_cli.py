"""The ``smruntime`` command line: ``main(argv)`` run in this process with an environment and
stdio of its own (``cli_helpers.run_cli``), and as a child process (``python -m smruntime``)
where a real process matters: the entry point, signals, the interpreter's stdout encoding, a
server that runs until it is stopped.

An emulator started in this process (loopback, ephemeral port) plays the endpoint, its keys in
the CLI's environment.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Optional

import pytest

from eventstream import Message, decode, encode
from smruntime.cli import build_parser, main, redact
from tests.smruntime.cli_helpers import TIMEOUT, clean_env, default_sigint, run_cli, stderr_text

DATA = Path(__file__).parent.parent / "data"
STREAMS = DATA / "streams"
SIGV4 = DATA / "vectors" / "sigv4" / "aws-sig-v4-test-suite"

EXAMPLE_KEY = "AKIDEXAMPLE"
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty home: no ~/.aws files can leak into the tests."""
    return tmp_path_factory.mktemp("home")


def assert_one_line_error(proc: subprocess.CompletedProcess[bytes], code: int) -> str:
    """The process failed with ``code`` and said why on exactly one ``smruntime: error:`` line."""
    err = stderr_text(proc)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("smruntime: error:")]
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------------------------------------
# the emulator


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    from smruntime.emulator import Echo, Emulator, Tokens

    endpoints: dict[str, Any] = {
        "echo": Echo(part_size=8),
        "tokens": Tokens(text="The quick brown fox jumps over the lazy dog."),
        "jsonl": Tokens(format="jsonl", text="one two three"),
        "slow": Tokens(delay=0.2, text=" ".join(f"w{i}" for i in range(200))),
    }
    with Emulator(endpoints=endpoints) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def env(emu: Any, home: Path) -> dict[str, str]:
    creds = emu.credentials
    extra = {
        "AWS_ACCESS_KEY_ID": creds.access_key_id,
        "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
        "AWS_REGION": emu.region,
    }
    if creds.session_token:
        extra["AWS_SESSION_TOKEN"] = creds.session_token
    return clean_env(home, extra)


def invoke(
    emu: Any, env: Mapping[str, str], *args: str, transport: str = "stdlib", **kw: Any
) -> subprocess.CompletedProcess[bytes]:
    # Most tests take the default transport ("stdlib" is its alias): it starts faster than
    # requests. The tests that pass transport="requests" cover the requests one.
    common = ["--endpoint-url", emu.url, "--max-attempts", "1", "--transport", transport]
    return run_cli("invoke", *common, *args, env=env, **kw)


def last_request(emu: Any, endpoint: str) -> Any:
    matching = [r for r in emu.requests if r.endpoint_name == endpoint]
    assert matching, f"no request reached {endpoint!r}"
    return matching[-1]


# ---------------------------------------------------------------------------------------------
# help and usage


@pytest.mark.parametrize("command", [[], ["demo"], ["invoke"], ["decode"], ["sign"], ["serve"]])
def test_help_for_each_command(command: list[str], home: Path) -> None:
    # `python -m smruntime --help` in a child process: the entry point and its exit code.
    proc = run_cli(*command, "--help", env=clean_env(home), process=not command)
    assert proc.returncode == 0, stderr_text(proc)
    out = proc.stdout.decode()
    assert out.startswith("usage: smruntime")
    assert proc.stderr == b""


def test_parser_lists_every_operation_parameter() -> None:
    model = json.loads(
        (DATA / "spec" / "sagemaker-runtime" / "2017-05-13" / "service-2.json").read_text()
    )
    subparsers = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    invoke_parser = subparsers.choices["invoke"]
    options = {opt for action in invoke_parser._actions for opt in action.option_strings}
    for op in model["operations"].values():
        shape = model["shapes"][op["input"]["shape"]]
        for member in shape["members"]:
            if member in ("EndpointName", "Body"):
                continue
            split = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", member)
            option = "--" + split.lower()
            assert option in options, (member, option)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["invoke"],
        ["decode"],
        ["serve", "--port", "70000"],
        ["serve", "--part-size", "0"],
        ["serve", "--fault", "bogus"],
        ["serve", "--secret-access-key", "s"],
        ["sign", "https://x.example/", "--date", "yesterday"],
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], home: Path) -> None:
    proc = run_cli(*argv, env=clean_env(home))
    line = assert_one_line_error(proc, 2)
    assert len(line) < 300


def test_main_in_process_returns_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert "smruntime" in capsys.readouterr().out
    assert main(["decode", str(STREAMS / "tgi-hello.bin")]) == 0
    assert main(["decode", str(STREAMS / "corrupt-crc.bin")]) == 5
    assert main(["bogus"]) == 2


def test_redact_masks_secrets() -> None:
    text = (
        "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s/aws4_request, "
        "SignedHeaders=host, Signature=" + "ab" * 32 + " x-amz-security-token: TOKENVALUE"
    )
    out = redact(text)
    assert "ab" * 32 not in out
    assert "TOKENVALUE" not in out
    assert redact("secret_access_key='wJalr'") == "secret_access_key='****'"


# ---------------------------------------------------------------------------------------------
# demo


def test_demo_streams_tokens_and_prints_a_summary(home: Path) -> None:
    # A broken AWS setup must not matter: the demo passes its own keys and region.
    env = clean_env(home, {"AWS_PROFILE": "does-not-exist", "AWS_REGION": "nowhere-1"})
    proc = run_cli("demo", "--tokens", "12", "--delay", "0", "--prompt", "hi there", env=env)
    err = stderr_text(proc)
    assert proc.returncode == 0, err
    out = proc.stdout.decode()
    assert out.startswith("You said: hi there")
    assert len(out.split()) == 12
    assert "12 tokens" in err
    assert "time to first token" in err
    assert "tokens/s" in err
    assert "frames" in err
    assert "Traceback" not in err


def test_demo_jsonl_over_the_stdlib_transport(home: Path) -> None:
    proc = run_cli(
        "demo",
        "--format",
        "jsonl",
        "--transport",
        "stdlib",
        "--tokens",
        "5",
        "--delay",
        "0.001",
        env=clean_env(home),
    )
    assert proc.returncode == 0, stderr_text(proc)
    assert len(proc.stdout.decode().split()) == 5
    assert "5 tokens" in stderr_text(proc)


def test_demo_rejects_bad_numbers(home: Path) -> None:
    assert_one_line_error(run_cli("demo", "--tokens", "0", env=clean_env(home)), 2)


# ---------------------------------------------------------------------------------------------
# invoke: non-streaming


def test_invoke_prints_body_to_stdout_and_metadata_to_stderr(emu: Any, env: dict[str, str]) -> None:
    proc = invoke(
        emu,
        env,
        "echo",
        "--body",
        "hello body",
        "--content-type",
        "text/plain",
        transport="requests",
    )
    assert proc.returncode == 0, stderr_text(proc)
    assert proc.stdout == b"hello body"
    err = stderr_text(proc)
    assert "HTTP 200" in err
    assert "ContentType=text/plain" in err


def test_invoke_body_from_file_and_stdin(emu: Any, env: dict[str, str], tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4
    path = tmp_path / "body.bin"
    path.write_bytes(payload)
    proc = invoke(emu, env, "echo", "--body", f"@{path}", "-q")
    assert proc.returncode == 0, stderr_text(proc)
    assert proc.stdout == payload
    assert proc.stderr == b""
    proc = invoke(emu, env, "echo", "--body", "-", "-q", input=b"from stdin")
    assert proc.stdout == b"from stdin"


def test_invoke_missing_body_file_is_one_line(emu: Any, env: dict[str, str]) -> None:
    line = assert_one_line_error(invoke(emu, env, "echo", "--body", "@/no/such/file"), 1)
    assert "/no/such/file" in line


def test_invoke_json_prints_the_whole_response(emu: Any, env: dict[str, str]) -> None:
    proc = invoke(emu, env, "echo", "--body", '{"a": 1}', "--json")
    assert proc.returncode == 0, stderr_text(proc)
    response = json.loads(proc.stdout)
    assert response["Body"] == '{"a": 1}'
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_invoke_sends_every_parameter(emu: Any, env: dict[str, str]) -> None:
    proc = invoke(
        emu,
        env,
        "echo",
        "--body",
        "x",
        "--content-type",
        "application/json",
        "--accept",
        "application/json",
        "--custom-attributes",
        "accept_eula=true",
        "--target-model",
        "model.tar.gz",
        "--target-variant",
        "variant-1",
        "--target-container-hostname",
        "container-1",
        "--inference-id",
        "id-1",
        "--enable-explanations",
        "`true`",
        "--inference-component-name",
        "ic-1",
        "--session-id",
        "NEW_SESSION",
        "--prefix-aware-id",
        "prefix-1",
        "-q",
    )
    assert proc.returncode == 0, stderr_text(proc)
    headers = last_request(emu, "echo").headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["X-Amzn-SageMaker-Custom-Attributes"] == "accept_eula=true"
    assert headers["X-Amzn-SageMaker-Target-Model"] == "model.tar.gz"
    assert headers["X-Amzn-SageMaker-Target-Variant"] == "variant-1"
    assert headers["X-Amzn-SageMaker-Target-Container-Hostname"] == "container-1"
    assert headers["X-Amzn-SageMaker-Inference-Id"] == "id-1"
    assert headers["X-Amzn-SageMaker-Enable-Explanations"] == "`true`"
    assert headers["X-Amzn-SageMaker-Inference-Component"] == "ic-1"
    assert headers["X-Amzn-SageMaker-Session-Id"] == "NEW_SESSION"
    assert headers["X-Amzn-SageMaker-Prefix-Aware-Id"] == "prefix-1"


def test_invoke_stream_sends_its_parameters(emu: Any, env: dict[str, str]) -> None:
    proc = invoke(
        emu,
        env,
        "echo",
        "--stream",
        "--raw",
        "--body",
        "y",
        "--accept",
        "text/plain",
        "--inference-component-name",
        "ic-2",
        "--session-id",
        "sess-1",
        "--target-variant",
        "v2",
        "-q",
    )
    assert proc.returncode == 0, stderr_text(proc)
    assert proc.stdout == b"y"
    headers = last_request(emu, "echo").headers
    assert headers["X-Amzn-SageMaker-Accept"] == "text/plain"
    assert headers["X-Amzn-SageMaker-Inference-Component"] == "ic-2"
    assert headers["X-Amzn-SageMaker-Session-Id"] == "sess-1"
    assert headers["X-Amzn-SageMaker-Target-Variant"] == "v2"


def test_invoke_async(emu: Any, env: dict[str, str]) -> None:
    proc = invoke(
        emu,
        env,
        "echo",
        "--async",
        "--input-location",
        "s3://bucket/input.json",
        "--request-ttl-seconds",
        "60",
        "--invocation-timeout-seconds",
        "30",
        "--s3-output-path-extension",
        "out/dir",
        "--filename",
        "result.json",
        "--content-type",
        "application/json",
        "--accept",
        "application/json",
    )
    assert proc.returncode == 0, stderr_text(proc)
    output = json.loads(proc.stdout)
    assert "InferenceId" in output
    headers = last_request(emu, "echo").headers
    assert headers["X-Amzn-SageMaker-InputLocation"] == "s3://bucket/input.json"
    assert headers["X-Amzn-SageMaker-RequestTTLSeconds"] == "60"
    assert headers["X-Amzn-SageMaker-InvocationTimeoutSeconds"] == "30"
    assert headers["X-Amzn-SageMaker-S3OutputPathExtension"] == "out/dir"
    assert headers["X-Amzn-SageMaker-Filename"] == "result.json"
    assert headers["X-Amzn-SageMaker-Content-Type"] == "application/json"
    assert headers["X-Amzn-SageMaker-Accept"] == "application/json"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--stream", "--target-model", "m"], "--target-model"),
        (["--stream", "--enable-explanations", "x"], "--enable-explanations"),
        (["--async", "--body", "x", "--input-location", "s3://b/k"], "not both"),
        (["--async", "--session-id", "s", "--input-location", "s3://b/k"], "--session-id"),
        (["--async", "--trace", "--input-location", "s3://b/k"], "--trace"),
        (["--stream", "--async"], "not allowed"),
        (["--stream", "--json"], "--json"),
        (["--raw", "--lines"], "not allowed"),
        (["--max-attempts", "0"], "--max-attempts"),
    ],
)
def test_invoke_usage_errors(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: these are refused before any client is built or request sent.
    code = main(["invoke", "--endpoint-url", "http://127.0.0.1:9", "echo", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("smruntime: error:")]
    assert len(lines) == 1, err
    assert needle in lines[0]


def test_invoke_parameter_validation_is_a_usage_error(emu: Any, env: dict[str, str]) -> None:
    # The client checks what botocore checks plus wire safety (a header with a line break);
    # the model's patterns are the service's to judge, so a bad name is answered by it.
    bad = invoke(emu, env, "echo", "--body", "x", "--custom-attributes", "a\nX-Evil: 1")
    line = assert_one_line_error(bad, 2)
    assert "CustomAttributes" in line
    line = assert_one_line_error(invoke(emu, env, "bad_name!", "--body", "x"), 3)
    assert "ValidationError" in line


# ---------------------------------------------------------------------------------------------
# invoke: streaming views


def test_invoke_stream_prints_text(emu: Any, env: dict[str, str]) -> None:
    proc = invoke(emu, env, "tokens", "--stream", "--body", '{"inputs": "q"}', transport="requests")
    assert proc.returncode == 0, stderr_text(proc)
    assert proc.stdout.decode() == "The quick brown fox jumps over the lazy dog.\n"
    err = stderr_text(proc)
    assert "ContentType=text/event-stream" in err
    assert "frames" in err


def test_invoke_stream_jsonl_view(emu: Any, env: dict[str, str]) -> None:
    proc = invoke(emu, env, "jsonl", "--jsonl", "--body", "{}", "-q")
    assert proc.returncode == 0, stderr_text(proc)
    records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [r["token"]["text"] for r in records][:3] == ["one", " two", " three"]
    assert records[-1]["generated_text"] == "one two three"


def test_invoke_stream_lines_view(emu: Any, env: dict[str, str]) -> None:
    proc = invoke(emu, env, "tokens", "--lines", "--body", "{}", "-q")
    assert proc.returncode == 0, stderr_text(proc)
    lines = proc.stdout.decode().splitlines()
    data = [line for line in lines if line.startswith("data:")]
    assert len(data) == 10  # nine words and the end-of-sequence token
    assert json.loads(data[0][5:])["token"]["text"] == "The"


def test_invoke_stream_raw_view(emu: Any, env: dict[str, str]) -> None:
    body = bytes(range(256))
    proc = invoke(emu, env, "echo", "--raw", "--body", "-", "-q", input=body)
    assert proc.returncode == 0, stderr_text(proc)
    assert proc.stdout == body


def test_trace_and_save_then_decode(emu: Any, env: dict[str, str], tmp_path: Path) -> None:
    capture = tmp_path / "capture.bin"
    proc = invoke(
        emu, env, "tokens", "--trace", "--save", str(capture), "--body", "{}", transport="requests"
    )
    err = stderr_text(proc)
    assert proc.returncode == 0, err
    assert proc.stdout.decode().startswith("The quick")
    trace = [line for line in err.splitlines() if re.match(r"\[\+\s*\d+\.\d+s\] frame \d+ @", line)]
    messages = decode(capture.read_bytes())
    assert len(trace) == len(messages) == 10
    assert "frame 0 @0:" in trace[0]
    assert ":event-type=PayloadPart" in trace[0]
    assert "prelude_crc=0x" in trace[0]
    assert "message_crc=0x" in trace[0]
    assert f"saved to {capture}" in err

    proc = run_cli("decode", str(capture), env=env)
    assert proc.returncode == 0, stderr_text(proc)
    assert proc.stdout.decode().count("frame ") == 10
    assert "10 frames" in stderr_text(proc)


def test_corrupt_stream_fails_and_the_capture_points_at_it(
    emu: Any, env: dict[str, str], tmp_path: Path
) -> None:
    capture = tmp_path / "bad.bin"
    proc = invoke(
        emu,
        env,
        "tokens",
        "--stream",
        "--save",
        str(capture),
        "--trace",
        "--custom-attributes",
        "emulator-fault=corrupt-crc(after=2)",
        "--body",
        "{}",
    )
    line = assert_one_line_error(proc, 5)
    assert "corrupt" in line.lower()
    assert "CORRUPT" in stderr_text(proc)
    proc = run_cli("decode", str(capture), env=env)
    line = assert_one_line_error(proc, 5)
    assert re.search(r"frame 2 at offset \d+: .*checksum", line), line


@pytest.mark.parametrize(
    ("fault", "needle", "code"),
    [
        ("model-error(status=500,message=boom)", "ModelError", 3),
        ("throttle", "ThrottlingException", 3),
        ("model-stream-error(after=1,code=ModelInvocationTimeExceeded)", "ModelStreamError", 4),
        ("cut(after=1)", "cut", 5),
    ],
)
def test_service_and_stream_errors_are_one_line(
    emu: Any, env: dict[str, str], fault: str, needle: str, code: int
) -> None:
    proc = invoke(
        emu,
        env,
        "tokens",
        "--stream",
        "--custom-attributes",
        f"emulator-fault={fault}",
        "--body",
        "{}",
    )
    line = assert_one_line_error(proc, code)
    assert needle in line


def test_connection_refused_is_one_line(env: dict[str, str]) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = run_cli(
        "invoke",
        "echo",
        "--body",
        "x",
        "--endpoint-url",
        f"http://127.0.0.1:{port}",
        "--max-attempts",
        "1",
        env=env,
    )
    assert_one_line_error(proc, 1)


def test_no_region_is_one_line(home: Path) -> None:
    env = clean_env(home, {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"})
    line = assert_one_line_error(run_cli("invoke", "echo", "--body", "x", env=env), 1)
    assert "region" in line


def test_debug_shows_traceback_but_no_secret(emu: Any, env: dict[str, str]) -> None:
    proc = invoke(
        emu,
        env,
        "tokens",
        "--debug",
        "--custom-attributes",
        "emulator-fault=model-error",
        "--body",
        "{}",
    )
    err = stderr_text(proc)
    assert proc.returncode == 3
    assert "Traceback" in err
    assert emu.credentials.secret_access_key not in err
    assert not re.search(r"Signature=[0-9a-f]{64}", err)


@contextlib.contextmanager
def popen_cli(*args: str, env: Mapping[str, str], **kw: Any) -> Iterator[subprocess.Popen[bytes]]:
    """The CLI as a live child process; killed (if still running) and reaped on exit."""
    with subprocess.Popen(
        [sys.executable, "-m", "smruntime", *args],
        env=dict(env),
        preexec_fn=default_sigint,
        **kw,
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def test_ctrl_c_during_a_stream_exits_130(emu: Any, env: dict[str, str]) -> None:
    args = ("invoke", "slow", "--stream", "--body", "{}", "--endpoint-url", emu.url)
    with popen_cli(
        *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.read(2)  # the first token has arrived: the stream is live
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130, err
    text = err.decode()
    assert "interrupted" in text
    assert "Traceback" not in text
    request = last_request(emu, "slow")
    deadline = time.monotonic() + 10
    while not request.cancelled and time.monotonic() < deadline:
        time.sleep(0.02)
    assert request.cancelled


def test_broken_pipe_is_quiet(emu: Any, env: dict[str, str]) -> None:
    args = ("invoke", "echo", "--body", "-", "-q", "--endpoint-url", emu.url)
    with popen_cli(
        *args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdin.write(b"z" * (2 * 1024 * 1024))
        proc.stdin.close()
        assert proc.stdout.read(10) == b"z" * 10
        proc.stdout.close()  # like `| head -c 10`
        err = proc.stderr.read()
        proc.wait(timeout=TIMEOUT)
    assert proc.returncode == 141
    assert err == b""


# ---------------------------------------------------------------------------------------------
# decode


def test_decode_sample_files_match_their_generator() -> None:
    header = {
        ":event-type": "PayloadPart",
        ":content-type": "application/octet-stream",
        ":message-type": "event",
    }
    parts = [
        b'data:{"token":{"text":"Hello"}}\n\n',
        b'data:{"token":{"text":" wor',
        b'ld"}}\n\n',
        b'data:{"token":{"text":"!"}}\n\n',
    ]
    good = b"".join(encode(Message(header, part)) for part in parts)
    assert (STREAMS / "tgi-hello.bin").read_bytes() == good
    assert (STREAMS / "truncated.bin").read_bytes() == good[:-10]
    corrupt = (STREAMS / "corrupt-crc.bin").read_bytes()
    assert len(corrupt) == len(good)
    assert [i for i in range(len(good)) if good[i] != corrupt[i]] == [376]


def test_decode_good_file(home: Path) -> None:
    proc = run_cli("decode", str(STREAMS / "tgi-hello.bin"), env=clean_env(home))
    assert proc.returncode == 0, stderr_text(proc)
    out = proc.stdout.decode()
    assert "frame 0 at offset 0: 138 bytes" in out
    assert "frame 3 at offset 382" in out
    assert ":event-type" in out
    assert "PayloadPart" in out
    assert "4 frames" in stderr_text(proc)


def test_decode_json_lines_and_list(home: Path) -> None:
    env = clean_env(home)
    proc = run_cli("decode", "--json", str(STREAMS / "tgi-hello.bin"), env=env)
    assert proc.returncode == 0, stderr_text(proc)
    frames = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [f["offset"] for f in frames] == [0, 138, 270, 382]
    assert frames[1]["payload_preview"] == 'data:{"token":{"text":" wor'
    proc = run_cli(
        "decode", "--json-list", "-", env=env, input=(STREAMS / "tgi-hello.bin").read_bytes()
    )
    assert proc.returncode == 0, stderr_text(proc)
    assert [f["index"] for f in json.loads(proc.stdout)] == [0, 1, 2, 3]


def test_decode_corrupt_file_points_at_the_offset(home: Path) -> None:
    proc = run_cli("decode", str(STREAMS / "corrupt-crc.bin"), env=clean_env(home))
    line = assert_one_line_error(proc, 5)
    assert "frame 2 at offset 270" in line
    assert "checksum" in line
    out = proc.stdout.decode()
    assert "frame 1 at offset 138" in out  # the good frames before it are still shown
    assert "MISMATCH" in out


def test_decode_truncated_and_json_error(home: Path) -> None:
    env = clean_env(home)
    line = assert_one_line_error(run_cli("decode", str(STREAMS / "truncated.bin"), env=env), 5)
    assert "frame 3 at offset 382" in line
    proc = run_cli("decode", "--json", str(STREAMS / "truncated.bin"), env=env)
    assert proc.returncode == 5
    last = json.loads(proc.stdout.decode().splitlines()[-1])
    assert last["offset"] == 382
    assert last["error"]


def test_decode_missing_file(home: Path) -> None:
    line = assert_one_line_error(run_cli("decode", "/no/such.bin", env=clean_env(home)), 1)
    assert "/no/such.bin" in line


# ---------------------------------------------------------------------------------------------
# sign


def _vector(name: str, ext: str) -> str:
    return (SIGV4 / name / f"{name}.{ext}").read_text().replace("\r\n", "\n").strip("\n")


def _sections(out: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    for block in out.split("# ")[1:]:
        title, _, body = block.partition("\n")
        sections[title.strip()] = body.strip("\n")
    return sections


def test_sign_matches_the_aws_test_suite(home: Path) -> None:
    proc = run_cli(
        "sign",
        "--method",
        "POST",
        "https://example.amazonaws.com/",
        "--region",
        "us-east-1",
        "--service",
        "service",
        "--date",
        "20150830T123600Z",
        "--access-key-id",
        EXAMPLE_KEY,
        "--secret-access-key",
        EXAMPLE_SECRET,
        "--show-secrets",
        env=clean_env(home),
    )
    assert proc.returncode == 0, stderr_text(proc)
    sections = _sections(proc.stdout.decode())
    assert sections["Canonical request"] == _vector("post-vanilla", "creq")
    assert sections["String to sign"] == _vector("post-vanilla", "sts")
    assert sections["Authorization"] == _vector("post-vanilla", "authz")
    curl = sections["curl"]
    assert curl.startswith("curl ")
    assert "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b" in curl
    assert curl.endswith("https://example.amazonaws.com/")


def test_sign_masks_secrets_by_default(home: Path) -> None:
    env = clean_env(
        home,
        {
            "AWS_ACCESS_KEY_ID": EXAMPLE_KEY,
            "AWS_SECRET_ACCESS_KEY": EXAMPLE_SECRET,
            "AWS_SESSION_TOKEN": "TOKEN-abcdefghijklmnop",
        },
    )
    url = (
        "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/e/invocations-response-stream"
    )
    proc = run_cli(
        "sign",
        url,
        "-H",
        "Content-Type: application/json",
        "--body",
        '{"inputs":"hi"}',
        "--date",
        "20150830T123600Z",
        env=env,
    )
    assert proc.returncode == 0, stderr_text(proc)
    out = proc.stdout.decode()
    sections = _sections(out)
    assert "20150830/eu-west-1/sagemaker/aws4_request" in sections["String to sign"]
    assert "TOKEN-abcdefghijklmnop" not in out
    assert EXAMPLE_SECRET not in out
    assert EXAMPLE_KEY not in out
    assert not re.search(r"Signature=[0-9a-f]{64}", out)
    assert "Signature=****" in sections["Authorization"]
    assert "content-type;host;x-amz-date;x-amz-security-token" in sections["Canonical request"]
    assert "--no-buffer" in sections["curl"]
    assert "--data-binary" in sections["curl"]
    assert "masked" in stderr_text(proc)


def test_sign_without_credentials_is_one_line(home: Path) -> None:
    proc = run_cli(
        "sign", "https://runtime.sagemaker.us-east-1.amazonaws.com/", env=clean_env(home)
    )
    line = assert_one_line_error(proc, 1)
    assert "credentials" in line


@pytest.mark.parametrize(
    "url", ["not a url", "runtime.sagemaker.us-east-1.amazonaws.com/endpoints/x", "ftp://h/x"]
)
def test_sign_a_url_that_is_not_absolute_http_is_a_usage_error(home: Path, url: str) -> None:
    # said before the region is looked for in it (no "no AWS region" for a bad URL)
    proc = run_cli("sign", url, env=clean_env(home))
    line = assert_one_line_error(proc, 2)
    assert f"URL must be absolute, http:// or https:// with a host, got {url!r}" in line


# ---------------------------------------------------------------------------------------------
# serve


SERVE_KEY, SERVE_SECRET = "AKIDSERVE", "serve-secret-key"
SERVE_ARGS = (
    "serve",
    "--port",
    "0",
    "--access-key-id",
    SERVE_KEY,
    "--secret-access-key",
    SERVE_SECRET,
)


@contextlib.contextmanager
def serve_cli(
    home: Path, found: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], threading.Thread]]:
    """`smruntime serve` on a free port; a thread collects its stderr (and URL) into ``found``."""
    args = (
        "serve",
        "--port",
        "0",
        "--access-key-id",
        SERVE_KEY,
        "--secret-access-key",
        SERVE_SECRET,
    )
    with popen_cli(
        *args,
        env=clean_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    ) as proc:
        reader = threading.Thread(target=_read_url, args=(proc.stderr, found), daemon=True)
        reader.start()
        yield proc, reader


def _read_url(stream: Any, found: dict[str, str]) -> None:
    for raw in iter(stream.readline, b""):
        match = re.search(rb"(http://127\.0\.0\.1:\d+)", raw)
        if match and "url" not in found:
            found["url"] = match.group(1).decode()
        found["stderr"] = found.get("stderr", "") + raw.decode("utf-8", "replace")


def test_serve_answers_signed_requests_and_stops_on_ctrl_c(home: Path) -> None:
    key, secret = SERVE_KEY, SERVE_SECRET
    found: dict[str, str] = {}
    with serve_cli(home, found) as (proc, reader):
        deadline = time.monotonic() + TIMEOUT
        while "url" not in found and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "url" in found, found
        env = clean_env(
            home,
            {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-east-1"},
        )
        body = '{"inputs": "hello", "parameters": {"max_new_tokens": 3}}'
        ok = run_cli(
            "invoke",
            "my-endpoint",
            "--stream",
            "--body",
            body,
            "--endpoint-url",
            found["url"],
            env=env,
        )
        assert ok.returncode == 0, stderr_text(ok)
        assert ok.stdout.decode() == "You said: hello\n"
        wrong = dict(env, AWS_SECRET_ACCESS_KEY="wrong")
        bad = run_cli(
            "invoke",
            "my-endpoint",
            "--body",
            body,
            "--endpoint-url",
            found["url"],
            "--max-attempts",
            "1",
            env=wrong,
        )
        line = assert_one_line_error(bad, 3)
        assert "Signature" in line
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=TIMEOUT)
        reader.join(timeout=TIMEOUT)
    assert proc.returncode == 0, found.get("stderr")
    err = found.get("stderr", "")
    assert "Traceback" not in err
    assert secret not in err
    assert "smruntime invoke my-endpoint" in err
    assert "stopped" in err


# ---------------------------------------------------------------------------------------------
# review fixes: numbers, encodings, captures, views, sign, serve, hints, exit codes


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--delay", "nan"],
        ["demo", "--delay", "-0.5"],
        ["demo", "--delay", "1e300"],
        ["serve", "--access-key-id", "a", "--secret-access-key", "b", "--delay", "inf"],
        ["invoke", "e", "--read-timeout", "inf"],
        ["invoke", "e", "--read-timeout", "nan"],
        ["invoke", "e", "--connect-timeout=-inf"],
        ["invoke", "e", "--first-event-timeout", "0"],
        ["invoke", "e", "--event-timeout", "NaN"],
        ["invoke", "e", "--total-timeout", "-1"],
    ],
)
def test_float_options_reject_non_finite_and_negative_numbers(argv: list[str], home: Path) -> None:
    line = assert_one_line_error(run_cli(*argv, env=clean_env(home)), 2)
    assert "argument --" in line
    assert "seconds" in line


def test_text_and_json_output_survive_a_narrow_stdout_encoding(
    emu: Any, env: dict[str, str], home: Path
) -> None:
    narrow = {"PYTHONIOENCODING": "cp1252"}
    proc = run_cli(
        "demo", "--prompt", "na\u00efve \u65e5\u672c \U0001f600", "--tokens", "6", "--delay", "0",
        env=clean_env(home, narrow), process=True,
    )  # fmt: skip
    assert proc.returncode == 0, stderr_text(proc)
    out = proc.stdout.decode("cp1252")
    assert out.startswith("You said: na\u00efve ?? ?")  # what cp1252 holds is kept
    assert len(out.split()) == 6
    body = '{"text": "\u65e5\u672c \U0001f600"}\n'
    proc = invoke(
        emu, dict(env, **narrow), "echo", "--jsonl", "-q",
        "--content-type", "application/jsonlines", "--body", body, process=True,
    )  # fmt: skip
    assert proc.returncode == 0, stderr_text(proc)
    assert proc.stdout.isascii()  # escaped, not lost
    assert json.loads(proc.stdout) == {"text": "\u65e5\u672c \U0001f600"}


def test_stderr_line_starts_on_its_own_line_after_partial_output_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from smruntime.cli import _output

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setattr(_output._Stdout, "line_open", False)
    _output.out_text("partial answ")
    _output.err("smruntime: error: cut")
    _output.err("second line")
    _output.out_text("whole line\n")
    _output.err("after a newline")
    assert screen.getvalue() == (
        "partial answ\nsmruntime: error: cut\nsecond line\nwhole line\nafter a newline\n"
    )
    # Not a terminal (a pipe, a file): stdout's bytes and stderr's lines are left as they are.
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stdout", piped)
    monkeypatch.setattr(sys, "stderr", piped)
    _output.out_text("partial")
    _output.err("error")
    assert piped.getvalue() == "partialerror\n"


def test_output_left_inside_a_line_is_ended_on_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    from smruntime.cli import _output

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, ended in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stdout", stream)
        monkeypatch.setattr(_output._Stdout, "line_open", False)
        _output.out_bytes(b'{"ok": true}')  # a body without a final newline
        _output.end_line()
        _output.end_line()  # (once)
        assert stream.getvalue() == '{"ok": true}' + ("\n" if ended else "")
        _output.out_text("a line\n")
        _output.end_line()  # nothing left open: nothing added
        assert stream.getvalue().endswith("a line\n")


def test_save_keeps_what_arrived_and_never_clobbers_with_nothing(
    emu: Any, env: dict[str, str], tmp_path: Path
) -> None:
    capture = tmp_path / "capture.bin"
    capture.write_bytes(b"an older capture")
    # No byte arrives (the service refuses the call): the older file stays, no temp file is left.
    proc = invoke(
        emu, env, "tokens", "--save", str(capture), "--body", "{}",
        "--custom-attributes", "emulator-fault=throttle",
    )  # fmt: skip
    assert_one_line_error(proc, 3)
    assert capture.read_bytes() == b"an older capture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["capture.bin"]
    # The stream is cut: the frames that arrived are kept, and decode says where it broke.
    proc = invoke(
        emu, env, "tokens", "--save", str(capture), "--body", "{}",
        "--custom-attributes", "emulator-fault=cut(after=2)",
    )  # fmt: skip
    assert_one_line_error(proc, 5)
    assert f"saved to {capture}" in stderr_text(proc)
    data = capture.read_bytes()
    assert data
    assert data != b"an older capture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["capture.bin"]
    line = assert_one_line_error(run_cli("decode", str(capture), env=env), 5)
    assert "frame 2" in line


def test_decode_of_an_empty_capture_fails(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    line = assert_one_line_error(run_cli("decode", str(empty), env=clean_env(home)), 5)
    assert "empty" in line
    line = assert_one_line_error(run_cli("decode", "-", env=clean_env(home)), 5)
    assert "<stdin>" in line


def test_jsonl_view_prints_sse_records_as_json(emu: Any, env: dict[str, str]) -> None:
    proc = invoke(emu, env, "tokens", "--jsonl", "--body", "{}", "-q")
    assert proc.returncode == 0, stderr_text(proc)
    records = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(records) == 10
    assert records[0]["token"]["text"] == "The"
    assert records[-1]["generated_text"] == "The quick brown fox jumps over the lazy dog."


def test_jsonl_view_keeps_non_json_data_as_strings(emu: Any, env: dict[str, str]) -> None:
    body = 'data: {"a": 1}\n\ndata: [DONE]\n\ndata: NaN\n\n'
    proc = invoke(
        emu, env, "echo", "--jsonl", "-q", "--content-type", "text/event-stream", "--body", body
    )
    assert proc.returncode == 0, stderr_text(proc)
    # ([DONE] is the end's sentinel, skipped as iter_json skips it, not a record)
    assert proc.stdout.decode().splitlines() == ['{"a": 1}', '"NaN"']
    proc = invoke(
        emu, env, "echo", "--jsonl", "-q", "--content-type", "text/plain", "--body", '{"b":2}\n\nhi'
    )
    assert proc.returncode == 0, stderr_text(proc)
    assert proc.stdout.decode().splitlines() == ['{"b": 2}', '"hi"']


def test_a_record_that_does_not_parse_exits_1(emu: Any, env: dict[str, str]) -> None:
    proc = invoke(
        emu, env, "echo", "--jsonl", "--content-type", "application/jsonlines",
        "--body", '{"ok": 1}\nnot json\n',
    )  # fmt: skip
    line = assert_one_line_error(proc, 1)
    assert "JSON" in line
    assert proc.stdout.decode() == '{"ok": 1}\n'


def _sign(home: Path, url: str, *args: str, stdin: Optional[bytes] = None) -> dict[str, str]:
    proc = run_cli(
        "sign", url, "--access-key-id", "test", "--secret-access-key", "secret-test",
        "--session-token", "test-token", "--date", "20150830T123600Z", *args,
        env=clean_env(home), input=stdin,
    )  # fmt: skip
    assert proc.returncode == 0, stderr_text(proc)
    return _sections(proc.stdout.decode())


def test_sign_masks_only_the_secret_positions(home: Path) -> None:
    url = "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/test-ep/invocations"
    sections = _sign(home, url, "-H", "X-Test: test")
    assert "/endpoints/test-ep/invocations" in sections["Canonical request"]
    assert "x-test:test" in sections["Canonical request"]
    assert "x-amz-security-token:****" in sections["Canonical request"]
    assert sections["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=****/20150830/")
    assert sections["Authorization"].endswith("Signature=****")
    curl = sections["curl"]
    assert "/endpoints/test-ep/invocations" in curl
    assert "'X-Test: test'" in curl
    assert "'X-Amz-Security-Token: ****'" in curl
    assert "test-token" not in "".join(sections.values())


def test_sign_curl_sends_the_signed_request(home: Path) -> None:
    url = "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/e/invocations"
    curl = _sign(home, url, "--body", "-", stdin=b"@not-a-file")["curl"]
    assert "-H Content-Type: --data-raw @not-a-file " in curl
    curl = _sign(home, url, "-H", "Content-Type: text/plain", "--body", "hi")["curl"]
    assert "'Content-Type: text/plain'" in curl
    assert "-H Content-Type: " not in curl
    assert "--data-binary hi " in curl
    curl = _sign(home, url, "--method", "GET")["curl"]
    assert "Content-Type" not in curl  # no body: curl adds no type


@pytest.mark.parametrize(
    ("host", "region"),
    [
        ("runtime.sagemaker.eu-west-1.amazonaws.com", "eu-west-1"),
        ("runtime-fips.sagemaker.us-east-2.amazonaws.com", "us-east-2"),
        ("runtime.sagemaker.us-west-2.api.aws", "us-west-2"),
        ("runtime.sagemaker.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        ("runtime.sagemaker.cn-north-1.api.amazonwebservices.com.cn", "cn-north-1"),
        ("runtime.sagemaker.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
        ("runtime.sagemaker.us-iso-east-1.c2s.ic.gov", "us-iso-east-1"),
        ("runtime.sagemaker.us-isob-east-1.sc2s.sgov.gov", "us-isob-east-1"),
        ("runtime.sagemaker.eusc-de-east-1.amazonaws.eu", "eusc-de-east-1"),
        ("example.amazonaws.com", None),
        ("localhost", None),
    ],
)
def test_sign_infers_the_region_of_every_partition(host: str, region: Optional[str]) -> None:
    from smruntime.cli._sign import _region_from_url

    assert _region_from_url(f"https://{host}/endpoints/e/invocations") == region


def test_serve_suggests_a_command_that_works_with_a_session_token_set(home: Path) -> None:
    secret = SERVE_SECRET
    found: dict[str, str] = {}
    with serve_cli(home, found) as (proc, reader):
        deadline = time.monotonic() + TIMEOUT
        while "try:" not in found.get("stderr", "") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "url" in found, found
        suggested = found["stderr"].split("try: ", 1)[1].splitlines()[0]
        # Run the suggestion as a shell would, from an environment with a session token in it.
        command = suggested.replace("<the --secret-access-key above>", secret)
        command = command.replace(" smruntime ", f" {sys.executable} -m smruntime ", 1)
        shell_env = clean_env(home, {"AWS_SESSION_TOKEN": "a-token-from-elsewhere"})
        ok = subprocess.run(
            command, shell=True, env=shell_env, capture_output=True, timeout=TIMEOUT, check=False
        )
        assert ok.returncode == 0, stderr_text(ok)
        assert ok.stdout.decode().startswith("You said: Hello")
        busy = found["url"].rsplit(":", 1)[1]
        other = run_cli(*SERVE_ARGS[:2], busy, *SERVE_ARGS[3:], env=clean_env(home), process=True)
        line = assert_one_line_error(other, 1)
        assert f"cannot listen on 127.0.0.1:{busy}: " in line
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=TIMEOUT)
        reader.join(timeout=TIMEOUT)
    assert "AWS_SESSION_TOKEN= " in suggested


def test_hints_name_the_cli_options(emu: Any, env: dict[str, str], home: Path) -> None:
    env_no_region = clean_env(home, {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s"})
    line = assert_one_line_error(run_cli("invoke", "echo", "--body", "x", env=env_no_region), 1)
    assert "--region" in line
    assert "region_name" not in line
    proc = invoke(
        emu, env, "tokens", "--body", "{}", "--custom-attributes", "emulator-fault=throttle"
    )
    line = assert_one_line_error(proc, 3)
    assert "--max-attempts" in line
    assert "max_attempts" not in line
    wrong = dict(env, AWS_SECRET_ACCESS_KEY="wrong")
    line = assert_one_line_error(invoke(emu, wrong, "echo", "--body", "x"), 3)
    assert "InvalidSignatureException" in line
    assert "--debug" in line
    assert "DEBUG logging" not in line


def test_exit_codes_are_documented_alike(home: Path) -> None:
    from smruntime.cli import _errors

    codes = {
        value
        for name, value in vars(_errors).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }
    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    main_help = run_cli("--help", env=clean_env(home)).stdout.decode()
    for code in codes:
        assert re.search(rf"\b{code} ", _errors.EXIT_CODES_HELP), code
        assert re.search(rf"\b{code} ", section), code
    assert " ".join(_errors.EXIT_CODES_HELP.split()) in " ".join(main_help.split())
    decode_help = " ".join(run_cli("decode", "--help", env=clean_env(home)).stdout.decode().split())
    assert "5 if a frame is corrupt or cut or the input is empty" in decode_help


def test_transport_option_accepts_default() -> None:
    from smruntime.cli._parser import build_parser

    for name in ("default", "stdlib", "requests"):
        args = build_parser().parse_args(["invoke", "ep", "--body", "{}", "--transport", name])
        assert args.transport == name


# -- found by a review: closed standard streams, exit codes, secrets in --debug -----------------


def _closed(emu: Any, env: Mapping[str, str], redirect: str, *args: str) -> Any:
    """``smruntime invoke ARGS`` in a shell that closes one standard stream (``<&-`` ...)."""
    import shlex

    command = [sys.executable, "-m", "smruntime", "invoke", "--endpoint-url", emu.url, *args]
    return subprocess.run(
        f"{shlex.join(command)} {redirect}",
        shell=True,
        capture_output=True,
        env=dict(env),
        timeout=TIMEOUT,
        check=False,
    )


def test_closed_standard_streams_are_said_plainly(emu: Any, env: dict[str, str]) -> None:
    proc = _closed(emu, env, "<&-", "echo", "--body", "-")
    assert "cannot read the body from stdin: it is closed" in assert_one_line_error(proc, 1)
    proc = _closed(emu, env, ">&-", "echo", "--body", "hi")
    assert "stdout is closed" in assert_one_line_error(proc, 1)
    proc = _closed(emu, env, "2>&-", "echo", "--body", "hi")  # nowhere for the summary: fine
    assert proc.returncode == 0
    assert proc.stdout == b"hi"


def test_a_bad_endpoint_url_is_a_usage_error(env: dict[str, str]) -> None:
    proc = run_cli("invoke", "--endpoint-url", "not a url", "e", "--body", "x", env=env)
    assert "Invalid endpoint_url" in assert_one_line_error(proc, 2)


def test_debug_masks_a_session_token_in_hpack_lines() -> None:
    token = "IQoJb3JpZ2luX2VjEXAMPLETOKEN"
    for line in (
        f"Adding b'x-amz-security-token'=b'{token}' to the header table",
        f"Decoded (b'x-amz-security-token', b'{token}'), total consumed 9 bytes",
        f"x-amz-security-token: {token}",
    ):
        assert token not in redact(line), line


@pytest.mark.parametrize("debug", [False, True])
def test_a_wrong_secret_says_to_run_with_debug_unless_it_did(
    emu: Any, env: dict[str, str], debug: bool
) -> None:
    wrong = {**env, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    extra = ["--debug"] if debug else []
    proc = invoke(emu, wrong, "echo", "--body", "x", *extra)
    assert proc.returncode == 3
    last = stderr_text(proc).strip().splitlines()[-1]
    assert "signature did not match" in last
    if debug:
        assert "Run with --debug" not in last
        assert "The debug log above shows the canonical request" in last
    else:
        assert "Run with --debug to see the canonical request" in last


def test_jsonl_view_skips_the_done_sentinel_as_iter_json_does() -> None:
    from smruntime.cli._views import _SKIP, json_record
    from smruntime.records import SSEEvent

    assert json_record(SSEEvent("[DONE]"), text_lines=False) is _SKIP
    assert json_record(SSEEvent('{"a": 1}'), text_lines=False) == {"a": 1}
    assert json_record(SSEEvent("plain"), text_lines=False) == "plain"


def test_an_unmodeled_error_inside_the_stream_exits_4_not_3() -> None:
    from smruntime.cli._errors import EXIT_SERVICE_ERROR, EXIT_STREAM_ERROR, describe_error
    from smruntime.exceptions import ClientError, EventStreamError, ModelStreamError

    inside = EventStreamError({"Error": {"Code": "InternalError", "Message": "boom"}}, "Op")
    assert describe_error(inside)[0] == EXIT_STREAM_ERROR  # (an error frame after the 200)
    modeled = ModelStreamError({"Error": {"Code": "ModelStreamError", "Message": "x"}}, "Op")
    assert describe_error(modeled)[0] == EXIT_STREAM_ERROR
    answered = ClientError({"Error": {"Code": "ValidationError", "Message": "x"}}, "Op")
    assert describe_error(answered)[0] == EXIT_SERVICE_ERROR
