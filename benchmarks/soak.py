"""A soak of one fleet-mode host through seeded random faults, printing each invariant with its figure.

The host runs on 127.0.0.1 only: a private ``redis-server`` on a free port (the store and the
application check's target), a standalone ``manage.py health_check_poller``, gunicorn with 2 sync
workers serving ``benchmarks/soak_site.py`` (node, application and pipeline tiers, each as JSON and
``?format=rss``), and a fake Statuspage upstream. Probers hit every endpoint at a steady rate and record
status, latency, body and the worker that answered (``X-Soak-Worker``, set by the site's middleware)
while faults are applied one at a time: poller SIGKILL (then restarted), Redis SIGKILL (then restarted
empty), Redis SIGSTOP/SIGCONT, upstream degraded, malformed, HTTP 500 or 20 s slow.

Everything it starts is stopped in ``finally`` blocks, also on SIGINT/SIGTERM.

    python benchmarks/soak.py [--seed 1] [--duration 1200] [--rate 30] [--faults poller-kill,redis-kill,...]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import pathlib
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import (  # noqa: E402 - after the path is set
    PYTHON,
    FakeUpstream,
    Process,
    RedisServer,
    Reply,
    Server,
    fixture,
    free_port,
    http_get,
    wait_for,
)

FAULTS = (
    "poller-kill",
    "redis-kill",
    "redis-stop",
    "upstream-degraded",
    "upstream-malformed",
    "upstream-500",
    "upstream-slow",
)
SUMMARY_PATH = "/api/v2/summary.json"
ENDPOINTS = {"node": "/health/node/", "application": "/health/application/", "pipeline": "/health/pipeline/"}
# Which tier has to fail during which fault, and how long after the fault starts it may still be green:
# one poll interval (2 s), the check's budget (Redis 5 s, Statuspage 3 s) and a second of slack.
MUST_FAIL = {
    "redis-kill": ("application", 8.0),
    "redis-stop": ("application", 8.0),
    "upstream-degraded": ("pipeline", 4.0),
    "upstream-malformed": ("pipeline", 4.0),
    "upstream-500": ("pipeline", 4.0),
    "upstream-slow": ("pipeline", 7.0),
}
# Targets the summary judges by (the issue's): a feed shows an entry on every worker within 1 s,
# an endpoint is green again within 10 s of its fault ending, RSS of a lifetime grows less than 10 %.
FEED_LAG_TARGET = 1.0
RECOVER_TARGET = 10.0
#: The pipeline tier's: the bound docs/checks/upstream.md gives for the snapshot (interval + the backoff's 15 s
#: + the check's timeout + 10 % jitter) for the soak site's Statuspage (2 s interval, 3 s timeout), plus what the
#: read path adds before a probe sees it: the Redis store's read cache (0.5 s) and one probe period of the
#: endpoint (6 URLs at --rate 30: 0.2 s).
PIPELINE_RECOVER_TARGET = 2.0 + 15.0 + 3.0 + 0.2 + 0.5 + 0.2
RSS_GROWTH_TARGET = 0.10
FEED_SIZE = 50  # a feed lists its newest 50 entries; beyond that an item ages out


@dataclasses.dataclass
class Probe:
    started: float  # seconds since the soak began
    tier: str
    rss: bool
    status: int  # 0: no answer (connection refused, timeout)
    latency: float
    worker: str
    body: str


@dataclasses.dataclass
class Fault:
    kind: str
    start: float
    end: float = 0.0


class Host:
    """Redis, upstream, poller and gunicorn: started in order, all stopped by ``stop()`` whatever happened."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.directory = directory
        self.redis = RedisServer(directory=str(directory / "redis"))
        (directory / "redis").mkdir()
        self.upstream: FakeUpstream | None = None
        self.poller: Process | None = None
        self.web: Server | None = None
        self.poller_lives: list[Process] = []
        self.env: dict[str, str] = {}

    def start(self) -> None:
        self.redis.start()
        self.upstream = FakeUpstream()
        self.set_upstream("ok")
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "benchmarks.soak_site",
            "HS_SOAK_REDIS": self.redis.url,
            "HS_SOAK_DIR": str(self.directory / "store"),
            "HS_SOAK_UPSTREAM": self.upstream.url,
        }
        self.start_poller()
        port = free_port()
        argv = [
            PYTHON,
            "-m",
            "gunicorn",
            "tests.testapp.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "60",
        ]
        self.web = Server(argv, port, env=self.env, log=self.directory / "gunicorn.log", name="gunicorn")
        self.web.wait_ready()

    def start_poller(self) -> None:
        life = len(self.poller_lives)
        self.poller = Process(
            [PYTHON, "-m", "django", "health_check_poller"],
            env=self.env,
            log=self.directory / f"poller-{life}.log",
            name=f"poller #{life}",
        )
        self.poller_lives.append(self.poller)

    def set_upstream(self, mode: str) -> None:
        assert self.upstream is not None
        replies = {
            "ok": Reply(fixture("statuspage/summary.all-operational.json")),
            "upstream-degraded": Reply(fixture("statuspage/summary.minor-actions-degraded.json")),
            "upstream-malformed": Reply(fixture("malformed/summary.truncated.json")),
            "upstream-500": Reply(b"internal error", status=500, content_type="text/plain"),
            "upstream-slow": Reply(fixture("statuspage/summary.all-operational.json"), hang_seconds=20),
        }
        self.upstream.routes[SUMMARY_PATH] = replies[mode]

    def stop(self) -> None:
        for step in (
            lambda: self.web and self.web.stop(),
            lambda: [life.stop() for life in self.poller_lives],
            lambda: self.upstream and self.upstream.stop(),
            self.redis.stop,
        ):
            try:
                step()
            except Exception as error:  # noqa: BLE001 - keep stopping the rest
                print(f"while stopping: {error}", file=sys.stderr)


