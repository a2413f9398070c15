"""Cluster checks against RECORDED-SHAPE API objects (tests/verify/recorded/, see its `_recorded`
note), with faults injected into a copy; and `swan verify --only cluster` over HTTP with a kubeconfig."""
from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from verify_support import EXPECT, fresh_tls_secret, swan_verify
from stacks.errors import InputError
from stacks.verify.cluster import ClusterExpectations, ClusterVerification, RecordedApi, load_expectations
from stacks.verify.model import Status
from stacks.verify.runner import run_checks

BEFORE_EXPIRY = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc)  # recorded cert: valid until 2026-12-01


def expectations() -> ClusterExpectations:
    return load_expectations(yaml.safe_load(EXPECT.read_text()), str(EXPECT))


def run(responses, expect=None, now=BEFORE_EXPIRY):
    results = run_checks(ClusterVerification(RecordedApi(responses), expect or expectations(), now=now).checks())
    return {r.name: r for r in results}


def test_recorded_healthy_cluster_passes_every_check(recorded):
    got = run(recorded)
    assert {n: r.status for n, r in got.items()} == {
        "cluster.nodes": Status.PASS, "cluster.gpu": Status.PASS, "cluster.workloads": Status.PASS,
        "cluster.event-pools": Status.PASS, "cluster.tls": Status.PASS}
    assert got["cluster.gpu"].detail == "event-ml101: nvidia.com/mig-1g.5gb=28"
    assert got["cluster.nodes"].detail == "4 nodes Ready"


def _node(responses, name):
    return next(n for n in responses["/api/v1/nodes"]["items"] if n["metadata"]["name"] == name)


def test_not_ready_node_fails_nodes_with_its_reason(recorded):
    ready = next(c for c in _node(recorded, "swan-default-1")["status"]["conditions"] if c["type"] == "Ready")
    ready.update(status="Unknown", reason="NodeStatusUnknown")
    got = run(recorded)
    assert got["cluster.nodes"].status is Status.FAIL
    assert got["cluster.nodes"].detail == "1 of 4 nodes not Ready: swan-default-1 (NodeStatusUnknown)"


def test_fewer_mig_slices_than_planned_fails_gpu(recorded):
    _node(recorded, "swan-event-ml101-1")["status"]["allocatable"]["nvidia.com/mig-1g.5gb"] = "7"
    got = run(recorded)
    assert got["cluster.gpu"].status is Status.FAIL
    assert got["cluster.gpu"].detail == "pool event-ml101: nvidia.com/mig-1g.5gb allocatable 21, plan 28"


def test_whole_gpus_are_counted_too(recorded):
    for name in ("swan-event-ml101-0", "swan-event-ml101-1"):
        alloc = _node(recorded, name)["status"]["allocatable"]
        del alloc["nvidia.com/mig-1g.5gb"]
        alloc["nvidia.com/gpu"] = "2"
    e = expectations()
    e.pools[0].gpu = {"nvidia.com/gpu": 4}
    assert run(recorded, e)["cluster.gpu"].status is Status.PASS
    e.pools[0].gpu = {"nvidia.com/gpu": 6}
    assert "allocatable 4, plan 6" in run(recorded, e)["cluster.gpu"].detail


def test_daemonset_not_ready_fails_workloads(recorded):
    path = "/apis/apps/v1/namespaces/gpu-operator/daemonsets/nvidia-device-plugin-daemonset"
    recorded[path]["status"]["numberReady"] = 1
    got = run(recorded)
    assert got["cluster.workloads"].status is Status.FAIL
    assert got["cluster.workloads"].detail == "DaemonSet gpu-operator/nvidia-device-plugin-daemonset 1/2 ready"


def test_missing_declared_deployment_fails_workloads(recorded):
    del recorded["/apis/apps/v1/namespaces/jupyterhub/deployments/proxy"]
    assert run(recorded)["cluster.workloads"].detail == "Deployment jupyterhub/proxy not found"


def test_without_a_workload_list_every_workload_in_the_namespaces_is_checked(recorded):
    e = expectations()
    e.workloads = []
    recorded["/apis/apps/v1/namespaces/ingress-nginx/deployments"]["items"][0]["status"]["readyReplicas"] = 0
    got = run(recorded, e)
    assert got["cluster.workloads"].detail == "Deployment ingress-nginx/ingress-nginx-controller 0/2 ready"


