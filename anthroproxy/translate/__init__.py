"""The pure translation core: Anthropic Messages <-> OpenAI Chat Completions.

No module in this package does I/O or imports trio, h11 or httpx.
"""
