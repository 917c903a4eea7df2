"""The Node clients the suite runs (Claude Code, the TypeScript SDK, an independent
SSE parser), pinned in tests/clients/package-lock.json and installed on first
use by ``npm ci``, so a clean machine and CI get exactly those versions.

A missing node or npm, or a failed install, fails the tests that need them:
they never skip.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CLIENTS = Path(__file__).parent / "clients"
STAMP = CLIENTS / "node_modules" / ".anthroproxy-installed"
INSTALL_TIMEOUT_S = 900


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
