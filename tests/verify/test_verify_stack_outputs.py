"""`swan verify STACK` reads an environment's outputs through the stack-output contract
(stacks/stack_outputs.py): its `verify` output, its `kubeconfig` and its `nodeInventory`, as
`pulumi stack output --json --show-secrets` prints them for a rendered environment; and with the
environment's expectations the cluster GPU check runs for its pools.
"""
from __future__ import annotations

import json
import os
import stat
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from stacks.config.loader import load_stack
from stacks.errors import InputError
from stacks.render import run_program
from stacks.verify.cluster import load_expectations
from stacks.verify.stack import private_inventory_file, verify_settings
from gpu_support import allocatable_per_gpu
from test_verify_cluster import _Api, kubeconfig
from verify_support import fresh_tls_secret, swan_verify

STACK = "openstack-prod"
KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n"
INVENTORY = {"all": {"hosts": {"gpu-static-01": {"ansible_host": "10.100.3.21", "ansible_port": 22,
                                                 "ansible_user": "root"}},
                     "children": {"k8s_node": {"hosts": {"gpu-static-01": None}}},
                     "vars": {"swan_join_token": "s3cr3t"}}}


@pytest.fixture(scope="module")
def deployed() -> dict:
    """openstack-prod's outputs as `pulumi stack output --json --show-secrets` prints them: the render's,
    with the secrets shown and numbers as the engine keeps them (floats)."""
    outputs = run_program(STACK).outputs
    assert outputs["kubeconfig"] == outputs["nodeInventory"] == "[secret]"

    def as_floats(value):
        if isinstance(value, dict):
            return {k: as_floats(v) for k, v in value.items()}
        if isinstance(value, list):
            return [as_floats(v) for v in value]
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    return {**as_floats(outputs), "kubeconfig": KUBECONFIG, "nodeInventory": INVENTORY}


def test_settings_come_from_the_verify_output_the_kubeconfig_and_the_inventory(deployed):
    written = []
    settings = verify_settings(deployed, STACK, inventory_file=lambda inv: written.append(inv) or "/inv.yml")
    assert settings["hub_url"] == "https://swan.cern.ch/"
    assert settings["kubeconfig"] == KUBECONFIG  # the kubeconfig output (text): the command writes it to a file
    assert settings["inventory"] == "/inv.yml" and written == [INVENTORY]
    assert settings["events_namespace"] == "swan-users" and settings["event_options"]["lcg"] == "LCG_107_cuda"
    assert set(settings["profiles"]) == set(settings["session_options"])
    expectations = load_expectations(settings["expectations"], f"{STACK}:verify.expectations")
    # whole numbers again (load_expectations refuses 28.0): the contract parsed them
    assert {p.name: p.gpu for p in expectations.pools} == {
        "cpu": {}, "gpu-t4": {"nvidia.com/gpu": 1}, "gpu-a100": {"nvidia.com/mig-1g.5gb": 28}}
    assert expectations.tls_secrets == [{"namespace": "swan", "name": "swan-tls"}]
    assert "kube-system" in expectations.namespaces  # the node labelers


def test_the_stacks_inventory_is_written_where_only_its_user_reads_it():
    from stacks.nodes.inventory import inventory_hosts

    path = Path(private_inventory_file(INVENTORY))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert yaml.safe_load(path.read_text()) == INVENTORY
    assert "gpu-static-01" in inventory_hosts(str(path), option="STACK")  # Ansible's own parser reads it


def test_a_verify_output_with_its_own_kubeconfig_or_inventory_keeps_them(deployed):
    """Older deployments put the kubeconfig into `verify`; a hand-made output may name an inventory file."""
    outputs = {**deployed, "verify": {**deployed["verify"], "kubeconfig": "/srv/kubeconfig", "inventory": "/srv/hosts"}}
    settings = verify_settings(outputs, STACK, inventory_file=lambda inv: pytest.fail("not written"))
    assert settings["kubeconfig"] == "/srv/kubeconfig" and settings["inventory"] == "/srv/hosts"


def test_a_stack_without_nodes_has_no_inventory():
    settings = verify_settings({"verify": {"hub_url": "http://swan.127.0.0.1.nip.io/"}, "kubeconfig": KUBECONFIG},
                               "kind", inventory_file=lambda inv: pytest.fail("nothing to write"))
    assert "inventory" not in settings and settings["kubeconfig"] == KUBECONFIG


