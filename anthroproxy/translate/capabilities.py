"""What a target model accepts, looked up by glob on its name.

OpenAI's reasoning models (o1, o3, o4-*, gpt-5*) reject ``max_tokens`` ("Use
'max_completion_tokens' instead"), non-default ``temperature`` / ``top_p``, and
``stop``. Other OpenAI-compatible servers accept the classic fields, so the
defaults describe them.

    field              default       meaning
    token_limit_field  "max_tokens"  the request field that carries max_tokens
    sampling           True          temperature and top_p are forwarded
    stop               True          stop_sequences are forwarded as ``stop``
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

TOKEN_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    token_limit_field: str = "max_tokens"
    sampling: bool = True
    stop: bool = True

    def __post_init__(self) -> None:
        if self.token_limit_field not in TOKEN_LIMIT_FIELDS:
            raise ValueError(f"token_limit_field must be one of {', '.join(TOKEN_LIMIT_FIELDS)}")


OPENAI_REASONING = Capabilities(token_limit_field="max_completion_tokens", sampling=False, stop=False)

BUILTIN: tuple[tuple[str, Capabilities], ...] = (
    ("o1*", OPENAI_REASONING),
    ("o3*", OPENAI_REASONING),
    ("o4*", OPENAI_REASONING),
    ("gpt-5*", OPENAI_REASONING),
)


def capabilities_for(model: str) -> Capabilities:
    for pattern, capabilities in BUILTIN:
        if fnmatch.fnmatchcase(model, pattern):
            return capabilities
    return Capabilities()
