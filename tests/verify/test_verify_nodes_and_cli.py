"""Node check glue, bad arguments (exit 2 naming the option), stack outputs, profile parsing."""
from __future__ import annotations

import json
import sys

import pytest

from stacks.errors import InputError
from stacks.verify.hub import is_gpu_profile, profiles_in_form
from stacks.verify.model import Status
from stacks.verify.nodes import node_checks, rows_from_suite_results
from stacks.verify.runner import run_checks
from stacks.nodes.checks import SuiteResult
from stacks.verify.stack import read_stack_outputs, verify_settings
from test_verify_cluster import api_server, kubeconfig  # noqa: F401 - a local API server: a run that passes
from verify_support import EXPECT, PROFILE_FORM, swan_verify


Result = SuiteResult  # what stacks.nodes.run_node_suites returns


SUITE_RESULTS = [
    Result("node-1", "common", "test_chrony_running", True, 0.5),
    Result("node-1", "common", "test_sysctl", True, 0.1, "skipped: container", True),
    Result("node-1", "cvmfs_client", "test_repo_mounted", False, 1.5, "AssertionError: /cvmfs/sft.cern.ch not mounted"),
    Result("node-1", "cvmfs_client", "test_config", True, 0.2),
    Result("node-2", "common", "test_chrony_running", True, 0.4),
]


def test_suite_results_become_one_row_per_host_and_suite():
    rows = rows_from_suite_results(SUITE_RESULTS)
    assert [(r.name, r.status) for r in rows] == [
        ("nodes.common@node-1", Status.PASS), ("nodes.cvmfs_client@node-1", Status.FAIL),
        ("nodes.common@node-2", Status.PASS)]
    assert rows[0].detail == "2 tests passed (1 not applicable)"
    assert rows[1].detail == "1 of 2 tests failed: test_repo_mounted: AssertionError: /cvmfs/sft.cern.ch not mounted"


def test_node_check_passes_inventory_and_limit_to_the_suites(tmp_path):
    calls = []

    def runner(inventory, limit=None):
        calls.append((inventory, limit))
        return SUITE_RESULTS

    results = run_checks(node_checks("inv.yml", limit="gpu", runner=runner))
    assert calls == [("inv.yml", "gpu")]
    assert [r.status for r in results].count(Status.FAIL) == 1


def test_node_check_without_the_suites_module_fails_clearly(monkeypatch):
    monkeypatch.setitem(sys.modules, "stacks.nodes", None)  # as if stacks/nodes were absent
    [row] = run_checks(node_checks("inv.yml"))
    assert row.status is Status.FAIL and row.name == "nodes.suites"
    assert row.detail.startswith("node suites unavailable: cannot import stacks.nodes.run_node_suites")


def test_node_check_with_no_results_fails():
    [row] = run_checks(node_checks("inv.yml", runner=lambda inv, limit=None: []))
    assert row.status is Status.FAIL and "no results" in row.detail


