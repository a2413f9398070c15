"""The platform layer is the same on kind, OpenStack and OCI: only documented cloud values differ.

One platform config (openstack-prod's hub, storage, GPUs, security ...) is rendered on each cloud;
the resources under `swan:platform:SwanPlatform` are then compared input by input.
"""
from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import pytest
import yaml

from stack_support import platform_resources, render_stack
from stacks.infra.clouds import CLOUDS as REGISTRY

REPO = Path(__file__).resolve().parents[2]
CLOUDS = tuple(REGISTRY)  # every registered cloud: parity_stacks() has one entry per cloud

# Where the platform may differ between clouds, and why. (resource type, name, input path prefix, reason)
CLOUD_SPECIFIC = [
    ("kubernetes:helm.sh/v3:Release", "ingress-nginx", ("values", "controller"),
     "kind publishes ingress on host ports 80/443 of the control-plane node (NodePort service, "
     "nodeSelector ingress-ready, control-plane toleration); OpenStack and OCI get a LoadBalancer "
     "service from their cloud controller (Octavia, OCI load balancer)"),
    ("kubernetes:helm.sh/v3:Release", "gpu-operator", ("values", "toolkit", "enabled"),
     "the NVIDIA container toolkit comes with Oracle's GPU node images on OCI, from the operator elsewhere; the "
     "driver is the node's on every cloud (stacks/infra/clouds.py: gpu_driver_on_nodes, gpu_toolkit_on_nodes)"),
    ("kubernetes:core/v1:Namespace", "ns-ingress-nginx",
     ("metadata", "labels", "pod-security.kubernetes.io/enforce"),
     "host ports are outside the `baseline` Pod Security level: ingress-nginx is privileged on kind only"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "netpol-swan-users-allow-internet",
     ("spec", "egress", 0, "to", 0, "ipBlock", "except"),
     "user pods' internet egress excludes the API server, whose addresses are each cloud's own "
     "(security.apiServerCidrs: service IP and control-plane subnet)"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "netpol-swan-users-allow-spark-driver-api",
     ("spec", "egress", 0, "to"),
     "Spark drivers may reach exactly that cloud's API server addresses (security.apiServerCidrs)"),
    ("kubernetes:helm.sh/v3:Release", "swan", ("values", "jupyterhub", "hub", "networkPolicy", "egress", 1, "to"),
     "the hub reaches that cloud's API server addresses (security.apiServerCidrs), which may be private"),
    *[("kubernetes:core/v1:ResourceQuota", "quota-users", ("spec", "hard", f"requests.{resource}"),
       "the user quota caps each GPU resource at what the GPU pools provide at their largest: a kind pool has "
       "exactly `count` workers, an OpenStack or OCI pool may autoscale up to `maxCount`")
      for resource in ("nvidia.com/gpu", "nvidia.com/mig-1g.5gb")],
    ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "prometheusrule-swan", ("spec", "groups", 1, "rules"),
     "the GPU-pool-below-plan thresholds are the GPU resources of a pool's fewest nodes: `count` on kind, "
     "`minCount` where pools autoscale (group 1, swan-gpu, as verification has no Pushgateway here)"),
    ("kubernetes:core/v1:ConfigMap", "dashboard", ("data", "swan-<stack>.json"),
     "the dashboard's GPU panel shows the same per-pool plan (`count` on kind, `minCount` where pools autoscale)"),
    ("kubernetes:core/v1:ConfigMap", "sessions", ("data", "expect.yaml"),
     "the nightly check's cluster expectations: a kind pool has exactly `count` workers, an OpenStack or OCI "
     "pool may autoscale down to `minCount` (the GPU resources expected are those of its fewest nodes), and "
     "the cloud layer's own agents in kube-system (node labelers, kube-router) are checked there"),
]

