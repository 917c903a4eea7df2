"""anthroproxy: the Anthropic Messages API on top of any OpenAI-compatible backend.

Embedding::

    async with trio.open_nursery() as nursery:
        server = await nursery.start(anthroproxy.serve, anthroproxy.Config(port=0))
        print(server.port)
        ...
        server.shutdown()  # graceful drain; serve() then returns

The public names load when first used, so importing one part of the package
(``anthroproxy.core.sse``, say) does not import the server and its clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .config import Config, ConfigError, load_config
    from .proxy import serve
    from .server import Server

__all__ = ["Config", "ConfigError", "Server", "__version__", "load_config", "serve"]

_PUBLIC = {"Config": ".config", "ConfigError": ".config", "load_config": ".config", "serve": ".proxy",
           "Server": ".server"}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'anthroproxy' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_PUBLIC[name], __name__), name)
