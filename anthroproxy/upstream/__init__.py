"""The upstreams: where requests go, and how.

    spec.py      what an upstream is: its replicas, keys, headers, capabilities (pure)
    routes.py    a requested model and what the request needs -> a route of choices (pure)
    failover.py  candidates, which failures move on, cooling, replicas, sticky conversations (pure, time passed in)
    pool.py      the httpx clients for one URL; httpx's errors mapped at the edge
    upstreams.py every upstream's pools, and the failover state kept while the proxy runs

The pure modules are imported by the config and the translator; the I/O ones
(with httpx) only when they are asked for, so this package's names load lazily.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"Upstream": "pool", "client_key": "pool", "no_cookies": "pool", "tokenize_url": "pool",
         "upstream_errors": "pool"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(name)
    from importlib import import_module

    return getattr(import_module(f".{_LAZY[name]}", __name__), name)