def test_event_node_missing_its_taint_fails_event_pools(recorded):
    node = _node(recorded, "swan-event-ml101-0")
    node["spec"]["taints"] = [t for t in node["spec"]["taints"] if t["key"] != "swan.cern.ch/event"]
    got = run(recorded)
    assert got["cluster.event-pools"].status is Status.FAIL
    assert got["cluster.event-pools"].detail == "swan-event-ml101-0: taint(s) swan.cern.ch/event=ml101:NoSchedule missing"


def test_event_pool_without_nodes_fails_event_pools_and_gpu(recorded):
    recorded["/api/v1/nodes"]["items"] = [n for n in recorded["/api/v1/nodes"]["items"]
                                          if "event" not in n["metadata"]["name"]]
    got = run(recorded)
    assert "pool event-ml101: no nodes match" in got["cluster.event-pools"].detail
    assert "pool event-ml101: no nodes match" in got["cluster.gpu"].detail


def test_certificate_expiring_within_the_window_fails_tls(recorded):
    got = run(recorded, now=dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc))
    assert got["cluster.tls"].status is Status.FAIL
    assert got["cluster.tls"].detail == "within 14 days: jupyterhub/swan-tls expires 2026-12-01 (in 8 days)"


def test_nothing_declared_skips_plan_checks_with_the_reason(recorded):
    got = run(recorded, ClusterExpectations(namespaces=["jupyterhub"]))
    assert got["cluster.gpu"].status is Status.SKIP and got["cluster.gpu"].detail == "no GPU pool in the plan"
    assert got["cluster.event-pools"].status is Status.SKIP
    assert got["cluster.tls"].status is Status.PASS  # found by listing TLS secrets in the namespace


def test_bad_expectations_name_every_wrong_key():
    with pytest.raises(InputError) as exc:
        load_expectations({"pools": [{"name": "p", "gpu": {"amd.com/gpu": 2, "nvidia.com/gpu": -1}}],
                           "cert_days": "soon", "extra": 1}, "exp.yaml")
    text = str(exc.value)
    for fragment in ("exp.yaml: extra: unknown key", "pools[0].gpu.amd.com/gpu", "pools[0].gpu.nvidia.com/gpu",
                     "exp.yaml: cert_days"):
        assert fragment in text


# -- the real CLI over HTTP, reading objects from a local API endpoint with a bearer token ----
class _Api(BaseHTTPRequestHandler):
    responses: dict = {}
    token = "recorded-token"

    def do_GET(self):  # noqa: N802
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(401)
            self.end_headers()
            return
        body = self.responses.get(self.path) or self.responses.get(self.path.split("?")[0])
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body or {"kind": "Status", "code": 404}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def api_server(recorded):
    recorded["/api/v1/namespaces/jupyterhub/secrets/swan-tls"] = fresh_tls_secret(days=90)
    handler = type("Api", (_Api,), {"responses": recorded})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, recorded
    server.shutdown()
    server.server_close()


def kubeconfig(tmp_path, port, token="recorded-token"):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "swan",
        "clusters": [{"name": "swan", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "verify", "user": {"token": token}}],
        "contexts": [{"name": "swan", "context": {"cluster": "swan", "user": "verify"}}]}))
    return path


def test_cli_cluster_checks_over_http_pass_then_fail_on_an_injected_fault(api_server, tmp_path):
    server, responses = api_server
    kc = kubeconfig(tmp_path, server.server_address[1])
    out = tmp_path / "out.json"
    proc = swan_verify("--only", "cluster", "--kubeconfig", str(kc), "--expect", str(EXPECT), "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(out.read_text())["passed"] == 5

    responses["/apis/apps/v1/namespaces/jupyterhub/deployments/hub"]["status"]["readyReplicas"] = 0
    proc = swan_verify("--only", "cluster", "--kubeconfig", str(kc), "--expect", str(EXPECT), "--json", str(out))
    assert proc.returncode == 1
    failed = [c for c in json.loads(out.read_text())["checks"] if c["status"] == "fail"]
    assert [(c["name"], c["detail"]) for c in failed] == [("cluster.workloads", "Deployment jupyterhub/hub 0/1 ready")]


def test_cli_cluster_checks_with_a_rejected_credential_fail_with_the_api_answer(api_server, tmp_path):
    server, _ = api_server
    kc = kubeconfig(tmp_path, server.server_address[1], token="wrong")
    out = tmp_path / "out.json"
    proc = swan_verify("--only", "cluster", "--kubeconfig", str(kc), "--json", str(out))
    assert proc.returncode == 1
    nodes = json.loads(out.read_text())["checks"][0]
    assert nodes["name"] == "cluster.nodes" and nodes["status"] == "fail" and "401" in nodes["detail"]
