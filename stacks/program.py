"""The Pulumi program: what `pulumi up -s <stack>` runs, and what `swan render` runs under mocks."""
from __future__ import annotations

import pulumi

from stacks.config.loader import from_engine_config
from stacks.config.model import EnvironmentConfig


def environment(cfg: EnvironmentConfig) -> None:
    """Infrastructure for the stack's cloud, then the cloud-agnostic platform on top."""
    from stacks.infra import build_infra
    from stacks.platform_layer import SwanPlatform, SwanPlatformArgs

    infra = build_infra(cfg)
    platform = SwanPlatform("swan", SwanPlatformArgs(cfg, infra.provider))
    if cfg.nodes.machines:
        from stacks.infra.nodes import ConfiguredNodes

        nodes = ConfiguredNodes("nodes", cfg, infra.vm_addresses)
        pulumi.export("nodeHosts", nodes.hosts)
        pulumi.export("nodeInventory", nodes.inventory)  # secret: `swan nodes apply STACK` reads it
    pulumi.export("cloud", cfg.cloud)
    pulumi.export("hubUrl", platform.hub_url)
    pulumi.export("kubeconfig", infra.kubeconfig)
    pulumi.export("namespaces", {"hub": cfg.security.hub_namespace, "users": cfg.security.user_namespace})
    pulumi.export("gpuModels", cfg.gpu_models)
    # What event stacks read through a StackReference: where and how much they may expand.
    pulumi.export("eventGpus", [offer.model_dump(by_alias=True) for offer in cfg.event_gpus])
    pulumi.export("nodePools", [pool.model_dump(by_alias=True, exclude_none=True) for pool in cfg.node_pools])
    # What `swan verify STACK` reads (keys as stacks.verify.stack expects them).
    from stacks.platform_layer.verification import (event_session_options, session_options, session_profiles,
                                                    software_paths)

    pulumi.export("verify", {
        "hub_url": platform.hub_url,
        "kubeconfig": infra.kubeconfig,
        "profiles": session_profiles(cfg),
        "session_options": session_options(cfg),
        **({"events_namespace": cfg.security.user_namespace, "event_options": event_session_options(cfg)}
           if event_session_options(cfg) else {}),
        "software_paths": software_paths(cfg)[:1] if cfg.storage.cvmfs.enabled else [],
    })
    for key, value in sorted(infra.outputs.items()):
        pulumi.export(key, value)


def run() -> None:
    cfg = from_engine_config()
    if isinstance(cfg, EnvironmentConfig):
        environment(cfg)
    else:
        from stacks.events.program import event  # event stacks (swan:kind: event)

        event(cfg)
