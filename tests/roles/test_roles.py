"""Every role on a fresh disposable Debian host: applied twice (the second run must
change nothing), then checked with the same testinfra suites the nightly run uses."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import FLEET, NOT_EXERCISED, ROLE_HOSTS  # noqa: E402
from stacks.nodes import PlaybookFailed, apply_playbook, build_inventory, run_node_suites, write_inventory  # noqa: E402
from stacks.nodes.inventory import ROLES  # noqa: E402

pytestmark = pytest.mark.hosts


@dataclass
class Applied:
    inventory: Path
    first: object
    second: object
    suites: list


@pytest.fixture(scope="module")
def applied(lab, tmp_path_factory):
    """Boot one fresh host per role, apply site.yml twice, run every suite once."""
    hosts = lab.boot_many(list(FLEET))
    inventory = build_inventory([lab.inventory_host(h, *FLEET[h.name]) for h in hosts])
    path = write_inventory(inventory, tmp_path_factory.mktemp("fleet") / "hosts.yml")
    first = apply_playbook("site", path)
    print(f"\nfirst run of site.yml on {len(hosts)} fresh hosts: {first.seconds:.0f}s, {first.changed} changes")
    second = apply_playbook("site", path)
    print(f"second run: {second.seconds:.0f}s, {second.changed} changes")
    suites = run_node_suites(path)
    return Applied(path, first, second, suites)


@pytest.mark.parametrize("role", ROLES)
def test_first_run_configures_the_fresh_host(applied, role):
    changed = applied.first.changed_by_role()
    for host in ROLE_HOSTS[role]:
        assert changed.get((host, role), 0) > 0, f"{role} changed nothing on fresh host {host}"


@pytest.mark.parametrize("role", ROLES)
def test_second_run_changes_nothing(applied, role):
    hosts = ROLE_HOSTS[role]
    changed = [f"{e.host}: {e.task}" for e in applied.second.changed_tasks() if e.role == role and e.host in hosts]
    assert changed == [], f"{role} is not idempotent, changed on the second run: {changed}"


@pytest.mark.parametrize("role", ROLES)
def test_suite_passes(applied, role, not_tested_here):
    hosts = ROLE_HOSTS[role]
    results = [r for r in applied.suites if r.suite == role and r.host in hosts]
    assert results, f"no checks of {role} ran"
    failures = [f"{r.host} {r.test}: {r.detail}" for r in results if not r.passed]
    assert failures == []
    assert any(r.passed and not r.skipped for r in results)
    not_tested_here.extend(NOT_EXERCISED[role])
    not_tested_here.extend(f"{role}: {r.test} {r.detail}" for r in results if r.skipped and r.host == hosts[0])


def test_switched_off_vendor_steps_leave_no_vendor_repository(applied, lab):
    """The install switches really skip the vendor steps (no .sources, no keys)."""
    for name in FLEET:
        listing = lab.hosts[name].ssh(lab.key, "ls /etc/apt/sources.list.d /etc/apt/keyrings 2>/dev/null").stdout
        assert ".sources" not in listing and ".asc" not in listing, f"{name}: {listing}"


BAD_VARIABLES = [
    ("cvmfs_client", {"cvmfs_client_quota_limit_mb": "lots"}, "cvmfs_client_quota_limit_mb"),
    ("common", {"common_ssh_permit_root_login": "yes"}, "common_ssh_permit_root_login"),
    ("eos_client", {"eos_client_instances": [{"name": "user"}]}, "eos_client_instances"),
    ("nvidia_gpu", {"nvidia_gpu_mig_config": {"version": "v2", "mig-configs": {}}}, "nvidia_gpu_mig_config"),
    ("k8s_node", {"k8s_node_sysctls": ["net.ipv4.ip_forward=1"]}, "k8s_node_sysctls"),
    ("node_exporter", {"node_exporter_collectors_enabled": {"systemd": True}}, "node_exporter_collectors_enabled"),
    # Checked by the roles' first tasks, before any change:
    ("k8s_node", {"k8s_node_join": True, "k8s_node_join_address": "10.0.0.1:6443"}, "k8s_node_join_token"),
    ("eos_client", {"eos_client_keytab": ""}, "eos_client_keytab"),
    ("eos_client", {"eos_client_install_packages": True}, "eos_client_repository"),
]


@pytest.mark.parametrize("role, bad, variable", BAD_VARIABLES, ids=[b[2] for b in BAD_VARIABLES])
def test_bad_variable_fails_fast_naming_it(applied, role, bad, variable):
    host = ROLE_HOSTS[role][0]
    with pytest.raises(PlaybookFailed) as failure:
        apply_playbook("role", applied.inventory, limit=host, extravars={"swan_role": role, **bad})
    assert failure.value.host == host
    assert variable in failure.value.message
    assert failure.value.run.changed == 0


def test_inconsistent_mig_selection_names_the_variable_and_task(applied):
    with pytest.raises(PlaybookFailed) as failure:
        apply_playbook("role", applied.inventory, limit="node-b",
                       extravars={"swan_role": "nvidia_gpu", "nvidia_gpu_mig_config_selected": "all-7g.40gb"})
    assert failure.value.host == "node-b"
    assert failure.value.task == "Check that the selected MIG configuration exists"
    assert "nvidia_gpu_mig_config_selected" in failure.value.message
    assert "swan-event-a" in failure.value.message
    assert "node-b: task 'Check that the selected MIG configuration exists'" in str(failure.value)


def test_swan_nodes_apply_reports_no_changes_on_a_configured_host(applied):
    swan = Path(sys.executable).parent / "swan"
    done = subprocess.run([str(swan), "nodes", "apply", "--inventory", str(applied.inventory), "--limit", "node-a"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done: 1 host(s), 0 change(s)" in done.stdout
    assert "node-a" in done.stdout  # the recap table


def test_private_key_given_as_content_reaches_the_host(applied, lab):
    """The Pulumi path: plain-data inventory without key files, the key as a secret string."""
    host = lab.hosts["node-a"]
    record = lab.inventory_host(host, FLEET["node-a"][0], FLEET["node-a"][1])
    del record["vars"]["ansible_ssh_private_key_file"]
    run = apply_playbook("role", build_inventory([record]), extravars={"swan_role": "node_exporter"},
                         private_key=lab.key.read_text())
    assert run.hosts["node-a"].ok > 0 and run.changed == 0
