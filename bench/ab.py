"""An A/B of two builds of the proxy: rounds interleaved, one load at a time.

    python bench/ab.py --a-rev b0301eb              # A: that commit; B: this checkout
    python bench/ab.py --a-rev HEAD --rounds 6 --concurrency 1,128

Each build runs from its own tree (the A revision checked out in a temporary
git worktree) as ``python -m anthroproxy`` against one fake upstream. For each
concurrency, every round drives both builds with the same load, in the order
A B, then B A in the next round, so drift on the machine hits both alike. It
prints the CPU each spent per relayed chunk and per request (its whole process
tree, from /proc) and the time to first event, per round and as medians.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from run import SHAPE, cpu_seconds, drive, free_port, percentile, start_upstream, stop, wait_for_port

HERE = Path(__file__).parent
ROOT = HERE.parent
COMMAND = "{python} -m anthroproxy --port {port} --target-url {upstream} --log-level INFO"


def start_build(tree: Path, upstream: str) -> tuple[subprocess.Popen, int]:
    """The proxy from ``tree`` (``python -m`` puts the working directory first on the path)."""
    port = free_port()
    argv = shlex.split(COMMAND.format(python=shlex.quote(sys.executable), port=port, upstream=upstream))
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(argv, cwd=tree, stdout=log, stderr=log, start_new_session=True)
    wait_for_port(port, process)
    return process, port


def measure(pid: int, port: int, concurrency: int, requests: int, shape: str) -> dict:
    before = cpu_seconds(pid)
    run = drive(f"http://127.0.0.1:{port}", "anthropic", concurrency, requests, shape)
    if run["error_count"]:
        raise RuntimeError(f"errors in a round: {run['errors'][:3]}")
    cpu = cpu_seconds(pid) - before
    return {"cpu_us_per_chunk": cpu / run["events"] * 1e6, "cpu_ms_per_request": cpu / run["requests"] * 1e3,
            "ttft_p50_ms": percentile(run["ttft"], 0.5) * 1000, "ttft_p99_ms": percentile(run["ttft"], 0.99) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a-rev", required=True, help="the git revision to compare this checkout with")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", default="1,32,128", help="comma-separated levels")
    parser.add_argument("--requests", type=int, help="streams a round (default: twice the concurrency, at least 6)")
    parser.add_argument("--shape", default=SHAPE, help="the answers (bench/upstream.py's shape); "
                        "chunks=2;bytes=16;delay=0 weighs the per-request work")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        tree_a = Path(scratch) / "a"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree_a), args.a_rev], check=True,
                       capture_output=True)
        upstream_process, upstream = start_upstream()
        builds = {}
        try:
            builds = {"A": start_build(tree_a, upstream), "B": start_build(ROOT, upstream)}
            for process, port in builds.values():
                drive(f"http://127.0.0.1:{port}", "anthropic", 16, 64)  # warm-up: imports, pools, caches
            for concurrency in levels:
                requests = args.requests or max(6, 2 * concurrency)
                results: dict[str, list[dict]] = {"A": [], "B": []}
                for round_ in range(args.rounds):
                    for name in ("A", "B") if round_ % 2 == 0 else ("B", "A"):
                        process, port = builds[name]
                        results[name].append(measure(process.pid, port, concurrency, requests, args.shape))
                print(f"C={concurrency} ({requests} streams a round, {args.rounds} rounds)")
                for name in ("A", "B"):
                    label = args.a_rev if name == "A" else "this checkout"
                    print(f"  {name} ({label}):", "; ".join(
                        f"{what} median {statistics.median(values):.2f} [{', '.join(f'{v:.1f}' for v in values)}]"
                        for what, values in (
                            ("CPU us/chunk", [r["cpu_us_per_chunk"] for r in results[name]]),
                            ("CPU ms/request", [r["cpu_ms_per_request"] for r in results[name]]),
                            ("TTFT p50 ms", [r["ttft_p50_ms"] for r in results[name]]),
                            ("TTFT p99 ms", [r["ttft_p99_ms"] for r in results[name]]))), flush=True)
        finally:
            for process, _ in builds.values():
                stop(process)
            stop(upstream_process)
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree_a)], check=False,
                           capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
