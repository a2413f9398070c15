"""What NVIDIA's device plugin makes allocatable on a node, computed by the tests from the config as
written (not through the code under test), for fake nodes and expected resources."""
from __future__ import annotations

from stacks.planner.mig_parted import catalog


def allocatable_per_gpu(gpu) -> dict[str, int]:
    """Per GPU: the MIG layout's devices (mig-parted catalog, mixed strategy), else one `nvidia.com/gpu`,
    or `replicas` of them when the plugin shares it."""
    if gpu.mig_config != "all-disabled":
        devices = catalog([gpu.model])["mig-configs"][gpu.mig_config][0]["mig-devices"]
        return {f"nvidia.com/mig-{p}": n for p, n in devices.items()}
    return {"nvidia.com/gpu": gpu.sharing.replicas if gpu.sharing else 1}
