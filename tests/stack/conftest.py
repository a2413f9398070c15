"""Fixtures shared by the stack tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from stack_support import render_stack


@pytest.fixture(scope="session")
def renders(tmp_path_factory):
    """Each stack rendered once for the whole run, on first use (the renders are only read)."""
    root = tmp_path_factory.mktemp("renders")
    cache: dict[str, Path] = {}

    def get(stack: str) -> Path:
        if stack not in cache:
            cache[stack] = render_stack(stack, root / stack).folder
        return cache[stack]

    return get
