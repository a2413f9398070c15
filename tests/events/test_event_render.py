"""Event stacks rendered offline (Pulumi's mock engine): nodes, labels, taints, quota, hub profile,
strict Kubernetes schemas, and nothing that belongs to the environment."""
from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
from pathlib import Path

import kubernetes_validate
import pytest

from event_support import overflowing_event
from stacks.config.loader import load_stack
from stacks.events.plan import plan_event
from stacks.platform_layer.hub_values import EVENT_LABEL
from stacks.render import manifest, run_program, write

REPO = Path(__file__).resolve().parents[2]
NODE_GROUP = "openstack:containerinfra/nodeGroup:NodeGroup"
NODE_POOL = "oci:ContainerEngine/nodePool:NodePool"
EXAMPLES = ("event-ml-workshop", "event-physics-course", "event-llm-hackathon", "event-t4-course")


def _copy_project(root: Path) -> Path:
    shutil.copytree(REPO / "tests" / "fixtures" / "config", root / "config")
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    return root


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """Each example event and each environment, rendered once, with the plans and configs."""
    root = _copy_project(tmp_path_factory.mktemp("project"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SWAN_PROJECT_DIR", str(root))
        mp.chdir(root)
        stacks = {s: run_program(s) for s in (*EXAMPLES, "openstack-prod", "oci-pilot", "t4-shared")}
        configs = {s: load_stack(s) for s in stacks}
        plans = {s: plan_event(configs[s], stack=s) for s in EXAMPLES}
    return stacks, configs, plans


def objects(rendered) -> dict[tuple[str, str | None, str], dict]:
    found = {}
    for resource in rendered.resources:
        obj = manifest(resource)
        if obj is not None:
            found[(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])] = obj
    return found


def one(rendered, type_: str) -> dict:
    (found,) = [r.inputs for r in rendered.resources if r.type == type_]
    return found


def test_magnum_node_group_is_sized_by_the_plan(renders):
    stacks, configs, plans = renders
    env_outputs = stacks["openstack-prod"].outputs
    for stack in ("event-ml-workshop", "event-physics-course"):
        (planned,) = plans[stack].nodes
        group = one(stacks[stack], NODE_GROUP)
        assert group["nodeCount"] == planned.count
        assert group["clusterId"] == env_outputs["clusterId"]  # through the StackReference
        assert group["flavorId"] == planned.flavor
        assert group["name"] == planned.pool == f"event-{configs[stack].event.name}"
    assert one(stacks["event-ml-workshop"], NODE_GROUP)["nodeCount"] == 3    # 10 A100s on 4-GPU nodes
    assert one(stacks["event-physics-course"], NODE_GROUP)["nodeCount"] == 27  # one T4 each


def _labeler_args(rendered) -> tuple[list[str], list[str], dict]:
    obj = next(o for (kind, ns, _), o in objects(rendered).items() if kind == "DaemonSet" and ns == "kube-system")
    init = {c["name"]: c["args"] for c in obj["spec"]["template"]["spec"]["initContainers"]}
    return init["label"], init["taint"], obj


def test_openstack_nodes_are_labelled_and_tainted_for_the_event_only(renders):
    stacks, configs, plans = renders
    rendered = stacks["event-ml-workshop"]
    labels, taints, daemonset = _labeler_args(rendered)
    assert daemonset["metadata"]["namespace"] == "kube-system"
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"magnum.openstack.org/nodegroup": "event-ml-workshop"}
    # The environment owns the labeler's service account; the event only adds its DaemonSet.
    assert ("ServiceAccount", "kube-system", spec["serviceAccountName"]) in objects(stacks["openstack-prod"])
    assert {"swan-events=true", "swan.cern.ch/event=ml-workshop", "nvidia.com/mig.config=a100-40gb-7x1g.5gb",
            "swan.cern.ch/node-pool=event-ml-workshop"} <= set(labels)
    assert {"swan-events=true:NoSchedule", "nvidia.com/gpu=present:NoSchedule"} <= set(taints)
    mig_config = plans["event-ml-workshop"].nodes[0].mig_config
    assert one(rendered, NODE_GROUP)["labels"]["nvidia.com/mig.config"] == mig_config


def test_a_course_sized_by_gpu_memory_gets_shared_t4s(renders):
    """60 sessions of 4Gi on T4s (16 GB): shared four ways with MPS on t4-shared (its MIG strategy allows MPS),
    15 nodes whose device plugin config the environment's gpu-operator holds, and sessions asking for one
    `nvidia.com/gpu` each (a replica), as many as the event's quota allows."""
    stacks, configs, plans = renders
    rendered, plan = stacks["event-t4-course"], plans["event-t4-course"]
    assert (plan.gpus.mode, plan.gpus.replicas, plan.packed.gpus) == ("mps", 4, 15)
    assert one(rendered, NODE_GROUP)["nodeCount"] == 15
    labels, _, _ = _labeler_args(rendered)
    assert {"nvidia.com/device-plugin.config=mps-4", "nvidia.com/mig.config=all-disabled"} <= set(labels)
    held = objects(stacks["t4-shared"])[("ConfigMap", "gpu-operator", "swan-device-plugin-config")]["data"]
    assert "replicas: 4" in held["mps-4"] and "mps:" in held["mps-4"]
    found = objects(rendered)
    quota = found[("ResourceQuota", "swan-users", "swan-event-t4-course")]["spec"]["hard"]
    assert quota["requests.nvidia.com/gpu"] == quota["pods"] == "60"
    document = json.loads(found[("ConfigMap", "swan-users", "swan-event-t4-course")]["data"]["event.json"])
    assert (document["resource"], document["sharing"]) == ("nvidia.com/gpu", "mps")
    assert "shared by 4, MPS" in document["flavour"]


