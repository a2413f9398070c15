"""Labels and taints every cloud puts on a node pool, so the platform can target pools alike."""
from __future__ import annotations

from stacks.config.model import NodePool

POOL_LABEL = "swan.cern.ch/node-pool"
GPU_MODEL_LABEL = "swan.cern.ch/gpu-model"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
DEVICE_PLUGIN_LABEL = "nvidia.com/device-plugin.config"  # which of the gpu-operator's plugin configs a node uses
GPU_TAINT_KEY = "nvidia.com/gpu"
EVENT_TAINT_KEY = "swan-events"  # SWAN's label and taint of course-event nodes
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"  # keeps the pod of a DaemonSet whose init containers did the work


def pool_labels(pool: NodePool) -> dict[str, str]:
    labels = {POOL_LABEL: pool.name, **pool.labels}
    if pool.gpu:
        labels[GPU_MODEL_LABEL] = pool.gpu.model
        labels[MIG_CONFIG_LABEL] = pool.gpu.mig_config
        if pool.gpu.sharing:  # unlabelled nodes use the plugin's default config (no sharing)
            labels[DEVICE_PLUGIN_LABEL] = pool.gpu.device_plugin_config
    return labels


def pool_taints(pool: NodePool) -> list[dict[str, str]]:
    """GPU pools are tainted so that only sessions asking for a GPU land there."""
    taints = [{"key": t.key, "value": t.value, "effect": t.effect} for t in pool.taints]
    if pool.gpu and not any(t["key"] == GPU_TAINT_KEY for t in taints):
        taints.append({"key": GPU_TAINT_KEY, "value": "present", "effect": "NoSchedule"})
    return taints
