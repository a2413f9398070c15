"""The Pulumi program: what `pulumi up -s <stack>` runs, and what `swan render` runs under mocks."""
from __future__ import annotations

from stacks.config.loader import from_engine_config
from stacks.config.model import EnvironmentConfig


def environment(cfg: EnvironmentConfig) -> None:
    """Infrastructure for the stack's cloud, then the cloud-agnostic platform on top; its stack outputs are
    `stacks.stack_outputs.environment_outputs(cloud)` (who reads each is documented there)."""
    from stacks.infra import build_infra
    from stacks.platform_layer import SwanPlatform, SwanPlatformArgs
    from stacks.platform_layer.verification import verify_output
    from stacks.stack_outputs import environment_outputs, export

    infra = build_infra(cfg)
    platform = SwanPlatform("swan", SwanPlatformArgs(cfg, infra.provider))
    outputs: dict = {
        "cloud": cfg.cloud,
        "hub_url": platform.hub_url,
        "kubeconfig": infra.kubeconfig,
        "namespaces": {"hub": cfg.security.hub_namespace, "users": cfg.security.user_namespace},
        "verify": verify_output(cfg, platform.hub_url),
        **infra.outputs,
    }
    if cfg.nodes.machines:
        from stacks.infra.nodes import ConfiguredNodes

        nodes = ConfiguredNodes("nodes", cfg, infra.vm_addresses)
        outputs.update(node_hosts=nodes.hosts, node_inventory=nodes.inventory)
    export(environment_outputs(cfg.cloud), outputs)


def run() -> None:
    cfg = from_engine_config()
    if isinstance(cfg, EnvironmentConfig):
        environment(cfg)
    else:
        from stacks.events.program import event  # event stacks (swan:kind: event)

        event(cfg)
