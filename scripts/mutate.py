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
import threading
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
    f"{_HTTP}test_http_whole_head.py",
    f"{_HTTP}test_http_take_rest.py",
)
_HTTP_TESTS = (*_HTTP_READER_TESTS, f"{_HTTP}test_http_writer.py")
_HTTP_WRITER_TESTS = (
    f"{_HTTP}test_http_writer.py",
    f"{_HTTP}test_http_writer_known.py",
    *_HTTP_READER_TESTS,
)
_WEBSOCKET_TESTS = ("tests/smruntime/test_websocket.py",)
_OPERATIONS_TESTS = (
    "tests/smruntime/test_fast_request.py",
    "tests/smruntime/test_operations.py",
    "tests/smruntime/test_error_parsing.py",
)
_H2_TESTS = (
    "tests/smruntime/test_h2_protocol.py",
    "tests/smruntime/test_h2_screening.py",
    "tests/smruntime/test_h2_driver.py",
)
_STREAM_TESTS = (
    "tests/smruntime/test_stream_core.py",
    "tests/smruntime/test_stream_cursor.py",
    "tests/smruntime/test_stream_paths.py",
    "tests/smruntime/test_client.py",
    "tests/smruntime/test_aio.py",
    # the stream over the wire: deadlines, a cut body, the Content-Type and Content-Encoding checks
    "tests/smruntime/test_wire_sync.py",
    "tests/smruntime/test_aio_wire.py",
)


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
    Target("smruntime/http/_h2.py", _H2_TESTS),
    Target("sigv4/_canonical.py", _SIGV4_TESTS),
    Target("sigv4/_signer.py", _SIGV4_TESTS),
    Target("sigv4/_events.py", ("tests/sigv4/test_event_signing.py",)),
    Target("smruntime/records.py", _RECORDS_TESTS),
    Target("smruntime/http/_parser.py", _HTTP_READER_TESTS, optional=True),
    Target("smruntime/http/_connection.py", _HTTP_TESTS, optional=True),
    Target("smruntime/http/_writer.py", _HTTP_WRITER_TESTS, optional=True),
    Target("smruntime/emulator/_websocket.py", _WEBSOCKET_TESTS),
    Target(
        "smruntime/emulator/_h2.py",
        ("tests/smruntime/test_emulator_h2.py", "tests/smruntime/test_bidi_emulator.py"),
    ),
    Target("smruntime/_stream_core.py", _STREAM_TESTS),
    Target("smruntime/_requests.py", _OPERATIONS_TESTS),
    Target("smruntime/_responses.py", _OPERATIONS_TESTS),
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


_STOP = threading.Event()  # set by SIGTERM or Ctrl-C: no further mutant starts


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


def _wait(pid: int, timeout: float) -> Optional[int]:
    """The exit code of child ``pid``, or ``None`` (and the child's group killed) on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)  # a signal: negative, a failure
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return None
        time.sleep(0.005)


def _fork(body: Any) -> int:
    """Fork a child in its own process group, output discarded, that exits with ``body()``."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.setpgid(0, 0)  # its own group: a timeout kills whatever the tests started too
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        try:
            code = int(body())
        except BaseException:  # noqa: BLE001 - whatever a mutant breaks, it is a failure
            if os.environ.get("MUTATE_DEBUG"):
                import traceback

                Path(os.environ["MUTATE_DEBUG"]).write_text(traceback.format_exc())
            code = 1
        os._exit(code)
    return pid


_UNPATCHED = 99  # a server's child could not swap the mutant's code in: run it afresh


def _codes(source: str, path: str) -> dict[str, Any]:
    """The code objects compiled from ``source``, by qualified name (the first of a name)."""
    import types

    found: dict[str, types.CodeType] = {}

    def walk(code: types.CodeType) -> None:
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found.setdefault(getattr(const, "co_qualname", const.co_name), const)
                walk(const)

    walk(compile(source, path, "exec"))
    return found


def _patch(module: Any, path: str, old: dict[str, Any], mutated: str) -> bool:
    """Swap the code of ``module``'s functions (compiled as ``old``) for their code compiled
    from ``mutated`` (the function objects stay: every reference to them sees the mutant).
    False unless every changed code object is a function's (or nested in one) and swapped."""
    import types

    new = _codes(mutated, path)

    def own(code: types.CodeType) -> tuple[Any, ...]:
        # what a code object does by itself: nested code by name only, line numbers left out
        consts = tuple(
            getattr(c, "co_qualname", c.co_name) if isinstance(c, types.CodeType) else (type(c), c)
            for c in code.co_consts
        )
        return (code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars)

    changed = {n for n, code in new.items() if n not in old or own(old[n]) != own(code)}
    if not changed:
        return False
    functions: list[types.FunctionType] = []
    seen: set[int] = set()

    def visit(obj: Any, depth: int = 0) -> None:
        if id(obj) in seen or depth > 4:
            return
        seen.add(id(obj))
        if isinstance(obj, (staticmethod, classmethod)):
            visit(obj.__func__, depth + 1)
        elif isinstance(obj, property):
            for f in (obj.fget, obj.fset, obj.fdel):
                visit(f, depth + 1)
        elif isinstance(obj, types.FunctionType):
            functions.append(obj)
            visit(getattr(obj, "__wrapped__", None), depth + 1)
        elif isinstance(obj, type) and obj.__module__ == module.__name__:
            for value in vars(obj).values():
                visit(value, depth + 1)
        elif hasattr(obj, "__wrapped__"):
            visit(obj.__wrapped__, depth + 1)

    for value in list(vars(module).values()):
        visit(value)
    covered: set[str] = set()
    for function in functions:
        code = function.__code__
        name = getattr(code, "co_qualname", code.co_name)
        if code.co_filename != path or name not in new:
            continue
        inner = {n for n in changed if n == name or n.startswith(f"{name}.")}
        if inner:
            try:
                function.__code__ = new[name]  # the whole function: nested code comes with it
            except ValueError:  # another closure shape: never count that as a kill
                return False
            covered |= inner
    # a changed class body, module-level lambda or generator ran at import: only a fresh
    # import shows that mutant
    return covered == changed


