"""The stages of the package, written down once: each module imports only its own stage and earlier ones.

Imports inside functions count too (that is where cycles hide), and so do ``TYPE_CHECKING`` ones. A new
module must be placed in a stage here, so the order stays a decision, not an accident.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: The data flow, in order. A module may import modules of its own stage and of earlier ones.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    (
        "what to check",
        (
            "health_check",  # the package: re-exports the checks
            "health_check._version",
            "health_check._urls",
            "health_check._time",
            "health_check._incidents",
            "health_check._fork",
            "health_check._http",
            "health_check.exceptions",
            "health_check.identity",
            "health_check.base",
            "health_check.remote",
            "health_check.checks",
            "health_check.contrib*",
        ),
    ),
    ("resolving entries", ("health_check.specs",)),
    ("when to check", ("scheduler*",)),
    ("discovering endpoints", ("health_check.urlconf",)),
    (
        "what we know",
        (
            "health_check.maintenance",
            "health_check.snapshot",
            "health_check.hysteresis",
            "health_check.journal",
            "health_check.uptime",
            "health_check.dependencies",
            "health_check.store*",
            "health_check._drain",
            "health_check._index",
            "health_check.heartbeat",
            # A check, but of what the store holds (beats), so after the store; named here, it is
            # taken out of "health_check.contrib*" above.
            "health_check.contrib.heartbeat",
        ),
    ),
    (
        "who asks",
        (
            "health_check.negotiation",
            "health_check.redaction",
            "health_check.status_page",
            "health_check._syndication",
            "health_check._badge",
            "health_check.renderers",
            "health_check._request",
            "health_check._subsets",
            "health_check._results",
            "health_check._status_codes",
            "health_check._answers",
            "health_check._csp",
            "health_check._responder",
            "health_check._endpoint",
            "health_check.views",
        ),
    ),
    (
        "the Django edge",
        (
            "health_check.signals",
            "health_check._maintenance_source",
            "health_check._folding",
            "health_check.recorder",
            "health_check._indexer",
            "health_check.autostart",
            "health_check.heartbeat_view",
            "health_check.system_checks",
            "health_check.apps",
            "health_check.management*",
            "health_check.middleware",
        ),
    ),
]

#: Reads no setting of ours and imports nothing of ours: any stage may use it, but "what to check"
#: (checks read Django's own settings) and "when to check" (plain arguments only).
LEAF = "health_check.conf"
LEAF_FORBIDDEN = ("what to check", "when to check")


def stage_of(module: str) -> int | None:
    """The stage naming ``module`` itself, else the first whose pattern (``"package*"``) covers it."""
    for index, (_, patterns) in enumerate(STAGES):
        if module in patterns:
            return index
    for index, (_, patterns) in enumerate(STAGES):
        for pattern in patterns:
            if pattern.endswith("*") and (module == pattern[:-1] or module.startswith(pattern[:-1] + ".")):
                return index
    return None


def modules() -> dict[str, pathlib.Path]:
    found = {}
    for package in ("health_check", "scheduler"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(module: str, path: pathlib.Path) -> set[str]:
    """Every module of ours ``module`` imports, at any depth of its code."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # "from pkg import module"
    ours = modules()
    return {name for name in found if name in ours and name != module}


def test_layers__every_module_has_a_stage():
    """A module outside every stage is a decision nobody made: place it in STAGES (or make it the leaf)."""
    assert [name for name in modules() if name != LEAF and stage_of(name) is None] == []


def test_layers__conf_imports_nothing_of_ours():
    """conf.py is the leaf everything may read settings through, so it depends on nothing of ours."""
    assert imports_of(LEAF, modules()[LEAF]) == set()


@pytest.mark.parametrize("module", sorted(name for name in modules() if name != LEAF))
def test_layers__imports_only_earlier_stages(module):
    """Each module imports only its own stage and earlier ones (and conf, where a stage may read settings)."""
    own = stage_of(module)
    assert own is not None
    later = []
    for target in sorted(imports_of(module, modules()[module])):
        if target == LEAF:
            if STAGES[own][0] in LEAF_FORBIDDEN:
                later.append(f"{target} (settings)")
            continue
        stage = stage_of(target)
        if stage is not None and stage > own:
            later.append(f"{target} ({STAGES[stage][0]})")
    assert later == [], f"{module} ({STAGES[own][0]}) imports a later stage"
