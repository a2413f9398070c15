"""Pre-warm on event nodes, on the real renders of the fixture event stacks (Pulumi's mock engine):
the image puller lands on exactly the event's nodes and pulls the image the hub starts for an event
session; placeholders hold the share of seats asked, request what a session requests, and give way to
sessions without being counted by the event's quota.

The one stand-in: Pod Security Admission is the Go admission plugin, which cannot run here;
`stacks.render_checks.pod_security` applies the Pod Security Standards' rules to the rendered pods
(and a test below shows it refusing what the admission plugin refuses)."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import kubernetes_validate
import pytest

from event_support import event_swan, overflowing_event
from stacks.config.loader import load_stack
from stacks.events import objects as event_objects
from stacks.events.plan import NodeGroup, hold_placeholders, plan_event
from stacks.platform_layer.swan_platform import namespace_levels
from stacks.render import helm_release, manifest, run_program
from stacks.render_checks.pod_security import pod_security_problems
from stacks.render_checks.scheduling import DAEMONSET_TOLERATIONS, Pool, selects, untolerated

REPO = Path(__file__).resolve().parents[2]
EVENTS = ("event-ml-workshop", "event-physics-course", "event-llm-hackathon", "event-t4-course")
ENVIRONMENTS = ("openstack-prod", "oci-pilot", "t4-shared")


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "tests" / "fixtures" / "config", root / "config")
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SWAN_PROJECT_DIR", str(root))
        mp.chdir(root)
        stacks = {s: run_program(s) for s in (*EVENTS, *ENVIRONMENTS)}
        configs = {s: load_stack(s) for s in stacks}
        plans = {s: plan_event(configs[s], stack=s) for s in EVENTS}
    return stacks, configs, plans


def found(rendered, kind: str, namespace: str | None = None) -> list[dict]:
    objs = [obj for r in rendered.resources if (obj := manifest(r)) is not None and obj["kind"] == kind]
    return [o for o in objs if namespace is None or o["metadata"].get("namespace") == namespace]


def puller(rendered) -> dict:
    (daemonset,) = [d for d in found(rendered, "DaemonSet") if d["metadata"]["namespace"] != "kube-system"]
    return daemonset


def event_pools(event, plan) -> list[Pool]:
    """The event's nodes as the clouds label and taint them (the labeler and OKE use these functions;
    test_event_render.py checks that they reach the nodes)."""
    return [Pool(group.pool, event_objects.node_labels(event, group), event_objects.node_taints(event, group))
            for group in plan.nodes]


def schedulable(pod_spec: dict, pool: Pool, daemonset: bool = False) -> bool:
    if daemonset:
        pod_spec = {**pod_spec, "tolerations": [*(pod_spec.get("tolerations") or []), *DAEMONSET_TOLERATIONS]}
    return selects(pod_spec, pool.labels) and not untolerated(pod_spec, pool.taints)


def environment_pools(stacks, configs, event_stack) -> list[Pool]:
    """The environments' own pools, as they export them for `swan verify` (labels and taints)."""
    pools = []
    for env in configs[event_stack].event.environments:
        expectations = stacks[env].outputs["verify"]["expectations"]
        pools += [Pool(p["name"], p["labels"], p["taints"]) for p in expectations["pools"]]
    return pools


def test_the_puller_lands_on_every_event_node_and_nowhere_else(renders):
    stacks, configs, plans = renders
    for stack in EVENTS:
        event = configs[stack].event
        spec = puller(stacks[stack])["spec"]["template"]["spec"]
        for pool in event_pools(event, plans[stack]):
            assert schedulable(spec, pool, daemonset=True), (stack, pool)
        elsewhere = environment_pools(stacks, configs, stack) + [
            pool for other in EVENTS if other != stack
            for pool in event_pools(configs[other].event, plans[other])]
        assert elsewhere
        landing = [pool.name for pool in elsewhere if schedulable(spec, pool, daemonset=True)]
        assert not landing, (stack, landing)


def _hub_values(rendered) -> dict:
    (swan,) = [r for r in rendered.resources if r.type == "kubernetes:helm.sh/v3:Release"
               and helm_release(r)["chart"].rstrip("/").endswith("swan")]
    return helm_release(swan)["values"]


