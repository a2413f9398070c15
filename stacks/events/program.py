"""The Pulumi program of an event stack: `pulumi up -s event-<name>` expands, `pulumi destroy` shrinks.

For every environment the plan uses, the event declares, under one `swan:event:CourseEvent`:
- a StackReference to the environment, whose outputs are read through the environment's model in
  `stacks.stack_outputs` (its cloud's cluster reference, region, node labeler image, user namespace
  and kubeconfig);
- its GPU nodes, through the same node-pool components the environment uses (its cloud's
  `event_node_pool` in the registry, stacks.infra.clouds: `MagnumNodeGroup` plus a node labeler
  DaemonSet on OpenStack, `OkeNodePool` on OCI), fed a cluster reference read
  from the environment's stack outputs and the same provider configuration (`oci:*` /
  `openstack:*` stack config), labelled and tainted for the event and with the MIG layout the
  planner chose;
- in the environment's cluster: a PriorityClass, a ResourceQuota scoped to it (the event's
  seats there, and no other GPU resource) and the event's ConfigMap the hub reads (its GPU flavour,
  for its role, in its window);
- pre-warm there (stacks.events.prewarm): a namespace of the event's own with a DaemonSet pulling the
  user image of the environment's hub (read from its stack file, as the plan is) on every event node,
  and, when the event asks for them, placeholder pods holding seats, with a PriorityClass below the
  sessions'.
Every object is the event's own (names carry the event name), so destroying the event stack
removes exactly these and leaves the environment as it was.

What the event declares comes from its plan, and the plan from the environments' stack files
(`load_environments`): their `eventGpus` offers and clouds decide how many nodes of which flavour go
where, which must be known when the program declares its resources (and offline, for `swan event
plan` and `swan check`). Where those resources go in the deployed environment comes from its outputs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from stacks.config.event_model import Event, EventConfig
from stacks.config.model import EnvironmentConfig
from stacks.events import objects, prewarm
from stacks.events.plan import EventPlan, NodeGroup, SessionGpus, load_environments, plan_event
from stacks.infra.clouds import cloud_of
from stacks.stack_outputs import EventOutputs, environment_outputs, export, stack_reference_reader

# Kubernetes refuses to change a PriorityClass's value or preemptionPolicy, and Pulumi's provider would try an
# update (events deployed before sessions could preempt placeholders had `Never`): replace it, deleting first
# as the name stays. Pods keep the priority they were admitted with; the quota scopes by name.
IMMUTABLE_PRIORITY = pulumi.ResourceOptions(replace_on_changes=["value", "preemptionPolicy"], delete_before_replace=True)

# read(field): the environment's stack output of that field of its model, parsed (stack_reference_reader)
EnvironmentReader = Callable[[str], pulumi.Output]


@dataclass
class EventNodesArgs:
    event: Event
    group: NodeGroup
    environment: EnvironmentReader
    kubernetes: k8s.Provider


class EventNodes(pulumi.ComponentResource):
    """The event's GPU nodes in one environment's cloud."""

    def __init__(self, name: str, args: EventNodesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:event:Nodes", name, None, opts)
        # The cloud's own pool component (stacks.infra.clouds); the config checks stop clouds that cannot grow.
        cloud_of(args.group.cloud).create_event_node_pool(
            name, objects.node_pool(args.event, args.group), args.environment, args.kubernetes,
            {objects.EVENT_LABEL: args.event.name}, self)
        self.register_outputs({"pool": args.group.pool, "nodes": args.group.count})


@dataclass
class EventAccessArgs:
    event: Event
    gpus: SessionGpus
    groups: list[NodeGroup]  # the event's planned nodes in this environment: its seats there
    user_namespace: pulumi.Input[str]  # the environment's, from its `namespaces` output
    kubernetes: k8s.Provider
    environment: EnvironmentConfig | None = None  # its stack file: the GPU resources its pools provide

    @property
    def sessions(self) -> int:
        return sum(group.sessions for group in self.groups)


class EventAccess(pulumi.ComponentResource):
    """Who may start the event's sessions in one environment, when, and how many."""

    def __init__(self, name: str, args: EventAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:event:Access", name, None, opts)
        here = pulumi.ResourceOptions(parent=self, provider=args.kubernetes)
        event, users = args.event, args.user_namespace
        priority = objects.priority_class(event)
        priority_class = k8s.scheduling.v1.PriorityClass(
            f"{name}-priority-class", metadata=priority["metadata"], value=priority["value"],
            global_default=priority["globalDefault"], preemption_policy=priority["preemptionPolicy"],
            description=priority["description"], opts=pulumi.ResourceOptions.merge(here, IMMUTABLE_PRIORITY))
        quota = objects.resource_quota(event, args.gpus, args.groups, users, args.environment)
        k8s.core.v1.ResourceQuota(
            f"{name}-quota", metadata=quota["metadata"], spec=quota["spec"],
            opts=pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(depends_on=[priority_class])))
        flavour = objects.event_config_map(event, args.gpus, users)
        k8s.core.v1.ConfigMap(
            f"{name}-hub-flavour", metadata=flavour["metadata"], data=flavour["data"],
            opts=pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(depends_on=[priority_class])))
        self.register_outputs({"sessions": args.sessions})


