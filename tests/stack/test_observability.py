"""Observability as code, on the render: SWAN's PrometheusRule, its Grafana dashboard, and the charts'
own scraping (the DCGM exporter's ServiceMonitor, cert-manager's), checked with real tools.

- `promtool check rules` (Prometheus 2.42 from Debian, `.ci/deps-prometheus.sh`) on the rendered
  PrometheusRule's spec: a strict rule-file parse (unknown keys are errors) and PromQL parse, which stands
  in for a CRD schema check: kube-prometheus-stack's CRDs are not in any render (a documented prerequisite).
- `promtool test rules`: for every alert, generated input series make it fire (labels and annotations as
  expected) and near-miss series keep it silent; an alert without such a scenario fails the suite.
- Every metric a rule or a panel selects, parsed by promql-parser, is in `metric_sources.METRICS` (the
  exporter source file read for it) with the labels it is matched on.
- The dashboard ConfigMap is labelled for the Grafana sidecar and holds valid JSON whose panels all
  query the chosen Prometheus datasource.
- The gpu-operator's real `helm template` carries the DCGM exporter's ServiceMonitor (in its ClusterPolicy,
  from which the operator creates it) only where the stack has GPUs and monitoring.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import promql_parser
import pytest
import yaml

from stacks.config.loader import load_stack
from stacks.platform_layer.alert_rules import gpu_pool_plan, verification_stale_seconds
from stacks.platform_layer.metric_sources import METRICS, TARGET_LABELS
from stacks.platform_layer.monitoring import DASHBOARD_CONFIG_MAP, RULE_NAME, dashboard_file
from stacks.platform_layer.verification import cluster_expectations

STACK = "everything-on"  # GPU pools (whole, shared, MIG), TLS, verification with a Pushgateway, monitoring


def promtool() -> str:
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    assert found, "promtool is missing: run `sudo bash .ci/deps-prometheus.sh` (or set PROMTOOL=/path/to/promtool)"
    return found


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def k8s_object(folder: Path, name: str) -> dict:
    return yaml.safe_load((folder / "k8s" / name).read_text())


def rule_spec(folder: Path) -> dict:
    return k8s_object(folder, f"PrometheusRule-swan-{RULE_NAME}.yaml")["spec"]


def alerts(spec: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for group in spec["groups"]:
        for rule in group["rules"]:
            found.setdefault(rule["alert"], []).append(rule)
    return found


# ---- the PrometheusRule object ---------------------------------------------------------------------------

def test_the_rule_is_labelled_for_kube_prometheus_stacks_rule_selector(renders):
    cfg = load_stack(STACK)
    rule = k8s_object(renders(STACK), f"PrometheusRule-swan-{RULE_NAME}.yaml")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    # kube-prometheus-stack's default ruleSelector (ruleSelectorNilUsesHelmValues) is release: <release name>
    assert rule["metadata"]["labels"]["release"] == cfg.monitoring.release_label
    assert set(alerts(rule["spec"])) == {
        "SwanHubDown", "SwanVerificationFailed", "SwanVerificationCheckFailed", "SwanVerificationStale",
        "SwanVerificationMissing", "SwanGpuPoolBelowPlan", "SwanEventNotReady", "SwanEventReconcileActionFailed",
        "SwanEventReconcileStale", "SwanCertificateExpiring"}


def test_the_hub_alert_selects_the_job_the_hub_service_monitor_scrapes(renders):
    """prometheus-operator names a ServiceMonitor's job after the Service it selects (no jobLabel set): the
    chart's hub Service, in the hub namespace, is the one Service the hub ServiceMonitor selects."""
    from stacks.platform_layer.alert_rules import HUB_JOB

    cfg, folder = load_stack(STACK), renders(STACK)
    monitor = k8s_object(folder, f"ServiceMonitor-{cfg.security.hub_namespace}-swan-hub.yaml")["spec"]
    assert "jobLabel" not in monitor
    services = [yaml.safe_load(p.read_text()) for p in (folder / "charts").glob("*/Service-*.yaml")]
    selected = [s["metadata"]["name"] for s in services
                if s["metadata"].get("namespace") in monitor["namespaceSelector"]["matchNames"]
                and monitor["selector"]["matchLabels"].items() <= s["metadata"].get("labels", {}).items()]
    assert selected == [HUB_JOB]
    (hub_down,) = alerts(rule_spec(folder))["SwanHubDown"]
    assert f'up{{job="{HUB_JOB}", namespace="{cfg.security.hub_namespace}"}}' in hub_down["expr"]


