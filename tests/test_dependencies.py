"""depends_on: one outage, one feed item; probes and uptime see each check's true state."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from health_check.dependencies import Graph, fold_for_feed
from health_check.journal import read_transitions
from health_check.specs import CheckSpec
from health_check.store.memory import MemoryStore
from scheduler import CheckRunner
from tests.test_journal import Clock, Scripted

S = datetime.timedelta(seconds=1)


def graph(*checks: tuple[str, list[str]]) -> Graph:
    return Graph.resolve((key, {key, key.upper()}, wanted, key.title()) for key, wanted in checks)


def test_graph__names_cycles_and_unknown_names():
    found = graph(("redis", []), ("cache", ["REDIS"]), ("celery", ["redis", "broker"]))
    assert found.depends_on == {"cache": ("redis",), "celery": ("redis",)}
    assert found.dependants == {"redis": ("cache", "celery")}
    assert found.unknown == (("Celery", "broker"),)
    assert found.cycle() is None
    assert graph(("a", ["b"]), ("b", ["c"]), ("c", ["a"])).cycle() == ["a", "b", "c", "a"]
    assert graph(("a", ["a"])).depends_on == {}, "a check naming itself depends on nothing"


@dataclasses.dataclass
class Poller:
    """Three scripted checks polled by one recorder: Redis, and Cache and Celery that depend on it."""

    clock: Clock
    store: MemoryStore
    specs: dict[str, CheckSpec]
    runner: CheckRunner
    recorder: object

    def run(self, name: str, outcome: str, seconds: float = 1) -> None:
        self.clock.now += seconds * S
        spec = self.specs[name]
        spec.check.outcomes.append(outcome)
        self.runner.run(spec)

    def tick(self, seconds: float = 1) -> None:
        """A second of the poller's watch job: settle, then the rerun hook."""
        self.clock.now += seconds * S
        self.recorder.settle(False)
        self.recorder.due(list(self.specs.values()))

    def feed(self) -> list[str]:
        entries = read_transitions(self.store, [spec.key for spec in self.specs.values()], 50)
        return [entry.title for entry in fold_for_feed(entries, [spec.key for spec in self.specs.values()])]

    def journal(self, name: str) -> list[tuple[str, str, bool]]:
        entries = read_transitions(self.store, [self.specs[name].key], 50)
        return [(entry.from_state, entry.to_state, bool(entry.folded)) for entry in reversed(entries)]


@pytest.fixture
def poller(settings) -> Poller:
    from health_check._folding import dependency_graph
    from health_check.recorder import SnapshotRecorder

    settings.HEALTH_CHECK = {"STORE": "memory", "POLLER_AUTOSTART": False}
    interval = datetime.timedelta(seconds=10)
    checks = {
        "redis": Scripted(name="redis", poll_interval=interval),
        "cache": Scripted(name="cache", poll_interval=interval, depends_on=["Scripted(name='redis')"]),
        "celery": Scripted(name="celery", poll_interval=interval, depends_on="Scripted(name='redis')"),
    }
    specs = {name: CheckSpec.of(check) for name, check in checks.items()}
    store = MemoryStore()
    clock = Clock(datetime.datetime.now(datetime.UTC).replace(microsecond=0))
    recorder = SnapshotRecorder(store, stale_intervals=3, dependencies=dependency_graph(list(specs.values())))
    recorder.journal.folder.clock = clock
    poller = Poller(clock, store, specs, CheckRunner(recorder.record, clock=clock), recorder)
    for name in specs:
        poller.run(name, "ok", 0)
    return poller


def test_cascade__one_item_naming_the_dependants(poller):
    """Cache fails before Redis is polled, Redis fails, Celery after: one item, "also failing: ..."."""
    poller.run("cache", "fail")  # held: Redis looks fine yet
    assert poller.feed() == []
    poller.run("redis", "fail")  # held until its dependants had a poll (10 s + 5 s timeout)
    poller.tick()  # Cache's entry: folded, Redis fails now
    poller.run("celery", "fail", 3)  # folded at once
    assert poller.feed() == [], "the dependency's item waits for its dependants"
    poller.tick(15)
    assert poller.feed() == [
        "Scripted(name='redis'): failing - Unavailable: connection refused; "
        "also failing: Scripted(name='cache'), Scripted(name='celery')"
    ]
    # Each check's own journal is true (uptime, the status page), folded or not.
    assert poller.journal("cache") == [("ok", "error", True)]
    assert poller.journal("redis") == [("ok", "error", False)]


