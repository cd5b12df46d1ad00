"""Mutation check: does the test suite notice when a protocol module's logic changes?

Each mutant changes one thing in one module (a comparison, an arithmetic or boolean operator, a
small integer or boolean constant, a ``not``), is written alone into a scratch copy of the
repository, and the module's tests run against it (``pytest -x -q``, with a per-mutant timeout).
A mutant the tests fail on (or time out on) is *killed*; one they pass on *survives*: either a
missing test or an equivalent mutant (no observable change, e.g. a cache bound off by one).
Known equivalent mutants are listed, each with its reason, in ``scripts/mutants-equivalent.txt``;
they are reported apart and left out of the kill rate.

Usage (standard library only; run with the project's venv so pytest is importable)::

    python scripts/mutate.py                        # every module of TARGETS
    python scripts/mutate.py --module eventstream/_decoder.py --module sigv4/_signer.py
    python scripts/mutate.py --list                 # the mutants, without running anything
    python scripts/mutate.py --sample 50 --seed 1   # a random sample (a quick look)

The exit status is 1 when a non-equivalent mutant survives.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, Optional

ROOT = Path(__file__).resolve().parents[1]
ALLOW_LIST = ROOT / "scripts" / "mutants-equivalent.txt"

_EVENTSTREAM_TESTS = (
    "tests/eventstream/test_eventstream_decoder.py",
    "tests/eventstream/test_eventstream_offsets.py",
    "tests/eventstream/test_eventstream_codec.py",
    "tests/eventstream/test_eventstream_vectors.py",
    "tests/eventstream/test_eventstream_describe.py",
    "tests/eventstream/test_eventstream_properties.py",
)
_ES_CODEC = "tests/eventstream/test_eventstream_codec.py"
_ES_DESCRIBE = "tests/eventstream/test_eventstream_describe.py"


def _first(path: str, tests: tuple[str, ...]) -> tuple[str, ...]:
    """``tests`` with ``path`` moved to the front (the file most likely to kill a mutant)."""
    return (path, *(t for t in tests if t != path))


_SIGV4_TESTS = (
    "tests/sigv4/test_signer_memo.py",
    "tests/sigv4/test_signer.py",
    "tests/sigv4/test_suite.py",
    "tests/sigv4/test_pitfalls.py",
    "tests/sigv4/test_signer_props.py",
)
_RECORDS_TESTS = (
    "tests/smruntime/test_records_locations.py",
    "tests/smruntime/test_records.py",
    "tests/smruntime/test_records_props.py",
)
_HTTP = "tests/smruntime/http/"
_HTTP_READER_TESTS = (
    f"{_HTTP}test_http_parser.py",
    f"{_HTTP}test_http_basic.py",
    f"{_HTTP}test_http_differential.py",
)
_HTTP_TESTS = (*_HTTP_READER_TESTS, f"{_HTTP}test_http_writer.py")
_HTTP_WRITER_TESTS = (f"{_HTTP}test_http_writer.py", *_HTTP_READER_TESTS)
_WEBSOCKET_TESTS = ("tests/smruntime/test_websocket.py",)


class Target(NamedTuple):
    module: str  # path from the repository root
    tests: tuple[str, ...]  # test files or folders, fastest and most specific first
    optional: bool = False  # skipped quietly while the module does not exist


# The modules checked and the tests that guard each. Add a row for a new protocol module.
TARGETS: tuple[Target, ...] = (
    Target("eventstream/_decoder.py", _EVENTSTREAM_TESTS),
    Target("eventstream/_headers.py", _first(_ES_CODEC, _EVENTSTREAM_TESTS)),
    Target("eventstream/_message.py", _first(_ES_CODEC, _EVENTSTREAM_TESTS)),
    Target("eventstream/_encoder.py", _first(_ES_CODEC, _EVENTSTREAM_TESTS)),
    Target("eventstream/_describe.py", _first(_ES_DESCRIBE, _EVENTSTREAM_TESTS)),
    Target("sigv4/_canonical.py", _SIGV4_TESTS),
    Target("sigv4/_signer.py", _SIGV4_TESTS),
    Target("smruntime/records.py", _RECORDS_TESTS),
    Target("smruntime/http/_parser.py", _HTTP_READER_TESTS, optional=True),
    Target("smruntime/http/_connection.py", _HTTP_TESTS, optional=True),
    Target("smruntime/http/_writer.py", _HTTP_WRITER_TESTS, optional=True),
    Target("smruntime/emulator/_websocket.py", _WEBSOCKET_TESTS),
)

# What the scratch copy needs to import the packages and run their tests.
_COPIED = ("eventstream", "sigv4", "smruntime", "tests", "pyproject.toml")

_CMP_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BIN_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.BitXor: ast.BitOr,
}


class Mutant(NamedTuple):
    module: str
    line: int
    start: tuple[int, int]  # (line, col) of the replaced source segment
    end: tuple[int, int]
    original: str
    replacement: str
    context: str  # the source line the mutant starts on, stripped

    @property
    def description(self) -> str:
        return f"{self.original}  =>  {self.replacement}"

    @property
    def key(self) -> tuple[str, str, str]:
        """What the allow-list names a mutant by: stable across edits elsewhere in the file."""
        return self.module, self.context, self.description


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside annotations and docstrings (never executed: no mutants there)."""
    skip: set[int] = set()

    def mark(node: Optional[ast.AST]) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
            for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                mark(arg.annotation)
            mark(node.args.vararg.annotation if node.args.vararg else None)
            mark(node.args.kwarg.annotation if node.args.kwarg else None)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        elif isinstance(node, ast.JoinedStr):
            # Error-message text: changing it is not a logic change. Expressions inside stay.
            skip.update(id(v) for v in node.values if isinstance(v, ast.Constant))
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            mark(node)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                mark(body[0])
    return skip


