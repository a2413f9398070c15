"""The plain-data glue around Ansible: inventories, event parsing, suite results, and
how a failed run is reported (no disposable hosts needed)."""
from __future__ import annotations

import pytest
import yaml

from stacks.errors import InputError
from stacks.nodes import PlaybookFailed, apply_playbook, build_inventory, write_inventory
from stacks.nodes.checks import parse_junit
from stacks.nodes.inventory import hosts_in_inventory
from stacks.nodes.runner import playbook_path, task_event


def test_inventory_from_plain_data(tmp_path):
    inventory = build_inventory(
        [{"name": "gpu-1", "address": "10.0.0.5", "groups": ["k8s_node", "nvidia_gpu"], "vars": {"nvidia_gpu_mig_enabled": True}},
         {"name": "store-1", "address": "store-1.example.org", "user": "debian", "port": 2222, "groups": ["cvmfs_client"]}],
        group_vars={"all": {"common_ntp_servers": ["ntp.example.org"]}, "k8s_node": {"k8s_node_join": False}},
    )
    path = write_inventory(inventory, tmp_path / "hosts.yml")
    assert path.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(path.read_text()) == inventory
    assert inventory["all"]["hosts"]["store-1"] == {"ansible_host": "store-1.example.org", "ansible_user": "debian", "ansible_port": 2222}
    assert hosts_in_inventory(path) == {"gpu-1": ["common", "nvidia_gpu", "k8s_node"], "store-1": ["common", "cvmfs_client"]}
    assert hosts_in_inventory(path, "k8s_node") == {"gpu-1": ["common", "nvidia_gpu", "k8s_node"]}


def test_bad_host_records_report_every_problem():
    with pytest.raises(InputError) as error:
        build_inventory([{"name": "a", "address": "10.0.0.1", "port": 70000},
                         {"name": "a", "groups": "k8s_node", "colour": "red"}])
    lines = [str(p) for p in error.value.problems]
    assert "hosts: [0].port: must be a TCP port number" in lines
    assert "hosts: [1].name: 'a' appears twice" in lines
    assert "hosts: [1].address: required: an IP address or DNS name" in lines
    assert "hosts: [1].groups: must be a list of group names" in lines
    assert any(line.startswith("hosts: [1].colour: unknown key") for line in lines)


def test_unknown_limit_and_missing_inventory_are_input_errors(tmp_path):
    path = write_inventory(build_inventory([{"name": "a", "address": "10.0.0.1"}]), tmp_path / "hosts.yml")
    with pytest.raises(InputError, match="no host matches 'nope'"):
        hosts_in_inventory(path, "nope")
    with pytest.raises(InputError, match="inventory file not found"):
        apply_playbook("site", tmp_path / "missing.yml")
    with pytest.raises(InputError, match="not found \\(known: .*site"):
        playbook_path("sight")


def test_task_events():
    changed = task_event({"event": "runner_on_ok", "event_data": {"host": "h", "role": "common", "task": "t", "res": {"changed": True}, "duration": 1.5}})
    assert (changed.host, changed.role, changed.status, changed.seconds) == ("h", "common", "changed", 1.5)
    failed = task_event({"event": "runner_on_failed", "event_data": {"host": "h", "task": "t", "res": {"msg": "non-zero return code", "stderr": "boom"}}})
    assert failed.status == "failed" and failed.message == "non-zero return code\nboom"
    secret = task_event({"event": "runner_on_failed", "event_data": {"host": "h", "task": "join", "res": {"censored": "the output has been hidden"}}})
    assert secret.message == "the output has been hidden"
    skipped = task_event({"event": "runner_on_skipped", "event_data": {"host": "h", "task": "t", "res": {"skip_reason": "Conditional result was False"}}})
    assert skipped.status == "skipped" and "Conditional" in skipped.message
    assert task_event({"event": "verbose", "event_data": {}}) is None


def test_unreachable_host_names_host_and_task(tmp_path):
    inventory = build_inventory([{"name": "nowhere", "address": "127.0.0.1", "port": 1,
                                  "vars": {"ansible_ssh_common_args": "-o ConnectTimeout=3"}}])
    with pytest.raises(PlaybookFailed) as failure:
        apply_playbook("site", inventory)
    assert failure.value.host == "nowhere"
    assert failure.value.task == "Gathering Facts"
    assert str(failure.value).startswith("nowhere: task 'Gathering Facts' failed:")
    assert failure.value.run.hosts["nowhere"].unreachable == 1