@pytest.mark.parametrize("outputs, problems", [
    ({"verify": {"hub_url": "x", "hubUrl": "x", "profiles": "small"}},
     ["STACK: verify.profiles: Input should be a valid list", "STACK: verify.hubUrl: unknown key"]),
    ({"verify": {"expectations": {"pools": [{"name": "gpu", "gpu": {"amd.com/gpu": 1}}]}}},
     ["STACK: verify.expectations.pools.0.gpu.amd.com/gpu.[key]: String should match pattern"]),
    ({"verify": {}, "nodeInventory": {"all": {"hostz": {}}}}, ["STACK: nodeInventory.all.hostz: unknown key"]),
    ({"verify": {}, "kubeconfig": {"clusters": []}}, ["STACK: kubeconfig: Input should be a valid string"]),
    ({"hubUrl": "x"}, ["STACK: prod: the stack has no `verify` output (is the platform layer deployed?)"]),
])
def test_outputs_outside_the_contract_are_input_errors_naming_the_key(outputs, problems):
    with pytest.raises(InputError) as exc:
        verify_settings(outputs, "prod", inventory_file=lambda inv: "/unused")
    text = [str(p) for p in exc.value.problems]
    assert len(text) == len(problems)
    for line, start in zip(text, problems):
        assert line.startswith(start), (line, start)


# -- `swan verify STACK --only cluster` over HTTP: the environment's pools are checked -------------
def _cluster(drop_a100_node: bool = False) -> dict:
    """API answers for openstack-prod at its fewest nodes (gpu operator done), hub Deployment ready."""
    cfg = load_stack(STACK)
    items = []
    for pool in cfg.node_pools:
        for i in range((pool.min_count or pool.count) - (drop_a100_node and pool.name == "gpu-a100")):
            allocatable = {}
            if pool.gpu:
                allocatable = {r: str(n * pool.gpu.per_node) for r, n in allocatable_per_gpu(pool.gpu).items()}
            items.append({"metadata": {"name": f"{pool.name}-{i}", "labels": {"swan.cern.ch/node-pool": pool.name}},
                          "status": {"allocatable": allocatable,
                                     "conditions": [{"type": "Ready", "status": "True"}]}})
    hub = {"kind": "Deployment", "metadata": {"name": "hub", "namespace": "swan"}, "spec": {"replicas": 1},
           "status": {"readyReplicas": 1}}
    answers = {"/api/v1/nodes": {"items": items},
               "/api/v1/namespaces/swan/secrets/swan-tls": fresh_tls_secret(days=90, namespace="swan")}
    for ns in ("cert-manager", "gpu-operator", "ingress-nginx", "kube-system", "swan"):
        answers[f"/apis/apps/v1/namespaces/{ns}/daemonsets"] = {"items": []}
        answers[f"/apis/apps/v1/namespaces/{ns}/deployments"] = {"items": [hub] if ns == "swan" else []}
    return answers


@pytest.fixture
def cluster_api():
    handler = type("Api", (_Api,), {"responses": _cluster()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, handler
    server.shutdown()
    server.server_close()


def _fake_pulumi(folder: Path, outputs: dict) -> dict:
    """A `pulumi` on PATH that prints these stack outputs."""
    (folder / "outputs.json").write_text(json.dumps(outputs))
    script = folder / "bin" / "pulumi"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\ncat {folder}/outputs.json\n")
    script.chmod(0o755)
    return {"PATH": f"{script.parent}{os.pathsep}{os.environ['PATH']}"}


def test_swan_verify_stack_checks_the_environments_gpu_pools(deployed, cluster_api, tmp_path):
    server, handler = cluster_api
    text = kubeconfig(tmp_path, server.server_address[1]).read_text()
    env = _fake_pulumi(tmp_path, {**deployed, "kubeconfig": text})
    out = tmp_path / "out.json"
    proc = swan_verify(STACK, "--only", "cluster", "--json", str(out), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = {c["name"]: c for c in json.loads(out.read_text())["checks"]}
    assert checks["cluster.gpu"]["status"] == "pass"  # was skipped: "no GPU pool in the plan"
    assert checks["cluster.gpu"]["detail"] == "gpu-t4: nvidia.com/gpu=1, gpu-a100: nvidia.com/mig-1g.5gb=28"
    assert checks["cluster.tls"]["status"] == "pass" and checks["cluster.workloads"]["status"] == "pass"

    handler.responses = _cluster(drop_a100_node=True)
    proc = swan_verify(STACK, "--only", "cluster", "--json", str(out), env=env)
    assert proc.returncode == 1
    failed = [(c["name"], c["detail"]) for c in json.loads(out.read_text())["checks"] if c["status"] == "fail"]
    assert failed == [("cluster.gpu", "pool gpu-a100: no nodes match {'swan.cern.ch/node-pool': 'gpu-a100'}")]