def test_oke_node_pool_is_sized_labelled_and_tainted(renders):
    stacks, configs, plans = renders
    pool = one(stacks["event-llm-hackathon"], NODE_POOL)
    env = stacks["oci-pilot"].outputs
    (planned,) = plans["event-llm-hackathon"].nodes
    details = pool["nodeConfigDetails"]
    assert details["size"] == planned.count == 2   # 22 sessions of 3g.40gb: 11 A100-80GB on 8-GPU hosts
    assert pool["nodeShape"] == "BM.GPU.A100-v2.8"
    assert pool["clusterId"] == env["clusterId"] and pool["compartmentId"] == env["compartmentId"]
    assert pool["kubernetesVersion"] == env["kubernetesVersion"]
    assert [p["availabilityDomain"] for p in details["placementConfigs"]] == list(planned.availability_domains)
    assert {p["subnetId"] for p in details["placementConfigs"]} == {env["nodeSubnetId"]}
    labels = {label["key"]: label["value"] for label in pool["initialNodeLabels"]}
    assert labels["swan-events"] == "true" and labels["swan.cern.ch/event"] == "llm-hackathon"
    assert labels["nvidia.com/mig.config"] == "a100-80gb-2x3g.40gb"
    user_data = base64.b64decode(pool["nodeMetadata"]["user_data"]).decode()
    assert "--register-with-taints=swan-events=true:NoSchedule,nvidia.com/gpu=present:NoSchedule" in user_data


def test_quota_priority_class_and_event_flavour_fit_together(renders):
    """The hub places an event session with the flavour's PriorityClass, which scopes the quota;
    what the flavour asks for is what the quota counts. (tests/session runs the real hub on it.)"""
    stacks, configs, plans = renders
    for stack in EXAMPLES:
        event = configs[stack].event
        env = configs[event.environments[0]]
        found = objects(stacks[stack])
        name = f"swan-event-{event.name}"
        users = env.security.user_namespace
        quota = found[("ResourceQuota", users, name)]["spec"]
        priority = found[("PriorityClass", None, name)]
        # the resource a session asks for: a MIG device by its profile, else a whole or shared GPU
        resource = f"nvidia.com/mig-{event.session.profile}" if event.session.profile not in (None, "full") \
            else "nvidia.com/gpu"
        assert quota["hard"]["pods"] == quota["hard"][f"requests.{resource}"] == str(event.sessions)
        assert quota["scopeSelector"]["matchExpressions"] == [
            {"scopeName": "PriorityClass", "operator": "In", "values": [name]}]
        # sessions take placeholders' seats (tests/events/test_event_prewarm.py)
        assert priority["preemptionPolicy"] == "PreemptLowerPriority" and priority["globalDefault"] is False
        config_map = found[("ConfigMap", users, name)]
        assert config_map["metadata"]["labels"][EVENT_LABEL] == "true"
        document = json.loads(config_map["data"]["event.json"])
        assert document["priorityClassName"] == name and document["resource"] == resource
        assert document["role"] == event.group
        assert dt.datetime.fromisoformat(document["opens"]) == event.ready_by
        assert dt.datetime.fromisoformat(document["closes"]) == event.end
        cores = float(quota["hard"]["limits.cpu"]) / event.sessions
        assert float(document["limits"]["cpu"]) == cores


def test_event_sessions_fit_the_event_nodes_only(renders):
    """What the hub adds to an event session (node selector, tolerations) matches the event's
    nodes' labels and taints, and an ordinary session tolerates none of their taints."""
    stacks, configs, _ = renders
    data = objects(stacks["event-ml-workshop"])[("ConfigMap", "swan-users", "swan-event-ml-workshop")]["data"]
    document = json.loads(data["event.json"])
    labels, taints, _ = _labeler_args(stacks["event-ml-workshop"])
    node_labels = dict(arg.split("=", 1) for arg in labels if "=" in arg)
    assert all(node_labels.get(k) == v for k, v in document["nodeSelector"].items())
    tolerated = {(t["key"], t["effect"]) for t in document["tolerations"] if t.get("operator") == "Exists"}
    node_taints = {(t.split("=")[0], t.split(":")[-1]) for t in taints if ":" in t}
    assert node_taints <= tolerated and ("swan-events", "NoSchedule") in node_taints


