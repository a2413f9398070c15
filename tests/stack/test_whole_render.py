"""Every stack, rendered through its real charts, checked as a whole (the project's objects and
every chart's objects together), as the cluster would receive them.

- every release templates with its pinned upstream chart (helm 3, the chart mirror or cache);
- every object passes strict schema validation for the stack's Kubernetes version, custom
  resources against their CRD from the render;
- what pods mount exists in their namespace and can bind; node-level DaemonSets (storage
  plugins, the image puller, GPU discovery, network policy and node labeling agents) reach
  every pool they must, course-event pools included; no object has two owners;
- the NetworkPolicies of the whole render (the charts' and the project's) allow exactly the
  flows SWAN needs and block the ones it must not have;
- no release's values are hidden as a whole.
"""
from __future__ import annotations

from functools import lru_cache

import pytest
import yaml

from stacks.config.loader import load_stack, stack_names
from stacks.config.event_model import EventConfig
from stacks.events.objects import node_pool
from stacks.events.plan import plan_event
from stacks.infra import CLUSTER_STORAGE_CLASSES
from stacks.infra.pools import pool_labels, pool_taints
from stacks.platform_layer.hub_values import SPARK_DRIVER_LABEL
from stacks.render_checks import (Pod, Pool, daemonset_reach_problems, double_owners, flow_problems, load_render,
                                  pod_from_workload, pvc_problems, strict_failures, swan_flows, unvalidated)

from stack_support import PREREQUISITES

STACKS = stack_names()
ENVIRONMENTS = [s for s in STACKS if not s.startswith("event-")]
# Labels z2jh and KubeSpawner put on every session pod (tests/session checks them on real pods).
SESSION_LABELS = {"app": "jupyterhub", "component": "singleuser-server", "release": "swan", "heritage": "jupyterhub",
                  "hub.jupyter.org/network-access-hub": "true"}


@lru_cache
def event_pools(environment: str) -> tuple[Pool, ...]:
    """The nodes every course event stack adds to this environment, as pools."""
    pools = []
    for stack in STACKS:
        cfg = load_stack(stack)
        if isinstance(cfg, EventConfig) and environment in cfg.event.environments:
            for group in plan_event(cfg).nodes:
                if group.environment == environment:
                    pool = node_pool(cfg.event, group)
                    pools.append(Pool(pool.name, pool_labels(pool), pool_taints(pool)))
    return tuple(pools)


def pools_of(environment: str) -> list[Pool]:
    cfg = load_stack(environment)
    return [Pool(p.name, pool_labels(p), pool_taints(p)) for p in cfg.node_pools] + list(event_pools(environment))


@pytest.mark.parametrize("stack", STACKS)
def test_every_release_templates_and_every_object_is_valid(renders, stack):
    folder = renders(stack)
    objects = load_render(folder)
    assert objects or stack.startswith("event-")
    version = load_stack(stack).kubernetes_version if stack in ENVIRONMENTS else "1.31"
    assert strict_failures(objects, version, PREREQUISITES) == {}
    for path in (folder / "helm").glob("*.yaml"):
        assert isinstance(yaml.safe_load(path.read_text())["values"], dict), f"{path.name}: values hidden"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_custom_resources_without_their_crd_are_only_documented_prerequisites(renders, stack):
    for line in unvalidated(load_render(renders(stack)), PREREQUISITES):
        assert "monitoring.coreos.com" in line


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_volumes_exist_where_pods_mount_them_and_can_bind(renders, stack):
    cfg = load_stack(stack)
    assert pvc_problems(load_render(renders(stack)), CLUSTER_STORAGE_CLASSES[cfg.cloud]) == []


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_node_agents_reach_every_pool_they_must_event_pools_included(renders, stack):
    cfg = load_stack(stack)
    pools = pools_of(stack)
    everywhere = lambda pool: True  # noqa: E731
    gpu = lambda pool: "nvidia.com/gpu.present" in pool.labels or "swan.cern.ch/gpu-model" in pool.labels  # noqa: E731
    must_reach = [("swan-cvmfs-csi-nodeplugin", everywhere), ("hook-image-puller", everywhere)]
    if cfg.storage.eos.enabled:
        must_reach.append(("swan-eosxd-csi-nodeplugin", everywhere))
    if cfg.gpu_models:
        must_reach.append(("gpu-operator-node-feature-discovery-worker", gpu))
    if cfg.cloud == "oci" and cfg.oci.enforce_network_policies:
        must_reach.append(("kube-router", everywhere))  # without it, no NetworkPolicy holds on a node
    assert event_pools(stack) or not any(
        isinstance(load_stack(s), EventConfig) and stack in load_stack(s).event.environments for s in STACKS)
    assert daemonset_reach_problems(load_render(renders(stack)), pools, must_reach) == []


@pytest.mark.parametrize("stack", STACKS)
def test_no_object_has_two_owners(renders, stack):
    assert double_owners(load_render(renders(stack))) == []


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_network_policies_allow_what_swan_needs_and_nothing_else(renders, stack):
    cfg = load_stack(stack)
    objects = load_render(renders(stack))
    hub_ns, users = cfg.security.hub_namespace, cfg.security.user_namespace
    namespaces = {o.name: o.labels for o in objects if o.kind == "Namespace"}
    namespaces.setdefault("kube-system", {})
    if cfg.monitoring.enabled:
        namespaces.setdefault(cfg.monitoring.prometheus_namespace, {})
    namespaces = {name: {**labels, "kubernetes.io/metadata.name": name} for name, labels in namespaces.items()}
    session = Pod(users, {**SESSION_LABELS, "hub.jupyter.org/username": "alice"}, {"notebook-port": (8888, "TCP")},
                  "alice's session")
    other = Pod(users, {**SESSION_LABELS, "hub.jupyter.org/username": "bob"}, {"notebook-port": (8888, "TCP")},
                "bob's session")
    flows = swan_flows(
        hub=pod_from_workload(objects, "Deployment", hub_ns, "hub"),
        proxy=pod_from_workload(objects, "Deployment", hub_ns, "proxy"),
        session=session, other_session=other, api_server_cidrs=cfg.security.api_server_cidrs,
        spark_driver_labels={SPARK_DRIVER_LABEL: "true"} if cfg.spark.enabled else None,
        prometheus=Pod(cfg.monitoring.prometheus_namespace, dict(cfg.monitoring.prometheus_pod_labels), {},
                       "Prometheus") if cfg.monitoring.enabled else None)
    policies = [o for o in objects if o.kind == "NetworkPolicy"]
    assert flow_problems(policies, namespaces, flows) == []
