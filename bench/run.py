"""The benchmark: anthroproxy against a direct connection, measured in one run.

    python bench/run.py               # the full run, a few minutes on 2 cores
    python bench/run.py --quick       # a smaller sweep, for a first look
    python bench/run.py --compare "some-proxy --port {port} --upstream {upstream}"
    python bench/run.py --compare "{python} bench/ccr.py --port {port} --upstream {upstream}" \
        --compare-name claude-code-router      # the peer to beat
    python bench/run.py --upstream http://127.0.0.1:8000/v1 --model Qwen/Qwen3-8B   # your own server
    python bench/run.py --protocols   # only the upstream protocols (issue 20)
    python bench/run.py --state       # only shared state: in process and on a real Redis (issue 21)

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
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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
# The proxy in front of each upstream protocol (issue 20), from a config file: Chat Completions, Anthropic's
# Messages passed through, OpenAI's Responses translated. "direct" is the API the driver speaks to the fake
# upstream for the baseline (the same answer, straight). The trio byte pipe carries the Anthropic stream: the
# floor under the pass-through.
PROTOCOLS = {
    "chat": ('target_url = "{base}/v1"\n', "openai"),
    "anthropic": ('target_url = "{base}"\n[upstreams.default]\nprotocol = "anthropic"\n'
                  '[models]\n"claude-*" = {{ upstream = "default" }}\n', "anthropic"),  # (the body goes as sent)
    "responses": ('target_url = "{base}/v1"\n[upstreams.default]\nprotocol = "responses"\n', "responses"),
}
PROTOCOL_COMMAND = "{python} -m anthroproxy --port {port} --config {config} --log-level INFO"
PIPE = "trio byte pipe"
PROTOCOL_SWEEP = {1: 12, 128: 256}  # (C=1: 36 first events a path, over 3 rounds; 18 varied by 0.2 ms run to run)
QUICK_PROTOCOL_SWEEP = {1: 3, 128: 128}
PROTOCOL_ROUNDS, QUICK_PROTOCOL_ROUNDS = 3, 2
# Shared state (issue 21), with --state: the proxy with its state in process and on a real Redis, each with no
# client keys and with a limited client (the driver's key; limits it never reaches), whose every request the store
# admits by a script: the one round trip a request waits for.
_LIMITED = '[clients.bench]\nkey = "bench"\nrpm = 1000000000\ntpm = 1000000000000\n'
STATE_PATHS = {
    "in process": 'target_url = "{base}/v1"\n',
    "state-url": 'state_url = "{state_url}"\ntarget_url = "{base}/v1"\n',
    "in process, limited client": 'target_url = "{base}/v1"\n' + _LIMITED,
    "state-url, limited client": 'state_url = "{state_url}"\ntarget_url = "{base}/v1"\n' + _LIMITED,
}
# The live dashboard (issue 22), with --dashboards: the same proxy with no dashboard open and with five
# (bench/watch.py holds their event streams), driven in interleaved rounds.
DASHBOARDS = 5
DASHBOARD_PATHS = {"no dashboard": 'target_url = "{base}/v1"\n', f"{DASHBOARDS} dashboards": 'target_url = "{base}/v1"\n'}
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
    parser.add_argument("--protocols", action="store_true",
                        help="only the upstream protocols' part (results to results/protocols.json unless --out)")
    parser.add_argument("--state", action="store_true",
                        help="only the shared-state part: state in process and on a real Redis (issue 21)")
    parser.add_argument("--dashboards", action="store_true",
                        help=f"only the dashboard's part: the proxy with none and with {DASHBOARDS} open (issue 22)")
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
        if report["targets"]:
            plot(report, Path(args.out).with_suffix(".png"))
        return 0
    levels = QUICK_SWEEP if args.quick else SWEEP
    chunks = int(SHAPE.split("chunks=")[1].split(";")[0])
    upstream_process, upstream = start_upstream()
    report = {"machine": machine(), "shape": SHAPE, "targets": {}, "references": {}}
    try:
        targets = [("anthroproxy", ANTHROPROXY, levels, True),
                   ("anthroproxy --workers 2", WORKERS, WORKERS_SWEEP, False)]
        if args.protocols or args.state or args.dashboards:
            targets = []
        elif args.compare:
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
        for name, (command, api) in REFERENCES.items() if not (args.protocols or args.state or args.dashboards) else ():
            print(f"reference: {name}", flush=True)
            process, port = start_proxy(command, upstream)
            try:
                drive(f"http://127.0.0.1:{port}", api, 16, 64)
                report["references"][name] = sweep(upstream, process.pid, port,
                                                   QUICK_SWEEP if args.quick else REFERENCE_SWEEP, chunks, api=api)
            finally:
                stop(process)
        if not (args.state or args.dashboards):
            report["protocols"] = protocols(upstream, chunks, args.quick)
        if args.state or not (args.protocols or args.dashboards):
            report["state"] = shared_state(upstream, chunks, args.quick)
        if args.dashboards or not (args.protocols or args.state):
            report["dashboards"] = dashboards(upstream, chunks, args.quick)
    finally:
        stop(upstream_process)
    if not (args.protocols or args.state or args.dashboards):
        from micro import translation_timings  # noqa: E402 (bench/ is not a package)

        report["translation"] = translation_timings()
    out = Path(args.out)
    if args.out == parser.get_default("out") and (args.protocols or args.state or args.dashboards):
        out = RESULTS / ("protocols.json" if args.protocols else "state.json" if args.state else "dashboards.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(table(report))
    if report["targets"]:
        plot(report, out.with_suffix(".png"))
    return 0


def protocols(upstream: str, chunks: int, quick: bool) -> dict:
    """The proxy in front of each upstream protocol, and the trio byte pipe, all
    running at once and driven in interleaved rounds (A B C D, then D C B A),
    each against the fake upstream's own answer in that protocol, straight."""
    print(f"upstream protocols: {', '.join(PROTOCOLS)}, and the {PIPE} (Anthropic stream)", flush=True)
    return interleaved(upstream, chunks, quick, PROTOCOLS, pipe=True, extras=True)


