"""Model mapping: which upstream model serves a requested Anthropic model name.

The mapping string is ``key:target,key:target``. Each pair is split at its FIRST
colon, because upstream names may contain colons (Ollama's ``qwen3:32b``).

Resolution order for a requested name:
1. a key equal to the name;
2. the longest plain key that is a prefix of the name (``claude-3`` catches
   ``claude-3-5-haiku-20241022``);
3. keys containing ``*``, matched as globs in the order given;
4. otherwise the default model.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


class MappingError(ValueError):
    """A model-mapping string that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class ModelMap:
    pairs: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()  # (key, display name) for /v1/models

    @classmethod
    def parse(cls, text: str) -> ModelMap:
        pairs = []
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:  # tolerate "a:b," and blank input
                continue
            key, sep, target = entry.partition(":")
            key, target = key.strip(), target.strip()
            if not sep or not key or not target:
                raise MappingError(f"expected 'claude-name:target-model', got {entry!r}")
            pairs.append((key, target))
        return cls(tuple(pairs))

    def resolve(self, requested: str, default: str) -> str:
        plain = [(k, t) for k, t in self.pairs if "*" not in k]
        for key, target in plain:
            if key == requested:
                return target
        prefixed = [(k, t) for k, t in plain if requested.startswith(k)]
        if prefixed:
            return max(prefixed, key=lambda pair: len(pair[0]))[1]
        for key, target in self.pairs:
            if "*" in key and fnmatch.fnmatchcase(requested, key):
                return target
        return default

    def overridden_by(self, first: ModelMap) -> ModelMap:
        """``first``'s entries, then this map's entries whose keys it does not have."""
        keys = {key for key, _ in first.pairs}
        return ModelMap(first.pairs + tuple(pair for pair in self.pairs if pair[0] not in keys),
                        first.labels + tuple(label for label in self.labels if label[0] not in keys))

    def listed(self) -> list[tuple[str, str, str | None]]:
        """(name, target, display name) of the plain names: what /v1/models lists."""
        labels = dict(self.labels)
        return [(key, target, labels.get(key)) for key, target in self.pairs if "*" not in key]

    def __str__(self) -> str:
        return ",".join(f"{k}:{t}" for k, t in self.pairs)