@pytest.mark.parametrize("stack", [STACK, "openstack-prod"])
def test_promtool_accepts_the_rendered_rules(renders, stack, tmp_path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_spec(renders(stack))))
    checked = run_promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_promtool_check_is_strict(tmp_path):
    """The check above can fail: an unknown key in a rule is refused, as the operator's CRD would refuse it."""
    bad = {"groups": [{"name": "x", "rules": [{"alert": "A", "expr": "up == 0", "severity": "critical"}]}]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(bad))
    assert run_promtool("check", "rules", "rules.yaml", cwd=tmp_path).returncode != 0


def test_rules_only_for_what_the_stack_deploys(renders):
    """openstack-prod: monitoring and TLS, verification without a Pushgateway (no metrics to alert on)."""
    names = set(alerts(rule_spec(renders("openstack-prod"))))
    assert "SwanCertificateExpiring" in names and "SwanHubDown" in names
    assert not {n for n in names if n.startswith("SwanVerification")}


# ---- thresholds derived from the stack ---------------------------------------------------------------------

def test_the_stale_threshold_follows_the_schedule_and_the_deadline():
    cfg = load_stack(STACK)  # "30 3 * * *" (a day between runs), jobDeadline 1h, monitoring.staleAfter 2h
    assert verification_stale_seconds(cfg) == (24 + 1 + 2) * 3600
    weekly = cfg.model_copy(update={"verification": cfg.verification.model_copy(update={"schedule": "0 2 * * 1-5"})})
    assert verification_stale_seconds(weekly) == (72 + 1 + 2) * 3600  # Friday to Monday


def test_gpu_plan_is_what_the_nightly_gpu_check_expects():
    """Fewest nodes (minCount, OpenStack autoscales) x GPUs per node x resources per GPU, per pool; the same
    figures `swan verify`'s cluster.gpu check reads from the expectations (mixed MIG strategy)."""
    cfg = load_stack(STACK)
    plan = gpu_pool_plan(cfg)
    assert plan == {"gpu-t4": {"nvidia.com/gpu": 1}, "gpu-t4-shared": {"nvidia.com/gpu": 4},
                    "gpu-a100": {"nvidia.com/mig-1g.5gb": 28}}
    expected = {p.name: p.gpu for p in cluster_expectations(cfg).pools if p.gpu}
    assert plan == expected


# ---- every alert fires on its condition and stays silent otherwise (promtool test rules) -----------------

@dataclass
class Scenario:
    alert: str
    why: str
    series: list[tuple[str, str]]
    eval_time: str
    fires: list[tuple[dict[str, str], float]] = field(default_factory=list)
    """(labels of the expression's result, value) of each alert expected to fire."""
    every: str = "1m"
    """How often the rules are evaluated: 10m for the day-long scenarios (six times faster, still exact
    for their thresholds)."""