def shared_state(upstream: str, chunks: int, quick: bool) -> dict:
    """In-process state against a real Redis (--state-url), with and without a
    limited client (whose every request the store admits), driven in the same
    interleaved rounds (issue 21)."""
    server = shutil.which("valkey-server") or shutil.which("redis-server")
    if server is None:
        raise SystemExit("--state needs redis-server or valkey-server (Debian: apt-get install redis-server)")
    port = free_port()
    redis = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, redis)
        print(f"shared state: {', '.join(STATE_PATHS)} ({Path(server).name} on port {port})", flush=True)
        paths = {name: (config.replace("{state_url}", f"redis://127.0.0.1:{port}/0"), "openai")
                 for name, config in STATE_PATHS.items()}
        return interleaved(upstream, chunks, quick, paths, pipe=False, extras=False)
    finally:
        stop(redis)


def dashboards(upstream: str, chunks: int, quick: bool) -> dict:
    """The proxy with no dashboard open and with DASHBOARDS open, in the same
    interleaved rounds (issue 22: under 2% more CPU per chunk at C=128)."""
    print(f"dashboards: {', '.join(DASHBOARD_PATHS)}", flush=True)
    paths = {name: (config, "openai") for name, config in DASHBOARD_PATHS.items()}
    found = interleaved(upstream, chunks, quick, paths, pipe=False, extras=False,
                        watchers={f"{DASHBOARDS} dashboards": DASHBOARDS})
    alone, watched = (found["paths"][name]["sweep"][128]["proxy"]["cpu_us_per_chunk"] for name in DASHBOARD_PATHS)
    found["cpu_ratio_c128"] = round(watched / alone, 3)
    print(f"  C=128 CPU per chunk with {DASHBOARDS} dashboards: {watched} vs {alone} us ({found['cpu_ratio_c128']}x; "
          f"target < 1.02x: {'met' if found['cpu_ratio_c128'] < 1.02 else 'NOT met'})", flush=True)
    return found