def test_cascade__recovery_announced_once(poller):
    """Redis recovers: one item; Cache, back meanwhile, says nothing; Celery, still failing, says so."""
    poller.run("redis", "fail")
    poller.run("cache", "fail")
    poller.run("celery", "fail")
    poller.tick(20)
    poller.run("cache", "ok")  # recovers while Redis still fails: folded
    poller.run("redis", "ok")
    poller.run("celery", "fail")  # still failing after Redis recovered
    poller.tick()
    feed = poller.feed()
    assert feed[:2] == [
        "Scripted(name='celery'): still failing after Scripted(name='redis') recovered - Unavailable: connection refused",
        "Scripted(name='redis'): recovered after 24 s",
    ]
    assert feed[2].endswith("also failing: Scripted(name='cache'), Scripted(name='celery')")
    assert len(feed) == 3
    assert poller.journal("cache") == [("ok", "error", True), ("error", "ok", True)]


def test_cascade__a_dependant_failing_alone_is_announced(poller):
    """Cache fails while Redis stays fine: after Redis's next poll, Cache's own item, with its own moment."""
    poller.run("cache", "fail")
    failed_at = poller.clock.now
    poller.run("redis", "ok", 10)
    assert poller.feed() == []
    poller.tick(6)
    assert poller.feed() == ["Scripted(name='cache'): failing - Unavailable: connection refused"]
    entry = read_transitions(poller.store, [poller.specs["cache"].key], 1)[0]
    assert entry.at == failed_at and entry.folded is None


def test_depends_on__not_part_of_the_key_and_checked():
    assert CheckSpec.of(Scripted(depends_on=["x"])).key == CheckSpec.of(Scripted()).key
    assert Scripted(depends_on="x").depends_on == ("x",)
    with pytest.raises(ValueError, match="depends_on is"):
        Scripted(depends_on=[1])


def test_system_check__cycle_and_unknown_name(settings):
    from health_check.system_checks import _check_dependencies

    a = CheckSpec.of(Scripted(name="a", depends_on=["Scripted(name='b')"]))
    b = CheckSpec.of(Scripted(name="b", depends_on=["Scripted(name='a')", "Nothing"]))
    messages = _check_dependencies([a, b], {})
    assert [(m.id, m.msg) for m in messages] == [
        (
            "health_check.E008",
            "Health check Scripted(name='b'): depends_on names 'Nothing', which is no check of any endpoint.",
        ),
        (
            "health_check.E008",
            "Health check depends_on makes a cycle: Scripted(name='a') -> Scripted(name='b') -> Scripted(name='a').",
        ),
    ]


def _t(key: str, minute: int, from_state: str, to_state: str, into: str | None = None):
    from health_check.journal import STATUS, Transition

    at = datetime.datetime(2026, 12, 4, 10, 0, tzinfo=datetime.UTC) + minute * datetime.timedelta(minutes=1)
    return Transition(
        id=f"{key}-{minute}-{to_state}",
        key=key,
        name=key,
        kind=STATUS,
        from_state=from_state,
        to_state=to_state,
        at=at,
        message="",
        title=f"{key}: {to_state}",
        folded={"into": into, "label": key.title()} if into else None,
    )


def test_fold_for_feed__the_outage_the_entry_happened_in():
    """D fails 10:00, back 10:05, fails again 10:06: A folded at 10:04 belongs to the first item."""
    entries = [
        _t("d", 0, "ok", "error"),
        _t("a", 4, "ok", "error", into="d"),
        _t("d", 5, "error", "ok"),
        _t("d", 6, "ok", "error"),
    ]
    feed = [e.title for e in fold_for_feed(list(reversed(entries)), ["d", "a"])]
    assert feed == ["d: error", "d: ok", "d: error; also failing: A"]


def test_fold_for_feed__a_chain_names_every_dependant_at_its_root():
    """A depends on B, B on C: C's item names B and A; a dependant found a moment early still counts."""
    entries = [
        _t("a", 0, "ok", "error", into="b"),
        _t("c", 1, "ok", "error"),
        _t("b", 1, "ok", "error", into="c"),
    ]
    feed = [e.title for e in fold_for_feed(list(reversed(entries)), ["a", "b", "c"])]
    assert feed == ["c: error; also failing: A, B"]


def test_cascade__a_dependant_degraded_on_its_own_is_announced(poller):
    """A warning while Redis fails is the dependant's own news, not folded."""
    poller.run("redis", "fail")
    poller.run("cache", "warn")
    poller.tick(20)
    assert poller.feed() == [
        "Scripted(name='cache'): degraded - Warning: replication lag 40 s",
        "Scripted(name='redis'): failing - Unavailable: connection refused",
    ]
