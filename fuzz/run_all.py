"""Run every fuzz target (``fuzz/fuzz_*.py``) for a share of ``--seconds`` in total.

Each target runs in its own subprocess with ``-max_total_time``, on a temporary writable copy
of its seed corpus (``fuzz/corpus/<target>/``) so the repository is never modified; crash
artifacts go to a temporary directory that is kept (and printed) if anything fails.
Exit status: 0 if every target ran clean (or atheris is not installed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def targets() -> list[Path]:
    """Every fuzz target next to this script."""
    return sorted(HERE.glob("fuzz_*.py"))


def run_target(target: Path, seconds: int, workdir: Path, extra: list[str]) -> int:
    """Fuzz one target for ``seconds``; return its exit status."""
    corpus = workdir / "corpus" / target.stem
    seeds = HERE / "corpus" / target.stem
    if seeds.is_dir():
        shutil.copytree(seeds, corpus)
    else:
        corpus.mkdir(parents=True)
    artifacts = workdir / "artifacts" / target.stem
    artifacts.mkdir(parents=True)
    cmd = [
        sys.executable,
        str(target),
        str(corpus),
        f"-max_total_time={seconds}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
        *extra,
    ]
    print(f"== {target.name}: {seconds}s", flush=True)
    return subprocess.run(cmd, cwd=workdir, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run every target; return the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="total fuzzing time (default 60)")
    parser.add_argument("--only", action="append", default=[], help="run only this target name")
    parser.add_argument("extra", nargs="*", help="extra libFuzzer flags, after --")
    args = parser.parse_args(argv)

    if importlib.util.find_spec("atheris") is None:
        print("atheris is not installed (pip install 'smruntime[fuzz]'): skipping fuzzing")
        return 0
    found = [t for t in targets() if not args.only or t.stem in args.only or t.name in args.only]
    if not found:
        print("no fuzz targets found")
        return 1
    share = max(1, args.seconds // len(found))
    workdir = Path(tempfile.mkdtemp(prefix="smruntime-fuzz-"))
    failed = []
    for target in found:
        code = run_target(target, share, workdir, args.extra)
        if code != 0:
            failed.append((target.name, code))
    if failed:
        for name, code in failed:
            print(f"FAILED {name} (exit {code})")
        print(f"crash artifacts kept in {workdir / 'artifacts'}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"all {len(found)} fuzz target(s) ran clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
