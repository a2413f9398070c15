"""Quotas that count every GPU resource (issue 11, item 3), on every fixture stack's render.

What the pools provide is recomputed here from what the render declares, not with
stacks.platform_layer.gpu_capacity: the most nodes of each GPU pool from its cloud resource (a Magnum
node group's maxNodeCount, else nodeCount; an OKE node pool's upper bound in the cluster autoscaler
add-on, else its size; kind has no pool resources, so its stack file's count), what one GPU exposes
from the pool's `nvidia.com/mig.config` label looked up in the mig-parted ConfigMap the gpu-operator
reads, named as the device plugin names it for the rendered MIG strategy, and the GPUs per node from
the stack file (a fact of the hardware, which no rendered resource carries).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stacks.config.loader import load_stack, stack_names
from stacks.platform_layer.gpu_flavours import flavours

STACKS = stack_names()
ENVIRONMENTS = [s for s in STACKS if not s.startswith("event-")]
EVENTS = [s for s in STACKS if s.startswith("event-")]
MAGNUM = "openstack:containerinfra/nodeGroup:NodeGroup"
OKE = "oci:ContainerEngine/nodePool:NodePool"
OKE_AUTOSCALER = "oci:ContainerEngine/addon:Addon"

# The user quota's GPU caps per fixture environment, for the record (the tests derive them too).
USER_CAPS = {
    # gpu-t4: 8 nodes (maxCount) x 1 T4; gpu-a100: 4 nodes x 4 A100 x 7 slices of 1g.5gb. The stack's
    # security.quota.gpus (12) is above the 8 T4s, so the cap is the pools'.
    "openstack-prod": {"nvidia.com/gpu": 8, "nvidia.com/mig-1g.5gb": 112},
    # as openstack-prod, plus 4 nodes x 1 T4 time-sliced 4 ways: 8 + 16 = 24 requests of nvidia.com/gpu
    # (the device plugin names a shared seat like a whole GPU), lowered to security.quota.gpus 12
    "everything-on": {"nvidia.com/gpu": 12, "nvidia.com/mig-1g.5gb": 112},
    # gpu-a10: 6 x 1 A10, gpu-a100: 2 x 8 A100 with MIG off: 22 whole GPUs; security.quota.gpus lowers it to 10.
    "oci-pilot": {"nvidia.com/gpu": 10},
    # gpu-t4: 6 whole T4s; gpu-t4-mps: 8 nodes x 1 T4 x 4 MPS replicas = 32 seats: 38, no lower cap
    "t4-shared": {"nvidia.com/gpu": 38},
    "kind": {},
}


# What each event's planned nodes provide, for the record (the test derives it from the render).
EVENT_NODES = {
    "event-ml-workshop": {"nvidia.com/mig-1g.5gb": 84},    # 64 seats: 3 nodes x 4 A100-40GB x 7
    "event-physics-course": {"nvidia.com/gpu": 27},        # 27 seats: 27 nodes x 1 T4
    "event-llm-hackathon": {"nvidia.com/mig-3g.40gb": 32},  # 22 seats: 2 hosts x 8 A100-80GB x 2
    "event-t4-course": {"nvidia.com/gpu": 60},             # 60 seats: 15 nodes x 1 T4 x 4 MPS replicas
}


def _resources(folder: Path) -> list[dict]:
    return json.loads((folder / "resources.json").read_text())


def _k8s(folder: Path, kind: str, namespace: str, name: str) -> dict:
    return yaml.safe_load((folder / "k8s" / f"{kind}-{namespace}-{name}.yaml").read_text())


def rendered_pools(folder: Path, cfg) -> list[tuple[str, dict[str, str], int]]:
    """(name, node labels, most nodes) of every node pool the render declares."""
    autoscaled: dict[str, int] = {}  # OKE: "<node pool resource>-id" -> upper bound
    for r in _resources(folder):
        if r["type"] == OKE_AUTOSCALER and r["inputs"]["addonName"] == "ClusterAutoscaler":
            (nodes,) = [c["value"] for c in r["inputs"]["configurations"] if c["key"] == "nodes"]
            for entry in nodes.split(","):
                _, high, pool_id = entry.split(":")
                autoscaled[pool_id] = int(high)
    pools = []
    for r in _resources(folder):
        inputs = r["inputs"]
        if r["type"] == MAGNUM:
            pools.append((inputs["name"], inputs["labels"], inputs.get("maxNodeCount", inputs["nodeCount"])))
        elif r["type"] == OKE:
            labels = {label["key"]: label["value"] for label in inputs["initialNodeLabels"]}
            pools.append((inputs["name"], labels,
                          autoscaled.get(f"{r['name']}-id", inputs["nodeConfigDetails"]["size"])))
    if getattr(cfg, "cloud", None) == "kind":  # kind workers: no resource of their own, never more than count
        from stacks.infra.pools import pool_labels

        pools = [(p.name, pool_labels(p), p.count) for p in cfg.node_pools]
    return pools


def per_gpu(environment_render: Path, labels: dict[str, str]) -> dict[str, int]:
    """What one GPU of a node with these labels exposes, by the environment's rendered gpu-operator: its
    MIG layout (`nvidia.com/mig.config` in the mig-parted ConfigMap) and its device-plugin config
    (`nvidia.com/device-plugin.config`, else the operator's default, in the device-plugin ConfigMap: the
    plugin's MIG strategy and sharing replicas)."""
    layouts = yaml.safe_load(_k8s(environment_render, "ConfigMap", "gpu-operator", "swan-mig-parted-config")
                             ["data"]["config.yaml"])["mig-configs"]
    plugin_configs = _k8s(environment_render, "ConfigMap", "gpu-operator", "swan-device-plugin-config")["data"]
    operator = yaml.safe_load((environment_render / "helm" / "gpu-operator.yaml").read_text())["values"]
    plugin = yaml.safe_load(plugin_configs[labels.get("nvidia.com/device-plugin.config",
                                                      operator["devicePlugin"]["config"]["default"])])
    strategy = plugin["flags"]["migStrategy"]
    (layout,) = layouts[labels["nvidia.com/mig.config"]]
    assert layout["devices"] == "all"
    if layout["mig-enabled"] and strategy == "mixed":
        return {f"nvidia.com/mig-{profile}": n for profile, n in layout["mig-devices"].items()}
    if layout["mig-enabled"] and strategy == "single":
        return {"nvidia.com/gpu": sum(layout["mig-devices"].values())}
    exposed = {"nvidia.com/gpu": 1}
    for mode in (plugin.get("sharing") or {}).values():  # time-slicing or MPS: replicas per GPU
        for resource in mode["resources"]:
            name = resource["name"] + (".shared" if mode.get("renameByDefault") else "")
            exposed = {name: resource["replicas"]}
    return exposed


def provided(environment_render: Path, pools: list[tuple[str, dict[str, str], int]],
             gpus_per_node: dict[str, int]) -> dict[str, int]:
    """Every GPU resource `pools` provide at their most nodes."""
    found: dict[str, int] = {}
    for name, labels, nodes in pools:
        if "swan.cern.ch/gpu-model" not in labels:
            continue
        for resource, n in per_gpu(environment_render, labels).items():
            found[resource] = found.get(resource, 0) + n * gpus_per_node[name] * nodes
    return found


def gpu_caps(quota: dict) -> dict[str, int]:
    hard = quota["spec"]["hard"]
    assert not [k for k in hard if k.startswith("limits.nvidia.com/")], "extended resources: requests.* only"
    return {k[len("requests."):]: int(v) for k, v in hard.items() if k.startswith("requests.nvidia.com/")}


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_the_user_quota_caps_every_gpu_resource_at_what_the_pools_provide(renders, stack):
    cfg = load_stack(stack)
    folder = renders(stack)
    capacity = provided(folder, rendered_pools(folder, cfg),
                        {p.name: p.gpu.per_node for p in cfg.node_pools if p.gpu})
    caps = gpu_caps(_k8s(folder, "ResourceQuota", cfg.security.user_namespace, "swan-users"))
    expected = dict(capacity)
    if cfg.security.quota.gpus and "nvidia.com/gpu" in expected:  # the stack's lower cap on whole GPUs
        expected["nvidia.com/gpu"] = min(expected["nvidia.com/gpu"], cfg.security.quota.gpus)
    assert caps == expected == USER_CAPS[stack]
    # every GPU resource a flavour of SWAN's form can ask for is capped
    requestable = {resource for p in cfg.node_pools if p.gpu for resource in flavours(p.gpu).values()}
    assert requestable <= set(caps)


def test_the_pools_provide_more_whole_gpus_than_the_oci_pilot_cap():
    """oci-pilot's cap of 10 whole GPUs is its own security.quota.gpus, below the 22 its pools reach."""
    cfg = load_stack("oci-pilot")
    assert cfg.security.quota.gpus == 10
    assert sum(p.max_count * p.gpu.per_node for p in cfg.node_pools if p.gpu) == 22


@pytest.mark.parametrize("stack", EVENTS)
def test_an_event_quota_counts_its_seats_and_no_other_gpu_resource(renders, stack):
    """In each environment: the event's seats of the resource its sessions ask for, never more than its
    planned nodes provide, and 0 of every other GPU resource its nodes or the environment's pools provide."""
    event = load_stack(stack).event
    folder = renders(stack)
    for env_name in event.environments:
        env = load_stack(env_name)
        env_folder = renders(env_name)
        offer = next(o for o in env.event_gpus if o.model == event.session.gpu_model)
        pools = [p for p in rendered_pools(folder, None) if p[1].get("swan.cern.ch/event") == event.name]
        nodes = provided(env_folder, pools, {name: offer.gpus_per_node for name, _, _ in pools})
        caps = gpu_caps(_k8s(folder, "ResourceQuota", env.security.user_namespace, f"swan-event-{event.name}"))
        document = json.loads(_k8s(folder, "ConfigMap", env.security.user_namespace,
                                   f"swan-event-{event.name}")["data"]["event.json"])
        resource = document["resource"]  # what the hub asks for on a session of the event
        user_caps = gpu_caps(_k8s(env_folder, "ResourceQuota", env.security.user_namespace, "swan-users"))
        assert nodes == EVENT_NODES[stack]
        assert set(caps) == set(nodes) | set(user_caps)
        assert caps[resource] == event.sessions <= nodes[resource]
        assert all(n == 0 for r, n in caps.items() if r != resource)