def _variants(node: ast.AST) -> Iterator[ast.AST]:
    """Each single change of ``node`` (a fresh node each time)."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            swap = _CMP_SWAPS.get(type(op))
            if swap is not None:
                ops = list(node.ops)
                ops[i] = swap()
                yield ast.Compare(left=node.left, ops=ops, comparators=node.comparators)
    elif isinstance(node, ast.BinOp):
        swap_bin = _BIN_SWAPS.get(type(node.op))
        if swap_bin is not None:
            yield ast.BinOp(left=node.left, op=swap_bin(), right=node.right)
    elif isinstance(node, ast.AugAssign):
        swap_bin = _BIN_SWAPS.get(type(node.op))
        if swap_bin is not None:
            yield ast.AugAssign(target=node.target, op=swap_bin(), value=node.value)
    elif isinstance(node, ast.BoolOp):
        yield ast.BoolOp(
            op=ast.Or() if isinstance(node.op, ast.And) else ast.And(), values=node.values
        )
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield node.operand
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield ast.Constant(value=not value)
        elif isinstance(value, int):
            yield ast.Constant(value={0: 1, 1: 0}.get(value, value + 1))


def _offset(lines: list[str], line: int, col: int) -> int:
    """Character offset in the file of (1-based line, UTF-8 byte column), as ast reports them."""
    before = sum(len(text) for text in lines[: line - 1])
    return before + len(lines[line - 1].encode("utf-8")[:col].decode("utf-8"))


def mutants_of(module: str, root: Path = ROOT) -> list[Mutant]:
    """Every mutant of ``module`` (a path from ``root``), in source order."""
    source = (root / module).read_text(encoding="utf-8")
    tree = ast.parse(source)
    skip = _annotation_nodes(tree)
    lines = source.splitlines(keepends=True)
    found: list[Mutant] = []
    for node in ast.walk(tree):
        if id(node) in skip or not hasattr(node, "end_lineno"):
            continue
        for variant in _variants(node):
            start = (node.lineno, node.col_offset)
            end = (node.end_lineno, node.end_col_offset)
            a, b = _offset(lines, *start), _offset(lines, *end)  # type: ignore[arg-type]
            original = " ".join(source[a:b].split())
            replacement = ast.unparse(variant)
            if isinstance(node, ast.AugAssign):
                replacement = replacement.strip()
            context = " ".join(lines[node.lineno - 1].split())
            found.append(
                Mutant(module, node.lineno, start, end, original, replacement, context)  # type: ignore[arg-type]
            )
    found.sort(key=lambda m: (m.start, m.replacement))
    return found


def apply(mutant: Mutant, source: str) -> str:
    """``source`` with the mutant's segment replaced (wrapped in parentheses when it is an
    expression, so the replacement binds as the original did)."""
    lines = source.splitlines(keepends=True)
    a, b = _offset(lines, *mutant.start), _offset(lines, *mutant.end)
    text = mutant.replacement
    if not text.startswith(("(", "[")) and not _is_statement(source[a:b]):
        text = f"({text})"
    mutated = source[:a] + text + source[b:]
    ast.parse(mutated)  # a mutant must stay valid Python
    return mutated


def _is_statement(segment: str) -> bool:
    try:
        return isinstance(ast.parse(segment.strip()).body[0], ast.AugAssign)
    except SyntaxError:
        return False


def load_allow_list(path: Path = ALLOW_LIST) -> dict[tuple[str, str, str], str]:
    """Mutant keys -> reasons, from lines ``module | source line | original => mutant | reason``."""
    allowed: dict[tuple[str, str, str], str] = {}
    if not path.exists():
        return allowed
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(" | ")]
        if len(parts) < 4 or "=>" not in parts[-2] or not parts[-1]:
            raise SystemExit(
                f"{path}:{n}: expected 'module | source line | original => mutant | reason'"
            )
        module, context = parts[0], " | ".join(parts[1:-2])  # the source line may hold " | "
        original, _, replacement = parts[-2].partition("=>")
        description = f"{' '.join(original.split())}  =>  {' '.join(replacement.split())}"
        allowed[module, " ".join(context.split()), description] = parts[-1]
    return allowed


# The project's own packages: never imported by a worker, so each forked run imports the copy's
# (possibly mutated) files afresh.
_OURS = ("eventstream", "sigv4", "smruntime", "tests")
# Third-party modules the tests import: a worker imports them once, before forking.
_WARM = ("hypothesis", "hypothesis.strategies", "crcmod", "h11", "botocore.auth")
_PYTEST_ARGS = ("-o", "addopts=", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist")
# the plugins were imported before pytest.main (by the warm-up): nothing to rewrite in them
_PYTEST_ARGS += ("-W", "ignore::pytest.PytestAssertRewriteWarning")


def _worker() -> None:  # pragma: no cover - runs in the worker process
    """The loop of a worker (``mutate.py --worker``, started in a scratch copy): it imports pytest,
    its plugins and the tests' third-party modules once, then for each request forks a child that
    runs pytest on one path and exits. A run then costs a fork, not an interpreter start-up and
    every import again (seconds per mutant on a loaded machine)."""
    import importlib

    import pytest
    from _pytest.config import default_plugins

    for name in default_plugins:
        try:
            importlib.import_module(f"_pytest.{name}")
        except ImportError:
            pass
    from importlib.metadata import entry_points

    try:
        plugins = [e.value for e in entry_points(group="pytest11")]  # type: ignore[call-arg]
    except TypeError:  # Python 3.9: a dict of groups
        plugins = [e.value for e in entry_points().get("pytest11", [])]  # type: ignore[attr-defined]
    for name in [*plugins, *_WARM]:
        try:
            importlib.import_module(name.partition(":")[0])
        except Exception:  # noqa: BLE001 - a warm-up only: the child imports what it needs
            pass
    for name in list(sys.modules):
        if name.partition(".")[0] in _OURS:
            del sys.modules[name]  # a plugin pulled one in: the children must import the copy's
    out = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        began = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.setpgid(0, 0)  # its own group: a timeout kills whatever the tests started too
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            try:
                if "trace" in request:
                    code = _traced_run(pytest, request["args"], *request["trace"])
                else:
                    code = int(pytest.main([*_PYTEST_ARGS, *request["args"]]))
            except BaseException:  # noqa: BLE001 - whatever a mutant breaks, it is a failure
                code = 1
            os._exit(code)
        deadline = began + request["timeout"]
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)  # a signal: negative, a failure
                break
            if time.monotonic() > deadline:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
                code = None
                break
            time.sleep(0.005)
        out.write(json.dumps({"code": code}) + "\n")
        out.flush()


def _traced_run(pytest: Any, args: list[str], module: str, out: str) -> int:  # pragma: no cover
    """Run the tests ``args`` (no ``-x``), recording which lines of ``module`` (a file) each test
    executes, and the lines run outside any test (at import: module-level code); write them to
    ``out`` as JSON. A mutant then runs only the tests that reach its lines."""
    import threading

    target = os.path.realpath(module)
    seen: dict[str, bool] = {}
    current: list[Optional[set[int]]] = [None]
    at_import: set[int] = set()
    per_test: dict[str, set[int]] = {}

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            lines = current[0]
            (at_import if lines is None else lines).add(frame.f_lineno)
        return local

    def trace(frame: Any, event: str, arg: Any) -> Any:
        name = frame.f_code.co_filename
        mine = seen.get(name)
        if mine is None:
            mine = seen[name] = os.path.realpath(name) == target
        if not mine:
            return None
        lines = current[0]
        (at_import if lines is None else lines).add(frame.f_lineno)
        return local

    class Recorder:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> Any:
            current[0] = per_test.setdefault(item.nodeid, set())
            yield
            current[0] = None

    threading.settrace(trace)
    sys.settrace(trace)
    code = int(pytest.main([*_PYTEST_ARGS[:2], *_PYTEST_ARGS[3:], *args], plugins=[Recorder()]))
    sys.settrace(None)
    found = {"import": sorted(at_import), "tests": {k: sorted(v) for k, v in per_test.items()}}
    Path(out).write_text(json.dumps(found), encoding="utf-8")
    return code


def _trace_file(prefix: str, path: str) -> str:
    return f"{prefix}.{path.replace('/', '_')}.json"


class Coverage(NamedTuple):
    """Which tests reach which lines of a module, from one traced clean run."""

    at_import: frozenset[int]  # lines run outside any test (module level, class bodies, defaults)
    tests: dict[str, tuple[str, frozenset[int]]]  # test id -> (its path in Target.tests, lines)

    def select(self, mutant: Mutant) -> Optional[dict[str, list[str]]]:
        """The test ids to run per path for ``mutant``, or ``None`` for every test (its lines
        run at import, or no test reaches them: only a full run can tell)."""
        lines = set(range(mutant.start[0], mutant.end[0] + 1))
        if lines & self.at_import:
            return None
        only: dict[str, list[str]] = {}
        for test, (path, reached) in self.tests.items():
            if lines & reached:
                only.setdefault(path, []).append(test)
        return only or None


def _coverage(scratch: Scratch, target: Target) -> tuple[str, float, Optional[Coverage]]:
    """The clean run of ``target``'s tests, traced: its status and time, and the coverage."""
    prefix = str(scratch.dir / ".mutate-trace")
    status, seconds = scratch.run(target.tests, timeout=1800, trace=(target.module, prefix))
    at_import: set[int] = set()
    tests: dict[str, tuple[str, frozenset[int]]] = {}
    for path in target.tests:
        file = Path(_trace_file(prefix, path))
        if not file.exists():
            continue
        found = json.loads(file.read_text(encoding="utf-8"))
        file.unlink()
        at_import.update(found["import"])
        for test, lines in found["tests"].items():
            tests[test] = (path, frozenset(lines))
    if status != "passed" or not tests:
        return status, seconds, None
    return status, seconds, Coverage(frozenset(at_import), tests)