def test_the_puller_pulls_the_image_the_hub_starts_for_an_event_session(renders):
    """Zero-to-JupyterHub makes `singleuser.image` the spawner's image (its jupyterhub_config.py);
    SwanKubeSpawner changes it only for a CentOS 7 platform or an Acc-Py environment, when its
    `centos7_image` or `accpy` is configured: the environment's hub configures neither (if it ever
    does, those images must be pulled too)."""
    stacks, configs, _ = renders
    for stack in EVENTS:
        (env,) = configs[stack].event.environments
        values = _hub_values(stacks[env])["jupyterhub"]
        image = values["singleuser"]["image"]
        assert "profileList" not in values["singleuser"]
        text = json.dumps(values["hub"]["config"])
        assert "centos7_image" not in text and "accpy" not in text.lower()
        spec = puller(stacks[stack])["spec"]["template"]["spec"]
        assert [c["image"] for c in spec["initContainers"]] == [f"{image['name']}:{image['tag']}"]
        # exits at once (the pull is the point); a pause container keeps the pod for nodes added later
        assert all(c["command"][-1].startswith("echo") for c in spec["initContainers"])
        assert [c["name"] for c in spec["containers"]] == ["pause"]


def test_pods_pass_the_namespace_and_user_namespace_pod_security_levels(renders):
    stacks, configs, _ = renders
    for stack in EVENTS:
        event = configs[stack].event
        (env,) = event.environments
        (namespace,) = found(stacks[stack], "Namespace")
        enforced = namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        user_level = namespace_levels(configs[env])[configs[env].security.user_namespace]
        workloads = [puller(stacks[stack]), *found(stacks[stack], "Deployment")]
        for workload in workloads:
            assert workload["metadata"]["namespace"] == namespace["metadata"]["name"]
            for level in (enforced, user_level):
                assert pod_security_problems(workload["spec"]["template"]["spec"], level) == [], (stack, level)
    assert enforced == "restricted" and user_level == "baseline"


