"""`python -m bench NAME [ARGS]`: runs that benchmark's main(argv); its last line is JSON."""

import importlib
import sys

# name -> module with main(argv); imported only when chosen, so one benchmark's dependencies
# never slow down or break another.
BENCHMARKS = {
    "ledger": "bench.ledger",
    "requests": "bench.requests",
    "serve": "bench.serve",
    "shop": "bench.shop",
    "starlist": "bench.starlist",
    "startup": "bench.startup",
    "updates": "bench.updates",
    "visits": "bench.visits",
    "wechat": "bench.wechat",
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
        print(f"usage: python -m bench {{{','.join(sorted(BENCHMARKS))}}} [ARGS]", file=sys.stderr)
        return 2
    module = importlib.import_module(BENCHMARKS[sys.argv[1]])
    return module.main(sys.argv[2:]) or 0


sys.exit(main())
