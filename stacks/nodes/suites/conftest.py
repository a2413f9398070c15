"""What the suites compare a host with: the role defaults overlaid with the host's
inventory variables, i.e. the configuration the inventory declares for it."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"


def declared_config(role: str, inventory_vars: dict) -> dict:
    """Role defaults, then the inventory's host and group variables on top."""
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    return {**defaults, **{k: v for k, v in inventory_vars.items() if k.startswith(role + "_")}}


@pytest.fixture
def declared(host, request):
    role = Path(request.node.fspath).stem.removeprefix("test_")
    return declared_config(role, host.ansible.get_variables())


@pytest.fixture
def in_container(host) -> bool:
    """True on a container host, where kernel and clock settings belong to the machine."""
    return host.run("systemd-detect-virt --container").rc == 0
