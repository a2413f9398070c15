"""ServiceMonitors, SWAN's alert rules and its Grafana dashboard for kube-prometheus-stack (whose CRDs
must already be in the cluster).

The hub's /hub/metrics needs a token (JupyterHub's authenticate_prometheus stays on): Prometheus
sends the one the chart generates for the hub service `prometheus-metrics` (read:metrics only).
The charts scrape themselves where they can: cert-manager's own ServiceMonitor (`ingress.py`) and the
gpu-operator's DCGM exporter ServiceMonitor, which the operator creates from its ClusterPolicy (`gpu.py`).
"""
from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

from stacks.config.model import EnvironmentConfig
from stacks.platform_layer.alert_rules import rule_groups
from stacks.platform_layer.dashboard import dashboard
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


RULE_NAME = "swan-alerts"
DASHBOARD_CONFIG_MAP = "swan-dashboard"


def dashboard_file(stack: str) -> str:
    """The file name the Grafana sidecar writes the dashboard to."""
    return f"swan-{stack}.json"


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
        stack = pulumi.get_stack()
        k8s.apiextensions.CustomResource(
            "prometheusrule-swan", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata=meta(RULE_NAME, cfg.security.hub_namespace, labels),
            spec={"groups": rule_groups(cfg, stack)}, opts=opts_)
        k8s.core.v1.ConfigMap(
            "dashboard", metadata=meta(DASHBOARD_CONFIG_MAP, cfg.monitoring.grafana_namespace,
                                       dict(cfg.monitoring.dashboard_labels)),
            data={dashboard_file(stack): json.dumps(dashboard(cfg, stack), indent=1, sort_keys=True)}, opts=opts_)
        self.register_outputs({})
