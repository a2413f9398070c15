"""The whole SWAN platform on one Kubernetes provider; the same code for kind, OpenStack and OCI."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi

from stacks.config.model import EnvironmentConfig
from stacks.infra.clouds import cloud_of
from stacks.platform_layer.gpu import NAMESPACE as GPU_NAMESPACE, Gpu
from stacks.platform_layer.hub import Hub
from stacks.platform_layer.k8s import PlatformArgs
from stacks.platform_layer.ingress import Ingress
from stacks.platform_layer.monitoring import Monitoring
from stacks.platform_layer.namespaces import Namespaces, NamespacesArgs
from stacks.platform_layer.security import Security
from stacks.platform_layer.spark import Spark
from stacks.platform_layer.verification import Verification


def namespace_levels(cfg: EnvironmentConfig) -> dict[str, str]:
    """Every namespace the platform uses, with its Pod Security Admission level."""
    levels = {cfg.security.hub_namespace: "privileged", cfg.security.user_namespace: "baseline"}
    if cfg.spark.enabled:
        levels[cfg.spark.namespace] = "baseline"
    if cfg.ingress.enabled:  # host ports (kind's ingress) are outside `baseline`
        levels["ingress-nginx"] = "privileged" if cloud_of(cfg).ingress_on_host_ports else "baseline"
        if cfg.hub.tls.enabled:
            levels["cert-manager"] = "restricted"
    if cfg.gpu_models:
        levels[GPU_NAMESPACE] = "privileged"
    return levels


@dataclass
class SwanPlatformArgs:
    config: EnvironmentConfig
    provider: pulumi.ProviderResource


class SwanPlatform(pulumi.ComponentResource):
    """Namespaces, security, ingress, GPU, Spark, hub, monitoring and nightly verification."""

    def __init__(self, name: str, args: SwanPlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:SwanPlatform", name, None, opts)
        cfg, provider = args.config, args.provider
        here = pulumi.ResourceOptions(parent=self)
        kept = frozenset({cfg.security.hub_namespace, cfg.security.user_namespace}) \
            if cloud_of(cfg).protects_data else frozenset()  # hub database, home volumes
        namespaces = Namespaces("namespaces", NamespacesArgs(namespace_levels(cfg), provider, protected=kept), here)
        ns = [namespaces]
        Security("security", PlatformArgs(cfg, provider, ns), here)
        before_hub: list[pulumi.Resource] = list(ns)
        if cfg.ingress.enabled:
            before_hub.append(Ingress("ingress", PlatformArgs(cfg, provider, ns), here))
        if cfg.gpu_models:
            Gpu("gpu", PlatformArgs(cfg, provider, ns), here)
        if cfg.spark.enabled:
            before_hub.append(Spark("spark", PlatformArgs(cfg, provider, ns), here))
        hub = Hub("hub", PlatformArgs(cfg, provider, before_hub), here)
        if cfg.monitoring.enabled:
            Monitoring("monitoring", PlatformArgs(cfg, provider, [hub]), here)
        if cfg.verification.enabled:
            Verification("verification", PlatformArgs(cfg, provider, [hub]), here)
        self.hub_url = hub.url
        self.register_outputs({"hubUrl": hub.url, "namespaces": sorted(namespaces.by_name)})
