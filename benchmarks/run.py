"""``make bench``: run every ``benchmarks/bench_*.py`` and collect their results in ``benchmarks/RESULTS.md``.

Each module runs as ``python -m benchmarks.bench_X`` in its own process (it takes the heavy lock itself
for whole-population work) and writes ``benchmarks/results/X.md``; this script concatenates those files
under one machine line. A failing module is reported and the others still run; the exit code is non-zero
if any failed.

Run: ``.venv/bin/python -m benchmarks.run [NAME ...]`` (names without ``bench_``; default: all).
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.harness import ROOT, machine

BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"


def modules() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in BENCH.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or modules()
    failed = []
    for name in names:
        print(f"== bench_{name}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run([sys.executable, "-m", f"benchmarks.bench_{name}"], cwd=ROOT).returncode
        print(f"== bench_{name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc != 0:
            failed.append(name)
    parts = ["# Benchmark results", "", f"Machine: {machine()}", ""]
    for name in modules():
        md = RESULTS / f"{name}.md"
        if md.is_file():
            parts += [md.read_text(encoding="utf-8").rstrip(), ""]
        else:
            parts += [f"## {name}", "", "(no results yet: run `python -m benchmarks.run " + name + "`)", ""]
    if failed:
        parts += [f"Failed in the last run: {', '.join(failed)}", ""]
    (BENCH / "RESULTS.md").write_text("\n".join(parts), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
