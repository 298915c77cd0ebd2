"""The standalone poller's RSS, threads and fds over a few minutes of upstream faults (issue 16).

Starts, on 127.0.0.1 only: its own ``redis-server`` (free port), a fake Statuspage that cycles through
ok / HTTP 500 / malformed / degraded / slow (hangs 20 s, past the check's 3 s budget), and the real
``manage.py health_check_poller`` of the soak's site (``benchmarks/soak_site.py``: Disk, Memory,
Redis and the Statuspage, every 2 s). Every ``--sample`` seconds it prints the poller's RSS, threads
and fds (from ``/proc``), and at the end the RSS growth and the thread range after ``--warmup``.

With ``--tracemalloc`` the poller also prints, at each report, the Python allocations that grew most
since the end of the warm-up and the names of its threads (tracemalloc inflates RSS itself: compare
RSS figures of runs without it). Everything it started is stopped at the end, whatever happened.

    .venv/bin/python benchmarks/poller_memory.py [--duration 240] [--warmup 60] [--phase 6] [--tracemalloc]
"""

from __future__ import annotations

import argparse
import collections
import os
import pathlib
import signal
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUMMARY_PATH = "/api/v2/summary.json"
#: The upstream's answers in turn, ``--phase`` seconds each (``--modes`` picks others); "redis-stop" and
#: "redis-kill" answer ok but SIGSTOP or SIGKILL (then restart, empty) the store's Redis for the phase.
MODES = ("ok", "500", "malformed", "slow", "ok", "degraded", "slow", "malformed")
ALL_MODES = ("ok", "500", "malformed", "slow", "degraded", "redis-stop", "redis-kill")
GROWTH_TARGET = 0.10


def _malloc_figures() -> str:
    """glibc's own account (``mallinfo2``): bytes in use, free but kept, in mmap'd chunks; arenas."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
    except (OSError, AttributeError):
        return "no mallinfo2"
    info = libc.mallinfo2()
    mib = 2**20
    return (
        f"in use {info.uordblks / mib:.1f} MiB, free kept {info.fordblks / mib:.1f} MiB, "
        f"mmap'd {info.hblkhd / mib:.1f} MiB, heap total {info.arena / mib:.1f} MiB"
    )


def _pymalloc_figures() -> str:
    """pymalloc's own account (``sys._debugmallocstats()``, written to fd 2): arenas, used and free bytes."""
    import tempfile as _tempfile

    with _tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode("utf-8", "replace")
    wanted = {
        "# arenas allocated current": "arenas",
        "# bytes in allocated blocks": "used",
        "# bytes in available blocks": "free",
        "# bytes lost to pool headers": "headers",
        "# bytes lost to quantization": "quantization",
    }
    found = {}
    for line in text.splitlines():
        name, _, value = line.rpartition("=")
        name = name.strip()
        if name in wanted:
            found[wanted[name]] = int(value.strip().replace(",", ""))
    arenas = found.get("arenas", 0)
    return (
        f"{arenas} arenas, used {found.get('used', 0) / 2**20:.1f} MiB, "
        f"free in pools {found.get('free', 0) / 2**20:.1f} MiB"
    )


