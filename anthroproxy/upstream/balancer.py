"""Which replica and which key, in what order (pure; time passed in).

Replicas are ordered least busy first (ties in the configured order); keys are
taken in turn, one request each. A conversation sticks to one replica (its
prefix cache is what makes a long conversation fast) unless that replica cools
or is clearly busier than the least busy one: the one that last served it
here, else its rendezvous choice (the replica ranked first by a hash of the
conversation and the replica's URL), which every instance of the proxy makes
alike with nothing shared. A conversation is Claude Code's session, else a
digest of what every turn of one conversation shares (``conversation_of``).
With several instances, each starts its key turns at a random key
(``first_key``), so that together they spread over the keys.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from typing import Any, Callable, Mapping

from ..config.spec import UpstreamSpec
from .failover import Candidate, Cooling

# A conversation leaves its replica when that one has this many more requests in flight than the least busy.
BUSIER_BY = 2
MAX_CONVERSATIONS = 10_000  # remembered replicas, oldest forgotten first


class Balancer:
    """Replica order, key turns, and the replica each conversation last used."""

    def __init__(self, first_key: Callable[[int], int] | None = None) -> None:
        self.turns: dict[str, int] = {}
        self.conversations: OrderedDict[str, str] = OrderedDict()
        self._first_key = first_key  # (of n keys: where an upstream's turns start; None: the first)

    def replicas(self, spec: UpstreamSpec, in_flight: Mapping[str, int], conversation: str | None,
                 cooling: Cooling, now: float) -> list[str]:
        """The replicas to try in order: least busy first; the conversation's own
        first while it does not cool and is not clearly busier."""
        order = sorted(spec.urls, key=lambda url: in_flight.get(url, 0))  # (stable: ties keep the config order)
        used = None
        if conversation:
            used = self.conversations.get(conversation)
            if used not in spec.urls:
                used = rendezvous(conversation, spec.urls)
        if used is not None and used != order[0]:
            busier = in_flight.get(used, 0) >= in_flight.get(order[0], 0) + BUSIER_BY
            if not cooling.url_cooling(used, now) and not busier:
                order.remove(used)
                order.insert(0, used)
        return order

    def keys(self, spec: UpstreamSpec) -> list[int | None]:
        """The keys in turn, from the one after the last key sent (``took``)."""
        if not spec.keys:
            return [None]
        start = self.turns.get(spec.name)
        if start is None:
            start = self.turns[spec.name] = self._first_key(len(spec.keys)) if self._first_key else 0
        return [(start + offset) % len(spec.keys) for offset in range(len(spec.keys))]

    def took(self, candidate: Candidate, spec: UpstreamSpec) -> None:
        """A request goes to the candidate: its upstream's next request starts at
        the next key. (Counted when sent, not when planned: a fallback's keys
        turn only when the fallback is used.)"""
        if candidate.key is not None:
            self.turns[spec.name] = (candidate.key + 1) % len(spec.keys)

    def served(self, conversation: str | None, url: str) -> None:
        if conversation is None:
            return
        self.conversations[conversation] = url
        self.conversations.move_to_end(conversation)
        while len(self.conversations) > MAX_CONVERSATIONS:
            self.conversations.popitem(last=False)


def rendezvous(conversation: str, urls: tuple[str, ...]) -> str:
    """The replica a conversation belongs to when nothing else says (highest
    random weight: the same on every instance, and only the conversations of a
    replica that goes move)."""
    return max(urls, key=lambda url: hashlib.blake2b(f"{conversation}\0{url}".encode("utf-8", "surrogatepass"),
                                                     digest_size=8).digest())


SESSION_HEADER = "x-claude-code-session-id"
_SESSION_IN_USER_ID = re.compile(r"session_([0-9a-fA-F-]{8,64})")


def conversation_of(headers: Mapping[str, str], body: Mapping[str, Any]) -> str:
    """Claude Code's session (its header, or the session in ``metadata.user_id``),
    else a digest of the system prompt and the first message: what every turn of
    one conversation shares."""
    if headers.get(SESSION_HEADER):
        return "session:" + headers[SESSION_HEADER]
    user_id = (body.get("metadata") or {}).get("user_id")
    if isinstance(user_id, str) and user_id:
        session = _session_in(user_id)
        if session:
            return "session:" + session
    messages = body.get("messages") or [{}]
    start = json.dumps([body.get("system"), messages[0]], sort_keys=True, ensure_ascii=False, default=str)
    return "prefix:" + hashlib.sha256(start.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _session_in(user_id: str) -> str | None:
    try:
        parsed = json.loads(user_id)  # Claude Code: {"device_id": ..., "session_id": ...}
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("session_id"), str) and parsed["session_id"]:
        return parsed["session_id"]
    found = _SESSION_IN_USER_ID.search(user_id)  # older: user_..._account__session_<uuid>
    return found[1] if found else None