# Platform resources only some clouds have, and why: (type, name) -> (clouds that have it, reason)
CLOUD_ONLY = {
    ("kubernetes:rbac.authorization.k8s.io/v1:Role", "swan-verify-kube-system"):
        (("openstack", "oci"), "the nightly check reads the cloud layer's own agents in kube-system (node labelers, "
                               "kube-router), so its identity may read workloads there; kind runs none"),
    ("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "swan-verify-kube-system"):
        (("openstack", "oci"), "binds that Role to the verification's ServiceAccount"),
}

PLATFORM_KEYS = ("kubernetesVersion", "nodePools", "hub", "storage", "gpu", "ingress", "spark", "monitoring",
                 "security", "verification")
# OCI shapes for the production pools: the platform never sees them (only pool names, GPUs, labels).
OCI_SHAPES = {"cpu": {"flavor": "VM.Standard.E5.Flex", "ocpus": 8, "memoryGb": 64},
              "gpu-t4": {"flavor": "VM.GPU.A10.1"}, "gpu-a100": {"flavor": "BM.GPU4.8"}}


def _swan(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    return {k.split(":", 1)[1]: v for k, v in document["config"].items() if k.startswith("swan:")}


def parity_stacks() -> dict[str, dict]:
    """The same platform config on each cloud, each with its own cloud section and API addresses."""
    config = REPO / "tests" / "fixtures" / "config"  # the tests' own stacks, not the operator examples
    prod, kind, pilot = (_swan(config / f"Pulumi.{s}.yaml") for s in ("openstack-prod", "kind", "oci-pilot"))
    platform = {k: prod[k] for k in PLATFORM_KEYS if k in prod}

    def on(cloud: str, section: dict, api_cidrs: list[str], pools: list[dict]) -> dict:
        security = {**platform["security"], "apiServerCidrs": api_cidrs}
        return {"cloud": cloud, **platform, **section, "security": security, "nodePools": pools}

    kind_pools = [{k: v for k, v in p.items() if k != "flavor"} for p in platform["nodePools"]]
    oci_pools = [{**{k: v for k, v in p.items() if k != "flavor"}, **OCI_SHAPES[p["name"]]}
                 for p in platform["nodePools"]]
    return {
        "kind": on("kind", {"kindCluster": kind["kindCluster"]}, kind["security"]["apiServerCidrs"], kind_pools),
        "openstack": on("openstack", {"openstack": prod["openstack"]}, prod["security"]["apiServerCidrs"],
                        platform["nodePools"]),
        "oci": on("oci", {"oci": pilot["oci"]}, pilot["security"]["apiServerCidrs"], oci_pools),
    }


def test_every_registered_cloud_has_a_parity_stack():
    assert set(parity_stacks()) == set(CLOUDS)


@pytest.fixture(scope="module")
def platforms(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("parity")
    (root / "config").mkdir()
    (root / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    for cloud, swan in parity_stacks().items():
        document = {"config": {f"swan:{k}": v for k, v in swan.items()}}
        (root / "config" / f"Pulumi.parity-{cloud}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWAN_PROJECT_DIR", str(root))
        return {cloud: _without_stack_name(
            platform_resources(render_stack(f"parity-{cloud}", root / "out" / cloud).resources), f"parity-{cloud}")
            for cloud in CLOUDS}


def _without_stack_name(resources: dict, stack: str) -> dict:
    """The stack's own name (alert labels, the dashboard's title and file) stands for itself on every cloud."""
    return {key: json.loads(json.dumps(resource).replace(stack, "<stack>")) for key, resource in resources.items()}


def _leaves(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path, value


def differences(a: dict, b: dict) -> set[tuple[str, str, tuple]]:
    """(type, name, input path) of every leaf that differs between two platform renders."""
    found = set()
    for key in a.keys() & b.keys():
        left, right = dict(_leaves(a[key]["inputs"])), dict(_leaves(b[key]["inputs"]))
        for path in left.keys() | right.keys():
            if left.get(path, "<absent>") != right.get(path, "<absent>"):
                found.add((*key, path))
    return found


def documented(difference: tuple[str, str, tuple]) -> bool:
    type_, name, path = difference
    return any(type_ == t and name == n and path[:len(prefix)] == prefix for t, n, prefix, _ in CLOUD_SPECIFIC)


def test_the_same_platform_resources_exist_on_every_cloud(platforms):
    keys = {cloud: set(resources) - set(CLOUD_ONLY) for cloud, resources in platforms.items()}
    assert keys["kind"] == keys["openstack"] == keys["oci"]
    for key, (clouds, _) in CLOUD_ONLY.items():
        assert {cloud for cloud in CLOUDS if key in platforms[cloud]} == set(clouds), key
    types = {type_ for type_, _ in keys["kind"]}
    # the comparison covers the whole platform: hub, GPU operator, TLS, monitoring, policies
    assert {"kubernetes:helm.sh/v3:Release", "kubernetes:networking.k8s.io/v1:NetworkPolicy",
            "kubernetes:core/v1:ConfigMap", "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
            "kubernetes:cert-manager.io/v1:ClusterIssuer", "swan:platform:Gpu"} <= types
    hub = platforms["kind"][("kubernetes:helm.sh/v3:Release", "swan")]["inputs"]["values"]
    assert isinstance(hub, dict) and hub["jupyterhub"]["hub"]["extraFiles"]  # compared, not masked


@pytest.mark.parametrize("a, b", list(combinations(CLOUDS, 2)))
def test_platforms_differ_only_in_documented_cloud_values(platforms, a, b):
    undocumented = sorted(d for d in differences(platforms[a], platforms[b]) if not documented(d))
    assert undocumented == []


def test_every_documented_difference_is_real(platforms):
    seen = differences(platforms["kind"], platforms["openstack"]) | differences(platforms["kind"], platforms["oci"])
    for type_, name, prefix, _ in CLOUD_SPECIFIC:
        assert any(t == type_ and n == name and p[:len(prefix)] == prefix for t, n, p in seen), (name, prefix)


def test_openstack_and_oci_differ_only_in_api_server_addresses(platforms):
    """... and in what their GPU images and load-balancer controllers bring (the toolkit, OCI's annotations)."""
    names = {name for _, name, _ in differences(platforms["openstack"], platforms["oci"])}
    assert names == {"netpol-swan-users-allow-internet", "netpol-swan-users-allow-spark-driver-api", "swan",
                     "gpu-operator", "ingress-nginx"}
