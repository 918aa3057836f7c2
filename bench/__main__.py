"""`python -m bench NAME [ARGS]`: runs that benchmark's main(argv); its last line is JSON.
It exits non-zero when the benchmark met a refusal or an error (bench.common.check, or any
exception): a refused operation is not a fast one."""

import importlib
import sys

# name -> module with main(argv); imported only when chosen, so one benchmark's dependencies
# never slow down or break another.
BENCHMARKS = {
    "desk": "bench.desk",
    "history": "bench.history",
    "inbox": "bench.inbox",
    "ledger": "bench.ledger",
    "records": "bench.records",
    "requests": "bench.requests",
    "sender": "bench.sender",
    "serve": "bench.serve",
    "shop": "bench.shop",
    "starlist": "bench.starlist",
    "startup": "bench.startup",
    "updates": "bench.updates",
    "visits": "bench.visits",
    "wechat": "bench.wechat",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m bench {{{','.join(sorted(BENCHMARKS))}}} [ARGS]", file=sys.stderr)
        return 2
    from bench.common import Refused

    module = importlib.import_module(BENCHMARKS[argv[0]])
    try:
        return module.main(argv[1:]) or 0
    except Refused as exc:
        print(f"bench {argv[0]}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
