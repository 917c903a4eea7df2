"""The upstreams: where requests go, and how.

    upstreams.py  every upstream's pools and protocols, and what failover learns while the proxy runs
    protocols/    one module per upstream protocol behind one interface (base.py): chat.py
    failover.py   candidates, which failures move on, cooling: the whole decision (pure, time passed in)
    balancer.py   replica order, key turns, sticky conversations (pure)
    pool.py       the httpx client for one replica; a request sent, a 2xx answer handed back
    answer.py     an answer's body, read through one small interface
    transport.py  the lean HTTP/1.1 transport under httpx
    bodies.py     chunked and sized body framing (pure)
    errors.py     httpx's exceptions mapped to UpstreamErrors, at this layer's edge
"""
