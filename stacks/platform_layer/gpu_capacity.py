"""How many of each GPU extended resource an environment's node pools can provide (pure).

The user ResourceQuota caps every GPU resource at this capacity (`security.user_gpu_caps`), and an
event's quota counts its GPU resource against what its planned nodes provide
(`stacks.events.objects.resource_quota`). Both go through the functions below: `per_gpu` says which
resources one GPU exposes, `max_nodes` how many nodes a pool can have.

Per GPU (`per_gpu`), as NVIDIA's device plugin names the resources: `NodeGpu.resources_per_gpu`, the
one place that derives them (a whole GPU: one `nvidia.com/gpu`; shared through the device plugin's
time-slicing or MPS: `replicas` of `nvidia.com/gpu`, the plugin's renameByDefault being off; MIG on:
each device of the layout as `nvidia.com/mig-<profile>`, the gpu-operator's `mixed` strategy), adjusted
for the environment's MIG strategy: with `single` every MIG device is an `nvidia.com/gpu`, with `none`
the plugin ignores MIG and a GPU is one `nvidia.com/gpu`.

Per pool: that, times GPUs per node, times the most nodes the pool can have (`max_nodes`): `maxCount`
where the cloud's pools autoscale (`count` when maxCount is unset), else `count` (kind ignores both
bounds). The most, not the fewest: the cluster autoscaler adds nodes for sessions that are pending, and
a quota sized for the fewest nodes would refuse those sessions at admission, so the pool never grows.

Only node pools count: a static host or VM group with a GPU (`swan:nodes`) joins the cluster without
the pool labels and taints, and course events' nodes carry the event taint and their own quota.
"""
from __future__ import annotations

from collections.abc import Iterable

from stacks.config.model import EnvironmentConfig, NodePool
from stacks.config.types import NodeGpu

WHOLE_GPU = "nvidia.com/gpu"


def per_gpu(gpu: NodeGpu, mig_strategy: str = "mixed") -> dict[str, int]:
    """The extended resources one GPU of this kind makes allocatable, by resource name."""
    resources = dict(gpu.resources_per_gpu)
    if any(r.startswith("nvidia.com/mig-") for r in resources):
        if mig_strategy == "single":
            return {WHOLE_GPU: sum(resources.values())}
        if mig_strategy == "none":
            return {WHOLE_GPU: 1}
    return resources


def max_nodes(pool: NodePool, autoscale: bool) -> int:
    """The most nodes `pool` can have: its upper bound (`maxCount`, else `count`) where pools autoscale,
    else `count`."""
    return pool.bounds[1] if autoscale else pool.count


def pool_capacity(pool: NodePool, nodes: int, mig_strategy: str = "mixed") -> dict[str, int]:
    """The GPU resources `nodes` nodes of `pool` provide together ({} for a pool without GPUs)."""
    if pool.gpu is None or nodes <= 0:
        return {}
    gpus = nodes * pool.gpu.per_node
    return {resource: count * gpus for resource, count in per_gpu(pool.gpu, mig_strategy).items()}


def total(capacities: Iterable[dict[str, int]]) -> dict[str, int]:
    """Resource-wise sum, sorted by resource name."""
    summed: dict[str, int] = {}
    for capacity in capacities:
        for resource, count in capacity.items():
            summed[resource] = summed.get(resource, 0) + count
    return dict(sorted(summed.items()))


def gpu_capacity(cfg: EnvironmentConfig) -> dict[str, int]:
    """Every GPU resource the environment's pools provide at their largest, with how many of it."""
    from stacks.infra.clouds import cloud_of

    autoscale = cloud_of(cfg).pools_autoscale
    return total(pool_capacity(pool, max_nodes(pool, autoscale), cfg.gpu.mig_strategy) for pool in cfg.node_pools)
