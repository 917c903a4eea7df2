"""What the proxy learns and counts as it runs: client limits and usage.

In process (one proxy, one worker) today; the shared store behind several
instances plugs in here."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config.clients import Clients
from .limits import Limits, Refusal
from .usage import UsageLedger

__all__ = ["ClientState", "Limits", "Refusal", "UsageLedger"]


@dataclass(slots=True)
class ClientState:
    """The configured clients, their limits and their usage, for the application."""

    clients: Clients
    limits: Limits = field(default_factory=Limits)
    usage: UsageLedger = field(default_factory=UsageLedger)
