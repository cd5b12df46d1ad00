"""Run every benchmark and print the README's "Footprint and speed" tables, dated, with the machine.

Usage: python bench/report.py [--quick] [--skip-footprint] [--only NAME]

Every ``bench/bench_*.py`` runs in its own process, in name order (a new benchmark file is picked
up by the glob; one that calls ``_rows.readme_row(...)`` adds rows to the speed table, one that
calls ``_rows.readme_table(...)`` adds a table of its own, and its printed output is shown
either way). The footprint is measured from a wheel built from this
checkout (``pip wheel --no-deps``): its size, its unpacked size, and a Lambda-layer-like folder
(``pip install --target DIR/python``) with only smruntime, with smruntime and ``requests``, and
with boto3, each without bytecode (``--no-compile``) and with it (``compileall`` by this
interpreter), and zipped. Sizes are sums of file sizes (what Lambda counts), in decimal units.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _machine import speed as machine_speed  # noqa: E402

ROWS_ENV = "SMRUNTIME_BENCH_ROWS"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def load() -> str:
    try:
        return "load average {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    except (AttributeError, OSError):
        return "load average unknown"


def benches(only: list[str] | None) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if only:
        found = [p for p in found if p.stem in only or p.name in only]
    return found


def run_bench(path: Path, quick: bool, rows_file: Path) -> tuple[int, float]:
    """Run one benchmark, its output passed through; (exit status, wall seconds)."""
    args = [sys.executable, str(path)]
    if quick and "--quick" in path.read_text(encoding="utf-8"):
        args.append("--quick")
    env = dict(os.environ, **{ROWS_ENV: str(rows_file)})
    print(f"\n==> {path.name}{' --quick' if len(args) > 2 else ''}", flush=True)
    start = time.perf_counter()
    status = subprocess.run(args, cwd=ROOT, env=env, check=False).returncode
    return status, time.perf_counter() - start


# -- footprint ------------------------------------------------------------------------------


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def zipped_size(path: Path, scratch: Path) -> int:
    archive = shutil.make_archive(
        str(scratch / path.name), "zip", root_dir=path.parent, base_dir=path.name
    )
    size = os.path.getsize(archive)
    os.remove(archive)
    return size


def pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check", *args],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def layer(scratch: Path, name: str, *requirements: str) -> tuple[int, int, int]:
    """(bytes without bytecode, with bytecode, zipped with bytecode) of a layer folder."""
    folder = scratch / name / "python"
    pip("install", "--no-compile", "--target", str(folder), *requirements)
    shutil.rmtree(folder / "bin", ignore_errors=True)  # console scripts: not part of a layer
    plain = tree_size(folder)
    compileall.compile_dir(str(folder), quiet=2)
    compiled = tree_size(folder)
    return plain, compiled, zipped_size(folder.parent, scratch)


def fmt_size(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.0f} KB"


def footprint() -> list[tuple[str, str, str, str]]:
    """Rows (what, without bytecode, with bytecode, zipped)."""
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="smruntime-footprint-") as tmp:
        scratch = Path(tmp)
        pip("wheel", "--no-deps", "--wheel-dir", str(scratch / "dist"), str(ROOT))
        (wheel,) = (scratch / "dist").glob("smruntime-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
        rows.append(
            (
                "wheel (emulator and CLI included)",
                fmt_size(unpacked),
                "",
                fmt_size(wheel.stat().st_size),
            )
        )
        layers = [
            ("layer: smruntime only (stdlib transport)", ("--no-deps", str(wheel))),
            ("layer: smruntime + requests", (str(wheel), "requests")),
            ("layer: boto3 (boto3, botocore, s3transfer, ...)", ("boto3",)),
        ]
        for label, requirements in layers:
            try:
                plain, compiled, zipped = layer(
                    scratch, label.split(":")[1].split()[0], *requirements
                )
            except subprocess.CalledProcessError as exc:
                rows.append((label, f"pip failed ({exc.returncode})", "", ""))
                continue
            rows.append((label, fmt_size(plain), fmt_size(compiled), fmt_size(zipped)))
    return rows


# -- output ---------------------------------------------------------------------------------


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to benches taking it")
    parser.add_argument("--skip-footprint", action="store_true", help="no wheel, no layers")
    parser.add_argument(
        "--only", action="append", help="a bench by name (bench_client); repeatable"
    )
    args = parser.parse_args(argv)

    started = dt.datetime.now(dt.timezone.utc)
    load_before = load()
    speed_before = machine_speed()
    failures: list[str] = []
    speed: list[tuple[str, ...]] = []
    tables: list[tuple[str, tuple[str, ...], list[tuple[str, ...]]]] = []
    with tempfile.TemporaryDirectory(prefix="smruntime-bench-") as tmp:
        rows_file = Path(tmp) / "rows.jsonl"
        for path in benches(args.only):
            status, seconds = run_bench(path, args.quick, rows_file)
            print(f"<== {path.name}: exit {status}, {seconds:.0f} s", flush=True)
            if status:
                failures.append(path.name)
        if rows_file.exists():
            for line in rows_file.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                if "table" in row:
                    cells = [tuple(r) for r in row["rows"]]
                    tables.append((row["table"], tuple(row["header"]), cells))
                else:
                    speed.append((row["what"], row["ours"], row["peer"], row["ratio"]))
    size_rows = [] if args.skip_footprint else footprint()

    print("\n" + "=" * 100)
    print(f"bench/report.py, {started:%Y-%m-%d %H:%M} UTC{' (--quick)' if args.quick else ''}")
    print(f"machine: {machine()}")
    print(f"{speed_before} (at the start)")
    print(f"{load_before} at the start, {load()} at the end")
    if size_rows:
        print("\nFootprint (sums of file sizes; bytecode by this Python; the folder zipped):\n")
        print(table(("what", "files", "with bytecode", "zipped"), size_rows))
    if speed:
        print("\nSpeed (ratios against the peer or floor measured in the same run):\n")
        print(table(("what", "smruntime", "boto3 / botocore / floor", "ratio"), speed))
    for title, header, cells in tables:
        print(f"\n{title}:\n")
        print(table(header, cells))
    if failures:
        print(f"\nbenchmarks that failed: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