def child(report_every: float, trace: bool) -> None:
    """Inside the poller process: report allocations and threads, then run the real command."""
    if trace:
        import tracemalloc

        tracemalloc.start(8)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.soak_site")
    import django

    django.setup()
    from django.core.management import call_command

    def report() -> None:
        baseline = None
        started = time.monotonic()
        warmup = float(os.environ.get("HS_MEMORY_WARMUP", "60"))
        while True:
            time.sleep(report_every)
            names = collections.Counter(
                thread.name.split(" ")[0].rstrip(":-0123456789") for thread in threading.enumerate()
            )
            print(f"[poller] threads: {dict(sorted(names.items()))}", flush=True)
            print(f"[poller] malloc: {_malloc_figures()}", flush=True)
            print(f"[poller] pymalloc: {_pymalloc_figures()}", flush=True)
            if not trace:
                continue
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [
                    tracemalloc.Filter(False, tracemalloc.__file__),
                    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
                ]
            )
            current, peak = tracemalloc.get_traced_memory()
            print(f"[poller] tracemalloc: {current / 2**20:.1f} MiB traced (peak {peak / 2**20:.1f})", flush=True)
            if baseline is None:
                if time.monotonic() - started >= warmup:
                    baseline = snapshot
                continue
            for group in ("lineno", "traceback"):
                grown = [stat for stat in snapshot.compare_to(baseline, group) if stat.size_diff > 0]
                grown.sort(key=lambda stat: stat.size_diff, reverse=True)
                for stat in grown[: 8 if group == "lineno" else 3]:
                    frames = " <- ".join(f"{pathlib.Path(f.filename).name}:{f.lineno}" for f in stat.traceback[-8:])
                    print(
                        f"[poller]   {stat.size_diff / 1024:+.0f} KiB {stat.count_diff:+d} blocks: {frames}", flush=True
                    )

    threading.Thread(target=report, name="memory-report", daemon=True).start()
    call_command("health_check_poller")


def figures(pid: int) -> tuple[float, int, int] | None:
    """RSS (MiB), threads, open fds of ``pid``; None once it is gone."""
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"]), fds


def breakdown(pid: int) -> str:
    """Where the RSS of ``pid`` is, from ``/proc/<pid>/smaps``: heap, thread stacks, other anonymous, files."""
    try:
        text = pathlib.Path(f"/proc/{pid}/smaps").read_text()
    except OSError:
        return "gone"
    sizes: collections.Counter[str] = collections.Counter()
    kind = "files"
    for line in text.splitlines():
        first = line.split(" ", 1)[0]
        if "-" in first and ":" not in first:  # a mapping's header: start-end perms offset dev inode [path]
            parts = line.split()
            start, end = (int(value, 16) for value in parts[0].split("-"))
            path = parts[5] if len(parts) > 5 else ""
            if path == "[heap]":
                kind = "heap"
            elif path.startswith("["):
                kind = "other"
            elif path:
                kind = "files"
            elif end - start in (8 * 2**20, 8 * 2**20 + 4096):
                kind = "stacks"
            else:
                kind = "anon"
        elif first == "Rss:":
            sizes[kind] += int(line.split()[1])
    return "  ".join(f"{name} {sizes[name] / 1024:.1f}" for name in ("heap", "anon", "stacks", "files", "other"))


