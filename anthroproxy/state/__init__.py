"""What the proxy learns and counts as it runs: client limits and usage
(in process), and what its instances share through Redis or Valkey
(shared.py: what cools)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config.clients import Clients
from .limits import Limits, Refusal
from .shared import SharedState
from .usage import UsageLedger

__all__ = ["ClientState", "Limits", "Refusal", "SharedState", "UsageLedger"]


@dataclass(slots=True)
class ClientState:
    """The configured clients, their limits and their usage, for the application."""

    clients: Clients
    limits: Limits = field(default_factory=Limits)
    usage: UsageLedger = field(default_factory=UsageLedger)
    store: SharedState | None = None  # the shared store (state_url), when there is one
