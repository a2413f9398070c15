"""The NetworkPolicy evaluator (networking.k8s.io/v1 semantics) and SWAN's flows, on hand-written
policies and on the JupyterHub chart's own."""
from __future__ import annotations

import pytest
from render_checks_fixtures import chart_objects, fixture, load

from stacks.render_checks import Address, Flow, Pod, allowed, explain, flow_problems, pod_from_workload, swan_flows
from stacks.render_checks.netpol import DNS_POD


def _policy(name: str, namespace: str = "apps", **spec) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"podSelector": {}, **spec}}


WEB = Pod("apps", {"app": "web", "tier": "front"}, {"http": (8080, "TCP"), "dns": (53, "UDP")}, name="web")
DB = Pod("apps", {"app": "db"}, {"sql": (5432, "TCP")}, name="db")
OTHER_DB = Pod("other", {"app": "db"}, {"sql": (5432, "TCP")}, name="other db")
INTERNET = Address("8.8.8.8")
NS = {"apps": {"team": "a"}, "other": {"team": "b"}}


def test_no_policy_allows_everything():
    assert allowed([], NS, WEB, DB, 5432)
    assert allowed([], NS, INTERNET, WEB, 1)


def test_a_policy_without_policy_types_restricts_ingress_only():
    deny = _policy("deny")
    assert not allowed([deny], NS, WEB, DB, 5432)
    assert allowed([deny], NS, DB, INTERNET, 443)  # egress untouched


def test_policy_types_default_to_egress_when_there_are_egress_rules():
    only_dns = _policy("dns", egress=[{"ports": [{"port": 53, "protocol": "UDP"}]}])
    assert not allowed([only_dns], NS, WEB, INTERNET, 443)
    assert allowed([only_dns], NS, WEB, INTERNET, 53, "UDP")
    empty_egress = _policy("empty", egress=[], ingress=[{}])
    assert allowed([empty_egress], NS, WEB, INTERNET, 443)  # `egress: []` is no egress rule: Ingress only
    deny_egress = _policy("deny-egress", policyTypes=["Egress"])
    assert not allowed([deny_egress], NS, WEB, INTERNET, 443)
    assert allowed([deny_egress], NS, INTERNET, WEB, 8080)


def test_a_policy_applies_only_to_the_pods_it_selects_in_its_namespace():
    deny_db = _policy("deny-db", podSelector={"matchLabels": {"app": "db"}})
    assert not allowed([deny_db], NS, WEB, DB, 5432)
    assert allowed([deny_db], NS, DB, WEB, 8080)
    assert allowed([deny_db], NS, WEB, OTHER_DB, 5432)  # another namespace


def test_policies_add_up():
    rules = [_policy("deny"), _policy("web-to-db", ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}])]
    assert allowed(rules, NS, WEB, DB, 5432)
    assert not allowed(rules, NS, DB, WEB, 8080)


def test_pod_selector_peers_stay_in_the_policy_namespace():
    policy = _policy("from-db", ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "db"}}}]}])
    assert allowed([policy], NS, DB, WEB, 8080)
    assert not allowed([policy], NS, OTHER_DB, WEB, 8080)


def test_namespace_selectors_use_namespace_labels_and_the_automatic_name_label():
    by_label = _policy("from-b", ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}}}]}])
    assert allowed([by_label], NS, OTHER_DB, WEB, 8080)
    assert not allowed([by_label], NS, DB, WEB, 8080)
    assert not allowed([by_label], {}, OTHER_DB, WEB, 8080)  # namespace labels not given
    by_name = _policy("from-other", ingress=[{"from": [{"namespaceSelector": {
        "matchLabels": {"kubernetes.io/metadata.name": "other"}}}]}])
    assert allowed([by_name], {}, OTHER_DB, WEB, 8080)
    everywhere = _policy("any", ingress=[{"from": [{"namespaceSelector": {}}]}])
    assert allowed([everywhere], {}, OTHER_DB, WEB, 8080)
    assert not allowed([everywhere], {}, INTERNET, WEB, 8080)


