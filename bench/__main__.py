"""`python -m bench NAME [ARGS…]`: runs bench/NAME.py's main(argv)."""

from __future__ import annotations

import importlib
import sys


def run() -> int:
    if len(sys.argv) < 2:
        print("usage: python -m bench NAME [ARGS…]", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{sys.argv[1]}")
    return module.main(sys.argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(run())
