"""Every metric SWAN's alert rules and dashboard query, with the exporter that produces it (pure).

A rule on a metric nobody exports never fires, silently. So each metric the rules and the dashboard
use is listed here with the source file that defines it (read upstream, or this repository's own
exporter), and the labels that file gives it; `tests/stack/test_observability.py` parses every query
and fails on a metric or a matcher label missing from this table.

Target labels that Prometheus adds to every scraped series (`job`, `namespace`, `instance`, `pod`,
`service`, `container`, `endpoint`) are allowed on any metric (`TARGET_LABELS`), and so is the
grouping label SWAN's pushes carry (`environment`, from `swan verify --metrics-label`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSource:
    exporter: str
    repository: str
    path: str
    labels: frozenset[str] = frozenset()


def _source(exporter: str, repository: str, path: str, *labels: str) -> MetricSource:
    return MetricSource(exporter, repository, path, frozenset(labels))


# JupyterHub 5 as in SWAN's hub image (tests/session/hub-image-requirements.txt): 4.x's daily/monthly active
# user gauges became jupyterhub_active_users{period="24h"|"7d"|"30d"}.
_JUPYTERHUB = ("JupyterHub 5 (the hub's /hub/metrics)", "jupyterhub/jupyterhub", "jupyterhub/metrics.py")
_KSM_NODE = ("kube-state-metrics", "kubernetes/kube-state-metrics", "internal/store/node.go")
_DCGM = ("dcgm-exporter (gpu-operator's, counters from etc/dcp-metrics-included.csv)", "NVIDIA/dcgm-exporter",
         "etc/dcp-metrics-included.csv")
# Labels of every GPU series (pkg/dcgmexporter/render_metrics.go); Hostname is the node name, from the
# NODE_NAME the gpu-operator's DaemonSet sets (assets/state-dcgm-exporter/0800_daemonset.yaml, hostname.go).
_DCGM_LABELS = ("gpu", "UUID", "device", "modelName", "Hostname", "GPU_I_PROFILE", "GPU_I_ID",
                "DCGM_FI_DRIVER_VERSION")
_VERIFY = ("swan verify (Pushgateway job swan_verify)", "swan-iac", "stacks/verify/report.py")
_EVENTS = ("swan event reconcile (Pushgateway job swan_event_reconcile)", "swan-iac", "stacks/events/")

METRICS: dict[str, MetricSource] = {
    "up": _source("Prometheus itself (one per scrape target)", "prometheus/prometheus", "scrape/scrape.go"),
    "jupyterhub_running_servers": _source(*_JUPYTERHUB),
    "jupyterhub_total_users": _source(*_JUPYTERHUB),
    "jupyterhub_active_users": _source(*_JUPYTERHUB, "period"),
    "jupyterhub_server_spawn_duration_seconds_bucket": _source(*_JUPYTERHUB, "status", "le"),
    "jupyterhub_server_spawn_duration_seconds_count": _source(*_JUPYTERHUB, "status"),
    "kube_node_status_allocatable": _source(*_KSM_NODE, "node", "resource", "unit"),
    # label_<sanitised Kubernetes label>, only for labels in --metric-labels-allowlist=nodes=[...]
    "kube_node_labels": _source(*_KSM_NODE, "node", "label_swan_cern_ch_node_pool"),
    "DCGM_FI_DEV_GPU_UTIL": _source(*_DCGM, *_DCGM_LABELS),
    "DCGM_FI_DEV_FB_USED": _source(*_DCGM, *_DCGM_LABELS),
    "DCGM_FI_DEV_FB_FREE": _source(*_DCGM, *_DCGM_LABELS),
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": _source(*_DCGM, *_DCGM_LABELS),
    "certmanager_certificate_expiration_timestamp_seconds": _source(
        "cert-manager controller (its ServiceMonitor with honorLabels, so `namespace` is the Certificate's)",
        "cert-manager/cert-manager", "pkg/metrics/metrics.go",
        "name", "namespace", "issuer_name", "issuer_kind", "issuer_group"),
    "swan_verify_success": _source(*_VERIFY),
    "swan_verify_last_run_timestamp_seconds": _source(*_VERIFY),
    "swan_verify_checks": _source(*_VERIFY, "status"),
    "swan_verify_check_success": _source(*_VERIFY, "check", "group"),
    "swan_event_ready": _source(*_EVENTS, "event", "stack"),
    "swan_event_ready_by_timestamp_seconds": _source(*_EVENTS, "event", "stack"),
    "swan_event_end_timestamp_seconds": _source(*_EVENTS, "event", "stack"),
    "swan_event_action_success": _source(*_EVENTS, "event", "stack", "action"),
    "swan_event_reconcile_last_run_timestamp_seconds": _source(*_EVENTS),
}

TARGET_LABELS = frozenset({"job", "namespace", "instance", "pod", "service", "container", "endpoint", "environment"})


def kube_state_label(kubernetes_label: str) -> str:
    """The label kube-state-metrics gives a Kubernetes label on kube_node_labels: `label_` plus the name with
    every character outside [a-zA-Z0-9_] replaced by `_`, then snake-cased (internal/store/utils.go)."""
    sanitised = re.sub(r"[^a-zA-Z0-9_]", "_", kubernetes_label)
    return "label_" + re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", sanitised).lower()


def kube_state_resource(resource: str) -> str:
    """The `resource` label value of kube_node_status_allocatable for an extended resource such as
    nvidia.com/mig-1g.5gb: the name with every character outside [a-zA-Z0-9_] replaced by `_`."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", resource)
