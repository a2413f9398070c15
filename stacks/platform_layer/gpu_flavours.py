"""The GPU flavours SWAN's spawner offers for a GPU pool (pure).

SWAN's spawner (swanspawner 1.2.48, `_gpuinfo.AvailableGPUs`) does not read a list of flavours:
it names them from the nodes, as NVIDIA's GPU feature discovery labels them
(`nvidia.com/gpu.product`, `nvidia.com/gpu.memory` in MiB, `nvidia.com/mig.config`) and from
their allocatable devices: `<model> (<GB> GB)` for whole GPUs, `<model> partition (<GB> GB)` for
MIG devices, where <model> is `Tesla T4` or `A100` for those, else the product label itself. GPUs the
device plugin shares are named by swan-iac's hub code (`shared_flavour` in hub_side/swan_iac_hub.py):
`<model> shared by <replicas>, MPS (<GB per session> GB)` or `..., time-slicing (<GB> GB)`.
Knowing those names lets the nightly verification ask for a GPU the way a user does; the session
tests check them against the real spawner.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stacks.config.types import NodeGpu

# What GPU feature discovery reports for each model the config knows: product label and memory (MiB).
GFD = {
    "T4": ("Tesla-T4", 15360),
    "V100": ("Tesla-V100-SXM2-16GB", 16384),
    "A10": ("NVIDIA-A10", 23028),
    "L4": ("NVIDIA-L4", 23034),
    "L40S": ("NVIDIA-L40S", 46068),
    "A30-24GB": ("NVIDIA-A30", 24576),
    "A100-40GB": ("NVIDIA-A100-SXM4-40GB", 40960),
    "A100-80GB": ("NVIDIA-A100-SXM4-80GB", 81920),
    "H100-80GB": ("NVIDIA-H100-80GB-HBM3", 81559),
    "H200-141GB": ("NVIDIA-H200", 143771),
}


def _short(product: str) -> str:
    return "Tesla T4" if "T4" in product else "A100" if "A100" in product else product


def node_labels(gpu: NodeGpu) -> dict[str, str]:
    """What GPU feature discovery labels a node with these GPUs (product, memory, and the sharing:
    `-SHARED` product, replicas and strategy, per k8s-device-plugin internal/lm/resource.go)."""
    product, memory = GFD[gpu.model]
    labels = {"nvidia.com/gpu.product": product, "nvidia.com/gpu.memory": str(memory),
              "nvidia.com/mig.config": gpu.mig_config}
    if gpu.sharing:
        labels.update({"nvidia.com/gpu.product": f"{product}-SHARED",
                       "nvidia.com/gpu.replicas": str(gpu.sharing.replicas),
                       "nvidia.com/gpu.sharing-strategy": gpu.sharing.mode})
    return labels


def flavours(gpu: NodeGpu) -> dict[str, str]:
    """flavour name -> extended resource, for nodes with these GPUs."""
    product, memory = GFD[gpu.model]
    resources = gpu.resources_per_gpu
    if gpu.sharing:
        replicas = gpu.sharing.replicas
        size = f"MPS ({memory / replicas / 1024:.1f} GB)" if gpu.sharing.mode == "mps" else \
            f"time-slicing ({memory // 1024} GB)"
        return {f"{_short(product)} shared by {replicas}, {size}": "nvidia.com/gpu"}
    if "nvidia.com/gpu" in resources:
        return {f"{_short(product)} ({memory // 1024} GB)": "nvidia.com/gpu"}
    return {f"{_short(product)} partition ({resource.split('.')[-1][:-2]} GB)": resource
            for resource in sorted(resources)}
