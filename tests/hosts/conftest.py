"""Fixtures that boot disposable Debian hosts (see disposable_hosts.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from disposable_hosts import lab_session  # noqa: E402


@pytest.fixture(scope="session")
def lab():
    """One bridge + apt proxy for the session; tests boot their own fresh hosts on it."""
    with lab_session() as session:
        yield session