def scenarios(cfg) -> list[Scenario]:
    hub, env = cfg.security.hub_namespace, {"environment": STACK}
    up = f'up{{job="hub",namespace="{hub}",instance="10.0.0.5:8081"}}'
    noise = ('kube_node_info{node="n0"}', "1x2000")
    stale_min = verification_stale_seconds(cfg) // 60
    event = 'event="ml-workshop",stack="event-ml-workshop"'
    ev = {"event": "ml-workshop", "stack": "event-ml-workshop"}
    cert = ('certmanager_certificate_expiration_timestamp_seconds{name="swan-tls",namespace="%s",'
            'issuer_name="swan-letsencrypt",issuer_kind="ClusterIssuer",issuer_group="cert-manager.io"}')
    cert_labels = {"name": "swan-tls", "namespace": hub, "issuer_name": "swan-letsencrypt",
                   "issuer_kind": "ClusterIssuer", "issuer_group": "cert-manager.io"}
    s = [
        Scenario("SwanHubDown", "scrape fails for 6m", [(up, "0x10")], "6m", [({}, 0)]),
        Scenario("SwanHubDown", "scrape fails for 4m only", [(up, "1x3 0x6")], "7m"),
        Scenario("SwanHubDown", "hub scraped", [(up, "1x10")], "6m"),
        Scenario("SwanHubDown", "no hub target at all", [noise], "6m", [({"job": "hub", "namespace": hub}, 1)]),
        Scenario("SwanVerificationFailed", "last run failed",
                 [(f'swan_verify_success{{environment="{STACK}"}}', "0x10")], "5m", [(env, 0)]),
        Scenario("SwanVerificationFailed", "last run passed",
                 [(f'swan_verify_success{{environment="{STACK}"}}', "1x10")], "5m"),
        Scenario("SwanVerificationFailed", "another environment failed",
                 [('swan_verify_success{environment="staging"}', "0x10")], "5m"),
        Scenario("SwanVerificationCheckFailed", "one check failed, one passed",
                 [(f'swan_verify_check_success{{environment="{STACK}",check="hub.login",group="hub"}}', "0x10"),
                  (f'swan_verify_check_success{{environment="{STACK}",check="cluster.gpu",group="cluster"}}', "1x10")],
                 "5m", [({**env, "check": "hub.login", "group": "hub"}, 0)]),
        Scenario("SwanVerificationCheckFailed", "every check passed",
                 [(f'swan_verify_check_success{{environment="{STACK}",check="hub.login",group="hub"}}', "1x10")], "5m"),
        Scenario("SwanVerificationStale", "last run just older than the threshold",
                 [(f'swan_verify_last_run_timestamp_seconds{{environment="{STACK}"}}', f"0x{stale_min + 30}")],
                 f"{stale_min + 10}m", [(env, (stale_min + 10) * 60)], every="10m"),
        Scenario("SwanVerificationStale", "last run just within the threshold",
                 [(f'swan_verify_last_run_timestamp_seconds{{environment="{STACK}"}}', f"0x{stale_min + 30}")],
                 f"{stale_min - 10}m", every="10m"),
        Scenario("SwanVerificationMissing", "never pushed", [noise], f"{stale_min + 10}m", [(env, 1)], every="10m"),
        Scenario("SwanVerificationMissing", "absent, but not for long enough", [noise], f"{stale_min - 10}m",
                 every="10m"),
        Scenario("SwanVerificationMissing", "pushed",
                 [(f'swan_verify_last_run_timestamp_seconds{{environment="{STACK}"}}', f"0x{stale_min + 30}")],
                 f"{stale_min + 10}m", every="10m"),
        Scenario("SwanEventNotReady", "ready-by passed, not ready, before the end",
                 [(f"swan_event_ready_by_timestamp_seconds{{{event}}}", "60x20"),
                  (f"swan_event_end_timestamp_seconds{{{event}}}", "1000000x20"),
                  (f"swan_event_ready{{{event}}}", "0x20")], "10m", [(ev, 60)]),
        Scenario("SwanEventNotReady", "proven ready",
                 [(f"swan_event_ready_by_timestamp_seconds{{{event}}}", "60x20"),
                  (f"swan_event_end_timestamp_seconds{{{event}}}", "1000000x20"),
                  (f"swan_event_ready{{{event}}}", "1x20")], "10m"),
        Scenario("SwanEventNotReady", "ready-by still ahead",
                 [(f"swan_event_ready_by_timestamp_seconds{{{event}}}", "3600x20"),
                  (f"swan_event_end_timestamp_seconds{{{event}}}", "1000000x20"),
                  (f"swan_event_ready{{{event}}}", "0x20")], "10m"),
        Scenario("SwanEventNotReady", "the event is over",
                 [(f"swan_event_ready_by_timestamp_seconds{{{event}}}", "60x20"),
                  (f"swan_event_end_timestamp_seconds{{{event}}}", "300x20"),
                  (f"swan_event_ready{{{event}}}", "0x20")], "10m"),
        Scenario("SwanEventReconcileActionFailed", "up failed",
                 [(f'swan_event_action_success{{{event},action="up"}}', "0x10"),
                  (f'swan_event_action_success{{{event},action="verify"}}', "1x10")], "5m",
                 [({**ev, "action": "up"}, 0)]),
        Scenario("SwanEventReconcileActionFailed", "every action succeeded",
                 [(f'swan_event_action_success{{{event},action="up"}}', "1x10")], "5m"),
        Scenario("SwanEventReconcileStale", "reconciler silent past interval + margin",
                 [("swan_event_reconcile_last_run_timestamp_seconds", "0x200"),
                  (f"swan_event_end_timestamp_seconds{{{event}}}", "1000000x200")], "140m",
                 [({}, 140 * 60)]),
        Scenario("SwanEventReconcileStale", "within interval + margin",
                 [("swan_event_reconcile_last_run_timestamp_seconds", "0x200"),
                  (f"swan_event_end_timestamp_seconds{{{event}}}", "1000000x200")], "130m"),
        Scenario("SwanEventReconcileStale", "the event ended long ago",
                 [("swan_event_reconcile_last_run_timestamp_seconds", "0x200"),
                  (f"swan_event_end_timestamp_seconds{{{event}}}", "0x200")], "140m"),
        Scenario("SwanCertificateExpiring", "five days left, for over an hour", [(cert % hub, f"{5 * 86400}x200")],
                 "2h", [(cert_labels, 5 * 86400 - 7200)]),
        Scenario("SwanCertificateExpiring", "forty days left", [(cert % hub, f"{40 * 86400}x200")], "2h"),
        Scenario("SwanCertificateExpiring", "another namespace's certificate", [(cert % "other", "86400x200")], "2h"),
    ]
    plan = [(pool, resource, expected) for pool, resources in gpu_pool_plan(cfg).items()
            for resource, expected in resources.items()]

    def gpu_node(node: str, pool: str | None, resource: str, count: int | str) -> list[tuple[str, str]]:
        metric_resource = re.sub(r"[^a-zA-Z0-9_]", "_", resource)  # kube-state-metrics' sanitising, by hand
        pool_label = f',label_swan_cern_ch_node_pool="{pool}"' if pool else ""
        return [(f'kube_node_status_allocatable{{node="{node}",resource="{metric_resource}",unit="integer"}}',
                 count if isinstance(count, str) else f"{count}x30"),
                (f'kube_node_labels{{node="{node}"{pool_label}}}', "1x30")]

    def fired(pool: str, resource: str, expected: int) -> dict[str, str]:
        return {"pool": pool, "resource": resource, "expected": str(expected)}

    for i, (pool, resource, expected) in enumerate(plan):
        others = [series for j, (p, r, n) in enumerate(plan) if j != i for series in gpu_node(f"o{j}", p, r, n)]
        s += [
            Scenario("SwanGpuPoolBelowPlan", f"{pool}: one {resource} short",
                     others + gpu_node("a", pool, resource, expected - 1), "20m",
                     [(fired(pool, resource, expected), expected - 1)]),
            Scenario("SwanGpuPoolBelowPlan", f"{pool}: as planned over two nodes",
                     others + gpu_node("a", pool, resource, expected - 1) + gpu_node("b", pool, resource, 1), "20m"),
            Scenario("SwanGpuPoolBelowPlan", f"{pool}: short for 10m only",
                     others + gpu_node("a", pool, resource, f"{expected}x10 {expected - 1}x20"), "20m"),
            Scenario("SwanGpuPoolBelowPlan", f"{pool}: its GPUs are on a node of another pool",
                     others + gpu_node("a", "cpu", resource, expected), "20m", [(fired(pool, resource, expected), 0)]),
        ]
    s.append(Scenario("SwanGpuPoolBelowPlan", "pool label not exported (kube-state-metrics allowlist)",
                      [series for j, (p, r, n) in enumerate(plan) for series in gpu_node(f"o{j}", None, r, n)], "20m",
                      [(fired(p, r, n), 0) for p, r, n in plan]))
    return s


