"""`swan verify --only nodes` against a disposable Debian host of the roles harness
(tests/hosts/disposable_hosts.py): real ssh, real testinfra suites from stacks.nodes."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from verify_support import swan_verify

pytestmark = pytest.mark.hosts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hosts"))


def test_node_checks_report_each_suite_per_host_and_an_unreachable_host(tmp_path):
    from disposable_hosts import lab_session

    from stacks.nodes import build_inventory, write_inventory

    with lab_session() as lab:
        host = lab.boot("verify-n1")
        ghost = dict(lab.inventory_host(host), name="verify-ghost",
                     address=str(lab.network.network_address + 250))  # nothing boots there
        inventory = write_inventory(build_inventory([lab.inventory_host(host), ghost]), tmp_path / "inv.yml")
        out = tmp_path / "out.json"
        proc = swan_verify("--only", "nodes", "--inventory", str(inventory), "--json", str(out), timeout=900)
        report = json.loads(out.read_text())
        rows = {c["name"]: c for c in report["checks"]}

        # A freshly booted host has had no role applied: the common suite must find that.
        assert proc.returncode == 1, proc.stdout + proc.stderr
        common = rows["nodes.common@verify-n1"]
        assert common["status"] == "fail" and "tests failed" in common["detail"], common
        ghost_rows = [r for n, r in rows.items() if n.endswith("@verify-ghost")]
        assert ghost_rows and all(r["status"] == "fail" for r in ghost_rows)

        proc = swan_verify("--only", "nodes", "--inventory", str(inventory), "--limit", "no-such-host",
                           "--json", str(out))
        assert proc.returncode == 1
        [row] = json.loads(out.read_text())["checks"]
        assert row["name"] == "nodes.suites" and "no host matches" in row["detail"]
