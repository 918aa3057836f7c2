"""`python -m bench NAME [ARGS]`: runs bench/NAME.py's main(argv); its last line is JSON."""

import importlib
import sys


def main() -> int:
    if len(sys.argv) < 2 or not sys.argv[1].isidentifier():
        print("usage: python -m bench NAME [ARGS]  (e.g. python -m bench updates)", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"bench.{sys.argv[1]}")
    except ModuleNotFoundError:
        print(f"python -m bench: no benchmark {sys.argv[1]!r}", file=sys.stderr)
        return 2
    return module.main(sys.argv[2:]) or 0


sys.exit(main())
