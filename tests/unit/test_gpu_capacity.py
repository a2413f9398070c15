"""GPU capacity and the quota caps built from it (pure: no render).

The renders are checked in tests/stack/test_gpu_quotas.py: every stack's caps against what its rendered
pools provide, computed there from the render.
"""
from __future__ import annotations

from stacks.config.loader import load_stack
from stacks.config.model import NodePool
from stacks.config.types import NodeGpu
from stacks.platform_layer.gpu_capacity import gpu_capacity, max_nodes, per_gpu, pool_capacity
from stacks.platform_layer.security import user_gpu_caps, user_quota


def test_what_one_gpu_exposes():
    assert per_gpu(NodeGpu(model="T4")) == {"nvidia.com/gpu": 1}
    assert per_gpu(NodeGpu(model="A100-40GB")) == {"nvidia.com/gpu": 1}  # MIG off
    mixed = NodeGpu(model="A100-40GB", mig_config="a100-40gb-1x3g.20gb-1x2g.10gb-2x1g.5gb")
    assert per_gpu(mixed) == {"nvidia.com/mig-1g.5gb": 2, "nvidia.com/mig-2g.10gb": 1, "nvidia.com/mig-3g.20gb": 1}
    # the gpu-operator's single strategy exposes every MIG device as nvidia.com/gpu, `none` the GPU once
    assert per_gpu(NodeGpu(model="A100-40GB", mig_config="a100-40gb-7x1g.5gb"), "single") == {"nvidia.com/gpu": 7}
    assert per_gpu(NodeGpu(model="A100-40GB", mig_config="a100-40gb-7x1g.5gb"), "none") == {"nvidia.com/gpu": 1}
    # a GPU the device plugin shares: `replicas` seats, named like a whole GPU (renameByDefault off)
    shared = NodeGpu(model="T4", sharing={"mode": "mps", "replicas": 4})
    assert per_gpu(shared) == per_gpu(shared, "none") == {"nvidia.com/gpu": 4}


def test_a_pool_counts_at_its_most_nodes_where_pools_autoscale():
    pool = NodePool(name="a100", count=2, min_count=1, max_count=4,
                    gpu={"model": "A100-40GB", "per_node": 4, "mig_config": "a100-40gb-7x1g.5gb"})
    assert max_nodes(pool, autoscale=True) == 4 and max_nodes(pool, autoscale=False) == 2  # kind: count
    assert max_nodes(NodePool(name="x", count=3, min_count=1), autoscale=True) == 3  # no maxCount: count
    assert pool_capacity(pool, 4) == {"nvidia.com/mig-1g.5gb": 4 * 4 * 7}
    assert pool_capacity(NodePool(name="cpu", count=5), 5) == {}


def test_user_caps_whole_gpus_lower_only_where_the_stack_says_so():
    cfg = load_stack("openstack-prod")
    assert gpu_capacity(cfg) == {"nvidia.com/gpu": 8, "nvidia.com/mig-1g.5gb": 112}
    assert cfg.security.quota.gpus == 12 and user_gpu_caps(cfg)["nvidia.com/gpu"] == 8  # above capacity: capacity
    lower = cfg.model_copy(update={"security": cfg.security.model_copy(update={
        "quota": cfg.security.quota.model_copy(update={"gpus": 5})})})
    assert user_gpu_caps(lower) == {"nvidia.com/gpu": 5, "nvidia.com/mig-1g.5gb": 112}  # MIG slices stay at capacity
    assert not [k for k in user_quota(cfg) if k.startswith("limits.nvidia.com/")]
    assert "requests.nvidia.com/gpu" not in user_quota(load_stack("kind"))  # no GPU pool, no GPU cap
