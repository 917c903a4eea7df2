"""The real llama.cpp server the suite builds (tests/backends/llamacpp.py), started for a test."""

from __future__ import annotations

import pytest

from tests.backends import llamacpp


def started(model: str, **options) -> llamacpp.RunningServer:
    """A running llama-server; a build or start that fails fails the test (never a skip)."""
    try:
        return llamacpp.start(model, **options)
    except llamacpp.BuildError as exc:
        pytest.fail(f"the llama.cpp server is needed for these tests and could not be built or started:\n{exc}")
