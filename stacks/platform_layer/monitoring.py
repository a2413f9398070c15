"""ServiceMonitors for kube-prometheus-stack (whose CRDs must already be in the cluster).

The hub's /hub/metrics needs a token (JupyterHub's authenticate_prometheus stays on): Prometheus
sends the one the chart generates for the hub service `prometheus-metrics` (read:metrics only).
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.config.model import EnvironmentConfig
from stacks.platform_layer.hub_values import METRICS_SERVICE
from stacks.platform_layer.k8s import PlatformArgs, child, meta


def service_monitors(cfg: EnvironmentConfig) -> dict[str, dict]:
    """name -> (namespace, spec) of every ServiceMonitor."""
    hub_ns = cfg.security.hub_namespace
    monitors = {
        "swan-hub": (hub_ns, {
            "selector": {"matchLabels": {"app": "jupyterhub", "component": "hub"}},
            "namespaceSelector": {"matchNames": [hub_ns]},
            "endpoints": [{"port": "hub", "path": "/hub/metrics", "interval": "60s",
                           "bearerTokenSecret": {"name": "hub", "key": f"hub.services.{METRICS_SERVICE}.apiToken"}}],
        }),
    }
    if cfg.ingress.enabled:
        monitors["ingress-nginx"] = ("ingress-nginx", {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx",
                                         "app.kubernetes.io/component": "controller"}},
            "endpoints": [{"port": "metrics", "interval": "60s"}],
        })
    return monitors



class Monitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Monitoring", name, None, opts)
        cfg = args.config
        opts_ = child(self, args.provider, args.depends_on)
        labels = {"release": cfg.monitoring.release_label}
        for monitor, (namespace, spec) in service_monitors(cfg).items():
            k8s.apiextensions.CustomResource(
                f"servicemonitor-{monitor}", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                metadata=meta(monitor, namespace, labels), spec=spec, opts=opts_)
        self.register_outputs({})