def _server(module_path: str, paths: list[str]) -> None:  # pragma: no cover - a worker process
    """``mutate.py --serve MODULE PATH...``: collect the tests once (importing the module), then
    serve requests on stdin, each in a forked child: ``trace`` (which tests reach which lines),
    ``run`` (the given test ids, stopping at the first failure, with a mutant's code swapped into
    the module's functions when ``patch`` holds its source). The child pays for neither start-up
    nor collection: a mutant costs the tests that reach it."""
    import functools
    import importlib

    import pytest
    from _pytest.runner import runtestprotocol

    target = os.path.realpath(module_path)
    name = module_path[: -len(".py")].replace("/", ".")
    # requests and replies on private copies of stdin and stdout (pytest captures both);
    # pytest's own output (fd 1) goes nowhere
    requests = os.fdopen(os.dup(0), "r")
    out = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)

    class Serve:
        @pytest.hookimpl(tryfirst=True)
        def pytest_runtestloop(self, session: Any) -> bool:
            items = list(session.items)
            by_id = {item.nodeid: item for item in items}
            module = importlib.import_module(name)
            path = os.path.abspath(module_path)
            old = _codes(Path(path).read_text(encoding="utf-8"), path)
            out.write(json.dumps({"ready": len(items)}) + "\n")
            out.flush()
            for line in requests:
                request = json.loads(line)
                if request["op"] == "trace":
                    body = functools.partial(_trace_items, items, target, request["out"])
                else:
                    chosen = [by_id[i] for i in request["ids"] if i in by_id]
                    patch = request.get("patch")
                    body = functools.partial(_run_items, chosen, module, path, old, patch)
                code = _wait(_fork(body), request["timeout"])
                out.write(json.dumps({"code": code}) + "\n")
                out.flush()
            return True

    def _trace_items(items: list[Any], target: str, out: str) -> int:
        seen: dict[str, bool] = {}
        current: list[Optional[set[int]]] = [None]
        per_test: dict[str, set[int]] = {}

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "line" and current[0] is not None:
                current[0].add(frame.f_lineno)
            return local

        def trace(frame: Any, event: str, arg: Any) -> Any:
            filename = frame.f_code.co_filename
            mine = seen.get(filename)
            if mine is None:
                mine = seen[filename] = os.path.realpath(filename) == target
            return local if mine else None

        threading.settrace(trace)
        sys.settrace(trace)
        failed = False
        for i, item in enumerate(items):
            current[0] = per_test.setdefault(item.nodeid, set())
            nextitem = items[i + 1] if i + 1 < len(items) else None
            reports = runtestprotocol(item, nextitem=nextitem, log=False)
            failed = failed or any(r.failed for r in reports)
            current[0] = None
        sys.settrace(None)
        found = {"tests": {k: sorted(v) for k, v in per_test.items()}}
        Path(out).write_text(json.dumps(found), encoding="utf-8")
        return 1 if failed else 0

    def _run_items(
        chosen: list[Any], module: Any, path: str, old: dict[str, Any], patch: Optional[str]
    ) -> int:
        if patch is not None and not _patch(module, path, old, patch):
            return _UNPATCHED
        for i, item in enumerate(chosen):
            nextitem = chosen[i + 1] if i + 1 < len(chosen) else None
            if any(r.failed for r in runtestprotocol(item, nextitem=nextitem, log=False)):
                return 1
        return 0

    code = pytest.main([*_PYTEST_ARGS, "-p", "no:randomly", *paths], plugins=[Serve()])
    if code not in (0, 5):
        out.write(json.dumps({"ready": None, "code": int(code)}) + "\n")
        out.flush()


