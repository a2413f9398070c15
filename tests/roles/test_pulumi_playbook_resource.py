"""The `AnsiblePlaybook` Pulumi resource's provider, driven the way the engine drives it,
against a fresh disposable host: create applies, update re-applies with no change, and a
failure is an error naming the host and what is wrong."""
from __future__ import annotations

import pytest

from stacks.infra.ansible_playbook import AnsiblePlaybookProvider
from stacks.nodes import build_inventory

pytestmark = pytest.mark.hosts


@pytest.fixture(scope="module")
def host(lab):
    return lab.boot("node-pulumi")


def test_create_applies_and_update_changes_nothing(lab, host):
    provider = AnsiblePlaybookProvider()
    props = {"playbook": "site", "fingerprint": "f1",
             "inventory": build_inventory([lab.inventory_host(host, ["node_exporter"])])}
    created = provider.create(props)
    assert created.outs["changed"] > 0 and created.outs["hosts"] == ["node-pulumi"]
    updated = provider.update(created.id, created.outs, {**props, "fingerprint": "f2"})
    assert updated.outs["changed"] == 0


def test_failure_names_host_and_variable(lab, host):
    bad = build_inventory([lab.inventory_host(host, ["node_exporter"], {"common_ssh_max_auth_tries": "many"})])
    with pytest.raises(RuntimeError) as failure:
        AnsiblePlaybookProvider().create({"playbook": "site", "fingerprint": "f1", "inventory": bad})
    message = str(failure.value)
    assert message.startswith("node configuration failed: node-pulumi: task ")
    assert "common_ssh_max_auth_tries" in message