def _expand(text: str, labels: dict[str, str], value: float) -> str:
    """Prometheus' template expansion of the annotations these rules use ($labels.x, $value)."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
    return text.replace("{{ $value }}", f"{value:g}")


def promtool_tests(spec: dict, cases: list[Scenario], every: str = "1m") -> dict:
    rules = alerts(spec)
    tests = []
    for case in cases:
        expected = []
        for result_labels, value in case.fires:
            # a rule whose fixed labels match the result (the GPU rules differ by pool and resource)
            (rule,) = [r for r in rules[case.alert] if all(result_labels.get(k, v) == v for k, v in r["labels"].items())]
            labels = {**result_labels, **rule["labels"]}
            expected.append({"exp_labels": labels,
                             "exp_annotations": {k: _expand(v, labels, value) for k, v in rule["annotations"].items()}})
        tests.append({"name": f"{case.alert}: {case.why}", "interval": "1m",
                      "input_series": [{"series": s, "values": v} for s, v in case.series],
                      "alert_rule_test": [{"eval_time": case.eval_time, "alertname": case.alert,
                                           "exp_alerts": expected}]})
    return {"rule_files": ["rules.yaml"], "evaluation_interval": every, "tests": tests}


def test_every_alert_fires_on_its_condition_and_only_then(renders, tmp_path):
    cfg = load_stack(STACK)
    spec = rule_spec(renders(STACK))
    cases = scenarios(cfg)
    assert {c.alert for c in cases if c.fires} == set(alerts(spec)), "an alert has no firing scenario"
    assert {c.alert for c in cases if not c.fires} == set(alerts(spec)), "an alert has no silent scenario"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    for every in sorted({c.every for c in cases}):
        file = f"tests-{every}.yaml"
        (tmp_path / file).write_text(yaml.safe_dump(
            promtool_tests(spec, [c for c in cases if c.every == every], every), sort_keys=False))
        tested = run_promtool("test", "rules", file, cwd=tmp_path)
        assert tested.returncode == 0, tested.stdout[-6000:] + tested.stderr[-6000:]


def test_promtool_test_catches_a_wrong_expectation(renders, tmp_path):
    """The scenarios can fail: a silent case expected to fire is reported."""
    spec = rule_spec(renders(STACK))
    (silent,) = [c for c in scenarios(load_stack(STACK)) if c.why == "hub scraped"]
    silent.fires = [({}, 1)]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(promtool_tests(spec, [silent])))
    tested = run_promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert tested.returncode != 0 and "SwanHubDown" in tested.stdout + tested.stderr


# ---- every metric queried exists in what exports it ------------------------------------------------------

def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, labels matched on) of every vector selector in a PromQL expression."""
    found = []

    def walk(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append((node.name, {m.name for m in node.matchers.matchers}))
        elif isinstance(node, promql_parser.MatrixSelector):
            walk(node.vector_selector)
        elif isinstance(node, promql_parser.BinaryExpr):
            walk(node.lhs)
            walk(node.rhs)
        elif isinstance(node, promql_parser.Call):
            for arg in node.args:
                walk(arg)
        elif isinstance(node, (promql_parser.AggregateExpr, promql_parser.ParenExpr, promql_parser.UnaryExpr,
                               promql_parser.SubqueryExpr)):
            walk(node.expr)

    walk(promql_parser.parse(expr))
    return found


def dashboard_of(folder: Path, stack: str) -> tuple[dict, dict]:
    cfg = load_stack(stack)
    config_map = k8s_object(folder, f"ConfigMap-{cfg.monitoring.grafana_namespace}-{DASHBOARD_CONFIG_MAP}.yaml")
    return config_map, json.loads(config_map["data"][dashboard_file(stack)])


def queries(folder: Path, stack: str) -> list[str]:
    rules = [r["expr"] for group in rule_spec(folder)["groups"] for r in group["rules"]]
    _, board = dashboard_of(folder, stack)
    return rules + [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


def test_the_selector_walk_sees_every_metric():
    assert sorted(n for n, _ in selectors(
        'sum by (a) (rate(x{j="1"}[5m])) * on (b) group_left () max(label_replace(y, "c", "$1", "d", "(.*)")) '
        "or -(sum_over_time(z[1h:5m] offset 1m)) > bool vector(1)")) == ["x", "y", "z"]


@pytest.mark.parametrize("stack", [STACK, "openstack-prod"])
def test_every_queried_metric_has_a_known_exporter_and_label(renders, stack):
    unknown = []
    for expr in queries(renders(stack), stack):
        for name, labels in selectors(expr):
            source = METRICS.get(name)
            if source is None:
                unknown.append(f"{name} (in {expr})")
            elif labels - source.labels - TARGET_LABELS:
                unknown.append(f"{name}: labels {sorted(labels - source.labels - TARGET_LABELS)} (in {expr})")
    assert not unknown


def test_jupyterhub_exports_the_hub_metrics_with_their_labels():
    """Run, not read: the JupyterHub this project installs (5.x, as SWAN's hub image) registers these."""
    import jupyterhub.metrics  # noqa: F401  (registers its metrics in prometheus_client's default registry)
    from prometheus_client import REGISTRY

    exported = {sample.name: set(sample.labels) for family in REGISTRY.collect() for sample in family.samples
                if sample.name.startswith("jupyterhub_")}
    for family in REGISTRY.collect():  # gauges and histograms without a sample yet
        if family.name.startswith("jupyterhub_") and family.type == "gauge":
            exported.setdefault(family.name, set())
    ours = {name: source for name, source in METRICS.items() if name.startswith("jupyterhub_")}
    assert set(ours) <= set(exported), set(ours) - set(exported)
    for name, source in ours.items():
        assert exported[name] <= source.labels, name
    assert "jupyterhub_daily_active_users" not in exported  # JupyterHub 4's name, gone in 5


def test_swan_verify_exports_the_verification_metrics_with_their_labels():
    """Run, not read: `swan verify`'s own Prometheus text, parsed by prometheus_client."""
    from prometheus_client.parser import text_string_to_metric_families

    from stacks.verify.model import CheckResult, Status
    from stacks.verify.report import to_prometheus

    text = to_prometheus([CheckResult("hub.login", "hub", Status.PASS, 1.0, ""),
                          CheckResult("cluster.gpu", "cluster", Status.FAIL, 2.0, "no GPU")],
                         labels={"environment": STACK}, now=1.0)
    exported = {s.name: set(s.labels) for f in text_string_to_metric_families(text) for s in f.samples}
    ours = {name: source for name, source in METRICS.items() if name.startswith("swan_verify_")}
    assert set(ours) <= set(exported)
    for name, source in ours.items():
        assert exported[name] - {"environment"} <= source.labels, name


def test_swan_event_reconcile_exports_the_event_metrics_with_their_labels():
    """Run, not read: `swan event reconcile`'s own Prometheus text for one event, parsed by prometheus_client."""
    import datetime as dt

    from prometheus_client.parser import text_string_to_metric_families

    from stacks.events.automation import StackState
    from stacks.events.lifecycle import Window
    from stacks.events.reconcile import Decision, Outcome, to_prometheus
    from stacks.events.schedule import ScheduledEvent

    utc = dt.timezone.utc
    ready_by = dt.datetime(2026, 12, 1, 7, tzinfo=utc)
    window = Window(ready_by, ready_by + dt.timedelta(hours=2), ready_by + dt.timedelta(hours=10),
                    dt.timedelta(minutes=30), dt.timedelta(minutes=15))
    event = ScheduledEvent("event-ml-workshop", "ml-workshop", window, (STACK,), STACK)
    outcome = Outcome(Decision(event, StackState(False), None), action="up", ok=True)
    text = to_prometheus([outcome], ready_by, finished=1.0)
    exported: dict[str, set] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
    ours = {name: source for name, source in METRICS.items() if name.startswith("swan_event_")}
    assert set(ours) <= set(exported)
    for name, source in ours.items():
        assert exported[name] == set(source.labels), name


def test_the_metric_table_names_real_sources():
    """Each entry names the exporter and the file read; this repository's own exporters exist here."""
    root = Path(__file__).resolve().parents[2]
    for name, source in METRICS.items():
        assert source.exporter and source.path, name
        if source.repository == "swan-iac":
            assert (root / source.path).exists(), f"{name}: {source.path}"


# ---- the dashboard ---------------------------------------------------------------------------------------

def test_the_dashboard_is_a_sidecar_configmap_of_valid_json(renders):
    cfg = load_stack(STACK)
    config_map, board = dashboard_of(renders(STACK), STACK)
    assert config_map["metadata"]["namespace"] == cfg.monitoring.grafana_namespace
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"  # the sidecar's default label
    assert board["uid"] == f"swan-{STACK}" and board["title"] == f"SWAN {STACK}"
    assert [v["name"] for v in board["templating"]["list"] if v["type"] == "datasource"] == ["datasource"]
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert [p["title"] for p in board["panels"] if p["type"] == "row"] == [
        "Sessions", "GPUs per node pool (DCGM)", "Nightly verification"]
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and all(t["expr"] and t["datasource"] == panel["datasource"] for t in panel["targets"])
    cells = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in board["panels"]]
    assert len(cells) == len(set(cells)), "panels overlap"
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])


