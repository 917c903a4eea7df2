"""The package's version, in a module of its own: anything may read it without
importing the rest (setuptools reads it for the build, config.load for --version)."""

__version__ = "0.1.0"
