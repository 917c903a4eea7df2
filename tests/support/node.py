"""The Node clients the suite runs (Claude Code, the TypeScript SDK, an independent
SSE parser), pinned in tests/clients/package-lock.json and installed on first
use by ``npm ci``, so a clean machine and CI get exactly those versions.

A missing node or npm, or a failed install, fails the tests that need them:
they never skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

CLIENTS = Path(__file__).parents[1] / "clients"
STAMP = CLIENTS / "node_modules" / ".anthroproxy-installed"
INSTALL_TIMEOUT_S = 900
TS_SDK_SCRIPT = CLIENTS / "ts_sdk.mjs"
CLAUDE_RUN_TIMEOUT_S = 120


@dataclass(frozen=True)
class NodeClients:
    node: str
    claude: Path
    folder: Path

    def version(self, package: str) -> str:
        manifest = CLIENTS / "node_modules" / package / "package.json"
        return json.loads(manifest.read_text())["version"]


def ensure_installed() -> NodeClients:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are needed to run Claude Code and the TypeScript SDK; install Node.js 20 or newer")
    claude = CLIENTS / "node_modules" / ".bin" / "claude"
    wanted = _lock_digest()
    if not (claude.exists() and STAMP.exists() and STAMP.read_text() == wanted):
        _npm_ci(npm)
        STAMP.write_text(wanted)
    if not claude.exists():
        pytest.fail(f"npm ci finished but {claude} is missing")
    return NodeClients(node=node, claude=claude, folder=CLIENTS)


def _lock_digest() -> str:
    return hashlib.sha256((CLIENTS / "package-lock.json").read_bytes()).hexdigest()


def _npm_ci(npm: str) -> None:
    command = [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(CLIENTS)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(command)} took more than {INSTALL_TIMEOUT_S} s")
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


# ---- running them against the proxy ------------------------------------------------------------------


async def run_node(clients: NodeClients, proxy, scenario: str) -> dict:
    with trio.fail_after(60):
        done = await trio.run_process([clients.node, str(TS_SDK_SCRIPT), f"http://127.0.0.1:{proxy.port}", scenario],
                                      capture_stdout=True, capture_stderr=True, check=False)
    assert done.stdout, done.stderr.decode()
    return json.loads(done.stdout)


@dataclass
class ClaudeRun:
    returncode: int
    events: list[dict]
    stderr: str

    @property
    def result(self) -> dict:
        return next(e for e in self.events if e["type"] == "result")

    def blocks(self, role: str) -> list[dict]:
        kind = "assistant" if role == "assistant" else "user"
        return [block for e in self.events if e["type"] == kind for block in e["message"]["content"]]


async def run_claude(clients: NodeClients, proxy, tmp_path, prompt: str, *,
                     flags: tuple[str, ...] = ("--allowedTools", "Bash"), **env: str | None) -> ClaudeRun:
    """Run ``claude -p`` with ``flags``; ``env`` adds variables, or (None) removes them."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_"))}
    environment.update(
        HOME=str(home),
        ANTHROPIC_BASE_URL=f"http://127.0.0.1:{proxy.port}",
        ANTHROPIC_API_KEY="test-key",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1",
    )
    environment.update({k: v for k, v in env.items() if v is not None})
    for name in (k for k, v in env.items() if v is None):
        environment.pop(name, None)
    command = [str(clients.claude), "-p", prompt, "--output-format", "stream-json", "--verbose", *flags]
    with trio.fail_after(CLAUDE_RUN_TIMEOUT_S):
        done = await trio.run_process(command, cwd=home, env=environment, capture_stdout=True, capture_stderr=True,
                                      check=False)
    lines = done.stdout.decode().splitlines()
    return ClaudeRun(done.returncode, [json.loads(line) for line in lines if line.strip()], done.stderr.decode())
