"""Stop sequences, applied by the proxy (pure): the Responses API takes none.

Text is held back only while it could still be the start of a stop sequence,
so it reaches the client as it comes; a match cuts the text before it and
ends the answer with ``stop_reason: "stop_sequence"`` and the matched string,
as Anthropic's API does. Any split of the text gives the same cut.
"""

from __future__ import annotations


class StopCutter:
    def __init__(self, sequences: list[str] | None) -> None:
        self._sequences = [s for s in sequences or () if s]
        self._held = ""
        self.matched: str | None = None

    def feed(self, text: str) -> str:
        """What of the text may go out now ("" once a sequence matched)."""
        if self.matched is not None:
            return ""
        if not self._sequences:
            return text
        buffer = self._held + text
        found = [(buffer.find(s), s) for s in self._sequences if s in buffer]
        if found:
            at, self.matched = min(found)
            self._held = ""
            return buffer[:at]
        keep = max((self._partial(buffer, s) for s in self._sequences), default=0)
        self._held = buffer[len(buffer) - keep:] if keep else ""
        return buffer[:len(buffer) - keep]

    def flush(self) -> str:
        """The text held back, at the end of the answer (it was no stop sequence)."""
        held, self._held = self._held, ""
        return "" if self.matched is not None else held

    @staticmethod
    def _partial(text: str, sequence: str) -> int:
        """The length of the longest end of ``text`` that begins ``sequence``."""
        for size in range(min(len(text), len(sequence) - 1), 0, -1):
            if text.endswith(sequence[:size]):
                return size
        return 0


def cut(text: str, sequences: list[str] | None) -> tuple[str, str | None]:
    """A whole text cut at the first stop sequence: (the text before it, the sequence matched)."""
    cutter = StopCutter(sequences)
    kept = cutter.feed(text)
    return kept + cutter.flush(), cutter.matched
