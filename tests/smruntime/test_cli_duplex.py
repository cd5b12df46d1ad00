"""``smruntime duplex`` against the test HTTP/2 server (``main`` in this process; a child
process where h2 must be hidden from the import system)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("h2")

from tests.smruntime.cli_helpers import run_cli
from tests.smruntime.h2_server import H2TestServer

ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "cli-secret-never-shown",
    "AWS_REGION": "us-east-1",
    "NO_PROXY": "127.0.0.1,localhost",
}


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return run_cli(*args, env=ENV, input=stdin)


def duplex_live(url: str, *options: str) -> subprocess.Popen[bytes]:
    """``smruntime duplex asr --input -`` as a child process, its stdin a pipe left open."""
    command = [sys.executable, "-m", "smruntime", "duplex", "asr", "--input", "-"]
    command.extend(("--endpoint-url", url, *options))
    return subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )


def test_duplex_streams_a_file_and_prints_the_answers(tmp_path: Path) -> None:
    data = b"".join(bytes([65 + i % 26]) * 100 for i in range(30))
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    with H2TestServer("events") as srv:
        out = run(
            "duplex",
            "asr",
            "--input",
            str(path),
            "--part-size",
            "256",
            "--data-type",
            "BINARY",
            "--invocation-path",
            "v1/listen",
            "--query-string",
            "model=nova-3",
            "--endpoint-url",
            srv.url,
            "--trace",
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout == data
        err = out.stderr.decode()
        assert "HTTP 200 InvokedProductionVariant=AllTraffic" in err
        assert ":chunk-signature=****" in err
        assert "inner: (empty: end of input)" in err
        assert "sent 12 parts, received 12 events" in err
        assert "cli-secret" not in err
        assert "Signature=" not in err
        req = srv.requests[0]
        assert req["x-amzn-sagemaker-model-invocation-path"] == "v1/listen"


def test_duplex_stdin_jsonl_and_rate() -> None:
    with H2TestServer("events") as srv:
        out = run(
            "duplex",
            "asr",
            "--input",
            "-",
            "--part-size",
            "4",
            "--data-type",
            "UTF8",
            "--rate",
            "200",
            "--jsonl",
            "-q",
            "--endpoint-url",
            srv.url,
            stdin=b"abcdefghij",
        )
        assert out.returncode == 0, out.stderr
        lines = [json.loads(x) for x in out.stdout.decode().splitlines()]
        assert [x["PayloadPart"]["Bytes"] for x in lines] == ["abcd", "efgh", "ij"]
        assert [x["PayloadPart"]["CompletionState"] for x in lines] == [
            "PARTIAL",
            "PARTIAL",
            "COMPLETE",
        ]
        assert out.stderr == b""


@pytest.mark.parametrize(
    ("options", "stdin", "stdout"),
    [
        (["--data-type", "UTF8"], b"abcdefghij", b"abcd\nefgh\nij\n"),  # a line per UTF8 part
        (["--data-type", "UTF8"], b"abc\ndef\n", b"abc\ndef\n"),  # no second newline
        (["--data-type", "UTF8", "--raw"], b"abcdefghij", b"abcdefghij"),
        (["--data-type", "BINARY"], b"\x00\x01\x02\x03\xff\xfe", b"\x00\x01\x02\x03\xff\xfe"),
        ([], b"no-type", b"no-type"),  # parts without DataType: raw bytes too
    ],
)
def test_duplex_output_separates_utf8_parts_and_keeps_binary_exact(
    options: list[str], stdin: bytes, stdout: bytes
) -> None:
    with H2TestServer("events") as srv:
        out = run(
            "duplex", "asr", "--input", "-", "--part-size", "4", *options, "-q",
            "--endpoint-url", srv.url, stdin=stdin,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout == stdout


def test_duplex_help_says_how_parts_are_written() -> None:
    out = run("duplex", "--help")
    text = " ".join(out.stdout.decode().split())
    assert "a UTF8 part as its text followed by a newline unless it ends with one" in text
    assert "--raw" in text
    # what does not apply to the HTTP/2 call is not offered (and refused with its reason)
    assert "--transport" not in text
    assert "--max-attempts" not in text
    assert "longest wait from the start of the call to the first event" in text


def test_duplex_exit_codes(tmp_path: Path) -> None:
    body = json.dumps({"message": "no such endpoint"}).encode()
    hdrs = [("content-type", "application/json"), ("x-amzn-errortype", "InputValidationError")]
    with H2TestServer("status", status=400, body=body, response_headers=hdrs) as srv:
        out = run("duplex", "asr", "--input", "-", "--endpoint-url", srv.url, stdin=b"x")
        assert out.returncode == 3
        assert b"InputValidationError" in out.stderr
    with H2TestServer("events", rst_after=1) as srv:
        out = run("duplex", "asr", "--input", "-", "--endpoint-url", srv.url, stdin=b"x" * 5000)
        assert out.returncode == 5, out.stderr
    out = run("duplex", "asr", "--input", "-", "--part-size", "0")
    assert out.returncode == 2
    out = run("duplex", "bad name", "--input", "-", "--endpoint-url", "http://127.0.0.1:9")
    assert out.returncode == 2
    out = run("duplex", "asr", "--input", "-", "--transport", "requests")
    assert out.returncode == 2
    assert b"duplex always uses HTTP/2" in out.stderr
    out = run("duplex", "asr", "--input", "-", "--max-attempts", "3")
    assert out.returncode == 2
    assert b"a bidirectional stream is never retried" in out.stderr
    missing = tmp_path / "missing.bin"
    out = run("duplex", "asr", "--input", str(missing), "--endpoint-url", "http://127.0.0.1:9")
    assert out.returncode == 1
    assert b"cannot read input file" in out.stderr


def test_demo_duplex() -> None:
    out = run("demo", "--duplex", "--delay", "0.01")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    assert len(lines) == 11
    assert "partial hello" in lines[0]
    assert "final" in lines[-1]
    err = out.stderr.decode()
    assert "part 10/10" in err
    assert "end of input" in err


def test_duplex_without_h2_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "h2.py").write_text("raise ImportError('hidden by the test')\n")
    env = {**ENV, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ENV.get('PYTHONPATH', '')}"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "smruntime",
            "duplex",
            "asr",
            "--input",
            "-",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
        input=b"x",
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 1
    assert b"pip install 'smruntime[http2]'" in out.stderr
    assert b"Traceback" not in out.stderr


PROG = (sys.executable, "-m", "smruntime")


def test_duplex_jsonl_escapes_what_an_ascii_stdout_cannot_hold() -> None:
    with H2TestServer("events") as srv:
        out = subprocess.run(
            [
                *PROG,
                "duplex",
                "asr",
                "--input",
                "-",
                "--jsonl",
                "-q",
                *("--data-type", "UTF8"),
                *("--endpoint-url", srv.url),
            ],
            input="héllo €".encode(),
            capture_output=True,
            env={**ENV, "PYTHONIOENCODING": "ascii"},
            timeout=60,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        (line,) = out.stdout.decode("ascii").splitlines()
        assert json.loads(line)["PayloadPart"]["Bytes"] == "héllo €"


def test_duplex_sends_live_stdin_as_it_arrives() -> None:
    """A pipe that stays open (a microphone, a user typing): each part goes out when its bytes
    are read, and its answer prints while the input is still open."""
    import select

    with H2TestServer("events") as srv:
        proc = duplex_live(srv.url, "--data-type", "UTF8", "--jsonl", "-q")
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            proc.stdin.write(b"hello\n")  # far less than --part-size (8192)
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready, "the part was held until more input came"
            first = json.loads(proc.stdout.readline())
            assert first["PayloadPart"]["Bytes"] == "hello\n"
            assert first["PayloadPart"]["CompletionState"] == "PARTIAL"
            proc.stdin.write(b"bye\n")
            proc.stdin.close()
            rest = [json.loads(x) for x in proc.stdout.read().splitlines()]
            assert proc.wait(30) == 0, proc.stderr.read() if proc.stderr else b""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        got = b"".join(e["PayloadPart"]["Bytes"].encode() for e in [first, *rest])
        assert got == b"hello\nbye\n"
        assert rest[-1]["PayloadPart"]["CompletionState"] == "COMPLETE"


def test_duplex_interrupted_while_stdin_stays_open_exits_130_at_once() -> None:
    """Ctrl-C with the input still open (a user typing): exit 130, no 5 s wait for the part
    reader and no 'Fatal Python error' from a stdin reader thread at exit."""
    import select
    import signal

    with H2TestServer("events") as srv:
        proc = duplex_live(srv.url, "--part-size", "3", "-q")
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        try:
            proc.stdin.write(b"abc")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready
            assert proc.stdout.read(3) == b"abc"
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 130
            assert time.monotonic() - started < 3  # (it took 5 s and more, then aborted)
            assert b"Fatal" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                pipe.close()
