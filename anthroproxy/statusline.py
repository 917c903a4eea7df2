"""``anthroproxy statusline``: Claude Code's status line, one short line about
the session it runs in, from the proxy's per-session totals.

Claude Code runs the command on every update with a JSON object on stdin (its
``session_id`` and ``model`` among others) and shows what it prints; a command
that fails blanks the line. So this imports nothing of the proxy (the standard
library only), asks once with a short timeout, and prints a hint and exits 0
when the proxy cannot be reached. The proxy is found where Claude Code finds it
(``ANTHROPIC_BASE_URL``, else http://127.0.0.1:8080; or ``--url``), with the
key Claude Code sends (``ANTHROPIC_AUTH_TOKEN`` as a bearer token, else
``ANTHROPIC_API_KEY``; or ``--key``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Sequence

TIMEOUT_S = 0.5


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="anthroproxy statusline",
                                     description="One line for Claude Code's statusLine: this session's figures.")
    parser.add_argument("--url", help="the proxy (default: ANTHROPIC_BASE_URL, else http://127.0.0.1:8080)")
    parser.add_argument("--key", help="the key to send (default: ANTHROPIC_AUTH_TOKEN, else ANTHROPIC_API_KEY)")
    args = parser.parse_args(argv)
    print(line(read_input(sys.stdin), args.url, args.key, os.environ))
    return 0


def read_input(stream: Any) -> dict[str, Any]:
    try:
        found = json.loads(stream.read() or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def line(given: dict[str, Any], url: str | None, key: str | None, environ: Any) -> str:
    base = (url or environ.get("ANTHROPIC_BASE_URL") or "http://127.0.0.1:8080").rstrip("/")
    session = given.get("session_id")
    if not isinstance(session, str) or not session:
        return "anthroproxy: no session id from Claude Code"
    headers = {"accept": "application/json"}
    if key:
        headers["x-api-key"] = key
    elif environ.get("ANTHROPIC_AUTH_TOKEN"):
        headers["authorization"] = f"Bearer {environ['ANTHROPIC_AUTH_TOKEN']}"
    elif environ.get("ANTHROPIC_API_KEY"):
        headers["x-api-key"] = environ["ANTHROPIC_API_KEY"]
    request = urllib.request.Request(f"{base}/v1/sessions/{urllib.parse.quote(session, safe='')}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            totals = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return f"anthroproxy · {model_of(given)} · no requests yet"
        return f"anthroproxy: the proxy answered {error.code} (check the key)"
    except (OSError, ValueError):
        return f"anthroproxy: no proxy at {base}"
    return figures(totals)


def model_of(given: dict[str, Any]) -> str:
    model = given.get("model")
    if isinstance(model, dict):
        return str(model.get("display_name") or model.get("id") or "?")
    return str(model or "?")


def figures(totals: dict[str, Any]) -> str:
    """deepseek-chat@deepseek · 41.2k in (82% cached) · 1.3k out · 0 failovers"""
    cached = int(totals.get("cache_read_input_tokens") or 0)
    taken_in = int(totals.get("input_tokens") or 0) + cached + int(totals.get("cache_creation_input_tokens") or 0)
    share = f" ({round(100 * cached / taken_in)}% cached)" if taken_in else ""
    failovers = int(totals.get("failovers") or 0)
    where = f"{totals.get('target') or '?'}@{totals.get('upstream') or '?'}"
    return (f"{where} · {short(taken_in)} in{share} · {short(int(totals.get('output_tokens') or 0))} out · "
            f"{failovers} failover{'' if failovers == 1 else 's'}")


def short(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 1000:
        return f"{count / 1000:.1f}k"
    return str(count)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