def interleaved(upstream: str, chunks: int, quick: bool, configs: dict[str, tuple[str, str]], *, pipe: bool,
                extras: bool, watchers: dict[str, int] | None = None) -> dict:
    """Proxies from ``configs`` (name: config file, the API its direct baseline
    speaks), and the trio byte pipe if asked, all running at once, driven in
    interleaved rounds; ``extras``: non-streaming requests and open streams too."""
    levels = QUICK_PROTOCOL_SWEEP if quick else PROTOCOL_SWEEP
    rounds = QUICK_PROTOCOL_ROUNDS if quick else PROTOCOL_ROUNDS
    base = upstream.removesuffix("/v1")
    print(f"  {rounds} interleaved rounds", flush=True)
    processes: dict[str, tuple[subprocess.Popen, int]] = {}
    dashboards_open: list[subprocess.Popen] = []  # (bench/watch.py processes)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            for name, (config, _) in configs.items():
                path = Path(scratch) / f"{len(processes)}.toml"
                path.write_text(config.format(base=base))
                processes[name] = start_proxy(PROTOCOL_COMMAND.replace("{config}", shlex.quote(str(path))), upstream)
            if pipe:
                processes[PIPE] = start_proxy(REFERENCES[PIPE][0], upstream)
            for name, (_, port) in processes.items():
                drive(f"http://127.0.0.1:{port}", "anthropic", 16, 64)  # warm-up: imports, pools, caches
            for name, count in (watchers or {}).items():
                url = f"http://127.0.0.1:{processes[name][1]}/dashboard/events"
                dashboards_open.append(subprocess.Popen([sys.executable, str(Path(__file__).parent / "watch.py"), "--url", url,
                                              "--count", str(count)]))
            paths: dict[str, dict] = {name: {"sweep": {}} for name in processes}
            directs = {name: api for name, (_, api) in configs.items()} | {PIPE: "anthropic"}
            for concurrency, requests in levels.items():
                sides = {name: (Side(), Side()) for name in processes}
                apis = list(dict.fromkeys(api for _, api in configs.values()))  # (one direct run serves each path of its API)
                runs = [(api, "direct") for api in apis] + [(name, "proxy") for name in processes]
                for round_ in range(rounds):
                    for name, side in runs if round_ % 2 == 0 else runs[::-1]:
                        if side == "direct":
                            run = drive(base, name, concurrency, requests)
                            for path in processes:
                                if directs[path] == name:
                                    sides[path][0].add(run, requests * chunks)
                            continue
                        process, port = processes[name]
                        before = cpu_seconds(process.pid)
                        run = drive(f"http://127.0.0.1:{port}", "anthropic", concurrency, requests)
                        sides[name][1].add(run, requests * chunks, cpu_seconds(process.pid) - before)
                for name, (direct, proxied) in sides.items():
                    d, p = direct.summary(), proxied.summary()
                    p["added_ttft_ms"] = {k: round(p["ttft_ms"][k] - d["ttft_ms"][k], 2) for k in ("p50", "p90", "p99")}
                    paths[name]["sweep"][concurrency] = {"direct": d, "proxy": p}
                    print(f"  C={concurrency} {name}: added TTFT p50 {p['added_ttft_ms']['p50']} ms, "
                          f"CPU {p['cpu_us_per_chunk']} us/chunk, lost {p['lost_events']}", flush=True)
            if not extras:
                return {"rounds": rounds, "paths": paths}
            for name, (_, api) in configs.items():
                process, port = processes[name]
                paths[name]["json_requests"] = json_rate(upstream, process.pid, port, api)
            # The open streams of the three at once (each process's RSS is its own): a third of the wait.
            with ThreadPoolExecutor(len(configs)) as pool:
                held = {name: pool.submit(hold, processes[name][0].pid, processes[name][1],
                                          HOLD_STREAMS if not quick else 300) for name in configs}
            for name in configs:
                paths[name]["hold"] = held[name].result()
                print(f"  {name}: {paths[name]['hold']['streams']} open streams, "
                      f"{paths[name]['hold']['rss_per_stream_kib']} KiB each; non-streaming "
                      f"{paths[name]['json_requests']['proxy']['requests_per_s']} req/s", flush=True)
        finally:
            for process in dashboards_open:
                stop(process)
            for process, _ in processes.values():
                stop(process)
    return {"rounds": rounds, "paths": paths}


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


