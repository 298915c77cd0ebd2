"""The test suite runs from a bare clone: everything it reads lives inside the repository."""

from __future__ import annotations

import pathlib
import re

from tests.support import FIXTURES

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_fixtures__read_from_inside_the_repository():
    """The upstream fixtures are the copies under tests/fixtures, not ../shared beside the checkout."""
    assert FIXTURES == ROOT / "tests" / "fixtures" / "upstream"
    assert (FIXTURES / "README.md").is_file()


def test_fixtures__every_name_the_tests_use_exists():
    """Each fixture path a test or benchmark names ("statuspage/...", "aws/...", "malformed/...") is a file."""
    pattern = re.compile(r"""["']((?:statuspage|aws|malformed)/[\w.-]+(?:/[\w.-]+)*)["']""")
    names = {
        name
        for path in [*ROOT.joinpath("tests").rglob("*.py"), *ROOT.joinpath("benchmarks").rglob("*.py")]
        if path != pathlib.Path(__file__)
        for name in pattern.findall(path.read_text())
    }
    assert len(names) > 20
    assert sorted(name for name in names if not (FIXTURES / name).is_file()) == []


def test_fixtures__nothing_reads_beside_the_checkout():
    """No test, benchmark or CI script reaches for ../shared, which a user's clone does not have."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in [
            *ROOT.joinpath("tests").rglob("*.py"),
            *ROOT.joinpath("benchmarks").rglob("*.py"),
            ROOT / ".ci" / "run",
        ]
        if re.search(r"""["'/]shared["'/]""", path.read_text()) and path != pathlib.Path(__file__)
    ]
    assert offenders == []