@pytest.mark.parametrize("args, env, option", [
    (["--only", "hub,gpus"], {}, "--only: unknown group(s) gpus"),
    (["--hub-url", "http://127.0.0.1:1", "--token-env", "SWAN_TEST_UNSET_TOKEN"], {}, "--token-env: environment variable SWAN_TEST_UNSET_TOKEN"),
    (["--hub-url", "http://127.0.0.1:1"], {}, "--token-env: needed with --hub-url"),
    (["--kubeconfig", "/nonexistent/kubeconfig"], {}, "--kubeconfig: cannot read file /nonexistent/kubeconfig"),
    (["--inventory", "/nonexistent/hosts.yml"], {}, "--inventory: cannot read file"),
    (["--only", "cluster"], {"KUBERNETES_SERVICE_HOST": ""}, "--kubeconfig: needed for the cluster checks"),
    (["--only", "hub"], {}, "--hub-url: needed for the hub checks"),
    (["--json", "/nonexistent/dir/out.json"], {}, "--json: /nonexistent/dir/out.json: folder /nonexistent/dir does not exist"),
    ([], {"KUBERNETES_SERVICE_HOST": ""}, "nothing to verify: give a STACK or --hub-url/--kubeconfig/--inventory"),
    (["--metrics-label", "novalue"], {}, "--metrics-label: 'novalue' is not KEY=VALUE"),
    (["--hub-url", "http://127.0.0.1:1", "--token-env", "PATH", "--event", "ml101"], {},
     "--event: needs --events-namespace"),
    (["--hub-url", "http://127.0.0.1:1", "--token-env", "PATH", "--events-namespace", "swan-users",
      "--event-options", "/etc/hostname"], {"KUBERNETES_SERVICE_HOST": ""}, "--events-namespace: reading the events needs"),
    (["--hub-url", "http://127.0.0.1:1", "--token-env", "PATH", "--events-namespace", "swan-users",
      "--kubeconfig", "/etc/hostname"], {}, "--event-options: needed with --events-namespace"),
])
def test_bad_arguments_exit_2_naming_the_option(args, env, option):
    proc = swan_verify(*args, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert option in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_expectations_file_exits_2_naming_the_key(tmp_path):
    kc = tmp_path / "kubeconfig"
    kc.write_text("apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                  "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\nusers: [{name: u, user: {token: t}}]\n")
    exp = tmp_path / "exp.yaml"
    exp.write_text("pools: [{name: ev, gpu: {nvidia.com/gpu: many}}]\n")
    proc = swan_verify("--only", "cluster", "--kubeconfig", str(kc), "--expect", str(exp))
    assert proc.returncode == 2
    assert f"{exp}: pools[0].gpu.nvidia.com/gpu: must be a whole number" in proc.stderr


def test_groups_without_input_are_skipped_with_the_reason(api_server, tmp_path):  # noqa: F811
    out = tmp_path / "out.json"
    kc = kubeconfig(tmp_path, api_server[0].server_address[1])
    proc = swan_verify("--kubeconfig", str(kc), "--expect", str(EXPECT), "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["passed"] == 5 and report["failed"] == 0
    reasons = {c["group"]: c["detail"] for c in report["checks"] if c["status"] == "skip"}
    assert reasons == {"hub": "no --hub-url given", "nodes": "no --inventory given"}


def test_stack_mode_without_the_pulumi_cli_is_a_clear_input_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match="the pulumi CLI is not on PATH"):
        read_stack_outputs("prod")


def test_stack_verify_output_is_read_and_checked():
    settings = verify_settings({"verify": {"hub_url": "https://swan.example.org", "profiles": ["cpu"]}}, "prod")
    assert settings["hub_url"] == "https://swan.example.org"
    with pytest.raises(InputError, match="no `verify` output"):
        verify_settings({}, "prod")
    with pytest.raises(InputError, match="verify.hubUrl: unknown key"):
        verify_settings({"verify": {"hubUrl": "x"}}, "prod")


def test_session_options_are_read_from_a_profile_form():
    assert profiles_in_form(PROFILE_FORM) == ["cpu", "bigmem", "gpu-a100"]
    select = '<select name="profile"><option value="lcg107">LCG 107</option><option value="gpu">GPU</option></select>' \
             '<select name="cores"><option value="4">4</option></select>'
    assert profiles_in_form(select) == ["lcg107", "gpu"]
    assert is_gpu_profile("gpu-a100", []) and is_gpu_profile("ml101", ["ml101"])
    assert not is_gpu_profile("cpu", []) and not is_gpu_profile(None, ["cpu"])


def test_metrics_are_pushed_to_a_pushgateway_under_the_labels(api_server, tmp_path):  # noqa: F811
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = []

    class Gateway(BaseHTTPRequestHandler):
        def do_PUT(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = swan_verify("--pushgateway", f"http://127.0.0.1:{server.server_address[1]}",
                           "--metrics-label", "environment=ci", *_passing_cluster(api_server, tmp_path))
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr
    [(path, content_type, body)] = received
    assert path == "/metrics/job/swan_verify/environment/ci"
    assert content_type.startswith("text/plain")
    assert 'swan_verify_success{environment="ci"} 1' in body
    assert 'swan_verify_check_skipped{environment="ci",check="hub.health",group="hub"} 1' in body


def test_an_unreachable_pushgateway_fails_the_run_with_a_message(api_server, tmp_path):  # noqa: F811
    from verify_support import free_port_for_test

    proc = swan_verify("--pushgateway", f"http://127.0.0.1:{free_port_for_test()}", *_passing_cluster(api_server, tmp_path))
    assert "5 passed, 0 failed" in proc.stdout
    assert proc.returncode == 1
    assert "could not push metrics" in proc.stdout


def _passing_cluster(api_server, tmp_path) -> list[str]:  # noqa: F811
    """Arguments of a run whose cluster checks pass (hub and nodes skipped): a target is needed."""
    return ["--kubeconfig", str(kubeconfig(tmp_path, api_server[0].server_address[1])), "--expect", str(EXPECT)]


def _fake_pulumi(tmp_path, outputs: dict | None, exit_code: int = 0):
    """A `pulumi` on PATH that answers `stack output` the way the real CLI does (the real one
    needs a backend and credentials, which tests do not have)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    body = json.dumps(outputs) if outputs is not None else ""
    script.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\n"
                      f"cat <<'EOF'\n{body}\nEOF\n"
                      + (f"echo 'error: no stack named dev' >&2\nexit {exit_code}\n" if exit_code else ""))
    script.chmod(0o755)
    import os

    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "KUBERNETES_SERVICE_HOST": "", "HUB_TOKEN": "t"}


def test_stack_argument_reads_the_verify_output(tmp_path):
    from verify_support import free_port_for_test

    url = f"http://127.0.0.1:{free_port_for_test()}"
    env = _fake_pulumi(tmp_path, {"verify": {"hub_url": url, "profiles": ["cpu"]}})
    out = tmp_path / "out.json"
    proc = swan_verify("dev", "--only", "hub", "--token-env", "HUB_TOKEN", "--json", str(out), env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (tmp_path / "args").read_text().split() == ["stack", "output", "--json", "--show-secrets", "-s", "dev"]
    checks = {c["name"]: c for c in json.loads(out.read_text())["checks"]}
    assert f"hub API at {url}/hub/api does not answer" in checks["hub.health"]["detail"]
    assert "hub.spawn[cpu]" in checks  # the session options came from the stack too


def test_stack_argument_with_a_failing_pulumi_exits_2(tmp_path):
    env = _fake_pulumi(tmp_path, None, exit_code=255)
    proc = swan_verify("dev", "--only", "hub", "--token-env", "HUB_TOKEN", env=env)
    assert proc.returncode == 2
    assert "STACK: dev: pulumi stack output failed: error: no stack named dev" in proc.stderr
