"""What the proxy learns and counts as it runs: client limits and usage
(client_state.py, over limits.py and usage.py in process), and what its
instances share through Redis or Valkey (shared.py, scripts.py)."""

from __future__ import annotations

from .client_state import ClientState
from .limits import Limits, Refusal
from .shared import SharedState
from .usage import UsageLedger

__all__ = ["ClientState", "Limits", "Refusal", "SharedState", "UsageLedger"]
