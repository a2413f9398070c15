"""SWAN's Prometheus alert rules, derived from the environment's config (pure).

The thresholds come from the stack, not from a copy an operator keeps in step by hand: the nightly
verification is stale after its own schedule's longest gap plus its job deadline plus
`monitoring.staleAfter`; a GPU pool is below plan when its nodes make fewer GPU resources allocatable
than its fewest nodes should (the figure `swan verify`'s cluster.gpu check also expects); rules exist only
for what the stack deploys (verification metrics only with a Pushgateway, certificates only with TLS).

Every metric used is listed in `metric_sources.METRICS` with the exporter that produces it. The README's
"Alerts and dashboards" section says what each alert means and what to do first.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from stacks.config.cron import period_seconds
from stacks.config.model import EnvironmentConfig
from stacks.config.types import duration_seconds
from stacks.infra.pools import POOL_LABEL
from stacks.platform_layer.gpu_capacity import pool_capacity
from stacks.platform_layer.metric_sources import kube_state_label, kube_state_resource

HUB_JOB = "hub"  # prometheus-operator names a ServiceMonitor's job after the Service: the chart's `hub`
POOL = kube_state_label(POOL_LABEL)  # label_swan_cern_ch_node_pool, once allowlisted in kube-state-metrics


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str
    summary: str
    description: str
    """What it means and the first thing to do."""
    for_: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def rule(self, stack: str) -> dict:
        rule: dict = {"alert": self.name, "expr": self.expr}
        if self.for_:
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity, "environment": stack, **self.labels}
        rule["annotations"] = {"summary": self.summary, "description": self.description}
        return rule


def _seconds(value: int) -> str:
    """A Prometheus duration for a number of seconds, in the largest unit that divides it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value % size == 0:
            return f"{value // size}{unit}"
    return f"{value}s"


def verification_stale_seconds(cfg: EnvironmentConfig) -> int:
    """How old the last nightly run may be: the schedule's longest gap, the job's deadline, the margin."""
    v = cfg.verification
    return period_seconds(v.schedule) + duration_seconds(v.job_deadline) + duration_seconds(cfg.monitoring.stale_after)


def verification_alerts(cfg: EnvironmentConfig, stack: str) -> list[Alert]:
    """Only with a Pushgateway: without one the nightly run exports no metrics."""
    if not (cfg.verification.enabled and cfg.verification.pushgateway_url):
        return []
    env = f'environment="{stack}"'
    stale = verification_stale_seconds(cfg)
    return [
        Alert("SwanVerificationFailed", f"max by (environment) (swan_verify_success{{{env}}}) == 0", "critical",
              f"The nightly verification of {stack} failed",
              "At least one check of the last `swan verify` run failed: a user may not be able to log in, start a "
              "session or use what the stack promises. First: read the run's report (the CronJob's last Job "
              "log) and the SwanVerificationCheckFailed alerts naming the checks."),
        Alert("SwanVerificationCheckFailed", f"swan_verify_check_success{{{env}}} == 0", "warning",
              f"Verification check {{{{ $labels.check }}}} failed on {stack}",
              "This check ({{ $labels.group }}/{{ $labels.check }}) failed in the last nightly run. First: run "
              f"`swan verify {stack} --only {{{{ $labels.group }}}}` and read the check's detail."),
        Alert("SwanVerificationStale",
              f"time() - max by (environment) (swan_verify_last_run_timestamp_seconds{{{env}}}) > {stale}",
              "warning", f"No nightly verification result from {stack} for {_seconds(stale)}",
              f"The last run finished more than {_seconds(stale)} ago (schedule '{cfg.verification.schedule}', "
              f"deadline {cfg.verification.job_deadline}, margin {cfg.monitoring.stale_after}): the CronJob did not "
              "run, did not finish or could not reach the Pushgateway. First: `kubectl -n "
              f"{cfg.security.hub_namespace} get cronjob swan-verify` and the log of its last pod (`get pods -l "
              "app.kubernetes.io/name=swan-verify`)."),
        Alert("SwanVerificationMissing", f"absent(swan_verify_last_run_timestamp_seconds{{{env}}})", "warning",
              f"The Pushgateway holds no verification result of {stack}",
              "No run has pushed a result (or the Pushgateway restarted without persistence, or Prometheus does not "
              "scrape it with honor_labels). First: check the Pushgateway's page for job swan_verify.",
              for_=_seconds(stale)),
    ]


def hub_alerts(cfg: EnvironmentConfig, stack: str) -> list[Alert]:
    target = f'up{{job="{HUB_JOB}", namespace="{cfg.security.hub_namespace}"}}'
    return [Alert(
        "SwanHubDown", f"max({target}) == 0 or absent({target})", "critical", f"The SWAN hub of {stack} is down",
        "Prometheus cannot scrape the hub's /hub/metrics (or has no such target): users cannot log in or start "
        f"sessions. First: `kubectl -n {cfg.security.hub_namespace} get pods -l component=hub` and the hub's log; "
        "if the hub runs, check the ServiceMonitor's token and the hub's NetworkPolicy.", for_="5m")]


