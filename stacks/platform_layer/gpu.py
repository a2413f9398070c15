"""NVIDIA gpu-operator with the MIG manager (mixed strategy) and the device plugin's sharing configs.

The mig-parted config holds every layout the planner can emit for the environment's GPU
models, so an event (or an operator) picks a layout just by labelling nodes with
`nvidia.com/mig.config=<layout name>`; nothing has to be redeployed. Likewise the device plugin's
config holds every sharing layout (`ts-2` ... `ts-48`, and `mps-2` ... `mps-48` unless the MIG
strategy is mixed, which the plugin refuses with MPS): a node picks one with
`nvidia.com/device-plugin.config=<name>`, unlabelled nodes use `default` (no sharing).

Who installs the driver and the container toolkit is the cloud's fact (`stacks.infra.clouds`): where
the node image ships them (Oracle's GPU images, a Magnum image with the driver built in, kind's host),
the operator's own would fight them, so the operator leaves them alone.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks import yaml_text
from stacks.config.model import EnvironmentConfig
from stacks.infra.clouds import cloud_of
from stacks.infra.pools import EVENT_TAINT_KEY, GPU_TAINT_KEY
from stacks.platform_layer.k8s import PlatformArgs, child, meta

NAMESPACE = "gpu-operator"
REPOSITORY = "https://helm.ngc.nvidia.com/nvidia"
MIG_CONFIG_MAP = "swan-mig-parted-config"
DEVICE_PLUGIN_CONFIG_MAP = "swan-device-plugin-config"
MOST_REPLICAS = 48  # the device plugin's MPS client limit per GPU (compute capability 7.5 and later)


def mig_parted_config(cfg: EnvironmentConfig) -> dict:
    from stacks.planner.mig_parted import catalog

    return catalog(cfg.gpu_models)


def device_plugin_configs(cfg: EnvironmentConfig) -> dict[str, dict]:
    """Named NVIDIA device-plugin config files: `default` (no sharing) and every sharing layout."""
    from stacks.planner.sharing import (CONFIG_PREFIX, DEFAULT_CONFIG, MIN_REPLICAS, MPS, TIME_SLICING,
                                        device_plugin_config)

    modes = [TIME_SLICING] if cfg.gpu.mig_strategy == "mixed" else [MPS, TIME_SLICING]
    configs = {DEFAULT_CONFIG: {"version": "v1", "flags": {"migStrategy": cfg.gpu.mig_strategy}}}
    for mode in modes:
        for replicas in range(MIN_REPLICAS, MOST_REPLICAS + 1):
            config = device_plugin_config(mode, replicas)
            configs[f"{CONFIG_PREFIX[mode]}-{replicas}"] = {**config, "flags": {"migStrategy": cfg.gpu.mig_strategy}}
    return configs


def operator_values(cfg: EnvironmentConfig) -> dict:
    # GPU nodes are tainted (and course-event nodes also carry the swan-events taint): the
    # device plugin and MIG manager must still run there, or the nodes expose no GPUs.
    tolerations = [{"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in (GPU_TAINT_KEY, EVENT_TAINT_KEY)]
    cloud = cloud_of(cfg)
    values = {
        "driver": {"enabled": not cloud.gpu_driver_on_nodes},
        "toolkit": {"enabled": not cloud.gpu_toolkit_on_nodes},
        "mig": {"strategy": cfg.gpu.mig_strategy},
        "migManager": {"enabled": True, "config": {"name": MIG_CONFIG_MAP, "default": "all-disabled"}},
        "devicePlugin": {"enabled": True, "config": {"name": DEVICE_PLUGIN_CONFIG_MAP, "default": "default"}},
        "daemonsets": {"tolerations": tolerations},
        "node-feature-discovery": {"worker": {"tolerations": tolerations}},
    }
    if cfg.monitoring.enabled:  # the operator creates the exporter's ServiceMonitor from its ClusterPolicy
        values["dcgmExporter"] = {"serviceMonitor": {
            "enabled": True, "additionalLabels": {"release": cfg.monitoring.release_label}}}
    return values



class Gpu(pulumi.ComponentResource):
    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Gpu", name, None, opts)
        cfg = args.config
        opts_ = child(self, args.provider, args.depends_on)
        config_map = k8s.core.v1.ConfigMap(
            "mig-parted-config", metadata=meta(MIG_CONFIG_MAP, NAMESPACE),
            data={"config.yaml": yaml_text.dump(mig_parted_config(cfg))}, opts=opts_)
        plugin_configs = k8s.core.v1.ConfigMap(
            "device-plugin-config", metadata=meta(DEVICE_PLUGIN_CONFIG_MAP, NAMESPACE),
            data={name: yaml_text.dump(config) for name, config in device_plugin_configs(cfg).items()}, opts=opts_)
        k8s.helm.v3.Release(
            "gpu-operator", name="gpu-operator", chart="gpu-operator", version=cfg.gpu.operator_version,
            repository_opts={"repo": REPOSITORY}, namespace=NAMESPACE, values=operator_values(cfg),
            opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(depends_on=[config_map, plugin_configs])))
        self.register_outputs({"models": cfg.gpu_models})