def test_gpu_panels_join_dcgm_to_pools_by_node_name(renders):
    _, board = dashboard_of(renders(STACK), STACK)
    gpu = [t["expr"] for p in board["panels"] for t in p.get("targets", []) if "DCGM_FI_" in t["expr"]]
    assert {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_PROF_GR_ENGINE_ACTIVE"} <= {
        n for e in gpu for n, _ in selectors(e)}
    for expr in gpu:  # Hostname (dcgm-exporter's NODE_NAME) = node (kube-state-metrics)
        assert 'on (Hostname) group_left (label_swan_cern_ch_node_pool)' in expr
        assert '"Hostname", "$1", "node"' in expr


def test_no_verification_panels_without_a_pushgateway(renders):
    _, board = dashboard_of(renders("openstack-prod"), "openstack-prod")
    assert "Nightly verification" not in [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert not any("swan_verify" in t["expr"] for p in board["panels"] for t in p.get("targets", []))


# ---- the charts scrape themselves where the stack has them ------------------------------------------------

def cluster_policy(folder: Path) -> dict:
    (file,) = (folder / "charts" / "gpu-operator").glob("ClusterPolicy-*.yaml")
    return yaml.safe_load(file.read_text())


def test_dcgm_service_monitor_where_gpus_and_monitoring_are_on(renders):
    """The gpu-operator chart has no ServiceMonitor template: its operator creates the DCGM exporter's
    ServiceMonitor from the ClusterPolicy the chart renders (templates/clusterpolicy.yaml)."""
    cfg = load_stack(STACK)
    monitor = cluster_policy(renders(STACK))["spec"]["dcgmExporter"]["serviceMonitor"]
    assert monitor["enabled"] is True
    assert monitor["additionalLabels"] == {"release": cfg.monitoring.release_label}
    # oci-pilot: GPUs, monitoring off
    assert not cluster_policy(renders("oci-pilot"))["spec"]["dcgmExporter"].get("serviceMonitor", {}).get("enabled")
    # kind: no GPUs, so no gpu-operator at all
    assert not (renders("kind") / "charts" / "gpu-operator").exists()


def test_cert_manager_scrapes_itself_with_the_certificates_namespace(renders):
    cfg = load_stack(STACK)
    (monitor,) = (renders(STACK) / "charts" / "cert-manager").glob("ServiceMonitor-*.yaml")
    obj = yaml.safe_load(monitor.read_text())
    assert obj["metadata"]["labels"]["release"] == cfg.monitoring.release_label
    assert all(e.get("honorLabels") is True for e in obj["spec"]["endpoints"])
    assert not list((renders("oci-pilot") / "charts" / "cert-manager").glob("ServiceMonitor-*.yaml"))