# -- process figures -----------------------------------------------------------------------------------


def process_figures(pid: int) -> tuple[float, int, int] | None:
    """RSS in MiB, open fds, threads of ``pid`` (None once it is gone)."""
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, fds, int(fields["Threads"])


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


# -- the run ---------------------------------------------------------------------------------------------


class Soak:
    def __init__(self, options: argparse.Namespace, host: Host) -> None:
        self.options = options
        self.host = host
        self.began = time.monotonic()
        self.stopping = threading.Event()
        self.probes: list[Probe] = []
        self.faults: list[Fault] = []
        self.samples: list[tuple[float, str, tuple[float, int, int]]] = []
        self.lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.began

    def prober(self, index: int, threads: int) -> None:
        assert self.host.web is not None
        urls = [(tier, rss) for tier in ENDPOINTS for rss in (False, True)]
        period = threads / self.options.rate
        step = index
        next_at = time.monotonic() + period * index / threads
        while not self.stopping.is_set():
            tier, rss = urls[step % len(urls)]
            step += 1
            url = f"http://127.0.0.1:{self.host.web.port}{ENDPOINTS[tier]}" + ("?format=rss" if rss else "")
            started = self.now()
            tick = time.monotonic()
            try:
                response = http_get(url, headers={"Accept": "application/json"}, timeout=10)
                status, worker, body = response.status, response.headers.get("X-Soak-Worker", "?"), response.body
            except OSError as error:
                status, worker, body = 0, "?", str(error)
            probe = Probe(started, tier, rss, status, time.monotonic() - tick, worker, body)
            with self.lock:
                self.probes.append(probe)
            next_at += period
            self.stopping.wait(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at, time.monotonic() - period)  # a slow answer does not cause a burst

    def sampler(self) -> None:
        while not self.stopping.is_set():
            pids: list[tuple[str, int]] = []
            if self.host.poller is not None and self.host.poller.alive():
                pids.append((f"poller #{len(self.host.poller_lives) - 1}", self.host.poller.pid))
            if self.host.web is not None:
                pids += [(f"worker {pid}", pid) for pid in children(self.host.web.pid)]
            for name, pid in pids:
                figures = process_figures(pid)
                if figures is not None:
                    self.samples.append((self.now(), name, figures))
            self.stopping.wait(5.0)

    def fault(self, kind: str, seconds: float) -> None:
        record = Fault(kind, self.now())
        self.faults.append(record)
        host = self.host
        try:
            if kind == "poller-kill":
                assert host.poller is not None
                host.poller.kill()
                self.stopping.wait(seconds)
            elif kind == "redis-kill":
                host.redis.kill()
                self.stopping.wait(seconds)
            elif kind == "redis-stop":
                assert host.redis.process is not None
                host.redis.process.signal(signal.SIGSTOP)
                self.stopping.wait(seconds)
            else:
                host.set_upstream(kind)
                self.stopping.wait(seconds)
        finally:
            if kind == "poller-kill":
                host.start_poller()
            elif kind == "redis-kill":
                host.redis.start()  # same port, empty
            elif kind == "redis-stop" and host.redis.process is not None:
                host.redis.process.signal(signal.SIGCONT)
            elif kind.startswith("upstream-"):
                host.set_upstream("ok")
            record.end = self.now()

    def run(self) -> None:
        rng = random.Random(self.options.seed)
        threads = 4
        workers = [threading.Thread(target=self.prober, args=(i, threads), daemon=True) for i in range(threads)]
        workers.append(threading.Thread(target=self.sampler, daemon=True))
        for thread in workers:
            thread.start()
        try:
            quiet_until = self.options.duration - 25  # the tail shows recovery
            self.stopping.wait(15)  # a clean baseline first
            while not self.stopping.is_set() and self.now() < quiet_until:
                kind = rng.choice(self.options.faults)
                seconds = 25.0 if kind == "upstream-slow" else rng.uniform(6, 15)
                if self.now() + seconds > quiet_until:
                    break
                print(f"[{self.now():7.1f} s] {kind} for {seconds:.1f} s", flush=True)
                self.fault(kind, seconds)
                self.stopping.wait(rng.uniform(10, 25))
            self.stopping.wait(max(0.0, self.options.duration - self.now()))
        finally:
            self.stopping.set()
            for thread in workers:
                thread.join(timeout=15)