class Scratch:
    """A copy of the repository that mutants are written into, one at a time, and the worker
    process that runs the tests there."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="smruntime-mutate-"))
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
        for name in _COPIED:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, self.dir / name, ignore=ignore)
            elif src.exists():
                shutil.copy2(src, self.dir / name)
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.dir)
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant must never run from a stale .pyc
        # derandomised, fewer examples (tests/conftest.py): the same, shorter run each time
        env.setdefault("HYPOTHESIS_PROFILE", "mutate")
        self.worker = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            cwd=self.dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(
        self,
        tests: tuple[str, ...],
        timeout: float,
        only: Optional[dict[str, list[str]]] = None,
        trace: Optional[tuple[str, str]] = None,
    ) -> tuple[str, float]:
        """Run ``tests`` in the copy, one pytest per path in order, stopping at the first
        failure: ``("passed"|"failed"|"timeout", seconds)``. Most mutants fail in the first,
        fastest file, so they never pay for collecting the slow ones. ``only`` maps a path to
        the test ids to run in it (a path it lacks is skipped); ``trace`` = (module, output
        file) records which tests reach which lines of the module (see ``_traced_run``)."""
        began = time.monotonic()
        assert self.worker.stdin is not None
        assert self.worker.stdout is not None
        for path in [t for t in tests if (self.dir / t).exists()]:
            args = [path]
            if only is not None:
                if not only.get(path):
                    continue
                args = only[path]
            left = max(timeout - (time.monotonic() - began), 1.0)
            request: dict[str, Any] = {"args": args, "timeout": left}
            if trace is not None:
                request["trace"] = [str(self.dir / trace[0]), _trace_file(trace[1], path)]
            self.worker.stdin.write(json.dumps(request) + "\n")
            self.worker.stdin.flush()
            reply = self.worker.stdout.readline()
            if not reply:
                raise SystemExit(f"the worker in {self.dir} died")
            code = json.loads(reply)["code"]
            if code is None:
                return "timeout", time.monotonic() - began
            if code == 4:  # pytest's usage error: a broken setup, not a kill
                raise SystemExit(f"pytest could not run {' '.join(args)[:200]} in {self.dir}")
            if code not in (0, 5):  # 5: no tests collected (an empty folder)
                return "failed", time.monotonic() - began
        return "passed", time.monotonic() - began

    def close(self) -> None:
        if self.worker.poll() is None:
            self.worker.kill()
            self.worker.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--module", action="append", help="a module of TARGETS (path); repeatable; default all"
    )
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("--sample", type=int, help="run only N mutants per module, at random")
    parser.add_argument("--seed", type=int, default=0, help="seed for --sample")
    parser.add_argument(
        "--lines", help="only the mutants starting on these lines (e.g. 230,240: a re-check)"
    )
    parser.add_argument(
        "--timeout", type=float, help="seconds per mutant (default: 3x the clean run + 10 s)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument(
        "--results",
        type=Path,
        help="a file of outcomes (JSON lines), appended to as mutants finish; a later run with "
        "the same file skips the mutants already killed while the module is unchanged, so an "
        "interrupted run resumes (survivors are always run again: the tests may have grown)",
    )
    parser.add_argument(
        "--no-select",
        dest="select",
        action="store_false",
        help="run every test of the module for each mutant (default: a traced clean run first, "
        "then each mutant runs only the tests that reach its lines, and a survivor all of them)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker()
        return 0

    targets = [t for t in TARGETS if (ROOT / t.module).exists() or not t.optional]
    if args.module:
        chosen = {os.path.normpath(m) for m in args.module}
        unknown = chosen - {t.module for t in TARGETS}
        if unknown:
            parser.error(f"not in TARGETS: {', '.join(sorted(unknown))}")
        targets = [t for t in targets if t.module in chosen]
    allowed = load_allow_list()

    if args.list:
        for target in targets:
            for m in mutants_of(target.module):
                tag = "  [equivalent]" if m.key in allowed else ""
                print(f"{m.module}:{m.line}: {m.description}{tag}    [in: {m.context}]")
        return 0

    # A SIGTERM ends the run like Ctrl-C: the scratch copies are removed on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scratches = [Scratch() for _ in range(max(1, args.jobs))]
    survivors_total = 0
    try:
        for target in targets:
            survivors_total += _check(target, scratches, allowed, args)
    finally:
        for scratch in scratches:
            scratch.close()
    return 1 if survivors_total else 0


def _result_key(mutant: Mutant) -> str:
    return f"{mutant.start} {mutant.end} {mutant.replacement}"


def _load_results(path: Optional[Path], module: str, digest: str) -> dict[str, str]:
    """The kills recorded in ``path`` for this version of ``module``: result key -> status."""
    found: dict[str, str] = {}
    if path is None or not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a line cut by an interruption
            continue
        mine = row.get("module") == module and row.get("sha") == digest
        if mine and row.get("status") in ("failed", "timeout"):
            found[row["key"]] = row["status"]
    return found


def _save_result(path: Path, mutant: Mutant, digest: str, status: str) -> None:
    row = {"module": mutant.module, "sha": digest, "key": _result_key(mutant)}
    row.update(line=mutant.line, change=mutant.description, status=status)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def _check(
    target: Target,
    scratches: list[Scratch],
    allowed: dict[tuple[str, str, str], str],
    args: argparse.Namespace,
) -> int:
    """Run every mutant of one target; print the survivors and the tally; return survivors."""
    first = scratches[0]
    mutants = mutants_of(target.module, first.dir)  # the copy: the worktree may change meanwhile
    if args.lines:
        wanted = {int(n) for n in args.lines.split(",")}
        mutants = [m for m in mutants if m.line in wanted]
    if args.sample is not None and args.sample < len(mutants):
        mutants = sorted(random.Random(args.seed).sample(mutants, args.sample))
    original = (first.dir / target.module).read_text(encoding="utf-8")
    digest = hashlib.sha256(original.encode("utf-8")).hexdigest()[:16]
    known = _load_results(args.results, target.module, digest)
    cover: Optional[Coverage] = None
    if args.select:
        status, clean, cover = _coverage(first, target)
    if cover is None:
        status, clean = first.run(target.tests, timeout=600)
    if status != "passed":
        print(f"{target.module}: the tests fail without any mutant: fix them first", flush=True)
        return 1
    timeout = args.timeout or clean * 3 + 10
    print(
        f"{target.module}: {len(mutants)} mutants, {len(scratches)} job(s), "
        f"clean run {clean:.1f} s, timeout {timeout:.0f} s",
        flush=True,
    )
    free: queue.Queue[Scratch] = queue.Queue()
    for scratch in scratches:
        free.put(scratch)

    def trial(mutant: Mutant) -> str:
        done = known.get(_result_key(mutant))
        if done is not None:
            return done
        scratch = free.get()
        path = scratch.dir / target.module
        try:
            path.write_text(apply(mutant, original), encoding="utf-8")
            only = cover.select(mutant) if cover is not None else None
            status = scratch.run(target.tests, timeout, only=only)[0]
            if status == "passed" and only is not None:  # a survivor faces every test
                status = scratch.run(target.tests, timeout)[0]
            return status
        finally:
            path.write_text(original, encoding="utf-8")
            free.put(scratch)

    tally = {"killed": 0, "timeout": 0, "survived": 0, "equivalent": 0, "equivalent-killed": 0}
    passed_keys: set[tuple[str, str, str]] = set()
    killed_keys: dict[tuple[str, str, str], str] = {}
    with ThreadPoolExecutor(max_workers=len(scratches)) as pool:
        for n, (mutant, status) in enumerate(zip(mutants, pool.map(trial, mutants)), 1):
            if args.results is not None and _result_key(mutant) not in known:
                _save_result(args.results, mutant, digest, status)
            equivalent = mutant.key in allowed
            where = f"{mutant.module}:{mutant.line}"
            if status == "passed" and equivalent:
                tally["equivalent"] += 1
                passed_keys.add(mutant.key)
            elif status == "passed":
                tally["survived"] += 1
                print(
                    f"  SURVIVED {where}: {mutant.description}    [in: {mutant.context}]",
                    flush=True,
                )
            elif equivalent:
                # One key may name several mutants (the same change twice on a line): the entry
                # is stale only if none of them survives.
                tally["equivalent-killed"] += 1
                killed_keys.setdefault(mutant.key, where)
            else:
                tally["killed" if status == "failed" else "timeout"] += 1
            if n % 25 == 0:
                print(f"  ... {n}/{len(mutants)}", flush=True)
    for key, where in killed_keys.items():
        if key not in passed_keys:
            print(f"  allow-listed but killed (drop it from the list) {where}", flush=True)
    killed = tally["killed"] + tally["timeout"] + tally["equivalent-killed"]
    scored = killed + tally["survived"]
    rate = 100.0 * killed / scored if scored else 100.0
    print(
        f"{target.module}: {len(mutants)} mutants; "
        f"{killed}/{scored} non-equivalent mutants killed ({rate:.1f} %; "
        f"{tally['timeout']} by timeout), {tally['survived']} survived, "
        f"{tally['equivalent']} equivalent (allow-listed)",
        flush=True,
    )
    return tally["survived"]


if __name__ == "__main__":
    sys.exit(main())
