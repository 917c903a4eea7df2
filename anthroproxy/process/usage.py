"""``anthroproxy usage``: a running proxy's usage per client, model, upstream
and UTC day (``GET /v1/usage``), as a table.

The proxy is found where Claude Code finds it (``ANTHROPIC_BASE_URL``, else
127.0.0.1:8080, or ``--url``) with the key Claude Code would send
(``ANTHROPIC_API_KEY`` or ``ANTHROPIC_AUTH_TOKEN``, or ``--key``): a client's
key shows its own rows, the ``--auth-token`` holder's all of them. Or, with
``--config FILE``, everyone's rows straight from the state backend that file's
``state_url`` names, with no proxy running.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Sequence

import httpx
import trio

COLUMNS = (("date", "date"), ("client", "client"), ("model", "model"), ("upstream", "upstream"),
           ("requests", "requests"), ("input_tokens", "input"), ("output_tokens", "output"),
           ("cache_read_input_tokens", "cache read"), ("cache_creation_input_tokens", "cache write"))
NUMBERS = {"requests", "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"}


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(prog="anthroproxy usage", description=__doc__.split("\n\n")[0])
    found.add_argument("--url", default=os.environ.get("ANTHROPIC_BASE_URL") or "http://127.0.0.1:8080",
                       help="the proxy (default: ANTHROPIC_BASE_URL, else http://127.0.0.1:8080)")
    found.add_argument("--key", help="the key to send (default: ANTHROPIC_API_KEY, else ANTHROPIC_AUTH_TOKEN)")
    found.add_argument("--config", metavar="FILE",
                       help="read every instance's usage from the state backend of this config file (state_url)")
    found.add_argument("--days", type=int, help="only the last N days")
    found.add_argument("--json", action="store_true", help="the rows as JSON, as /v1/usage gives them")
    return found


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    rows = from_store(args.config) if args.config else from_proxy(args)
    if rows is None:
        return 1
    if args.days is not None:
        days = sorted({row["date"] for row in rows}, reverse=True)[:max(args.days, 0)]
        rows = [row for row in rows if row["date"] in days]
    print(json.dumps(rows, indent=1) if args.json else table(rows))
    return 0


def from_store(path: str) -> list[dict] | None:
    from ..config import ConfigError, load_config  # (only here: the proxy's client needs neither)
    from ..state.shared import read_usage, shown_url

    try:
        config = load_config(["--config", path], os.environ)
    except ConfigError as exc:
        print(f"anthroproxy usage: {exc}", file=sys.stderr)
        return None
    if config.state_url is None:
        print(f"anthroproxy usage: {path} names no state_url: its proxies' usage is in each one "
              "(ask one with --url)", file=sys.stderr)
        return None
    try:
        return trio.run(read_usage, config.state_url, time.time())
    except Exception as exc:  # (coredis's errors come in groups; say what the first was)
        while isinstance(exc, BaseExceptionGroup):
            exc = exc.exceptions[0]
        print(f"anthroproxy usage: cannot read the state backend {shown_url(config.state_url)}: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def from_proxy(args: argparse.Namespace) -> list[dict] | None:
    key = args.key or os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
    url = args.url.rstrip("/") + "/v1/usage"
    try:
        response = httpx.get(url, headers={"x-api-key": key} if key else {}, timeout=10)
    except httpx.HTTPError as exc:
        print(f"anthroproxy usage: cannot reach {url}: {exc or type(exc).__name__}", file=sys.stderr)
        return None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200:
        message = (answer.get("error") or {}).get("message") if isinstance(answer, dict) else None
        print(f"anthroproxy usage: {url} answered {response.status_code}: {message or response.text[:200]}",
              file=sys.stderr)
        return None
    return answer.get("data") or []


def table(rows: list[dict]) -> str:
    if not rows:
        return "no usage yet"
    cells = [[title for _, title in COLUMNS]]
    cells += [[f"{row.get(name, 0):,}" if name in NUMBERS else str(row.get(name, "")) for name, _ in COLUMNS]
              for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.rjust(width) if name in NUMBERS else cell.ljust(width)
                               for cell, width, (name, _) in zip(line, widths, COLUMNS)).rstrip()
                     for line in cells)
