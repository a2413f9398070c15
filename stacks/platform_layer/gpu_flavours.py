"""The GPU flavours SWAN's spawner offers for a GPU pool (pure).

SWAN's spawner (swanspawner 1.2.48, `_gpuinfo.AvailableGPUs`) does not read a list of flavours:
it names them from the nodes, as NVIDIA's GPU feature discovery labels them
(`nvidia.com/gpu.product`, `nvidia.com/gpu.memory` in MiB, `nvidia.com/mig.config`) and from
their allocatable devices: `<model> (<GB> GB)` for whole GPUs, `<model> partition (<GB> GB)` for
MIG devices, where <model> is `Tesla T4` or `A100` for those, else the product label itself.
Knowing those names lets the nightly verification ask for a GPU the way a user does; the session
tests check them against the real spawner.
"""
from __future__ import annotations

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


def mig_devices(model: str, mig_config: str) -> dict[str, int]:
    """MIG devices per GPU of a layout name ({} when MIG is off)."""
    if mig_config == "all-disabled":
        return {}
    from stacks.planner.mig_parted import catalog

    return dict(catalog([model])["mig-configs"][mig_config][0].get("mig-devices", {}))


def flavours(model: str, mig_config: str) -> dict[str, str]:
    """flavour name -> extended resource, for nodes of `model` with the layout `mig_config`."""
    product, memory = GFD[model]
    devices = mig_devices(model, mig_config)
    if not devices:
        return {f"{_short(product)} ({memory // 1024} GB)": "nvidia.com/gpu"}
    return {f"{_short(product)} partition ({profile.split('.')[1][:-2]} GB)": f"nvidia.com/mig-{profile}"
            for profile in sorted(devices)}