def test_every_kubernetes_object_passes_the_strict_schema(renders):
    stacks, configs, _ = renders
    for stack in EXAMPLES:
        version = configs[configs[stack].event.environments[0]].kubernetes_version
        found = objects(stacks[stack])
        assert found, stack
        for key, obj in found.items():
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{stack} {key}: {exc.message}")


def test_everything_hangs_under_one_course_event_component(renders):
    stacks, configs, _ = renders
    for stack in EXAMPLES:
        resources = stacks[stack].resources
        by_key = {f"{r.type}::{r.name}": r for r in resources}
        root = f"swan:event:CourseEvent::{configs[stack].event.name}"
        for r in resources:
            chain, parent = [], f"{r.type}::{r.name}"
            while parent is not None:
                chain.append(parent)
                parent = by_key[parent].parent
            assert chain[-1] == root, (stack, r.type, r.name)
        components = {r.type for r in resources if not r.custom}
        # the pools come from the node-pool components environments use too (tests/stack/test_node_pools.py)
        assert components <= {"swan:event:CourseEvent", "swan:event:Nodes", "swan:event:Access", "swan:event:Prewarm",
                              "swan:infra:OkeNodePool", "swan:infra:MagnumNodeGroup"}


def test_the_event_declares_nothing_the_environment_declares(renders):
    """So `pulumi destroy -s event-...` removes only the event's own objects."""
    stacks, configs, _ = renders
    for stack in EXAMPLES:
        env_name = configs[stack].event.environments[0]
        shared = set(objects(stacks[stack])) & set(objects(stacks[env_name]))
        assert not shared, (stack, shared)
        env_groups = {r.inputs.get("name") for r in stacks[env_name].resources if r.type in (NODE_GROUP, NODE_POOL)}
        event_groups = {r.inputs.get("name") for r in stacks[stack].resources if r.type in (NODE_GROUP, NODE_POOL)}
        assert event_groups and not env_groups & event_groups


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_environment_render_is_the_same_with_or_without_events(project, tmp_path):
    """Adding events (or destroying them) leaves every environment's render byte for byte as it was."""
    for env in ("openstack-prod", "oci-pilot"):
        write(run_program(env), tmp_path / "with" / env)
    for path in project.config.glob("Pulumi.event-*.yaml"):
        path.unlink()
    for env in ("openstack-prod", "oci-pilot"):
        write(run_program(env), tmp_path / "without" / env)
        with_events, without = _files(tmp_path / "with" / env), _files(tmp_path / "without" / env)
        assert with_events and with_events == without


def test_overflow_renders_nodes_and_seats_in_both_environments(project):
    overflowing_event(project)
    rendered = run_program("event-big")
    groups = sorted((r.name, r.inputs["nodeCount"]) for r in rendered.resources if r.type == NODE_GROUP)
    assert groups == [("openstack-b-event-ml-nodegroup", 1), ("openstack-prod-event-ml-nodegroup", 2)]
    quotas = {r.parent: int(r.inputs["spec"]["hard"]["pods"]) for r in rendered.resources
              if r.type == "kubernetes:core/v1:ResourceQuota"}
    assert quotas == {"swan:event:Access::openstack-prod-access": 56, "swan:event:Access::openstack-b-access": 28}
    assert sum(quotas.values()) == 84
    providers = [r for r in rendered.resources if r.type == "pulumi:providers:kubernetes"]
    assert len(providers) == 2  # one per environment's cluster


def test_swan_verify_expectations_match_the_declared_nodes(renders):
    """The event exports what `swan verify` should find; nodes as the labeler makes them pass it."""
    from stacks.verify.cluster import CheckFailed, event_pools_declared, load_expectations

    stacks, configs, plans = renders
    exported = stacks["event-ml-workshop"].outputs["verifyExpectations"]
    expectations = load_expectations(exported["openstack-prod"], "verifyExpectations.openstack-prod")
    (pool,) = expectations.pools
    (planned,) = plans["event-ml-workshop"].nodes
    assert pool.event and pool.gpu == {"nvidia.com/mig-1g.5gb": planned.gpus * 7}
    labels, taints, _ = _labeler_args(stacks["event-ml-workshop"])
    node_labels = dict(arg.split("=", 1) for arg in labels if "=" in arg)
    node_taints = [{"key": t.split("=")[0], "value": t.split("=")[1].split(":")[0], "effect": t.split(":")[-1]}
                   for t in taints if ":" in t]
    nodes = [{"metadata": {"name": f"n{i}", "labels": node_labels}, "spec": {"taints": node_taints}}
             for i in range(planned.count)]
    assert "event-ml-workshop (3 nodes)" in event_pools_declared(nodes, expectations.pools)
    untainted = [{"metadata": n["metadata"], "spec": {"taints": node_taints[1:]}} for n in nodes]
    with pytest.raises(CheckFailed, match="swan-events=true:NoSchedule missing"):
        event_pools_declared(untainted, expectations.pools)
