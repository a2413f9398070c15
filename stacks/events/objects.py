"""What an event declares in an environment's cluster, as plain data (pure, no Pulumi).

- Node labels and taints of the event's GPU nodes. SWAN's convention: a `swan-events` taint
  keeps every ordinary session off event nodes, a `swan-events` label marks them, and a
  per-event label (`swan.cern.ch/event=<name>`) lets one event's sessions select its own
  nodes, so two events never share nodes. The MIG layout is the `nvidia.com/mig.config` label.
- A PriorityClass per event, to scope a ResourceQuota in the user namespace to the event's sessions:
  the event gets exactly its seats, and its sessions no other GPU resource (`gpu_caps`: what its
  planned nodes and the environment's pools provide). Its value is 0, the default priority, so a
  session outranks nothing that runs without a PriorityClass; it may preempt lower priorities, which on
  the event's nodes (the only ones its sessions select) are the event's own placeholders (prewarm.py):
  a session that finds every seat held takes a placeholder's.
- The event's ConfigMap the hub reads (`stacks/platform_layer/hub_side/swan_iac_hub.py`): its GPU
  flavour is offered in SWAN's form to members of the event's role from `ready_by` until `end`.
- What `swan verify` should find on the event's nodes (an expectations document).
"""
from __future__ import annotations

import json

from stacks.config.event_model import Event
from stacks.config.model import EnvironmentConfig, NodePool, PoolGpu, Taint
from stacks.config.types import GpuSharing, duration_seconds, quantity_value
from stacks.events.plan import EventPlan, NodeGroup, SessionGpus
from stacks.infra.pools import EVENT_TAINT_KEY, GPU_TAINT_KEY, POOL_LABEL, pool_labels, pool_taints
from stacks.platform_layer.gpu_capacity import gpu_capacity, pool_capacity, total
from stacks.platform_layer.hub_values import EVENT_LABEL as EVENT_FLAVOUR_LABEL
from stacks.platform_layer.k8s import meta
from stacks.stack_outputs import Expectations, pool_expectation

EVENTS_KEY = EVENT_TAINT_KEY  # label and taint of every event node (SWAN's convention)
EVENT_LABEL = "swan.cern.ch/event"  # which event a node (or session pod) belongs to


def verify_expectations(plan: EventPlan) -> dict[str, Expectations]:
    """Per environment, what `swan verify` should find on the event's nodes (its `pools` document), built
    as the environments build their own pools' (`stacks.stack_outputs.pool_expectation`)."""
    event = plan.event
    documents: dict[str, Expectations] = {}
    for group in plan.nodes:
        pool = pool_expectation(node_pool(event, group), group.count,
                                selector={POOL_LABEL: group.pool, EVENT_LABEL: event.name}, event=True)
        pools = [*(documents[group.environment].pools if group.environment in documents else []), pool]
        documents[group.environment] = Expectations(pools=pools)
    return documents


def object_name(event: Event) -> str:
    """Name of the event's PriorityClass, ResourceQuota and profile ConfigMap."""
    return f"swan-event-{event.name}"


def node_pool(event: Event, group: NodeGroup) -> NodePool:
    """The event's nodes in one environment as a node pool, so every cloud's pool code applies."""
    return NodePool(
        name=group.pool, count=group.count, flavor=group.flavor, availability_domains=list(group.availability_domains),
        gpu=PoolGpu(model=event.session.gpu_model, per_node=group.gpus_per_node, mig_config=group.mig_config,
                    sharing=GpuSharing(mode=group.sharing, replicas=group.replicas) if group.sharing else None),
        labels={EVENTS_KEY: "true", EVENT_LABEL: event.name},
        taints=[Taint(key=EVENTS_KEY, value="true", effect="NoSchedule")])


def node_labels(event: Event, group: NodeGroup) -> dict[str, str]:
    """Pool, GPU model, MIG layout (`nvidia.com/mig.config`), `swan-events` and the event's own label."""
    return pool_labels(node_pool(event, group))


def node_taints(event: Event, group: NodeGroup) -> list[dict[str, str]]:
    """`swan-events` (no ordinary session lands here) and the GPU taint."""
    return pool_taints(node_pool(event, group))


