"""``python -m anthroproxy.fake_upstream --port 9000``: a scripted OpenAI-compatible
server to point the proxy at (anthroproxy/testing/fake_upstream.py)."""

import sys

from .testing.fake_upstream import main

if __name__ == "__main__":
    sys.exit(main())
