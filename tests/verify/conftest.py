"""Fixtures for the verification tests: real local JupyterHubs (tests marked `hub`) and
recorded cluster objects. Helpers live in verify_support.py."""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from localhub import start_hub  # noqa: E402
from verify_support import RECORDED  # noqa: E402


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    h = start_hub(tmp_path_factory.mktemp("hub"))
    yield h
    h.stop()


@pytest.fixture(scope="session")
def broken_hub(tmp_path_factory):
    """A hub whose spawner cannot start: the single-user command does not exist."""
    h = start_hub(tmp_path_factory.mktemp("broken-hub"), spawner_cmd=["/nonexistent/jupyterhub-singleuser"])
    yield h
    h.stop()


@pytest.fixture(scope="session")
def slow_hub(tmp_path_factory):
    """A hub whose sessions never answer in time, like a pod waiting for a node to scale up:
    the single-user process just sleeps and the hub gives up after 3 seconds."""
    h = start_hub(tmp_path_factory.mktemp("slow-hub"), spawner_cmd=["/bin/sh", "-c", "exec sleep 300", "--"],
                  extra_config="c.Spawner.http_timeout = 3")
    yield h
    h.stop()


@pytest.fixture
def recorded() -> dict:
    """A fresh copy of the recorded API responses, for tests that inject faults into it."""
    return copy.deepcopy(json.loads(RECORDED.read_text())["responses"])
