"""The configuration (pure): settings, model entries and routes, upstream specs,
capabilities; and how flags, the environment, .env and a TOML file merge into
one frozen Config.

    settings.py      Config: every setting, validated on construction
    load.py          flags > environment > .env > config file > defaults
    file.py          the TOML config file
    models.py        the model mapping: a requested name -> its entry's routes
    routes.py        a route's choices, the scenario routes, what a request needs
    spec.py          what an upstream is: replicas, keys, headers, capabilities
    capabilities.py  what a target model accepts, by glob
"""

from .load import SETTINGS, build_parser, load_config
from .settings import Config, ConfigError

__all__ = ["SETTINGS", "Config", "ConfigError", "build_parser", "load_config"]