def test_the_pod_security_check_refuses_what_admission_refuses(renders):
    stacks, _, _ = renders
    spec = copy.deepcopy(puller(stacks["event-ml-workshop"])["spec"]["template"]["spec"])
    spec["initContainers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    assert pod_security_problems(spec, "restricted") == ["container pull-0: allowPrivilegeEscalation must be false"]
    assert pod_security_problems(spec, "baseline") == []
    spec["hostNetwork"] = True
    spec["volumes"] = [{"name": "root", "hostPath": {"path": "/"}}]
    assert {"hostNetwork: true", "volume root: hostPath"} <= set(pod_security_problems(spec, "baseline"))


def test_placeholders_hold_the_share_of_seats_asked(renders):
    stacks, configs, plans = renders
    held = {}
    for stack in EVENTS:
        deployments = found(stacks[stack], "Deployment")
        held[stack] = sum(d["spec"]["replicas"] for d in deployments)
        assert held[stack] == plans[stack].placeholders
        priorities = {p["metadata"]["name"] for p in found(stacks[stack], "PriorityClass")}
        # no placeholders, no placeholder PriorityClass nor Deployment
        assert bool(deployments) == (f"swan-event-{configs[stack].event.name}-placeholder" in priorities)
    # ml-workshop: 0.5 of 64 seats; t4-course: 10 seats; the others ask for none
    assert held == {"event-ml-workshop": 32, "event-physics-course": 0, "event-llm-hackathon": 0,
                    "event-t4-course": 10}


def test_placeholders_request_exactly_what_a_session_requests(renders):
    """What the hub sets on an event session's container (hub_side `_gpu`: the event's GPU resource as
    request and limit, `requests` and `limits` from the event's ConfigMap) is what a placeholder holds."""
    stacks, configs, _ = renders
    for stack in ("event-ml-workshop", "event-t4-course"):
        event = configs[stack].event
        (config_map,) = [c for c in found(stacks[stack], "ConfigMap") if c["metadata"]["name"] == f"swan-event-{event.name}"]
        document = json.loads(config_map["data"]["event.json"])
        session = {"requests": {**document["requests"], document["resource"]: "1"},
                   "limits": {**document["limits"], document["resource"]: "1"}}
        (deployment,) = found(stacks[stack], "Deployment")
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["resources"] == session
        assert spec["nodeSelector"] == document["nodeSelector"] and spec["tolerations"] == document["tolerations"]
    (container,) = found(stacks["event-ml-workshop"], "Deployment")[0]["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"] == {"cpu": "1", "memory": str(8 * 2**30), "nvidia.com/mig-1g.5gb": "1"}


def test_sessions_preempt_placeholders_which_the_event_quota_does_not_count(renders):
    stacks, configs, plans = renders
    for stack in ("event-ml-workshop", "event-t4-course"):
        event = configs[stack].event
        name = f"swan-event-{event.name}"
        priorities = {p["metadata"]["name"]: p for p in found(stacks[stack], "PriorityClass")}
        session, placeholder = priorities[name], priorities[f"{name}-placeholder"]
        (deployment,) = found(stacks[stack], "Deployment")
        spec = deployment["spec"]["template"]["spec"]
        assert spec["priorityClassName"] == f"{name}-placeholder"
        # the scheduler evicts lower-priority pods for a pod whose preemptionPolicy allows it
        assert placeholder["value"] < session["value"] == 0
        assert session["preemptionPolicy"] == "PreemptLowerPriority"
        assert placeholder["preemptionPolicy"] == "Never" and placeholder["globalDefault"] is False
        # the event's quota counts pods of the sessions' PriorityClass in the user namespace: not placeholders
        (quota,) = found(stacks[stack], "ResourceQuota")
        (scope,) = quota["spec"]["scopeSelector"]["matchExpressions"]
        assert scope == {"scopeName": "PriorityClass", "operator": "In", "values": [name]}
        assert spec["priorityClassName"] not in scope["values"]
        assert deployment["metadata"]["namespace"] != quota["metadata"]["namespace"]
        # and nothing in the placeholders' namespace limits or counts them
        namespace = deployment["metadata"]["namespace"]
        for rendered in (stacks[stack], stacks[event.environments[0]]):
            assert not found(rendered, "ResourceQuota", namespace) and not found(rendered, "LimitRange", namespace)
        # placeholders request the seat (GPU resource) the quota gives sessions
        (container,) = spec["containers"]
        assert f"requests.{plans[stack].gpus.resource}" in quota["spec"]["hard"]
        assert container["resources"]["requests"][plans[stack].gpus.resource] == "1"


def test_new_objects_pass_the_strict_schema(renders):
    stacks, configs, _ = renders
    for stack in EVENTS:
        version = configs[configs[stack].event.environments[0]].kubernetes_version
        new = [*found(stacks[stack], "Namespace"), puller(stacks[stack]), *found(stacks[stack], "Deployment"),
               *found(stacks[stack], "PriorityClass")]
        for obj in new:
            kubernetes_validate.validate(obj, version, strict=True)


def test_placeholders_follow_the_seats_over_environments(project):
    """An event overflowing into a second environment warms both, in proportion to their seats."""
    overflowing_event(project, placeholders=0.5)
    rendered = run_program("event-big")
    replicas = {r.parent: r.inputs["spec"]["replicas"] for r in rendered.resources
                if r.type == "kubernetes:apps/v1:Deployment"}
    assert replicas == {"swan:event:Prewarm::openstack-prod-prewarm": 28, "swan:event:Prewarm::openstack-b-prewarm": 14}
    pullers = [r for r in rendered.resources if r.type == "kubernetes:apps/v1:DaemonSet"
               and r.inputs["metadata"]["namespace"] == "swan-event-ml"]
    assert len(pullers) == 2  # one per environment's cluster


def _group(sessions: int) -> NodeGroup:
    return NodeGroup(pool="p", environment="e", cloud="openstack", count=1, gpus_per_node=1, flavor=None,
                     availability_domains=(), mig_config="all-disabled", sessions=sessions)


@pytest.mark.parametrize("seats, total, expected", [
    ([56, 28], 42, [28, 14]),
    ([56, 28], 1, [1, 0]),
    ([5, 5, 5], 2, [1, 1, 0]),
    ([7, 1], 8, [7, 1]),
    ([3, 4], 0, [0, 0]),
])
def test_placeholders_are_spread_without_exceeding_any_groups_seats(seats, total, expected):
    held = [g.placeholders for g in hold_placeholders([_group(s) for s in seats], total)]
    assert held == expected and sum(held) == total
    assert all(h <= s for h, s in zip(held, seats))


@pytest.mark.parametrize("placeholders, seats", [(0.5, 32), (1.0, 64), (1, 1), (0.01, 1), (0, 0), (64, 64)])
def test_a_share_is_rounded_up_and_a_count_is_taken_as_is(placeholders, seats):
    from stacks.config.event_model import EventConfig

    assert EventConfig.model_validate(event_swan(placeholders=placeholders)).event.placeholder_seats == seats


def test_pulumi_up_does_not_wait_for_pulls_or_held_seats(renders):
    """Pulumi's Kubernetes provider waits for a Deployment's replicas (and a DaemonSet's pods) to be ready;
    a multi-GB pull on nodes still joining, or placeholders left Pending after sessions took their seats,
    would fail `pulumi up` (and every later one the reconcile runs)."""
    stacks, _, _ = renders
    for workload in (puller(stacks["event-ml-workshop"]), *found(stacks["event-ml-workshop"], "Deployment")):
        assert workload["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
