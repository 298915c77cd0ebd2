"""What a container HEALTHCHECK costs: ``health_check <name> --no-http`` against a bare ``django.setup()``.

Times, in one run and interleaved (so a busy machine slows all three alike), the wall time of new
processes with the example project's settings:

(a) ``python -c "import django; django.setup()"``: what any management command pays at least;
(b) ``manage.py health_check health_check-node --no-http`` with the poller's endpoint index in the
    store: the URLconf is not imported;
(c) the same without a usable index (the store's copy with an index that knows no endpoint, which
    costs what a missing one does): the URLconf, and all that its checks import, is imported.

The store is filled once by ``health_check_poller --once`` (snapshots and index). Target (issue 13):
(b) within 50 ms of (a).

    python benchmarks/no_http_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "example_project"
TARGET_MS = 50.0
SETUP = "import django; django.setup()"
EMPTY_INDEX = "from health_check.store import get_store; get_store().write_index({})"


def environment(store: Path, data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "HEALTH_CHECK_STORE_LOCATION": str(store),
        "EXAMPLE_DATA_DIR": str(data),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(PROJECT)]),
    }


def run(command: list[str], env: dict[str, str], *, expect: tuple[int, ...] = (0,)) -> float:
    """Wall time of one process, in seconds; fails loudly when it exits with another code."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - started
    if result.returncode not in expect:
        sys.exit(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="processes timed per variant (default: 15)")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hs-no-http-"))
    try:
        indexed, without = work / "store", work / "store-without-index"
        env_indexed, env_without = environment(indexed, work), environment(without, work)
        python, manage = sys.executable, str(PROJECT / "manage.py")
        run([python, manage, "health_check_poller", "--once"], env_indexed, expect=(0, 1))
        shutil.copytree(indexed, without)
        run([python, "-c", f"{SETUP}; {EMPTY_INDEX}"], env_without)

        probe = [python, manage, "health_check", "health_check-node", "--no-http"]
        variants = {
            "(a) django.setup()": ([python, "-c", SETUP], env_indexed),
            "(b) --no-http, with the index": (probe, env_indexed),
            "(c) --no-http, without the index": (probe, env_without),
        }
        for command, env in variants.values():  # warm the file cache and the .pyc files
            run(command, env, expect=(0, 1))
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(options.runs):
            for name, (command, env) in variants.items():
                times[name].append(run(command, env, expect=(0, 1)))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(f"Median wall time of {options.runs} processes each (example project, Python {sys.version.split()[0]}):")
    for name, median in medians.items():
        spread = f"{min(times[name]) * 1000:.0f}-{max(times[name]) * 1000:.0f}"
        print(f"  {name:<34} {median:7.1f} ms   (min-max {spread} ms)")
    setup, with_index, without_index = medians.values()
    print(f"  (b) - (a): {with_index - setup:+.1f} ms   target: within {TARGET_MS:.0f} ms")
    print(f"  (c) - (a): {without_index - setup:+.1f} ms")
    print(f"  (c) - (b): {without_index - with_index:+.1f} ms saved by the index")
    print(f"  {'PASS' if with_index - setup <= TARGET_MS else 'MISS'}: (b) is within {TARGET_MS:.0f} ms of (a)")


if __name__ == "__main__":
    main()
