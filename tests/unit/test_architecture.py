"""The layer map holds: ``lint-imports`` checks the contracts in pyproject.toml
([tool.importlinter]) on the package, and fails on a copy of it with an
upward import, a circle, or a server that knows the proxy planted in it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"  # (import-linter, from the test extra)


def lint(root: Path) -> subprocess.CompletedProcess:
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} is missing: install the test extra (pip install -e '.[test]')"
    # (The package under root; no wrapped lines, no colours, whatever the terminal or CI says.)
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "1000", "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)
    done.stdout = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    return done


def test_the_package_keeps_every_contract():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout and " kept" in result.stdout


def planted(tmp_path: Path, changes: dict[str, str]) -> Path:
    """A copy of the package and its pyproject.toml, with lines added to some modules."""
    shutil.copytree(ROOT / "anthroproxy", tmp_path / "anthroproxy", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for module, line in changes.items():
        with open(tmp_path / "anthroproxy" / module, "a") as file:
            file.write(f"\n{line}  # planted by the test\n")
    return tmp_path


@pytest.mark.parametrize(("changes", "broken"), [
    ({"core/ids.py": "from ..api import router"}, "The package's layers"),  # a leaf importing the application
    ({"config/spec.py": "from ..upstream import failover"}, "The package's layers"),  # config <- upstream, as it was
    ({"upstream/pool.py": "from ..server import responder"}, "The package's layers"),  # two siblings
    ({"core/ids.py": "from . import jsonbytes", "core/jsonbytes.py": "from . import ids"}, "No circles"),
    ({"server/serve.py": "from ..core import errors"}, "The HTTP shell knows only an application"),
    ({"api/streaming.py": "import httpx"}, "The application reaches upstreams through their interfaces"),
    ({"translate/usage.py": "import trio"}, "The pure core does no I/O"),
], ids=["leaf-imports-app", "config-imports-upstream", "siblings", "circle", "server-knows-errors", "api-uses-httpx",
        "translate-uses-trio"])
def test_a_planted_violation_breaks_its_contract(tmp_path, changes, broken):
    result = lint(planted(tmp_path, changes))
    assert result.returncode != 0, result.stdout
    broken_lines = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(broken) for line in broken_lines), result.stdout
