"""JSON as UTF-8 bytes, whatever the strings hold.

``ensure_ascii=False`` keeps non-ASCII text compact, but a lone surrogate (the
valid JSON escape "\\ud800", from a client or an upstream) has no UTF-8 form;
such a document is written with \\u escapes instead.
"""

from __future__ import annotations

import json
from typing import Any


def dump(value: Any) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(value).encode()
