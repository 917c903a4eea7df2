"""For trying and testing the proxy without a backend (public, as trio.testing
is): a scripted OpenAI-compatible server (fake_upstream.py), and the demo that
streams an answer through the proxy from it (demo.py). ``python -m
anthroproxy.demo`` and ``python -m anthroproxy.fake_upstream`` run them."""
