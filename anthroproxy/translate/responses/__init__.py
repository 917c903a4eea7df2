"""Anthropic Messages <-> OpenAI's Responses API (pure).

    request.py    an Anthropic request -> a Responses request (input items, tools, reasoning, text.format)
    reasoning.py  a reasoning item <-> a thinking block's signature, for the round trip
    stops.py      stop sequences, which the Responses API does not take: the proxy cuts the text itself
    message.py    a Responses answer (JSON) -> an Anthropic message
    stream.py     a Responses event stream -> Anthropic events
"""
