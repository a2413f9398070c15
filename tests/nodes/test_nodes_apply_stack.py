"""`swan nodes apply STACK`: the inventory `pulumi up` applied, read back through the Pulumi CLI.

A stand-in `pulumi` on PATH answers `pulumi stack output`; Ansible itself runs for real.
"""
from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from stacks.cli.main import app

runner = CliRunner()


@pytest.fixture
def fake_pulumi(tmp_path, monkeypatch):
    """Install a `pulumi` that prints the given stack outputs (and records its arguments)."""
    def install(outputs: dict) -> None:
        script = tmp_path / "bin" / "pulumi"
        script.parent.mkdir(exist_ok=True)
        (tmp_path / "outputs.json").write_text(json.dumps(outputs))
        script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat {tmp_path}/outputs.json\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    install.args = lambda: (tmp_path / "args").read_text().split()
    return install


def test_stack_without_nodes_is_a_clear_error(fake_pulumi):
    fake_pulumi({"hubUrl": "https://swan.example.org/"})
    result = runner.invoke(app, ["nodes", "apply", "openstack-prod"])
    assert result.exit_code == 2
    assert "STACK: openstack-prod: the stack has no nodeInventory output" in result.stderr
    assert fake_pulumi.args() == ["stack", "output", "--json", "--show-secrets", "-s", "openstack-prod"]


def test_stack_inventory_is_applied_and_a_failure_names_host_and_task(fake_pulumi):
    inventory = {"all": {"hosts": {"gpu-static-01": {"ansible_host": "127.0.0.1", "ansible_port": 9,
                                                      "ansible_user": "root"}},
                         "children": {"node_exporter": {"hosts": {"gpu-static-01": None}}}}}
    fake_pulumi({"nodeInventory": inventory})
    result = runner.invoke(app, ["nodes", "apply", "openstack-prod"])
    assert result.exit_code == 1
    assert "gpu-static-01" in result.stdout and "Gathering Facts" in result.stdout


def test_stack_and_inventory_are_exclusive(tmp_path):
    for args in ([], ["prod", "--inventory", str(tmp_path / "hosts.yml")]):
        result = runner.invoke(app, ["nodes", "apply", *args])
        assert result.exit_code == 2
        assert "swan nodes apply: STACK|--inventory: give exactly one of STACK or --inventory" in result.stderr
