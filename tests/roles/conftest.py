"""Role tests reuse the host harness of tests/hosts and report, at the end of the run,
every step the test hosts cannot exercise (vendor repositories, GPUs, a cluster)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hosts"))

from disposable_hosts import lab_session  # noqa: E402

NOT_TESTED_HERE: list[str] = []


@pytest.fixture(scope="session")
def lab():
    with lab_session() as session:
        yield session


@pytest.fixture(scope="session")
def not_tested_here():
    """Tests append one plain line per step they skip; printed in the terminal summary."""
    return NOT_TESTED_HERE


def pytest_terminal_summary(terminalreporter):
    if NOT_TESTED_HERE:
        terminalreporter.section("role steps not exercised on the test hosts")
        for line in dict.fromkeys(NOT_TESTED_HERE):
            terminalreporter.write_line(line)