# -- the report -------------------------------------------------------------------------------------------


def green(probe: Probe) -> bool:
    if probe.status != 200 or probe.rss:
        return False
    try:
        answer = json.loads(probe.body)
    except ValueError:
        return False
    return isinstance(answer, dict) and all(value == "OK" for value in answer.values())


def foreign(probe: Probe) -> bool:
    """An answer that is not the endpoint's own: no answer, or a 5xx that is not its JSON (a failing check
    answers 500 or 503 with its JSON; a feed answers 200 whatever the checks say)."""
    if probe.status == 0:
        return True
    if probe.status < 500:
        return False
    if probe.status not in (500, 503) or probe.rss:
        return True
    try:
        answer = json.loads(probe.body)
    except ValueError:
        return True
    return not isinstance(answer, dict)  # Django's own error page is HTML


def feed_items(body: str) -> list[tuple[str, str]] | None:
    """(guid, title) of each item, or None when the body is not RSS."""
    try:
        channel = ET.fromstring(body).find("channel")  # noqa: S314 - our own server's answer
    except ET.ParseError:
        return None
    if channel is None:
        return None
    return [(item.findtext("guid") or "", item.findtext("title") or "") for item in channel.findall("item")]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def in_fault(at: float, faults: list[Fault]) -> bool:
    return any(fault.start <= at <= (fault.end or at) + 2.0 for fault in faults)


def verdict(ok: bool) -> str:
    return "held" if ok else "VIOLATED"