JUNIT = """<?xml version="1.0"?><testsuites><testsuite name="pytest">
<testcase classname="test_common" name="test_sshd_running[ansible://n1]" time="0.25"/>
<testcase classname="test_common" name="test_chrony_running[ansible://n1]" time="0.01"><skipped message="container: no clock"/></testcase>
<testcase classname="test_k8s_node" name="test_no_swap[ansible://n1]" time="0.5"><failure message="assert 2 == 1">details</failure></testcase>
</testsuite></testsuites>"""


def test_suite_results_from_junit():
    ok, skipped, failed = parse_junit(JUNIT, "n1")
    assert (ok.host, ok.suite, ok.test, ok.passed, ok.seconds) == ("n1", "common", "test_sshd_running", True, 0.25)
    assert skipped.passed and skipped.skipped and skipped.detail == "skipped: container: no clock"
    assert (failed.suite, failed.passed) == ("k8s_node", False) and "assert 2 == 1" in failed.detail


def test_cli_bad_input_exits_2_with_the_problem(tmp_path):
    from typer.testing import CliRunner

    from stacks.cli.main import app

    inventory = write_inventory(build_inventory([{"name": "a", "address": "127.0.0.1", "port": 1}]), tmp_path / "hosts.yml")
    runner = CliRunner()
    missing = runner.invoke(app, ["nodes", "apply", "--inventory", str(tmp_path / "none.yml")])
    assert missing.exit_code == 2 and "none.yml: inventory file not found" in missing.output
    bad_var = runner.invoke(app, ["nodes", "apply", "-i", str(inventory), "-e", "novalue"])
    assert bad_var.exit_code == 2 and "--extra-vars: novalue: expected KEY=VALUE or @FILE" in bad_var.output
    bad_book = runner.invoke(app, ["nodes", "apply", "-i", str(inventory), "--playbook", "sight"])
    assert bad_book.exit_code == 2 and "--playbook: sight: not found" in bad_book.output
    assert "Traceback" not in missing.output + bad_var.output + bad_book.output


def test_extra_vars_keep_their_types(tmp_path):
    from stacks.cli.nodes import parse_extra_vars

    extra = tmp_path / "vars.yml"
    extra.write_text("cvmfs_client_repositories: [sft.cern.ch]\nk8s_node_join: false\n")
    assert parse_extra_vars([f"@{extra}", "k8s_node_join=true", "cvmfs_client_quota_limit_mb=5000", "x=a b"]) == {
        "cvmfs_client_repositories": ["sft.cern.ch"], "k8s_node_join": True, "cvmfs_client_quota_limit_mb": 5000, "x": "a b"}


def test_content_digest_follows_role_files(tmp_path, monkeypatch):
    from stacks.nodes import runner

    roles = tmp_path / "roles"
    (roles / "common" / "tasks").mkdir(parents=True)
    task = roles / "common" / "tasks" / "main.yml"
    task.write_text("---\n[]\n")
    playbook = tmp_path / "site.yml"
    playbook.write_text("---\n- hosts: all\n  roles: [common]\n")
    monkeypatch.setattr(runner, "ROLES_PATH", roles)
    monkeypatch.setattr(runner, "REPO", tmp_path)
    before = runner.content_digest(playbook)
    assert runner.content_digest(playbook) == before
    task.write_text("---\n- ansible.builtin.debug: {msg: hi}\n")
    assert runner.content_digest(playbook) != before


def test_run_summary_is_plain_data():
    import json

    from stacks.nodes.runner import HostStats, PlaybookRun, TaskEvent

    run = PlaybookRun("/x/site.yml", "successful", 0, 12.34, {"n1": HostStats(ok=5, changed=2)},
                      [TaskEvent("n1", "common", "t1", "changed"), TaskEvent("n1", "", "t2", "changed"), TaskEvent("n1", "common", "t3", "ok")])
    summary = json.loads(json.dumps(run.summary()))
    assert summary == {"playbook": "site.yml", "status": "successful", "rc": 0, "seconds": 12.3,
                       "hosts": {"n1": {"ok": 5, "changed": 2, "failed": 0, "unreachable": 0, "skipped": 0}},
                       "changed_by_role": {"n1/common": 1, "n1/-": 1}}
