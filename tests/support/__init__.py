"""What tests share, as a library: no test module imports another, and
conftest.py files hold only fixtures.

    events.py    parse an Anthropic event stream; check its grammar
    http.py      request bodies, raw requests, a raw pipelining client
    proxy.py     the proxy in the test's trio run; the Python SDK pointed at it
    cli.py       the command line as a real process
    metrics.py   reading /metrics
    node.py      the Node clients (Claude Code, the TypeScript SDK), installed and run
    docs.py      README and docs/, and their code blocks
    sockets.py   socket pairs for the I/O shells' tests
    hostile.py   hostile variants of rich requests
    soak.py      the soak run (python -m tests.support.soak)
"""
