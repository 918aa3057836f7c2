"""`python -m bench NAME [ARGS]`: run the benchmark module bench.NAME; its last line is JSON."""

from __future__ import annotations

import importlib
import sys


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: python -m bench NAME [ARGS]", file=sys.stderr)
        return 2
    return importlib.import_module(f"bench.{sys.argv[1]}").main(sys.argv[2:]) or 0


sys.exit(main())
