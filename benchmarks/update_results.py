"""Run the benchmarks and rewrite benchmarks/RESULTS.md with their output.

Run:  python benchmarks/update_results.py [--only encoder lookup ...] [--list]

RESULTS.md has one section per benchmark under "Current" (the command, when it
ran, the machine's load, and its output verbatim) and a "History" below. Each
benchmark run here replaces its current section, whose previous text moves to
the top of the history; benchmarks not run keep theirs. The docs quote one
figure per claim from the current sections.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
# name -> (title, arguments of `python`, run from the repository root)
BENCHMARKS = {
    "encoder": ("Encoder throughput", ["benchmarks/bench_encoder.py"]),
    "build": ("Grid build throughput and error-bound cost",
              ["benchmarks/bench_grid_build.py", "--res", "5", "--dtypes", "float16", "--bound-cost"]),
    "lookup": ("Lookup speed", ["benchmarks/bench_lookup.py"]),
    "lookup-default": ("Lookup speed on the default grid (`satcle-grid build` with its defaults)",
                       ["benchmarks/bench_lookup.py", "--grid", "default"]),
    "index": ("Cell index size and bucket size", ["benchmarks/bench_index.py"]),
    "fidelity": ("Lookup fidelity and the error bound", ["benchmarks/fidelity_lookup.py", "--res", "4", "6"]),
    "open": ("Opening a grid", ["benchmarks/bench_open.py", "--res", "4"]),
    "open-default": ("Opening the default grid (`satcle-grid build` with its defaults: res 6, land, float16)",
                     ["benchmarks/bench_open.py", "--grid", "default"]),
    "embed-stream": ("Streaming bulk embedding (2M CSV points through a grid)", ["benchmarks/bench_embed_stream.py"]),
    "serve": ("Map server start (`satcle-grid serve`) against `open_grid` alone, a res-6 land grid "
              "(the default grid's size)", ["benchmarks/bench_serve.py", "--res", "6", "--repeats", "2"]),
    "serve-default": ("Map server start on the default grid (res 6, land, float16)",
                      ["benchmarks/bench_serve.py", "--grid", "default"]),
}
HEADER = """# Benchmark results

Written by `python benchmarks/update_results.py` (it runs the benchmarks below and
rewrites this file; `--only NAME` runs some of them). "Current" holds the latest run
of each benchmark, verbatim; "History" the earlier ones, newest first. The machine
is shared, so each run records the load average it started under; ratios printed
by a benchmark are measured side by side within one run.
"""
CURRENT = "## Current"
HISTORY = "## History"
# Names carry hyphens ("lookup-default"): a section whose name the pattern missed would be dropped on rewrite.
SECTION = re.compile(r"^<!-- benchmark: ([\w-]+) -->\n(.*?)^<!-- end -->\n", re.S | re.M)


def run(name: str) -> str:
    """Run benchmark `name`; its section of RESULTS.md (markers included)."""
    title, arguments = BENCHMARKS[name]
    command = "python " + " ".join(arguments)
    load = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"running {command}", file=sys.stderr)
    done = subprocess.run([sys.executable, *arguments], cwd=HERE.parent, capture_output=True, text=True)
    output = done.stdout.rstrip() + (f"\n(exit status {done.returncode}: {done.stderr.strip()[-2000:]})"
                                     if done.returncode else "")
    return (f"<!-- benchmark: {name} -->\n### {title}\n\n`{command}` ({started}, load average {load:.1f} "
            f"at the start)\n\n```\n{output}\n```\n<!-- end -->\n")


def rewrite(text: str, fresh: dict[str, str]) -> str:
    """`text` (RESULTS.md) with the sections in `fresh` replaced and their old text moved to the history."""
    current_part, _, history = text.partition(HISTORY)
    sections = {m.group(1): m.group(0) for m in SECTION.finditer(current_part)}
    moved = [sections[name] for name in fresh if name in sections]
    sections.update(fresh)
    ordered = [sections[name] for name in BENCHMARKS if name in sections]
    old_history = "".join(SECTION.sub(lambda m: m.group(2), section) + "\n" for section in moved)
    return (f"{HEADER}\n{CURRENT}\n\n" + "\n".join(ordered) + f"\n{HISTORY}\n\n" + old_history
            + history.lstrip("\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their commands, run nothing")
    args = parser.parse_args()
    if args.list:
        for name, (title, arguments) in BENCHMARKS.items():
            print(f"{name:>9}: {title}: python {' '.join(arguments)}")
        return
    fresh = {name: run(name) for name in (args.only or BENCHMARKS)}
    previous = RESULTS.read_text() if RESULTS.exists() else ""
    partial = RESULTS.with_suffix(".md.partial")   # a crash mid-write leaves RESULTS.md as it was
    partial.write_text(rewrite(previous, fresh))
    partial.replace(RESULTS)
    print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
