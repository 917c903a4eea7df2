"""Tool calls being streamed: their identity, arguments and completeness (pure)."""

from __future__ import annotations


class JsonEnd:
    """Notices when streamed JSON text closes its outermost object, array or string."""

    __slots__ = ("depth", "in_string", "escaped", "complete")

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.complete = False

    def feed(self, text: str) -> None:
        for char in text:
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif char == "\\":
                    self.escaped = True
                elif char == '"':
                    self.in_string = False
                    if self.depth == 0:
                        self.complete = True
            elif char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            elif char in "}]":
                self.depth -= 1
                if self.depth == 0:
                    self.complete = True


class ToolCall:
    __slots__ = ("id", "upstream_id", "name", "waiting", "state", "json", "shape")

    def __init__(self) -> None:
        self.id: str | None = None  # the id the client sees
        self.upstream_id: str | None = None  # the id the backend gave, if any
        self.name: str | None = None
        self.waiting: list[str] = []  # argument fragments not sent yet
        self.state = "waiting"  # waiting -> open -> closed
        self.json = JsonEnd()
        # "object" arguments stream as they come; any other JSON ("\"{...}\""
        # encoded twice, null) is held and sent decoded at the end, as from_openai does.
        self.shape: str | None = None

    def starts_new_call(self, call_id: str | None, name: str | None) -> bool:
        """Does a fragment for this call's index begin another call?"""
        if call_id and self.upstream_id and call_id != self.upstream_id:
            return True
        # A backend that numbers every call 0 and gives no ids: a name after a finished call.
        finished = self.state == "closed" or self.json.complete
        return bool(name and self.name and not call_id and self.upstream_id is None and finished)
