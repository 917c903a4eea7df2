"""The benchmark: anthroproxy against a direct connection, measured in one run.

    python bench/run.py               # the full run, a few minutes on 2 cores
    python bench/run.py --quick       # a smaller sweep, for a first look
    python bench/run.py --compare "some-proxy --port {port} --upstream {upstream}"
    python bench/run.py --compare "{python} bench/ccr.py --port {port} --upstream {upstream}" \
        --compare-name claude-code-router      # the peer to beat
    python bench/run.py --upstream http://127.0.0.1:8000/v1 --model Qwen/Qwen3-8B   # your own server

Three processes on loopback: the fake upstream (bench/upstream.py), the proxy
(``python -m anthroproxy``) and the load driver (bench/driver.py). For each
concurrency the driver alternates direct and proxied runs (A B A B) with the
same load. The proxy's CPU time comes from /proc (user + system, its whole
process tree) and is divided by the content chunks it relayed. Results go to
bench/results/latest.json, a table on stdout, and a plot if matplotlib is
installed (the ``bench`` extra).

With ``--upstream URL --model M``, the same comparison runs in front of any
OpenAI-compatible server instead of the fake one, bounded (a real model takes
its time): direct against through the proxy, C=1 and C=4, A B A B, time to the
first content event, gaps, the proxy's CPU per chunk. The answers are the
model's own, so their length varies; nothing is counted as lost. Results go to
bench/results/upstream.json.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# A fast model's stream: 200 chunks of 16 bytes, 5 ms apart (200 tokens/s). At 128 streams that is
# 25,600 chunks a second: more than one core can relay, so the first events queue (issue 14's load).
SHAPE = "chunks=200;bytes=16;delay=0.005"
SWEEP = {1: 6, 8: 24, 32: 64, 128: 256}  # concurrency -> requests per run
QUICK_SWEEP = {1: 3, 32: 32, 128: 128}
HOLD_STREAMS = 1000
HOLD_SHAPE = "chunks=30;bytes=16;delay=0.5"
ANTHROPROXY = "{python} -m anthroproxy --port {port} --target-url {upstream} --log-level INFO"
# The same with two worker processes: requests/s and CPU per chunk at 1 vs 2 workers.
WORKERS = ANTHROPROXY + " --workers 2"
WORKERS_SWEEP = {32: 64, 128: 256}
# Reference relays under the same load. Byte pipes with no HTTP and no translation: what a recv and a
# send per chunk cost here. Then the simplest text-only relays on the proxy's own stack (relays.py).
_PORTS = " --port {port} --upstream-port {upstream_port}"
REFERENCES = {
    "trio byte pipe": ("{python} " + str(HERE / "floor.py") + " trio" + _PORTS, "openai"),
    "asyncio byte pipe": ("{python} " + str(HERE / "floor.py") + " asyncio" + _PORTS, "openai"),
    "h11 relay": ("{python} " + str(HERE / "relays.py") + " h11" + _PORTS, "anthropic"),
    "httpx relay": ("{python} " + str(HERE / "relays.py") + " httpx" + _PORTS, "anthropic"),
}
REFERENCE_SWEEP = {1: 6, 32: 64, 128: 256}
# In front of a real server (--upstream): requests per run at each concurrency, and what is asked.
UPSTREAM_SWEEP = {1: 8, 4: 16}
UPSTREAM_PROMPT = "Write a few sentences about the sea."
UPSTREAM_MAX_TOKENS = 200


# ---- processes -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def start_upstream() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, str(HERE / "upstream.py"), "--port", "0"], stdout=subprocess.PIPE,
                               text=True)
    port = int(process.stdout.readline().split()[1])
    return process, f"http://127.0.0.1:{port}/v1"


def start_proxy(command: str, upstream: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    upstream_port = upstream.rsplit(":", 1)[1].split("/")[0]
    argv = shlex.split(command.format(python=shlex.quote(sys.executable), port=port, upstream=upstream,
                                      upstream_port=upstream_port))
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    wait_for_port(port, process)
    return process, port


def tree(pid: int) -> list[int]:
    """pid and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    total = 0
    for member in tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def drive(url: str, api: str, concurrency: int, requests: int, shape: str = SHAPE, *extra: str) -> dict:
    command = [sys.executable, str(HERE / "driver.py"), "--url", url, "--api", api, "--concurrency",
               str(concurrency), "--requests", str(requests), "--shape", shape, *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"driver failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


# ---- measurements -----------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Side:
    ttft: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    events: int = 0
    expected: int = 0
    requests: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0
    errors: int = 0

    def add(self, run: dict, expected_events: int, cpu: float = 0.0) -> None:
        self.ttft += run["ttft"]
        self.gaps += run["gaps"]
        self.events += run["events"]
        self.expected += expected_events
        self.requests += run["requests"]
        self.elapsed += run["elapsed"]
        self.errors += run["error_count"]
        self.cpu += cpu

    def summary(self) -> dict:
        ms = 1000.0
        return {
            "ttft_ms": {p: round(percentile(self.ttft, q) * ms, 2) for p, q in (("p50", .5), ("p90", .9), ("p99", .99))},
            "gap_ms": {p: round(percentile(self.gaps, q) * ms, 2) for p, q in (("p50", .5), ("p99", .99))},
            "events_per_s": round(self.events / self.elapsed) if self.elapsed else 0,
            "requests_per_s": round(self.requests / self.elapsed, 1) if self.elapsed else 0,
            "cpu_us_per_chunk": round(self.cpu / self.events * 1e6, 1) if self.events and self.cpu else None,
            "lost_events": self.expected - self.events,
            "errors": self.errors,
        }


def sweep(upstream: str, proxy_pid: int, proxy_port: int, levels: dict[int, int], chunks: int | None,
          api: str = "anthropic", extra: tuple[str, ...] = ()) -> dict:
    """``chunks``: content events per answer, or None when the answers are a real
    model's (then what came is what was expected)."""
    rows = {}
    for concurrency, requests in levels.items():
        direct, proxied = Side(), Side()
        for _ in range(2):  # A B A B: drift on the machine hits both sides alike
            run = drive(upstream.removesuffix("/v1"), "openai", concurrency, requests, SHAPE, *extra)
            direct.add(run, requests * chunks if chunks else run["events"])
            before = cpu_seconds(proxy_pid)
            run = drive(f"http://127.0.0.1:{proxy_port}", api, concurrency, requests, SHAPE, *extra)
            proxied.add(run, requests * chunks if chunks else run["events"], cpu_seconds(proxy_pid) - before)
        d, p = direct.summary(), proxied.summary()
        p["added_ttft_ms"] = {k: round(p["ttft_ms"][k] - d["ttft_ms"][k], 2) for k in ("p50", "p90", "p99")}
        rows[concurrency] = {"direct": d, "proxy": p}
        print(f"  C={concurrency}: added TTFT p50 {p['added_ttft_ms']['p50']} ms, "
              f"CPU {p['cpu_us_per_chunk']} us/chunk, lost {p['lost_events']}", flush=True)
    return rows


def hold(proxy_pid: int, proxy_port: int, streams: int) -> dict:
    """RSS with ``streams`` slow streams open at once, against the idle proxy."""
    idle = rss_kib(proxy_pid)
    command = [sys.executable, str(HERE / "driver.py"), "--url", f"http://127.0.0.1:{proxy_port}", "--api",
               "anthropic", "--concurrency", str(streams), "--requests", str(streams), "--shape", HOLD_SHAPE,
               "--hold", "120"]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = driver.stdout.readline().strip()
    opened = rss_kib(proxy_pid) if line == "open" else None
    out, err = driver.communicate(timeout=600)
    result = json.loads(out.splitlines()[-1]) if out.strip() else {"errors": [err[-500:]], "error_count": 1,
                                                                   "events": 0}
    return {
        "streams": streams,
        "all_open": line == "open",
        "rss_idle_kib": idle,
        "rss_open_kib": opened,
        "rss_per_stream_kib": round((opened - idle) / streams, 1) if opened else None,
        "peak_rss_kib": rss_kib(proxy_pid, "VmHWM"),
        "lost_events": streams * int(HOLD_SHAPE.split("chunks=")[1].split(";")[0]) - result["events"],
        "errors": result["error_count"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller sweep")
    parser.add_argument("--compare", metavar="COMMAND",
                        help="also measure another proxy: {port} and {upstream} are filled in")
    parser.add_argument("--compare-name", default="compare", help="what to call it in the table and the plot")
    parser.add_argument("--out", default=str(RESULTS / "latest.json"))
    parser.add_argument("--report", action="store_true", help="only print the table and draw the plot of --out")
    parser.add_argument("--upstream", metavar="URL", help="measure in front of this OpenAI-compatible server instead")
    parser.add_argument("--model", help="the upstream's model, with --upstream")
    parser.add_argument("--prompt", default=UPSTREAM_PROMPT, help="what to ask it, with --upstream")
    parser.add_argument("--max-tokens", type=int, default=UPSTREAM_MAX_TOKENS, help="with --upstream")
    args = parser.parse_args()
    if args.upstream:
        if not args.model:
            parser.error("--upstream needs --model")
        return in_front_of(args.upstream.rstrip("/"), args.model, args.prompt, args.max_tokens,
                           Path(args.out) if args.out != parser.get_default("out") else RESULTS / "upstream.json")
    if args.report:
        report = json.loads(Path(args.out).read_text())
        print(table(report))
        plot(report, Path(args.out).with_suffix(".png"))
        return 0
    levels = QUICK_SWEEP if args.quick else SWEEP
    chunks = int(SHAPE.split("chunks=")[1].split(";")[0])
    upstream_process, upstream = start_upstream()
    report = {"machine": machine(), "shape": SHAPE, "targets": {}, "references": {}}
    try:
        targets = [("anthroproxy", ANTHROPROXY, levels, True),
                   ("anthroproxy --workers 2", WORKERS, WORKERS_SWEEP, False)]
        if args.compare:
            targets.append((args.compare_name, args.compare, levels, True))
        for name, command, target_levels, holds in targets:
            print(f"{name}: {command}", flush=True)
            process, port = start_proxy(command, upstream)
            try:
                drive(f"http://127.0.0.1:{port}", "anthropic", 16, 64)  # warm-up: imports, pools, caches
                entry = {"command": command, "sweep": sweep(upstream, process.pid, port, target_levels, chunks)}
                entry["json_requests"] = json_rate(upstream, process.pid, port)
                if holds:
                    entry["hold"] = hold(process.pid, port, HOLD_STREAMS if not args.quick else 300)
                    print(f"  {entry['hold']['streams']} open streams: {entry['hold']['rss_per_stream_kib']} KiB "
                          "each", flush=True)
                report["targets"][name] = entry
            finally:
                stop(process)
        for name, (command, api) in REFERENCES.items():
            print(f"reference: {name}", flush=True)
            process, port = start_proxy(command, upstream)
            try:
                drive(f"http://127.0.0.1:{port}", api, 16, 64)
                report["references"][name] = sweep(upstream, process.pid, port,
                                                   QUICK_SWEEP if args.quick else REFERENCE_SWEEP, chunks, api=api)
            finally:
                stop(process)
    finally:
        stop(upstream_process)
    from micro import translation_timings  # noqa: E402 (bench/ is not a package)

    report["translation"] = translation_timings()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(table(report))
    plot(report, Path(args.out).with_suffix(".png"))
    return 0


def in_front_of(upstream: str, model: str, prompt: str, max_tokens: int, out: Path) -> int:
    """The bounded comparison against a real server (--upstream)."""
    command = ANTHROPROXY + " --default-model " + shlex.quote(model)
    extra = ("--model", model, "--prompt", prompt, "--max-tokens", str(max_tokens))
    print(f"in front of {upstream} ({model}): {command}", flush=True)
    process, port = start_proxy(command, upstream)
    try:
        drive(f"http://127.0.0.1:{port}", "anthropic", 1, 2, SHAPE, *extra)  # warm-up: imports, pools, caches
        rows = sweep(upstream, process.pid, port, UPSTREAM_SWEEP, None, extra=extra)
    finally:
        stop(process)
    report = {"machine": machine(), "upstream": upstream, "model": model, "prompt": prompt,
              "max_tokens": max_tokens, "sweep": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(upstream_table(report))
    return 0


def upstream_table(report: dict) -> str:
    lines = [f"\nin front of {report['upstream']} ({report['model']}; {report['machine']['cpus']} cores, "
             f"{report['machine']['cpu']}; max_tokens {report['max_tokens']})",
             "| C | direct TTFT p50/p99 ms | proxy TTFT p50/p99 ms | added p50/p99 ms | gap p50 ms direct / proxy "
             "| events/s direct / proxy | proxy CPU us/chunk | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for concurrency, row in report["sweep"].items():
        d, p = row["direct"], row["proxy"]
        lines.append(
            f"| {concurrency} | {d['ttft_ms']['p50']}/{d['ttft_ms']['p99']} | {p['ttft_ms']['p50']}/{p['ttft_ms']['p99']} "
            f"| {p['added_ttft_ms']['p50']}/{p['added_ttft_ms']['p99']} | {d['gap_ms']['p50']} / {p['gap_ms']['p50']} "
            f"| {d['events_per_s']} / {p['events_per_s']} | {p['cpu_us_per_chunk']} | {d['errors'] + p['errors']} |")
    return "\n".join(lines)


def json_rate(upstream: str, pid: int, port: int) -> dict:
    """Non-streaming requests per second at C=32, direct and proxied."""
    out = {}
    for side, url, api in (("direct", upstream.removesuffix("/v1"), "openai"),
                           ("proxy", f"http://127.0.0.1:{port}", "anthropic")):
        before = cpu_seconds(pid)
        run = drive(url, api, 32, 640, "chunks=100;bytes=16", "--no-stream")
        out[side] = {"requests_per_s": round(run["requests"] / run["elapsed"], 1), "errors": run["error_count"]}
        if side == "proxy":
            out[side]["cpu_us_per_request"] = round((cpu_seconds(pid) - before) / max(run["requests"], 1) * 1e6)
    return out


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    versions = {name: importlib.metadata.version(name) for name in ("trio", "h11", "httpx", "httpcore")}
    return {"cpus": os.cpu_count(), "cpu": model, "python": sys.version.split()[0], **versions,
            "date": time.strftime("%Y-%m-%d")}


def table(report: dict) -> str:
    lines = []
    for name, entry in report["targets"].items():
        lines.append(f"\n{name}  ({report['shape']}; {report['machine']['cpus']} cores, {report['machine']['cpu']})")
        lines.append("| C | direct TTFT p50/p90/p99 ms | proxy TTFT p50/p90/p99 ms | added p50 ms | ratio p50 "
                     "| proxy gap p50/p99 ms | events/s proxy (direct) | req/s proxy | CPU us/chunk | lost |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for concurrency, row in entry["sweep"].items():
            d, p = row["direct"], row["proxy"]
            lines.append(
                f"| {concurrency} | {'/'.join(str(v) for v in d['ttft_ms'].values())} "
                f"| {'/'.join(str(v) for v in p['ttft_ms'].values())} | {p['added_ttft_ms']['p50']} "
                f"| {p['ttft_ms']['p50'] / d['ttft_ms']['p50']:.2f} "
                f"| {p['gap_ms']['p50']}/{p['gap_ms']['p99']} | {p['events_per_s']} ({d['events_per_s']}) "
                f"| {p['requests_per_s']} | {p['cpu_us_per_chunk']} | {p['lost_events']} |")
        j = entry["json_requests"]
        lines.append(f"\nnon-streaming at C=32: {j['proxy']['requests_per_s']} req/s through the proxy "
                     f"({j['direct']['requests_per_s']} direct), {j['proxy']['cpu_us_per_request']} us CPU per request")
        if "hold" not in entry:
            continue
        h = entry["hold"]
        lines.append(f"{h['streams']} open slow streams: {h['rss_per_stream_kib']} KiB RSS per stream "
                     f"(idle {h['rss_idle_kib']} KiB, open {h['rss_open_kib']} KiB, peak {h['peak_rss_kib']} KiB), "
                     f"lost {h['lost_events']}, errors {h['errors']}")
    if report.get("references"):
        lines.append("\nreference relays, same load: added TTFT p50/p99 ms / CPU us per chunk")
        levels = list(next(iter(report["references"].values())))
        lines.append("| relay | " + " | ".join(f"C={c}" for c in levels) + " |")
        lines.append("|---|" + "---|" * len(levels))
        for name, rows in report["references"].items():
            lines.append(f"| {name} | " + " | ".join(
                f"{row['proxy']['added_ttft_ms']['p50']}/{row['proxy']['added_ttft_ms']['p99']} / "
                f"{row['proxy']['cpu_us_per_chunk']}" for row in rows.values()) + " |")
        lines.append("\ntargets (issue 14), from this run:")
        lines.append("| target | measured | |")
        lines.append("|---|---|---|")
        for target, measured, met in target_checks(report):
            lines.append(f"| {target} | {measured} | {'met' if met else 'NOT MET'} |")
    failed = failures(report)
    lines.append("\nERRORS (these figures are not valid): " + "; ".join(failed) if failed else "\nno request failed")
    t = report["translation"]
    lines.append("\ntranslation (in process, median):")
    for key, value in t.items():
        lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def target_checks(report: dict) -> list[tuple[str, str, bool]]:
    """Issue 14's targets, as ratios to the reference relays measured in the same run."""
    proxy = report["targets"]["anthroproxy"]
    rows, refs = proxy["sweep"], report["references"]
    top, one = max(rows, key=int), min(rows, key=int)  # (int keys in a fresh report, str once read from JSON)
    added = rows[top]["proxy"]["added_ttft_ms"]
    httpx_p50 = refs["httpx relay"][top]["proxy"]["added_ttft_ms"]["p50"]
    h11_cpu = refs["h11 relay"][top]["proxy"]["cpu_us_per_chunk"]
    cpu = rows[top]["proxy"]["cpu_us_per_chunk"]
    at_one = rows[one]["proxy"]["added_ttft_ms"]["p50"]
    checks = [
        (f"added TTFT p50 at C={top} <= 1.5x the httpx relay's",
         f"{added['p50']} ms vs {httpx_p50} ms ({added['p50'] / httpx_p50:.2f}x)", added["p50"] <= 1.5 * httpx_p50),
        (f"added TTFT p99 at C={top} <= 3x the proxy's own p50",
         f"{added['p99']} vs {added['p50']} ms ({added['p99'] / added['p50']:.2f}x)", added["p99"] <= 3 * added["p50"]),
        (f"CPU per chunk at C={top} <= the h11 relay's", f"{cpu} vs {h11_cpu} us", cpu <= h11_cpu),
        (f"added TTFT at C={one} <= 1.5 ms", f"{at_one} ms", at_one <= 1.5),
        ("0 events lost", str(sum(r["proxy"]["lost_events"] for r in rows.values())),
         all(r["proxy"]["lost_events"] == 0 for r in rows.values())),
    ]
    if "hold" in proxy and proxy["hold"]["rss_per_stream_kib"] is not None:
        per_stream = proxy["hold"]["rss_per_stream_kib"]
        checks.append(("< 100 KB RSS per open stream", f"{per_stream} KiB", per_stream * 1024 < 100_000))
    if "translation" in report:
        took = report["translation"]["request_total_ms"]
        checks.append(("1 MiB request translated in <= 10 ms", f"{took} ms", took <= 10))
    return checks


def failures(report: dict) -> list[str]:
    """Every run in which a request failed, so no rate is read off a broken run."""
    found = []
    runs = [(name, entry["sweep"]) for name, entry in report["targets"].items()]
    runs += list(report.get("references", {}).items())
    for name, rows in runs:
        for concurrency, row in rows.items():
            for side in ("direct", "proxy"):
                if row[side]["errors"]:
                    found.append(f"{name} C={concurrency} {side}: {row[side]['errors']}")
    for name, entry in report["targets"].items():
        for side, run in entry["json_requests"].items():
            if run["errors"]:
                found.append(f"{name} non-streaming {side}: {run['errors']}")
        if entry.get("hold", {}).get("errors"):
            found.append(f"{name} open streams: {entry['hold']['errors']}")
    return found


def plot(report: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot; pip install -e '.[bench]')")
        return
    figure, (ttft_axes, cpu_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for name, entry in report["targets"].items():
        levels = [int(c) for c in entry["sweep"]]
        rows = list(entry["sweep"].values())
        ttft_axes.plot(levels, [r["proxy"]["ttft_ms"]["p50"] for r in rows], "o-", label=f"{name} p50")
        ttft_axes.plot(levels, [r["proxy"]["ttft_ms"]["p99"] for r in rows], "o:", label=f"{name} p99")
        cpu_axes.plot(levels, [r["proxy"]["cpu_us_per_chunk"] for r in rows], "o-", label=name)
        if name == "anthroproxy":
            ttft_axes.plot(levels, [r["direct"]["ttft_ms"]["p50"] for r in rows], "s-", color="gray", label="direct p50")
            ttft_axes.plot(levels, [r["direct"]["ttft_ms"]["p99"] for r in rows], "s:", color="gray", label="direct p99")
    for name, rows in report.get("references", {}).items():
        levels = [int(c) for c in rows]
        cpu_axes.plot(levels, [r["proxy"]["cpu_us_per_chunk"] for r in rows.values()], "x--", label=name)
        if "relay" in name:  # (the byte pipes' first events are nearly the direct ones)
            ttft_axes.plot(levels, [r["proxy"]["ttft_ms"]["p50"] for r in rows.values()], "x--", label=f"{name} p50")
    for axes, title, unit in ((ttft_axes, "time to first content event", "ms"),
                              (cpu_axes, "proxy CPU per relayed chunk", "microseconds")):
        axes.set_xscale("log", base=2)
        axes.set_xlabel("concurrent streams")
        axes.set_ylabel(unit)
        axes.set_title(title)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    sys.exit(main())
