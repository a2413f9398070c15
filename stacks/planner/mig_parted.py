"""mig-parted v1 configs (the format NVIDIA's MIG manager reads) for layouts and plans.

The MIG manager applies one named config per node, chosen by the node label
`nvidia.com/mig.config=<name>`. So every layout gets a name of its own (`layout_name`),
valid as a label value, and the environment's gpu-operator holds all of them (`catalog`):
any layout the planner emits is then selectable by labelling a node.

A plan (`plan_config`) may use several layouts. It holds:
- one config per layout, `devices: all`: label each node with the layout its GPUs need;
  the plan's per-layout `count` says how many GPUs need each one. This is what event
  stacks use, since the planner does not know how many GPUs a node has.
- when there is more than one layout, one extra config `<model>-plan-<digest>` that gives
  each layout to its own device indices (`devices: [0, 1]`, then `[2]`, ...), in the
  order of the plan's layouts. It is correct for one node carrying all `gpus` GPUs of the
  plan (for example an 8-GPU server), and is not part of the catalog.
A layout of `full` is a GPU with MIG disabled (`mig-enabled: false`), named `all-disabled`.

`mig-devices` lists counts, not start slices: mig-parted tries creation orders of the
instances until NVML places them all, so any layout valid in `geometry` is reachable.
"""
from __future__ import annotations

import hashlib
import json

from stacks.planner import geometry
from stacks.planner.geometry import FULL, MODELS


def layout_name(model: str, layout: dict[str, int]) -> str:
    """Config name of one layout, e.g. `a100-40gb-1x3g.20gb-1x2g.10gb-2x1g.5gb`.

    Unique per (model, layout), at most 63 characters of `[a-z0-9.-]` starting and ending
    with an alphanumeric, so it is a valid Kubernetes label value.
    """
    model = geometry.canonical_model(model)
    order = MODELS[model].profiles
    if set(layout) == {FULL}:
        # MIG off is `all-disabled` for every model: the name the gpu-operator and SWAN's spawner know
        # (swanspawner reads any other value as a MIG layout and then offers no whole GPU)
        return "all-disabled"
    parts = [f"{layout[p]}x{p}" for p in reversed(order) if layout.get(p)]
    return "-".join([model.lower(), *parts])


def layout_entry(layout: dict[str, int], devices: str | list[int] = "all") -> dict:
    """One mig-parted device entry for `layout` on `devices`."""
    if set(layout) == {FULL}:
        return {"devices": devices, "mig-enabled": False}
    return {"devices": devices, "mig-enabled": True, "mig-devices": dict(layout)}


def catalog(models: list[str]) -> dict:
    """A v1 config with every valid layout of `models` (by layout_name) plus `all-disabled`."""
    configs: dict[str, list[dict]] = {"all-disabled": [{"devices": "all", "mig-enabled": False}]}
    for model in dict.fromkeys(geometry.canonical_model(m) for m in models):
        for layout in geometry.valid_layouts(model):
            configs[layout_name(model, layout)] = [layout_entry(layout)]
    return {"version": "v1", "mig-configs": configs}


def plan_name(model: str, layouts: list[tuple[int, dict[str, int]]]) -> str:
    """Name of the per-device config of a mixed plan: model plus a digest of the layouts."""
    model = geometry.canonical_model(model)
    digest = hashlib.sha256(json.dumps(layouts, sort_keys=True).encode()).hexdigest()[:10]
    return f"{model.lower()}-plan-{digest}"


def plan_config(model: str, layouts: list[tuple[int, dict[str, int]]]) -> dict:
    """The v1 config of a plan: one config per layout, plus a per-device one if mixed."""
    configs = {layout_name(model, layout): [layout_entry(layout)] for _, layout in layouts}
    if len(layouts) > 1:
        entries, first = [], 0
        for count, layout in layouts:
            entries.append(layout_entry(layout, list(range(first, first + count))))
            first += count
        configs[plan_name(model, layouts)] = entries
    return {"version": "v1", "mig-configs": configs}
