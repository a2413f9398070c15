"""GPU sharing as the gpu-operator really receives it, on every fixture stack's render (real `helm
template` of the pinned gpu-operator chart): the ClusterPolicy points the device plugin at our
ConfigMap, every shared pool's nodes select a config that ConfigMap holds, and that config shares
the GPU the way the pool declares. What the device plugin then does with it (NVIDIA's Go code)
cannot run here: the format is the one its `api/config/v1` parses (see stacks/planner/sharing.py)."""
from __future__ import annotations

import json

import pytest
import yaml

from stacks.config.loader import load_stack, stack_names

ENVIRONMENTS = [s for s in stack_names() if not s.startswith("event-")]
GPU_ENVIRONMENTS = [s for s in ENVIRONMENTS if load_stack(s).gpu_models]
PLUGIN_KEY = {"mps": "mps", "time-slicing": "timeSlicing"}


def rendered(folder, path: str) -> dict:
    return yaml.safe_load((folder / path).read_text())


def cluster_policy(folder) -> dict:
    return rendered(folder, "charts/gpu-operator/ClusterPolicy-cluster-cluster-policy.yaml")["spec"]


def plugin_configs(folder, name: str) -> dict[str, dict]:
    data = rendered(folder, f"k8s/ConfigMap-gpu-operator-{name}.yaml")["data"]
    return {key: yaml.safe_load(text) for key, text in data.items()}


def node_labels(folder, cloud: str, pool: str) -> dict[str, str]:
    """The labels a pool's nodes get: on OpenStack from its node labeler DaemonSet (`kubectl label`
    arguments), on OCI from the node pool's initialNodeLabels."""
    if cloud == "openstack":
        spec = rendered(folder, f"k8s/DaemonSet-kube-system-swan-node-labeler-{pool}.yaml")["spec"]["template"]["spec"]
        args = [a for c in spec.get("initContainers", []) + spec["containers"] for a in c.get("args") or []]
        return dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("-"))
    pools = [r for r in json.loads((folder / "resources.json").read_text())
             if r["type"] == "oci:ContainerEngine/nodePool:NodePool" and r["inputs"]["name"] == pool]
    return {label["key"]: label["value"] for label in pools[0]["inputs"]["initialNodeLabels"]}


@pytest.mark.parametrize("stack", GPU_ENVIRONMENTS)
def test_the_device_plugin_reads_our_configs_and_every_shared_pool_selects_one(renders, stack):
    folder, cfg = renders(stack), load_stack(stack)
    policy = cluster_policy(folder)
    wired = policy["devicePlugin"]["config"]
    configs = plugin_configs(folder, wired["name"])
    assert wired["default"] in configs and "sharing" not in configs[wired["default"]]
    strategy = policy["mig"]["strategy"]
    assert strategy == cfg.gpu.mig_strategy
    # main.go refuses MPS with --mig-strategy=mixed, and the operator sets MIG_STRATEGY on every node
    assert any("mps" in (c.get("sharing") or {}) for c in configs.values()) == (strategy != "mixed")
    for config in configs.values():
        assert config["version"] == "v1" and config["flags"]["migStrategy"] == strategy
    for pool in cfg.node_pools:
        if not (pool.gpu and pool.gpu.sharing):
            continue
        labels = node_labels(folder, cfg.cloud, pool.name)
        name = labels["nvidia.com/device-plugin.config"]
        sharing = configs[name]["sharing"]
        assert list(sharing) == [PLUGIN_KEY[pool.gpu.sharing.mode]], (pool.name, name)
        shared = sharing[PLUGIN_KEY[pool.gpu.sharing.mode]]
        assert shared["resources"] == [{"name": "nvidia.com/gpu", "replicas": pool.gpu.sharing.replicas}]
        # not renamed: sessions ask for nvidia.com/gpu, as SWAN's spawner does for whole GPUs
        assert shared["renameByDefault"] is False and labels["nvidia.com/mig.config"] == "all-disabled"


def test_the_fixtures_share_gpus_both_ways():
    """The stacks above really cover MPS and time-slicing (so the test cannot pass on nothing)."""
    modes = {p.gpu.sharing.mode for s in GPU_ENVIRONMENTS for p in load_stack(s).node_pools
             if p.gpu and p.gpu.sharing}
    assert modes == {"mps", "time-slicing"}