@dataclass
class EventPrewarmArgs:
    event: Event
    gpus: SessionGpus
    groups: list[NodeGroup]  # the event's planned nodes in this environment: their placeholders
    environment: EnvironmentConfig  # its stack file: the user image its hub starts
    kubernetes: k8s.Provider

    @property
    def placeholders(self) -> int:
        return sum(group.placeholders for group in self.groups)


class EventPrewarm(pulumi.ComponentResource):
    """The user image on every event node of one environment before anyone asks, and the seats the
    event wants held until sessions take them (stacks.events.prewarm)."""

    def __init__(self, name: str, args: EventPrewarmArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:event:Prewarm", name, None, opts)
        here = pulumi.ResourceOptions(parent=self, provider=args.kubernetes)
        event = args.event
        ns = prewarm.namespace(event)
        namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata=ns["metadata"], opts=here)
        inside = pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(depends_on=[namespace]))
        puller = prewarm.image_puller(event, args.gpus, prewarm.session_images(args.environment))
        k8s.apps.v1.DaemonSet(f"{name}-image-puller", metadata=puller["metadata"], spec=puller["spec"], opts=inside)
        if args.placeholders:
            priority = prewarm.placeholder_priority_class(event)
            priority_class = k8s.scheduling.v1.PriorityClass(
                f"{name}-placeholder-priority", metadata=priority["metadata"], value=priority["value"],
                global_default=priority["globalDefault"], preemption_policy=priority["preemptionPolicy"],
                description=priority["description"], opts=pulumi.ResourceOptions.merge(here, IMMUTABLE_PRIORITY))
            held = prewarm.placeholders(event, args.gpus, args.placeholders)
            k8s.apps.v1.Deployment(
                f"{name}-placeholders", metadata=held["metadata"], spec=held["spec"],
                opts=pulumi.ResourceOptions.merge(inside, pulumi.ResourceOptions(depends_on=[namespace, priority_class])))
        self.register_outputs({"images": prewarm.session_images(args.environment), "placeholders": args.placeholders})


@dataclass
class CourseEventArgs:
    plan: EventPlan  # planned from the environments' stack files; the rest comes from their outputs
    environments: dict[str, EnvironmentConfig] = field(default_factory=dict)  # those stack files


class CourseEvent(pulumi.ComponentResource):
    """Everything one event adds, in every environment its plan uses."""

    def __init__(self, name: str, args: CourseEventArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:event:CourseEvent", name, None, opts)
        event = args.plan.event
        here = pulumi.ResourceOptions(parent=self)
        self.references: dict[str, pulumi.StackReference] = {}
        for env_name in dict.fromkeys(group.environment for group in args.plan.nodes):
            groups = [g for g in args.plan.nodes if g.environment == env_name]
            ref = pulumi.StackReference(
                f"{pulumi.get_organization()}/{pulumi.get_project()}/{env_name}", opts=here)
            self.references[env_name] = ref
            read = stack_reference_reader(environment_outputs(groups[0].cloud), ref)
            kubernetes = k8s.Provider(f"{env_name}-k8s", kubeconfig=read("kubeconfig"),
                                      enable_server_side_apply=True, opts=here)
            for group in groups:
                EventNodes(f"{env_name}-{group.pool}", EventNodesArgs(event, group, read, kubernetes), here)
            users = read("namespaces").apply(lambda namespaces: namespaces.users)
            EventAccess(f"{env_name}-access",
                        EventAccessArgs(event, args.plan.gpus, groups, users, kubernetes,
                                        args.environments.get(env_name)), here)
            if env_name in args.environments:  # the plan was made from it: always, in `event` below
                EventPrewarm(f"{env_name}-prewarm", EventPrewarmArgs(
                    event, args.plan.gpus, groups, args.environments[env_name], kubernetes), here)
        self.register_outputs({"event": event.name})


def event(cfg: EventConfig) -> None:
    """The program `stacks.program.run` calls for `swan:kind: event` stacks."""
    stack = pulumi.get_stack()
    environments = load_environments(cfg.event.environments)
    plan = plan_event(cfg, environments, stack=stack)
    CourseEvent(cfg.event.name, CourseEventArgs(plan, environments))
    summary = plan.to_json()
    # Stack outputs: stacks.stack_outputs.EventOutputs (operators read them).
    export(EventOutputs, {
        "event": cfg.event.name,
        "window": summary["window"],
        "plan": summary,
        # Per environment: the `expectations` document for `swan verify --expect` against that cluster.
        "verify_expectations": objects.verify_expectations(plan),
    })
