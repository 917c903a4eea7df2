"""``python -m anthroproxy.demo "your prompt"``: the key-free demo (anthroproxy/testing/demo.py)."""

import sys

from .testing.demo import main

if __name__ == "__main__":
    sys.exit(main())