def report(soak: Soak, host: Host) -> None:
    probes, faults = soak.probes, soak.faults
    summary: list[str] = []
    print(f"\n== {len(probes)} probes in {soak.now():.0f} s, {len(faults)} faults (seed {soak.options.seed})")
    for kind, count in sorted(collections.Counter(f.kind for f in faults).items()):
        print(f"  {kind}: {count}")

    # Answers.
    foreigners = [p for p in probes if foreign(p)]
    print("\n-- answers")
    print(
        f"  statuses: {dict(sorted(collections.Counter((p.status, 'rss' if p.rss else 'json') for p in probes).items()))}"
    )
    for probe in foreigners[:5]:
        print(
            f"  foreign at {probe.started:.1f} s on {probe.tier}{' rss' if probe.rss else ''}: {probe.status} {probe.body[:120]!r}"
        )
    summary.append(f"no foreign 5xx or no answer: {verdict(not foreigners)} ({len(foreigners)} of {len(probes)})")
    wrong_green = []
    for fault in faults:
        if fault.kind not in MUST_FAIL:
            continue
        tier, grace = MUST_FAIL[fault.kind]
        wrong_green += [
            (fault, p) for p in probes if p.tier == tier and fault.start + grace <= p.started <= fault.end and green(p)
        ]
    for fault, probe in wrong_green[:5]:
        print(
            f"  green inside {fault.kind} ({fault.start:.1f}-{fault.end:.1f} s) at {probe.started:.1f} s on {probe.tier}"
        )
    must_fail_probes = sum(
        1
        for fault in faults
        if fault.kind in MUST_FAIL
        for p in probes
        if p.tier == MUST_FAIL[fault.kind][0] and fault.start + MUST_FAIL[fault.kind][1] <= p.started <= fault.end
    )
    summary.append(
        f"no green inside a must-fail window: {verdict(not wrong_green)} ({len(wrong_green)} of {must_fail_probes} probes)"
    )

    # Time to recover: from a fault's end to the tier's next green JSON answer.
    print("\n-- time to recover (fault end -> first green JSON answer), s")
    late: list[str] = []
    worst_by_tier: dict[str, float] = {}
    for tier in ENDPOINTS:
        target = PIPELINE_RECOVER_TARGET if tier == "pipeline" else RECOVER_TARGET
        json_probes = [p for p in probes if p.tier == tier and not p.rss]
        by_kind: dict[str, list[float]] = collections.defaultdict(list)
        never = 0
        for fault in faults:
            later = [p.started for p in json_probes if p.started >= fault.end and green(p)]
            if later:
                by_kind[fault.kind].append(later[0] - fault.end)
            else:
                never += 1
        figures = ", ".join(f"{kind} max {max(v):.1f} (n={len(v)})" for kind, v in sorted(by_kind.items()))
        tier_worst = max((max(v) for v in by_kind.values()), default=0.0)
        worst_by_tier[tier] = float("inf") if never else tier_worst
        if worst_by_tier[tier] > target:
            late.append(tier)
        print(
            f"  {tier} (target {target:g} s): {figures or 'no faults'}{f'; never green again after {never}' if never else ''}"
        )
    summary.append(
        f"every endpoint green within its target of a fault's end (node, application {RECOVER_TARGET:g} s; pipeline "
        f"{PIPELINE_RECOVER_TARGET:g} s, the documented backoff bound): {verdict(not late)} "
        f"(worst {', '.join(f'{tier} {value:.1f} s' for tier, value in worst_by_tier.items())})"
    )

    # Latency.
    print("\n-- latency, ms (answered probes)")
    answered = [p for p in probes if p.status]
    for label, chosen in (
        ("outside faults", [p.latency for p in answered if not in_fault(p.started, faults)]),
        ("during faults", [p.latency for p in answered if in_fault(p.started, faults)]),
    ):
        if chosen:
            print(
                f"  {label}: n={len(chosen)} p50 {percentile(chosen, 0.5) * 1000:.1f} p99 {percentile(chosen, 0.99) * 1000:.1f} "
                f"max {max(chosen) * 1000:.1f}"
            )
    for kind in sorted({f.kind for f in faults}):
        chosen = [p.latency for p in answered if in_fault(p.started, [f for f in faults if f.kind == kind])]
        if chosen:
            print(f"    {kind}: p99 {percentile(chosen, 0.99) * 1000:.1f} max {max(chosen) * 1000:.1f}")
    outside = [p.latency for p in answered if not in_fault(p.started, faults)]
    summary.append(
        f"latency outside faults p99 under 100 ms: {verdict(percentile(outside, 0.99) < 0.1 if outside else False)} "
        f"(p99 {percentile(outside, 0.99) * 1000:.1f} ms, max {max(outside, default=0) * 1000:.1f} ms)"
    )

    # Feeds: agreement across workers, items withdrawn, items lost.
    print("\n-- feeds")
    max_lag, lagging, single, withdrawn_total, lost_total, stale_unrecovered = 0.0, 0, 0, 0, 0, 0
    for tier in ENDPOINTS:
        feed = [(p, feed_items(p.body)) for p in probes if p.tier == tier and p.rss and p.status == 200]
        feed = [(p, items) for p, items in feed if items is not None]
        workers = sorted({p.worker for p, _ in feed})
        titles: dict[str, str] = {}
        first_seen: dict[str, dict[str, float]] = collections.defaultdict(dict)
        withdrawn: list[tuple[str, str, float, float]] = []
        present: dict[str, dict[str, float]] = collections.defaultdict(dict)  # worker -> guid -> since
        for probe, items in feed:
            guids = {guid for guid, _ in items}
            for guid, title in items:
                titles[guid] = title
                first_seen[guid].setdefault(probe.worker, probe.started)
            shown = present[probe.worker]
            if len(items) < FEED_SIZE:
                for guid in [g for g in shown if g not in guids]:
                    withdrawn.append((probe.worker, guid, shown[guid], probe.started))
                    del shown[guid]
            else:
                for guid in [g for g in shown if g not in guids]:
                    del shown[guid]  # aged out
            for guid in guids:
                shown.setdefault(guid, probe.started)
        lags: list[tuple[float, str, str, float]] = []
        for guid, seen in first_seen.items():
            t0 = min(seen.values())
            for worker in workers:
                own = [p.started for p, items in feed if p.worker == worker and p.started > t0]
                lacking = [
                    p.started
                    for p, items in feed
                    if p.worker == worker
                    and p.started > t0
                    and guid not in {g for g, _ in items}
                    and p.started < seen.get(worker, float("inf"))
                ]
                if lacking and worker in seen:  # never shown there at all is counted below
                    lags.append((max(lacking) - t0, guid, worker, t0))
                if worker not in seen and own:
                    single += 1
        lags.sort(reverse=True)
        tier_lag = lags[0][0] if lags else 0.0
        max_lag = max(max_lag, tier_lag)
        lagging += sum(1 for lag, _, _, _ in lags if lag > FEED_LAG_TARGET)
        final = {}
        for probe, items in feed:
            final[probe.worker] = items
        everything = set(first_seen)
        lost = {g for g in everything if all(g not in {x for x, _ in items} for items in final.values())}
        if any(len(items) >= FEED_SIZE for items in final.values()):
            lost = set()  # aged out, not lost
        # A stale entry is followed by a later, non-stale entry of the same check, on some worker.
        first_at = {guid: min(seen.values()) for guid, seen in first_seen.items()}
        unrecovered = set()
        for guid, title in titles.items():
            if "stale" not in title.lower():
                continue
            check = title.split(": ", 1)[0]
            if not any(
                first_at[other] > first_at[guid] and t.split(": ", 1)[0] == check and "stale" not in t.lower()
                for other, t in titles.items()
            ):
                unrecovered.add(title)
        stale_unrecovered += len(unrecovered)
        for title in sorted(unrecovered)[:5]:
            print(f"    stale, no recovery item followed: {title!r}")
        withdrawn_total += len(withdrawn)
        lost_total += len(lost)
        print(
            f"  {tier}: {len(feed)} feeds from workers {workers}; {len(everything)} guids; "
            f"final items per worker {{{', '.join(f'{w}: {len(i)}' for w, i in final.items())}}}"
        )
        for lag, guid, worker, since in lags[:3]:
            during = [f.kind for f in faults if f.start <= since <= (f.end or since) + 5]
            print(
                f"    worker {worker} without {titles[guid]!r} for {lag:.1f} s (from {since:.1f} s"
                f"{', during ' + '+'.join(during) if during else ''}) while another had it"
            )
        for worker, guid, since, gone in withdrawn[:5]:
            print(f"    withdrawn on {worker}: {titles[guid]!r} shown {since:.1f}-{gone:.1f} s")
        for guid in sorted(lost)[:5]:
            print(f"    lost: {titles[guid]!r}")
    summary.append(
        f"feeds agree across workers within {FEED_LAG_TARGET:g} s: {verdict(lagging == 0)} (max lag {max_lag:.1f} s, {lagging} item lags over target)"
    )
    summary.append(
        f"one guid per change on every worker: {verdict(single == 0)} ({single} guid-worker pairs never shown there)"
    )
    summary.append(f"no item withdrawn before it ages out: {verdict(withdrawn_total == 0)} ({withdrawn_total})")
    summary.append(
        f"every stale entry followed by its recovery: {verdict(stale_unrecovered == 0)} ({stale_unrecovered} without)"
    )
    summary.append(f"no item lost by the end: {verdict(lost_total == 0)} ({lost_total})")

    # ERROR lines.
    print("\n-- ERROR lines (logger: count)")
    errors: collections.Counter[str] = collections.Counter()
    outputs = [("gunicorn", host.web.output if host.web else "")] + [
        (life.name, life.output) for life in host.poller_lives
    ]
    tracebacks = 0
    for name, output in outputs:
        for line in output.splitlines():
            if line.startswith("ERROR ") or line.startswith("CRITICAL "):
                errors[f"{name}: {line.split()[1]}"] += 1
            tracebacks += line.startswith("Traceback")
    for key, count in errors.most_common(10):
        print(f"  {key}: {count}")
    request_errors = sum(count for key, count in errors.items() if key.endswith("django.request"))
    summary.append(
        f"no django.request ERROR line (an e-mail to ADMINS each): {verdict(request_errors == 0)} ({request_errors})"
    )
    summary.append(f"no stack trace in any output: {verdict(tracebacks == 0)} ({tracebacks})")

    # Processes over time.
    print("\n-- RSS MiB / fds / threads over time")
    by_name: dict[str, list[tuple[float, tuple[float, int, int]]]] = collections.defaultdict(list)
    for at, name, figures in soak.samples:
        by_name[name].append((at, figures))
    worst_growth = 0.0
    for name, rows in by_name.items():
        shown = rows if len(rows) <= 8 else [rows[round(i * (len(rows) - 1) / 7)] for i in range(8)]
        print(f"  {name}: " + "  ".join(f"{at:.0f}s {r:.0f}/{f}/{t}" for at, (r, f, t) in shown))
        settled = [row for row in rows if row[0] - rows[0][0] >= 30]  # past warm-up
        if len(settled) < 2:
            print(f"    lived {rows[-1][0] - rows[0][0]:.0f} s: too short for a figure after warm-up")
        else:
            growth = settled[-1][1][0] / settled[0][1][0] - 1
            worst_growth = max(worst_growth, growth)
            threads = (settled[0][1][2], max(row[1][2] for row in settled))
            print(
                f"    after warm-up: RSS {growth * 100:+.1f} %, threads {threads[0]} -> max {threads[1]}, fds {settled[0][1][1]} -> {settled[-1][1][1]}"
            )
    summary.append(
        f"RSS flat after warm-up (under {RSS_GROWTH_TARGET * 100:g} %): {verdict(worst_growth < RSS_GROWTH_TARGET)} (worst {worst_growth * 100:+.1f} %)"
    )

    print("\n== summary")
    for line in summary:
        print(f"  {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=1200.0, help="seconds (default 1200)")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma list of {', '.join(FAULTS)}")
    parser.add_argument("--rate", type=float, default=30.0, help="probes per second, all endpoints together")
    options = parser.parse_args()
    options.faults = [kind.strip() for kind in options.faults.split(",") if kind.strip()]
    unknown = set(options.faults) - set(FAULTS)
    if unknown or not options.faults:
        parser.error(f"unknown fault kinds {sorted(unknown)}; choose from {', '.join(FAULTS)}")
    if shutil.which("redis-server") is None:
        parser.error("redis-server is not installed (apt-get install redis-server)")

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    directory = pathlib.Path(tempfile.mkdtemp(prefix="hs-soak-"))
    host = Host(directory)
    soak: Soak | None = None
    try:
        host.start()
        assert host.web is not None
        port = host.web.port
        wait_for(
            lambda: all(
                green(Probe(0, t, False, r.status, 0, "", r.body))
                for t, r in (
                    (t, http_get(f"http://127.0.0.1:{port}{p}", headers={"Accept": "application/json"}))
                    for t, p in ENDPOINTS.items()
                )
            ),
            timeout=60,
            what=lambda: (
                f"every endpoint green\n{host.poller.log_tail() if host.poller else ''}\n{host.web.log_tail() if host.web else ''}"
            ),
            interval=0.5,
        )
        soak = Soak(options, host)
        print(
            f"host up: gunicorn :{port}, redis :{host.redis.port}, upstream {host.upstream.url if host.upstream else ''}"
        )
        try:
            soak.run()
        except KeyboardInterrupt:
            print("interrupted: reporting what was measured", file=sys.stderr)
            soak.stopping.set()
    except AssertionError as error:
        print(f"the host did not come up: {error}", file=sys.stderr)
        return 1
    finally:
        host.stop()
    try:
        report(soak, host)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
