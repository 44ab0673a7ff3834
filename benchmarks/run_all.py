"""Every ``benchmarks/bench_*.py`` in one process, so torch and Lightning are imported once.

    EXPERIMENTS_DATA_DIR=/path/to/data python benchmarks/run_all.py [--quick] [--only overhead keras ...]

Arguments other than ``--only`` go to every benchmark (e.g. ``--quick``). Prints each benchmark's wall
time and the total; each benchmark writes its own ``benchmarks/results/<name>.{json,md}``
(``BENCH_RESULTS_DIR`` moves them elsewhere, as the tests do).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", default=None, help="names without bench_, e.g. overhead keras")
    args, passed = parser.parse_known_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        unknown = set(args.only) - {s.stem.removeprefix("bench_") for s in scripts}
        if unknown:
            parser.error(f"no benchmark named {sorted(unknown)}; choose from {[s.stem[6:] for s in scripts]}")
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    sys.path.insert(0, str(HERE))
    import torch

    threads = torch.get_num_threads()
    seconds: dict[str, float] = {}
    for script in scripts:
        print(f"== {script.name} {' '.join(passed)}", flush=True)
        sys.argv = [f"benchmarks/{script.name}", *passed]
        start = time.perf_counter()
        importlib.import_module(script.stem).main()
        seconds[script.stem] = time.perf_counter() - start
        torch.set_num_threads(threads)  # each benchmark sets its own
    print("\n".join(f"{name}: {s:.1f} s" for name, s in seconds.items()))
    print(f"total: {sum(seconds.values()):.1f} s (after imports)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