class Coverage(NamedTuple):
    """Which tests reach which lines of a module, from one traced clean run."""

    tests: dict[str, frozenset[int]]  # test id -> lines reached, in the order the tests ran

    def select(self, mutant: Mutant) -> list[str]:
        """The ids of the tests that run any line of ``mutant``, in order."""
        lines = set(range(mutant.start[0], mutant.end[0] + 1))
        return [test for test, reached in self.tests.items() if lines & reached]


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
        self.server: Optional[subprocess.Popen[str]] = None
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.dir)
        # a mutant must never run from a stale .pyc (tests/conftest.py honours the second)
        env["PYTHONDONTWRITEBYTECODE"] = env["SMRUNTIME_TESTS_NO_BYTECODE"] = "1"
        # derandomised, fewer examples (tests/conftest.py): the same, shorter run each time
        env.setdefault("HYPOTHESIS_PROFILE", "mutate")
        self.env = env
        self.worker = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            cwd=self.dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def serve(self, target: Target) -> bool:
        """Start a server (``_server``) for ``target``; False if its tests would not collect."""
        self.stop_serving()
        paths = [t for t in target.tests if (self.dir / t).exists()]
        self.server = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", target.module, *paths],
            cwd=self.dir,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.server.stdout is not None
        line = self.server.stdout.readline()
        if not line or json.loads(line).get("ready") is None:
            self.stop_serving()
            return False
        return True

    def ask(self, request: dict[str, Any]) -> Optional[int]:
        """Send a request to the server; its child's exit code (``None``: timed out)."""
        assert self.server is not None
        assert self.server.stdin is not None
        assert self.server.stdout is not None
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        reply = self.server.stdout.readline()
        if not reply:
            raise SystemExit(f"the test server in {self.dir} died")
        code: Optional[int] = json.loads(reply)["code"]
        return code

    def coverage(self, target: Target) -> tuple[Optional[int], float, Optional[Coverage]]:
        """A traced clean run on the server: its exit code and time, and the coverage."""
        out = self.dir / ".mutate-trace.json"
        began = time.monotonic()
        code = self.ask({"op": "trace", "out": str(out), "timeout": 1800})
        seconds = time.monotonic() - began
        if code != 0 or not out.exists():
            return code, seconds, None
        found = json.loads(out.read_text(encoding="utf-8"))
        out.unlink()
        return code, seconds, Coverage({t: frozenset(v) for t, v in found["tests"].items()})

    def stop_serving(self) -> None:
        server, self.server = getattr(self, "server", None), None
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()

    def run(
        self,
        tests: tuple[str, ...],
        timeout: float,
        only: Optional[dict[str, list[str]]] = None,
        pristine: bool = False,
    ) -> tuple[str, float]:
        """Run ``tests`` in the copy, one pytest per path in order, stopping at the first
        failure: ``("passed"|"failed"|"timeout", seconds)``. Most mutants fail in the first,
        fastest file, so they never pay for collecting the slow ones. ``only`` maps a path to
        the test ids to run in it (a path it lacks is skipped). ``pristine``: the run without
        a mutant, where pytest's usage error (4) means a broken setup and stops the script;
        with a mutant, the clean run has proved the setup, so a 4 is the mutant breaking an
        import the tests' conftest makes: a kill."""
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
            self.worker.stdin.write(json.dumps(request) + "\n")
            self.worker.stdin.flush()
            reply = self.worker.stdout.readline()
            if not reply:
                raise SystemExit(f"the worker in {self.dir} died")
            code = json.loads(reply)["code"]
            if code is None:
                return "timeout", time.monotonic() - began
            if code == 4 and pristine:  # pytest's usage error: a broken setup, not a kill
                raise SystemExit(f"pytest could not run {' '.join(args)[:200]} in {self.dir}")
            if code not in (0, 5):  # 5: no tests collected (an empty folder)
                return "failed", time.monotonic() - began
        return "passed", time.monotonic() - began

    def close(self) -> None:
        self.stop_serving()
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
        help="run every test afresh for each mutant (default: the tests are collected once and a "
        "traced clean run maps them to the lines they reach; a mutant inside a function is "
        "swapped into the collected module and runs only the tests that reach it; import-time "
        "mutants and survivors then run every test afresh)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker()
        return 0
    if args.serve:
        _server(args.serve[0], args.serve[1:])
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

    # A SIGTERM ends the run like Ctrl-C: the mutants not yet started are skipped (the pool would
    # otherwise run them all before it exits) and the scratch copies are removed on the way out.
    def stop(*_: object) -> None:
        _STOP.set()
        sys.exit(143)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
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
    if args.select and all(scratch.serve(target) for scratch in scratches):
        code, clean, cover = first.coverage(target)
        status = "passed" if code == 0 else "failed"
    if cover is None:
        status, clean = first.run(target.tests, timeout=600, pristine=True)
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
        if _STOP.is_set():
            return "skipped"
        scratch = free.get()
        path = scratch.dir / target.module
        try:
            mutated = apply(mutant, original)
            path.write_text(mutated, encoding="utf-8")
            status = None
            ids = cover.select(mutant) if cover is not None else []
            if ids:  # on the server: only the tests that reach the mutant, its code swapped in
                request = {"op": "run", "ids": ids, "patch": mutated, "timeout": timeout}
                code = scratch.ask(request)
                if code is None:
                    status = "timeout"
                elif code not in (0, _UNPATCHED):
                    status = "failed"
            if status is None:  # afresh, every test: import-time code, or a survivor's last word
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