def test_namespace_and_pod_selector_together_and_apart():
    together = _policy("together", ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}},
                                                       "podSelector": {"matchLabels": {"app": "web"}}}]}])
    apart = _policy("apart", ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "b"}}},
                                                {"podSelector": {"matchLabels": {"app": "web"}}}]}])
    other_web = Pod("other", {"app": "web"})
    assert not allowed([together], NS, OTHER_DB, DB, 5432)
    assert allowed([together], NS, other_web, DB, 5432)
    assert not allowed([together], NS, WEB, DB, 5432)
    assert allowed([apart], NS, OTHER_DB, DB, 5432) and allowed([apart], NS, WEB, DB, 5432)


@pytest.mark.parametrize("expression, matches_web", [
    ({"key": "tier", "operator": "In", "values": ["front", "edge"]}, True),
    ({"key": "tier", "operator": "NotIn", "values": ["front"]}, False),
    ({"key": "absent", "operator": "NotIn", "values": ["x"]}, True),
    ({"key": "tier", "operator": "Exists"}, True),
    ({"key": "tier", "operator": "DoesNotExist"}, False),
])
def test_match_expressions(expression, matches_web):
    policy = _policy("p", ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}, "matchExpressions": [expression]}}]}])
    assert allowed([policy], NS, WEB, DB, 5432) is matches_web


