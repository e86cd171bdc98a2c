"""Run lkmon benchmarks: ``python -m bench [--quick] [--json PATH] [NAME...]``."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

from bench import common

NAMES = ["overhead", "ingest", "long", "store", "dbwrites", "startup", "pipeline", "peer", "uicost",
         "uigarbage", "turndet", "recorder", "process", "storecost", "piperthreads", "stripcaches"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that each runs")
    parser.add_argument("--json", metavar="PATH", help="also write every figure to PATH as JSON")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(NAMES)}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(NAMES)}")
    failed = []
    for name in args.names or NAMES:
        start = time.perf_counter()
        print(f"# {name}", flush=True)
        try:
            importlib.import_module(f"bench.{name}").run(quick=args.quick)
        except Exception as e:  # a failing benchmark must not hide the others' figures
            print(f"{name}: FAILED: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            failed.append(name)
        print(f"# {name} took {time.perf_counter() - start:.1f} s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(common.RESULTS, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
