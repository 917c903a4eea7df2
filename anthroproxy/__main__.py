"""Command line: ``python -m anthroproxy`` or ``anthroproxy``; ``anthroproxy usage``
prints a running proxy's usage (process/usage.py), ``anthroproxy statusline``
a line for Claude Code's status line (statusline.py, which imports nothing more).

Exit status: 0 after a clean shutdown (SIGINT/SIGTERM drain), 2 for a bad
setting (one line naming it, no traceback), 1 when the port cannot be bound.
"""

from __future__ import annotations

import os
import resource
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["statusline"]:  # (run by Claude Code on every update: the standard library alone)
        from . import statusline

        return statusline.main(arguments[1:])
    import trio

    from .config import ConfigError, load_config
    from .observe.logs import configure_logging
    from .process import usage
    from .process.runner import cannot_start, run
    from .process.workers import run_workers

    if arguments[:1] == ["usage"]:  # (a command of its own: anthroproxy usage --help)
        return usage.main(arguments[1:])
    try:
        config = load_config(argv, os.environ)
    except ConfigError as exc:
        print(f"anthroproxy: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_format)
    raise_open_files_limit()
    workers = config.workers or len(os.sched_getaffinity(0))
    if workers > 1:
        return run_workers(config, workers)
    failure: list[OSError | ConfigError] = []
    trio.run(run, config, failure)
    if failure:
        return cannot_start(config.host, config.port, failure[0])
    return 0


def raise_open_files_limit() -> None:
    """Each stream holds two sockets (client and upstream); the usual soft limit
    of 1024 open files would cap the proxy near 500 streams."""
    from .observe.logs import log

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.debug("open files limit raised from %d to %d", soft, hard)


if __name__ == "__main__":
    sys.exit(main())