def gpu_pool_plan(cfg: EnvironmentConfig) -> dict[str, dict[str, int]]:
    """Per GPU pool, the GPU resources its fewest nodes make allocatable (minCount where the cloud's
    pools autoscale, else count; as `swan verify` expects), under the environment's MIG strategy."""
    from stacks.infra.clouds import cloud_of

    autoscale = cloud_of(cfg).pools_autoscale
    plan = {}
    for pool in cfg.node_pools:
        fewest = pool.bounds[0] if autoscale else pool.count
        resources = {r: n for r, n in pool_capacity(pool, fewest, cfg.gpu.mig_strategy).items() if n > 0}
        if resources:
            plan[pool.name] = resources
    return plan


def gpu_alerts(cfg: EnvironmentConfig, stack: str) -> list[Alert]:
    alerts = []
    for pool, resources in gpu_pool_plan(cfg).items():
        nodes = f'max by (node) (kube_node_labels{{{POOL}="{pool}"}})'
        for resource, expected in resources.items():
            allocatable = f'kube_node_status_allocatable{{resource="{kube_state_resource(resource)}"}}'
            alerts.append(Alert(
                "SwanGpuPoolBelowPlan", f"(sum({allocatable} * on (node) group_left () {nodes}) or vector(0)) "
                f"< {expected}", "warning", f"GPU pool {pool} of {stack} offers fewer {resource} than planned",
                f"The nodes labelled {POOL_LABEL}={pool} make {{{{ $value }}}} {resource} allocatable, the stack "
                f"plans at least {expected}: a node is missing or NotReady, or its GPU operator (driver, device "
                "plugin, MIG manager) is not done. First: `kubectl get nodes -l "
                f"{POOL_LABEL}={pool}` and the gpu-operator pods on them. If it shows 0 for every pool, "
                f"kube-state-metrics does not export the pool label: it needs "
                f"`--metric-labels-allowlist=nodes=[{POOL_LABEL}]`.",
                for_="15m", labels={"pool": pool, "resource": resource, "expected": str(expected)}))
    return alerts


def event_alerts(cfg: EnvironmentConfig, stack: str) -> list[Alert]:
    """Course events of any event stack on this cluster, from `swan event reconcile`'s pushed metrics."""
    stale = duration_seconds(cfg.monitoring.event_reconcile_interval) + duration_seconds(cfg.monitoring.stale_after)
    return [
        Alert("SwanEventNotReady",
              "(swan_event_ready_by_timestamp_seconds < time()) and on (event, stack) (swan_event_ready == 0) "
              "and on (event, stack) (swan_event_end_timestamp_seconds > time())", "critical",
              "Course event {{ $labels.event }} is not ready though its ready-by time has passed",
              "The event's nodes, quota or access were not proven ready by `swan event reconcile` since the last "
              "`pulumi up` of stack {{ $labels.stack }}, and participants may already arrive. First: `swan event "
              "plan {{ $labels.stack }}` and the reconciler's last log; then `pulumi up -s {{ $labels.stack }}`."),
        Alert("SwanEventReconcileActionFailed", "swan_event_action_success == 0", "warning",
              "Reconcile action {{ $labels.action }} of event {{ $labels.event }} failed",
              "The last `swan event reconcile` could not do this action (expand or shrink the event's capacity). "
              "First: read the reconciler's log for stack {{ $labels.stack }} and rerun it."),
        # One reconciler serves every event stack, so its last run carries no event or stack label; it is
        # only missed while some event has not ended yet (or ended within the staleness margin).
        Alert("SwanEventReconcileStale",
              f"time() - max(swan_event_reconcile_last_run_timestamp_seconds) > {stale} and on () "
              f"(max(swan_event_end_timestamp_seconds) > time() - {stale})", "warning",
              "The course-event reconciler has not run for " + _seconds(stale),
              f"`swan event reconcile` should run every {cfg.monitoring.event_reconcile_interval}: events will not "
              "expand or shrink on time. First: check the schedule that runs it (CronJob or CI pipeline)."),
    ]


def certificate_alerts(cfg: EnvironmentConfig, stack: str) -> list[Alert]:
    if not (cfg.ingress.enabled and cfg.hub.tls.enabled):
        return []
    warn = duration_seconds(cfg.monitoring.certificate_warning)
    return [Alert(
        "SwanCertificateExpiring",
        f'certmanager_certificate_expiration_timestamp_seconds{{namespace="{cfg.security.hub_namespace}"}} - time() '
        f"< {warn}", "warning", f"The hub certificate of {stack} expires within {_seconds(warn)}",
        "cert-manager did not renew certificate {{ $labels.name }} (it renews 30 days before expiry). First: "
        f"`kubectl -n {cfg.security.hub_namespace} describe certificate {{{{ $labels.name }}}}` and its "
        "CertificateRequest/Order: an HTTP-01 challenge the ingress cannot answer is the usual cause.",
        for_="1h")]


def rule_groups(cfg: EnvironmentConfig, stack: str) -> list[dict]:
    """The `groups` of the PrometheusRule (the same document a Prometheus rule file holds)."""
    groups = {"swan-hub": hub_alerts(cfg, stack), "swan-verification": verification_alerts(cfg, stack),
              "swan-gpu": gpu_alerts(cfg, stack), "swan-events": event_alerts(cfg, stack),
              "swan-certificates": certificate_alerts(cfg, stack)}
    return [{"name": name, "rules": [a.rule(stack) for a in alerts]} for name, alerts in groups.items() if alerts]