def session_tolerations() -> list[dict[str, str]]:
    return [{"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in (EVENTS_KEY, GPU_TAINT_KEY)]


def priority_class(event: Event) -> dict:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": meta(object_name(event), labels={EVENT_LABEL: event.name}),
        "value": 0,
        "globalDefault": False,
        # below 0 on the event's nodes there are only its placeholders (prewarm.placeholder_priority_class)
        "preemptionPolicy": "PreemptLowerPriority",
        "description": f"Sessions of the course event '{event.title}'; scopes its ResourceQuota, takes its "
                       "placeholders' seats.",
    }


def gpu_caps(event: Event, gpus: SessionGpus, groups: list[NodeGroup],
             environment: EnvironmentConfig | None = None) -> dict[str, int]:
    """The event's GPU caps in one environment (`groups`: its planned nodes there): its seats there of the
    resource its sessions ask for (`gpus.resource`), and 0 of every other GPU resource those nodes or the
    environment's pools provide, so the event's sessions take their seats and nothing else. The nodes'
    capacity comes from the plan through the same per-GPU rule as the environment's quota
    (stacks.platform_layer.gpu_capacity: MIG devices, shared GPUs' replicas, the environment's MIG strategy)."""
    strategy = environment.gpu.mig_strategy if environment is not None else "mixed"
    provided = total(pool_capacity(node_pool(event, group), group.count, strategy) for group in groups)
    resource, seats = gpus.resource, sum(group.sessions for group in groups)
    if seats > provided.get(resource, 0):
        raise ValueError(f"event {event.name}: {seats} seats of {resource}, but its nodes provide "
                         f"{provided.get(resource, 0)}")
    others = set(provided) | set(gpu_capacity(environment) if environment is not None else {})
    return dict(sorted({**{r: 0 for r in others}, resource: seats}.items()))


def resource_quota(event: Event, gpus: SessionGpus, groups: list[NodeGroup], namespace: str,
                   environment: EnvironmentConfig | None = None) -> dict:
    """The event's sessions in this cluster (its planned nodes there: `groups`): at most its seats there, with
    their GPU (and no other GPU resource, `gpu_caps`), cores and memory."""
    s = event.session
    group_sessions = sum(group.sessions for group in groups)
    memory = int(quantity_value(s.memory)) * group_sessions
    cores = s.cores * group_sessions
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": meta(object_name(event), namespace, labels={EVENT_LABEL: event.name}),
        "spec": {
            "hard": {
                "pods": str(group_sessions),
                **{f"requests.{r}": str(n) for r, n in gpu_caps(event, gpus, groups, environment).items()},
                "limits.cpu": f"{cores:g}",
                "limits.memory": str(memory),
            },
            "scopeSelector": {"matchExpressions": [
                {"scopeName": "PriorityClass", "operator": "In", "values": [object_name(event)]}]},
        },
    }


def flavour_name(event: Event, gpus: SessionGpus) -> str:
    """What participants pick in SWAN's GPU list."""
    s = event.session
    what = {"whole": "whole GPU", "mig": f"MIG {gpus.resource.removeprefix('nvidia.com/mig-')}",
            "mps": f"shared by {gpus.replicas}, MPS, {s.gpu_memory}",
            "time-slicing": f"shared by {gpus.replicas}, time-slicing"}[gpus.mode]
    return f"{event.title} ({s.gpu_model} {what})"


def event_document(event: Event, gpus: SessionGpus) -> dict:
    """`event.json` of the ConfigMap the hub reads (hub_side/swan_iac_hub.py): who sees the event's
    GPU flavour in the form (its role), when, and how its sessions are placed and sized."""
    s = event.session
    memory = int(quantity_value(s.memory))
    return {
        "event": event.name,
        "role": event.group,
        "opens": event.ready_by.isoformat(),
        "closes": event.end.isoformat(),
        "flavour": flavour_name(event, gpus),
        "resource": gpus.resource,
        "sharing": gpus.mode,
        "limits": {"cpu": f"{s.cores:g}", "memory": str(memory)},
        "requests": {"cpu": f"{s.cores / 4:g}", "memory": str(memory // 2)},
        "nodeSelector": {EVENT_LABEL: event.name},
        "tolerations": session_tolerations(),
        "priorityClassName": object_name(event),
        "labels": {EVENT_LABEL: event.name},
        # seconds; the hub culls it with its culler of that timeout (None: the hub's gpuTimeout)
        "idleTimeout": duration_seconds(s.idle_timeout) if s.idle_timeout else None,
    }


def event_config_map(event: Event, gpus: SessionGpus, namespace: str) -> dict:
    """The event's ConfigMap in the environment's user namespace (where the hub reads events)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(object_name(event), namespace,
                         labels={EVENT_FLAVOUR_LABEL: "true", EVENT_LABEL: event.name}),
        "data": {"event.json": json.dumps(event_document(event, gpus), indent=2, sort_keys=True) + "\n"},
    }