def test_ip_blocks_with_exceptions_match_addresses_not_pods():
    policy = _policy("out", policyTypes=["Egress"],
                     egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32", "10.0.0.0/8"]}}]}])
    assert allowed([policy], NS, WEB, INTERNET, 443)
    assert not allowed([policy], NS, WEB, Address("169.254.169.254"), 80)
    assert not allowed([policy], NS, WEB, Address("10.96.0.1"), 443)
    assert not allowed([policy], NS, WEB, DB, 5432)  # pods are not matched by ipBlock
    assert not allowed([policy], NS, WEB, Address("2001:db8::1"), 443)  # an IPv4 block does not hold IPv6
    inbound = _policy("in", ingress=[{"from": [{"ipBlock": {"cidr": "8.8.8.0/24"}}]}])
    assert allowed([inbound], NS, INTERNET, WEB, 8080)
    assert not allowed([inbound], NS, Address("1.1.1.1"), WEB, 8080)


def test_ports_numbers_ranges_protocols_and_names():
    def only(*ports) -> list[dict]:
        return [_policy("p", ingress=[{"ports": list(ports)}])]
    assert allowed(only({"port": 5432}), NS, WEB, DB, 5432)
    assert not allowed(only({"port": 5432}), NS, WEB, DB, 5433)
    assert not allowed(only({"port": 5432}), NS, WEB, DB, 5432, "UDP")  # protocol defaults to TCP
    assert allowed(only({"port": 5000, "endPort": 6000}), NS, WEB, DB, 5432)
    assert not allowed(only({"port": 5000, "endPort": 5100}), NS, WEB, DB, 5432)
    assert allowed(only({"protocol": "UDP"}), NS, WEB, DB, 9, "UDP")
    assert allowed(only({"port": "sql"}), NS, WEB, DB, 5432)  # named: the destination pod's port
    assert not allowed(only({"port": "sql"}), NS, WEB, DB, 5433)
    assert not allowed(only({"port": "http"}), NS, WEB, DB, 8080)  # `http` is web's name, not db's
    assert not allowed(only({"port": "dns"}), NS, DB, WEB, 53, "TCP")  # dns is a UDP port
    assert allowed(only({"port": "dns", "protocol": "UDP"}), NS, DB, WEB, 53, "UDP")
    egress = [_policy("e", policyTypes=["Egress"], egress=[{"ports": [{"port": "sql"}]}])]
    assert allowed(egress, NS, WEB, DB, 5432)
    assert not allowed(egress, NS, WEB, INTERNET, 5432)  # an address has no named ports


def test_explain_names_the_side_and_the_policy():
    rules = [_policy("deny", "other"), _policy("db-out", podSelector={"matchLabels": {"app": "db"}},
                                               policyTypes=["Egress"], egress=[{}])]
    verdict = explain(rules, NS, DB, OTHER_DB, 5432)
    assert not verdict.allowed
    assert verdict.egress.reason == "Egress of db allowed by apps/db-out"
    assert verdict.ingress.reason == "Ingress of other db blocked: no rule of other/deny allows it"
    outside = explain(rules, NS, INTERNET, WEB, 8080)
    assert outside.egress.reason == "8.8.8.8 is outside the cluster (no egress policy)"
    assert outside.ingress.reason == "no Ingress policy selects web"


def test_flow_problems_lists_every_unexpected_outcome():
    rules = [_policy("deny-db", podSelector={"matchLabels": {"app": "db"}})]
    flows = [Flow("web reads the db", WEB, DB, 5432),
             Flow("db calls web", DB, WEB, 8080, expected=False),
             Flow("web calls out", WEB, INTERNET, 443),
             Flow("web is closed to db", WEB, DB, 5432, expected=False)]
    assert flow_problems(rules, NS, flows) == [
        "web reads the db: web -> db:5432/TCP is blocked but must work: Ingress of db blocked: no rule of apps/deny-db allows it",
        "db calls web: db -> web:8080/TCP is allowed but must not be: no Egress policy selects db; "
        "no Ingress policy selects web"]


def test_policies_may_be_render_objects_and_other_kinds_are_ignored():
    objects = chart_objects("jupyterhub-3.1.0", "jupyterhub", "jh")
    assert not allowed(objects, {}, Pod("jh", {}), pod_from_workload(objects, "Deployment", "jh", "hub"), 8081)


# ---- real charts ----

def test_jupyterhub_chart_policies_let_labelled_pods_reach_the_hub():
    """z2jh's hub policy admits pods labelled hub.jupyter.org/network-access-hub on the named port
    `http` (8081 in the hub pod); the proxy carries that label."""
    objects = chart_objects("jupyterhub-3.1.0", "jupyterhub", "jh", "--set", "hub.networkPolicy.enabled=true")
    hub = pod_from_workload(objects, "Deployment", "jh", "hub")
    proxy = pod_from_workload(objects, "Deployment", "jh", "proxy")
    assert hub.ports == {"http": (8081, "TCP")} and proxy.ports == {"http": (8000, "TCP"), "api": (8001, "TCP")}
    assert proxy.labels["hub.jupyter.org/network-access-hub"] == "true"
    assert allowed(objects, {}, proxy, hub, 8081)
    assert not allowed(objects, {}, proxy, hub, 8000)
    plain = Pod("jh", {"app": "jupyterhub", "component": "other"}, name="unlabelled pod")
    assert explain(objects, {}, plain, hub, 8081).ingress.reason == \
        "Ingress of Deployment jh/hub blocked: no rule of jh/hub allows it"
    labelled = Pod("jh", {"hub.jupyter.org/network-access-hub": "true"})
    assert allowed(objects, {}, labelled, hub, 8081)
    assert not allowed(objects, {}, Pod("elsewhere", {"hub.jupyter.org/network-access-hub": "true"}), hub, 8081)
    session = Pod("jh", {"app": "jupyterhub", "component": "singleuser-server", "release": "jupyterhub"},
                  {"notebook-port": (8888, "TCP")})
    assert allowed(objects, {}, proxy, session, 8888)  # the named port notebook-port of the session pod
    assert not allowed(objects, {}, session, Address("169.254.169.254"), 80)
    assert allowed(objects, {}, hub, Address("10.96.0.1"), 443)  # upstream default: hub may reach private IPs


SESSION_LABELS = {"app": "jupyterhub", "component": "singleuser-server", "release": "swan",
                  "hub.jupyter.org/network-access-hub": "true"}


def _swan(*values: str) -> tuple[list, list[Flow]]:
    chart = chart_objects("swan-2.3.73", "swan", "swan", "-f", fixture("swan-values.yaml"), *values)
    policies = [*chart, *load("user-namespace-policies.yaml")]
    notebook = {"notebook-port": (8888, "TCP")}
    flows = swan_flows(
        hub=pod_from_workload(chart, "Deployment", "swan", "hub"),
        proxy=pod_from_workload(chart, "Deployment", "swan", "proxy"),
        session=Pod("swan-users", SESSION_LABELS, notebook, "alice's session"),
        other_session=Pod("swan-users", SESSION_LABELS, notebook, "bob's session"),
        api_server_cidrs=["172.18.0.2/32"],
        spark_driver_labels={"swan.cern.ch/spark-driver": "true"},
        spark_executor=Pod("spark", {"spark-role": "executor"}, name="executor"),
        prometheus=Pod("monitoring", {"app.kubernetes.io/name": "prometheus"}, name="prometheus"))
    return policies, flows


def test_swan_flows_hold_with_the_hub_policies_opened_for_the_user_namespace():
    policies, flows = _swan("-f", fixture("swan-netpol-values.yaml"))
    assert flow_problems(policies, {}, flows) == []
    must_not = {f.description for f in flows if not f.expected}
    assert must_not == {"a session reads cloud metadata", "a session calls the API server",
                        "a session opens another user's session", "a session calls the proxy API",
                        "a session calls the hub on another port than its API", "Spark executors read cloud metadata",
                        "Spark executors call the API server"}


def test_swan_chart_defaults_block_sessions_in_their_own_namespace():
    """With the SWAN chart's default hub/proxy policies, the chart's policies only know sessions
    in the hub's namespace, and the hub may not reach private addresses (the API server)."""
    policies, flows = _swan()
    problems = flow_problems(policies, {}, flows)
    blocked = sorted({p.split(":")[0] for p in problems})
    assert blocked == ["Prometheus scrapes the hub", "a session calls the hub API", "the hub checks a session",
                       "the hub spawns pods through the API server", "the proxy forwards to a session"]
    assert ("a session calls the hub API: alice's session -> Deployment swan/hub:8081/TCP is blocked but must work: "
            "Ingress of Deployment swan/hub blocked: no rule of swan/hub allows it") in problems


def test_swan_flows_catch_an_open_user_namespace():
    """A classic mistake, "allow everything within the namespace", opens sessions to each other."""
    policies, flows = _swan("-f", fixture("swan-netpol-values.yaml"))
    same_namespace = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                      "metadata": {"name": "allow-same-namespace", "namespace": "swan-users"},
                      "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}],
                               "egress": [{"to": [{"podSelector": {}}]}]}}
    assert flow_problems([*policies, same_namespace], {}, flows) == [
        "a session opens another user's session: alice's session -> bob's session:8888/TCP is allowed but must not be: "
        "Egress of alice's session allowed by swan-users/allow-same-namespace; "
        "Ingress of bob's session allowed by swan-users/allow-same-namespace"]


def test_swan_flows_table():
    hub = Pod("swan", {"component": "hub"}, name="hub")
    flows = swan_flows(hub=hub, proxy=Pod("swan", {"component": "proxy"}), session=Pod("u", {}), other_session=Pod("u", {}),
                       api_server_cidrs=["10.0.0.0/24", "192.0.2.10/32"])
    descriptions = {(f.description, str(f.dst), f.port, f.protocol, f.expected) for f in flows}
    assert ("the hub spawns pods through the API server", "API server 10.0.0.0/24", 6443, "TCP", True) in descriptions
    assert ("a session calls the API server", "API server 192.0.2.10/32", 443, "TCP", False) in descriptions
    assert ("hub resolves names", "kube-dns", 53, "UDP", True) in descriptions
    assert ("a session reads cloud metadata", "cloud metadata", 80, "TCP", False) in descriptions
    assert not any("Spark" in f.description or "Prometheus" in f.description for f in flows)
    assert next(f for f in flows if f.dst is DNS_POD).dst.namespace == "kube-system"
