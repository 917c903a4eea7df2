"""Pure leaves that every layer may use: the proxy's errors, ids, SSE framing,
JSON bytes, the client's credential in its headers. No I/O, nothing imported
from the rest of the package."""
