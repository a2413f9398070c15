"""NVIDIA gpu-operator with the MIG manager (mixed strategy).

The mig-parted config holds every layout the planner can emit for the environment's GPU
models, so an event (or an operator) picks a layout just by labelling nodes with
`nvidia.com/mig.config=<layout name>`; nothing has to be redeployed.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks import yaml_text
from stacks.config.model import EnvironmentConfig
from stacks.infra.pools import EVENT_TAINT_KEY, GPU_TAINT_KEY
from stacks.platform_layer.k8s import PlatformArgs, child, meta

NAMESPACE = "gpu-operator"
REPOSITORY = "https://helm.ngc.nvidia.com/nvidia"
MIG_CONFIG_MAP = "swan-mig-parted-config"


def mig_parted_config(cfg: EnvironmentConfig) -> dict:
    from stacks.planner.mig_parted import catalog

    return catalog(cfg.gpu_models)


def operator_values(cfg: EnvironmentConfig) -> dict:
    # GPU nodes are tainted (and course-event nodes also carry the swan-events taint): the
    # device plugin and MIG manager must still run there, or the nodes expose no GPUs.
    tolerations = [{"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in (GPU_TAINT_KEY, EVENT_TAINT_KEY)]
    return {
        "mig": {"strategy": cfg.gpu.mig_strategy},
        "migManager": {"enabled": True, "config": {"name": MIG_CONFIG_MAP, "default": "all-disabled"}},
        "daemonsets": {"tolerations": tolerations},
        "node-feature-discovery": {"worker": {"tolerations": tolerations}},
    }



class Gpu(pulumi.ComponentResource):
    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Gpu", name, None, opts)
        cfg = args.config
        opts_ = child(self, args.provider, args.depends_on)
        config_map = k8s.core.v1.ConfigMap(
            "mig-parted-config", metadata=meta(MIG_CONFIG_MAP, NAMESPACE),
            data={"config.yaml": yaml_text.dump(mig_parted_config(cfg))}, opts=opts_)
        k8s.helm.v3.Release(
            "gpu-operator", name="gpu-operator", chart="gpu-operator", version=cfg.gpu.operator_version,
            repository_opts={"repo": REPOSITORY}, namespace=NAMESPACE, values=operator_values(cfg),
            opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(depends_on=[config_map])))
        self.register_outputs({"models": cfg.gpu_models})
