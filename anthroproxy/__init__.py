"""anthroproxy: the Anthropic Messages API on top of any OpenAI-compatible backend.

Embedding::

    async with trio.open_nursery() as nursery:
        server = await nursery.start(anthroproxy.serve, anthroproxy.Config(port=0))
        print(server.port)
        ...
        server.shutdown()  # graceful drain; serve() then returns
"""

__version__ = "0.1.0"  # before the imports below: config.py reads it

from .config import Config, ConfigError, load_config  # noqa: E402
from .app import serve  # noqa: E402
from .server.state import Server  # noqa: E402

__all__ = ["Config", "ConfigError", "Server", "__version__", "load_config", "serve"]
