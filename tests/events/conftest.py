"""Fixtures for the course-event suites."""
from __future__ import annotations

import pytest

from event_support import event_swan


@pytest.fixture
def write_event(project):
    """write_event(stack, **changes): an event stack file in the temp project."""

    def write(stack: str, **changes):
        return project.write_config(stack, event_swan(**changes))

    return write