def parent(options: argparse.Namespace) -> int:
    from tests.support import PYTHON, FakeUpstream, Process, RedisServer, Reply, fixture

    replies = {
        "ok": Reply(fixture("statuspage/summary.all-operational.json")),
        "degraded": Reply(fixture("statuspage/summary.minor-actions-degraded.json")),
        "malformed": Reply(fixture("malformed/summary.truncated.json")),
        "500": Reply(b"internal error", status=500, content_type="text/plain"),
        "slow": Reply(fixture("statuspage/summary.all-operational.json"), hang_seconds=20),
    }
    directory = pathlib.Path(tempfile.mkdtemp(prefix="hs-poller-memory-"))
    redis = RedisServer(directory=str(directory / "redis"))
    (directory / "redis").mkdir()
    upstream: FakeUpstream | None = None
    poller: Process | None = None
    rows: list[tuple[float, tuple[float, int, int]]] = []
    modes = options.modes.split(",") if options.modes else list(MODES)
    for mode in modes:
        if mode not in ALL_MODES:
            raise SystemExit(f"unknown mode {mode!r}: one of {', '.join(ALL_MODES)}")

    def start_fault(mode: str) -> None:
        assert upstream is not None
        upstream.routes[SUMMARY_PATH] = replies.get(mode, replies["ok"])
        if mode == "redis-stop" and redis.process is not None:
            redis.process.signal(signal.SIGSTOP)
        elif mode == "redis-kill":
            redis.kill()

    def end_fault(mode: str) -> None:
        if mode == "redis-stop" and redis.process is not None:
            redis.process.signal(signal.SIGCONT)
        elif mode == "redis-kill":
            redis.start()  # same port, empty

    try:
        redis.start()
        upstream = FakeUpstream()
        upstream.routes[SUMMARY_PATH] = replies["ok"]
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "benchmarks.soak_site",
            "HS_SOAK_REDIS": redis.url,
            "HS_SOAK_DIR": str(directory / "store"),
            "HS_SOAK_UPSTREAM": upstream.url,
            "HS_MEMORY_WARMUP": str(options.warmup),
        }
        argv = [PYTHON, str(pathlib.Path(__file__).resolve()), "--child", "--report", str(options.report)]
        if options.tracemalloc:
            argv.append("--tracemalloc")
        poller = Process(argv, env=env, log=directory / "poller.log", name="poller")
        started = time.monotonic()
        next_sample = started
        phase = -1
        shown = 0
        while (elapsed := time.monotonic() - started) < options.duration:
            poller.assert_running()
            current = int(elapsed // options.phase) % len(modes)
            if current != phase:
                if phase >= 0:
                    end_fault(modes[phase])
                phase = current
                start_fault(modes[phase])
            if time.monotonic() >= next_sample:
                sample = figures(poller.pid)
                if sample is not None:
                    rows.append((elapsed, sample))
                    rss, threads, fds = sample
                    print(
                        f"{elapsed:6.0f} s  RSS {rss:6.1f} MiB  threads {threads:3d}  fds {fds:3d}  upstream {modes[phase]}"
                    )
                    if options.breakdown:
                        print(f"        MiB: {breakdown(poller.pid)}")
                next_sample += options.sample
            lines = poller.output.splitlines()
            for line in lines[shown:]:
                if line.startswith("[poller]") or "Traceback" in line or line.startswith(("ERROR", "CRITICAL")):
                    print(f"        {line}")
            shown = len(lines)
            time.sleep(0.2)
    finally:
        for step in (
            lambda: redis.process and redis.process.signal(signal.SIGCONT),
            lambda: poller and poller.stop(),
            lambda: upstream and upstream.stop(),
            redis.stop,
        ):
            try:
                step()
            except Exception as error:  # noqa: BLE001 - keep stopping the rest
                print(f"while stopping: {error}", file=sys.stderr)
    settled = [row for row in rows if row[0] >= options.warmup]
    if len(settled) < 2:
        print("not enough samples past the warm-up")
        return 2
    first, last = settled[0][1], settled[-1][1]
    growth = last[0] / first[0] - 1
    threads = [row[1][1] for row in settled]
    peak = max(row[1][0] for row in settled)
    print(
        f"\nafter {options.warmup:g} s of warm-up ({settled[0][0]:.0f} s -> {settled[-1][0]:.0f} s): "
        f"RSS {first[0]:.1f} -> {last[0]:.1f} MiB ({growth * 100:+.1f} %, peak {peak:.1f}), "
        f"threads {threads[0]} -> {threads[-1]} (range {min(threads)}-{max(threads)}), fds {first[2]} -> {last[2]}"
    )
    flat = growth < GROWTH_TARGET and max(threads) <= threads[0] + 2
    print(f"RSS growth under {GROWTH_TARGET * 100:g} % and threads flat: {'yes' if flat else 'NO'}")
    return 0 if flat else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=240.0, help="seconds in all (default 240)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before growth is measured (default 60)")
    parser.add_argument("--phase", type=float, default=6.0, help="seconds per upstream mode (default 6)")
    parser.add_argument("--modes", default="", help=f"comma-separated, of {', '.join(ALL_MODES)}")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--report", type=float, default=30.0, help="seconds between the poller's own reports")
    parser.add_argument("--tracemalloc", action="store_true", help="trace Python allocations in the poller")
    parser.add_argument("--breakdown", action="store_true", help="where the RSS is, at every sample")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.report, options.tracemalloc)
        return 0
    return parent(options)


if __name__ == "__main__":
    sys.exit(main())
