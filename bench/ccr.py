"""claude-code-router, the peer to beat, as a --compare target:

    python bench/run.py --compare "{python} bench/ccr.py --port {port} --upstream {upstream}"

Installs @musistudio/claude-code-router 2.0.0 from the npm registry into
bench/.peers/ (gitignored) on first use, writes its config (one provider, the
fake upstream; Router.default that provider's model; no log files) under a
temporary HOME, and runs ``ccr start`` in the foreground in this process's place.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = "@musistudio/claude-code-router@2.0.0"
PEERS = Path(__file__).parent / ".peers"
CCR = PEERS / "node_modules" / "@musistudio" / "claude-code-router" / "dist" / "cli.js"


def install() -> Path:
    if not CCR.exists():
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("ccr.py: npm is needed to install claude-code-router")
        PEERS.mkdir(exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(PEERS), "--no-audit", "--no-fund", PACKAGE], check=True,
                       stdout=subprocess.DEVNULL)
    return CCR


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the OpenAI-compatible base URL, ending in /v1")
    parser.add_argument("--install-only", action="store_true")
    args = parser.parse_args()
    cli = install()
    if args.install_only:
        return 0
    home = Path(tempfile.mkdtemp(prefix="ccr-home-"))
    (home / ".claude-code-router").mkdir()
    config = {
        "PORT": args.port, "HOST": "127.0.0.1", "LOG": False, "NON_INTERACTIVE_MODE": True,
        "Providers": [{"name": "bench", "api_base_url": args.upstream.rstrip("/") + "/chat/completions",
                       "api_key": "unused", "models": ["bench-model"]}],
        "Router": {"default": "bench,bench-model"},
    }
    (home / ".claude-code-router" / "config.json").write_text(json.dumps(config))
    node = shutil.which("node") or sys.exit("ccr.py: node is needed")
    os.execve(node, [node, str(cli), "start"], {**os.environ, "HOME": str(home)})


if __name__ == "__main__":
    sys.exit(main())
