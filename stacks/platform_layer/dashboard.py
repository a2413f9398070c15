"""The Grafana dashboard of one environment (pure): sessions, GPU use per pool, verification history.

One dashboard per environment, so its panels show only what the stack has (no GPU row without GPU
pools, no verification row without a Pushgateway) and its queries carry the stack's own namespace and
environment label. Every panel queries the Prometheus datasource the operator picks in the
`datasource` variable (kube-prometheus-stack provisions one named Prometheus).

GPU use per pool: dcgm-exporter labels each GPU with `Hostname`, which is the node name (the
gpu-operator's DaemonSet sets NODE_NAME), and kube-state-metrics gives each node its pool label
(once allowlisted); the queries join the two on the node name. MIG devices report no
DCGM_FI_DEV_GPU_UTIL, so the engine-activity panel (DCGM_FI_PROF_GR_ENGINE_ACTIVE) covers them.
"""
from __future__ import annotations

from stacks.config.model import EnvironmentConfig
from stacks.platform_layer.alert_rules import HUB_JOB, POOL, gpu_pool_plan
from stacks.platform_layer.metric_sources import kube_state_resource

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH = 24


def _node_pools() -> str:
    """kube_node_labels with the node name copied to `Hostname`, dcgm-exporter's label for it."""
    return f'label_replace(max by (node, {POOL}) (kube_node_labels{{{POOL}!=""}}), "Hostname", "$1", "node", "(.+)")'


def per_pool(metric: str, how: str) -> str:
    """A DCGM metric aggregated per node pool (`how`: avg, sum, ...)."""
    return f"{how} by ({POOL}) ({metric} * on (Hostname) group_left ({POOL}) {_node_pools()})"


def _panel(title: str, targets: list[tuple[str, str]], unit: str = "short", kind: str = "timeseries",
           description: str = "") -> dict:
    return {"type": kind, "title": title, "description": description, "datasource": DATASOURCE,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
                        for i, (expr, legend) in enumerate(targets)]}


def _row(title: str) -> dict:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def session_panels(cfg: EnvironmentConfig) -> list[dict]:
    hub = f'job="{HUB_JOB}", namespace="{cfg.security.hub_namespace}"'
    return [
        _row("Sessions"),
        _panel("Running sessions", [(f"sum(jupyterhub_running_servers{{{hub}}})", "running")]),
        _panel("Users", [(f"max(jupyterhub_total_users{{{hub}}})", "total"),
                         (f'max(jupyterhub_active_users{{{hub}, period="24h"}})', "active in 24h")]),
        _panel("Session start time (90th percentile)", [(
            "histogram_quantile(0.9, sum by (le) (rate(jupyterhub_server_spawn_duration_seconds_bucket"
            f'{{{hub}, status="success"}}[15m])))', "p90")], unit="s"),
        _panel("Session starts by outcome", [(
            f"sum by (status) (increase(jupyterhub_server_spawn_duration_seconds_count{{{hub}}}[1h]))",
            "{{status}}")], description="Starts per hour: success, failure, throttled, too-many-users."),
        _panel("Hub up", [(f"max(up{{{hub}}})", "up")], kind="stat"),
    ]


def gpu_panels(cfg: EnvironmentConfig) -> list[dict]:
    plan = gpu_pool_plan(cfg)
    if not plan:
        return []
    allocatable = [(f'sum(kube_node_status_allocatable{{resource="{kube_state_resource(resource)}"}} * on (node) '
                    f'group_left () max by (node) (kube_node_labels{{{POOL}="{pool}"}}))', f"{pool} {resource}")
                   for pool, resources in plan.items() for resource in resources]
    legend = "{{" + POOL + "}}"
    return [
        _row("GPUs per node pool (DCGM)"),
        _panel("GPU utilisation per pool (whole GPUs)", [(per_pool("DCGM_FI_DEV_GPU_UTIL", "avg"), legend)],
               unit="percent"),
        _panel("GPU engine active per pool (MIG devices too)",
               [(per_pool("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "avg"), legend)], unit="percentunit"),
        _panel("GPU memory used per pool", [(per_pool("DCGM_FI_DEV_FB_USED", "sum"), legend)], unit="decmbytes"),
        _panel("GPU memory free per pool", [(per_pool("DCGM_FI_DEV_FB_FREE", "sum"), legend)], unit="decmbytes"),
        _panel("Allocatable GPU resources per pool (plan: " + ", ".join(
            f"{pool} {n} {r}" for pool, resources in plan.items() for r, n in resources.items()) + ")", allocatable),
    ]


def verification_panels(cfg: EnvironmentConfig, stack: str) -> list[dict]:
    if not (cfg.verification.enabled and cfg.verification.pushgateway_url):
        return []
    env = f'environment="{stack}"'
    return [
        _row("Nightly verification"),
        _panel("Last run passed", [(f"max(swan_verify_success{{{env}}})", "passed")], kind="stat"),
        _panel("Checks by status", [(f"sum by (status) (swan_verify_checks{{{env}}})", "{{status}}")]),
        _panel("Check results (1 passed, 0 failed)",
               [(f"min by (group, check) (swan_verify_check_success{{{env}}})", "{{group}}/{{check}}")],
               kind="state-timeline"),
        _panel("Hours since the last run",
               [(f"(time() - max(swan_verify_last_run_timestamp_seconds{{{env}}})) / 3600", "hours")], unit="h"),
    ]


def _layout(panels: list[dict]) -> list[dict]:
    """Grid positions: rows across the width, panels two by two below them."""
    y, x = 0, 0
    laid = []
    for i, panel in enumerate(panels):
        if panel["type"] == "row":
            y += 0 if x == 0 else 8
            panel = {**panel, "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y}}
            y, x = y + 1, 0
        else:
            panel = {**panel, "gridPos": {"h": 8, "w": WIDTH // 2, "x": x, "y": y}}
            x = (x + WIDTH // 2) % WIDTH
            y += 8 if x == 0 else 0
        laid.append({**panel, "id": i + 1})
    return laid


def dashboard(cfg: EnvironmentConfig, stack: str) -> dict:
    """The dashboard JSON model (Grafana's schemaVersion 39)."""
    panels = session_panels(cfg) + gpu_panels(cfg) + verification_panels(cfg, stack)
    return {
        "uid": f"swan-{stack}"[:40], "title": f"SWAN {stack}", "tags": ["swan", stack],
        "timezone": "utc", "schemaVersion": 39, "version": 1, "editable": False,
        "time": {"from": "now-7d", "to": "now"}, "refresh": "5m",
        "templating": {"list": [{"name": "datasource", "label": "Prometheus", "type": "datasource",
                                 "query": "prometheus", "current": {}, "hide": 0}]},
        "annotations": {"list": []},
        "panels": _layout(panels),
    }
