"""The documents the tests keep true: README.md and the pages of docs/, and
the code blocks in them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
PAGES = {path.name: path.read_text() for path in sorted((ROOT / "docs").glob("*.md"))}


def everything() -> dict[str, str]:
    """README and every docs page, by file name."""
    return {"README.md": README, **PAGES}


def blocks(language: str, text: str | None = None) -> list[str]:
    """The fenced blocks of one language, in README and the docs (or in ``text``)."""
    texts = [text] if text is not None else list(everything().values())
    return [block for body in texts for block in re.findall(rf"```{language}\n(.*?)```", body, re.S)]