def json_rate(upstream: str, pid: int, port: int, direct_api: str = "openai") -> dict:
    """Non-streaming requests per second at C=32, direct and proxied."""
    out = {}
    for side, url, api in (("direct", upstream.removesuffix("/v1"), direct_api),
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
    if report.get("protocols"):
        lines += protocol_table(report["protocols"])
    if report.get("state"):
        lines += state_table(report["state"])
    failed = failures(report)
    lines.append("\nERRORS (these figures are not valid): " + "; ".join(failed) if failed else "\nno request failed")
    if "translation" in report:
        lines.append("\ntranslation (in process, median):")
        for key, value in report["translation"].items():
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


def protocol_table(protocols: dict) -> list[str]:
    paths = protocols["paths"]
    lines = [f"\nupstream protocols (issue 20): the proxy in front of each, and the {PIPE} carrying the Anthropic "
             f"stream, all driven in {protocols['rounds']} interleaved rounds; direct: the fake upstream's own "
             "answer in that protocol",
             "| C | path | direct TTFT p50 ms | proxy TTFT p50/p99 ms | added p50/p99 ms | CPU us/chunk "
             f"| x {PIPE} | events/s proxy (direct) | lost |",
             "|---|---|---|---|---|---|---|---|---|"]
    for concurrency in paths[PIPE]["sweep"]:
        pipe_cpu = paths[PIPE]["sweep"][concurrency]["proxy"]["cpu_us_per_chunk"]
        for name, entry in paths.items():
            d, p = entry["sweep"][concurrency]["direct"], entry["sweep"][concurrency]["proxy"]
            cpu = p["cpu_us_per_chunk"]
            ratio = f"{cpu / pipe_cpu:.2f}" if cpu and pipe_cpu else "-"
            lines.append(f"| {concurrency} | {name} | {d['ttft_ms']['p50']} | {p['ttft_ms']['p50']}/{p['ttft_ms']['p99']} "
                         f"| {p['added_ttft_ms']['p50']}/{p['added_ttft_ms']['p99']} | {cpu} | {ratio} "
                         f"| {p['events_per_s']} ({d['events_per_s']}) | {p['lost_events']} |")
    lines.append("\n| path | KiB RSS per open stream | non-streaming req/s at C=32 proxy (direct) | CPU us/request |")
    lines.append("|---|---|---|---|")
    for name, entry in paths.items():
        if "hold" in entry:
            h, j = entry["hold"], entry["json_requests"]
            lines.append(f"| {name} | {h['rss_per_stream_kib']} ({h['streams']} streams, lost {h['lost_events']}) "
                         f"| {j['proxy']['requests_per_s']} ({j['direct']['requests_per_s']}) "
                         f"| {j['proxy']['cpu_us_per_request']} |")
    lines.append("\ntargets (issue 20), from this run:")
    lines.append("| target | measured | |")
    lines.append("|---|---|---|")
    for target, measured, met in protocol_checks(protocols):
        lines.append(f"| {target} | {measured} | {'met' if met else 'NOT MET'} |")
    return lines


def protocol_checks(protocols: dict) -> list[tuple[str, str, bool]]:
    """Issue 20's targets, against the byte pipe and the chat path driven in the same rounds."""
    paths = protocols["paths"]
    levels = paths[PIPE]["sweep"]
    top, one = max(levels, key=int), min(levels, key=int)

    def cpu(name: str) -> float:
        return paths[name]["sweep"][top]["proxy"]["cpu_us_per_chunk"]

    added = paths["anthropic"]["sweep"][one]["proxy"]["added_ttft_ms"]["p50"]
    checks = [
        (f"pass-through CPU per chunk at C={top} <= 1.2x the {PIPE}'s",
         f"{cpu('anthropic')} vs {cpu(PIPE)} us ({cpu('anthropic') / cpu(PIPE):.2f}x)",
         cpu("anthropic") <= 1.2 * cpu(PIPE)),
        (f"Responses CPU per chunk at C={top} within 10% of chat's",
         f"{cpu('responses')} vs {cpu('chat')} us ({cpu('responses') / cpu('chat'):.2f}x)",
         cpu("responses") <= 1.1 * cpu("chat")),
        (f"pass-through added TTFT p50 at C={one} <= 1 ms", f"{added} ms", added <= 1.0),
    ]
    held = {name: entry["hold"]["rss_per_stream_kib"] for name, entry in paths.items() if "hold" in entry}
    if held:
        checks.append(("<= 40 KiB RSS per open stream on every path",
                       ", ".join(f"{name} {kib}" for name, kib in held.items()),
                       all(kib is not None and kib <= 40 for kib in held.values())))
    lost = {name: sum(row["proxy"]["lost_events"] for row in entry["sweep"].values()) for name, entry in paths.items()}
    checks.append(("0 events lost on every path", ", ".join(f"{name} {n}" for name, n in lost.items()),
                   not any(lost.values())))
    return checks


def state_table(state: dict) -> list[str]:
    paths = state["paths"]
    lines = [f"\nshared state (issue 21): the proxy with its state in process and on a real Redis (--state-url), "
             f"with no client keys and with a limited client, driven in {state['rounds']} interleaved rounds",
             "| C | path | direct TTFT p50 ms | proxy TTFT p50/p99 ms | added p50/p99 ms | CPU us/chunk "
             "| events/s proxy (direct) | lost |",
             "|---|---|---|---|---|---|---|---|"]
    for concurrency in next(iter(paths.values()))["sweep"]:
        for name, entry in paths.items():
            d, p = entry["sweep"][concurrency]["direct"], entry["sweep"][concurrency]["proxy"]
            lines.append(f"| {concurrency} | {name} | {d['ttft_ms']['p50']} | {p['ttft_ms']['p50']}/{p['ttft_ms']['p99']} "
                         f"| {p['added_ttft_ms']['p50']}/{p['added_ttft_ms']['p99']} | {p['cpu_us_per_chunk']} "
                         f"| {p['events_per_s']} ({d['events_per_s']}) | {p['lost_events']} |")
    lines.append("\ntargets (issue 21), from this run:")
    lines.append("| target | measured | |")
    lines.append("|---|---|---|")
    for target, measured, met in state_checks(state):
        lines.append(f"| {target} | {measured} | {'met' if met else 'NOT MET'} |")
    return lines


def state_checks(state: dict) -> list[tuple[str, str, bool]]:
    """Issue 21's targets: the store against in-process state, with and without a limited client."""
    paths = state["paths"]
    levels = next(iter(paths.values()))["sweep"]
    top, one = max(levels, key=int), min(levels, key=int)
    checks = []
    for local, shared in (("in process", "state-url"), ("in process, limited client", "state-url, limited client")):
        added = {name: paths[name]["sweep"][one]["proxy"]["added_ttft_ms"]["p50"] for name in (local, shared)}
        cpu = {name: paths[name]["sweep"][top]["proxy"]["cpu_us_per_chunk"] for name in (local, shared)}
        more = round(added[shared] - added[local], 2)
        checks.append((f"{shared}: added TTFT p50 at C={one} within 0.2 ms of {local}",
                       f"{added[shared]} vs {added[local]} ms ({more:+} ms)", more <= 0.2))
        checks.append((f"{shared}: CPU per chunk at C={top} within 5% of {local}",
                       f"{cpu[shared]} vs {cpu[local]} us ({cpu[shared] / cpu[local]:.3f}x)",
                       cpu[shared] <= 1.05 * cpu[local]))
    lost = sum(row["proxy"]["lost_events"] for entry in paths.values() for row in entry["sweep"].values())
    checks.append(("0 events lost on every path", str(lost), lost == 0))
    return checks


def failures(report: dict) -> list[str]:
    """Every run in which a request failed, so no rate is read off a broken run."""
    found = []
    runs = [(name, entry["sweep"]) for name, entry in report["targets"].items()]
    runs += list(report.get("references", {}).items())
    protocol_paths = report.get("protocols", {}).get("paths", {})
    runs += [(f"protocol {name}", entry["sweep"]) for name, entry in protocol_paths.items()]
    runs += [(f"state {name}", entry["sweep"]) for name, entry in report.get("state", {}).get("paths", {}).items()]
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
    for name, entry in protocol_paths.items():
        for side, run in entry.get("json_requests", {}).items():
            if run["errors"]:
                found.append(f"protocol {name} non-streaming {side}: {run['errors']}")
        if entry.get("hold", {}).get("errors"):
            found.append(f"protocol {name} open streams: {entry['hold']['errors']}")
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
