"""The Pulumi program of an event stack: `pulumi up -s event-<name>` expands, `pulumi destroy` shrinks.

For every environment the plan uses, the event declares, under one `swan:event:CourseEvent`:
- a StackReference to the environment (cluster ids, kubeconfig, namespaces it exports);
- its GPU nodes, through the same node-pool components the environment uses (`MagnumNodeGroup`
  plus a node labeler DaemonSet on OpenStack, `OkeNodePool` on OCI), fed a cluster reference read
  from the environment's stack outputs and the same provider configuration (`oci:*` /
  `openstack:*` stack config), labelled and tainted for the event and with the MIG layout the
  planner chose;
- in the environment's cluster: a PriorityClass, a ResourceQuota scoped to it (the event's
  seats there) and the event's ConfigMap the hub reads (its GPU flavour, for its role, in its window).
Every object is the event's own (names carry the event name), so destroying the event stack
removes exactly these and leaves the environment as it was.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from stacks.config.event_model import Event, EventConfig
from stacks.config.model import EnvironmentConfig
from stacks.events import objects
from stacks.events.plan import EventPlan, NodeGroup, load_environments, plan_event


@dataclass
class EventNodesArgs:
    event: Event
    group: NodeGroup
    environment: EnvironmentConfig
    reference: pulumi.StackReference
    kubernetes: k8s.Provider


class EventNodes(pulumi.ComponentResource):
    """The event's GPU nodes in one environment's cloud."""

    def __init__(self, name: str, args: EventNodesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:event:Nodes", name, None, opts)
        cloud = args.environment.cloud
        if cloud == "openstack":
            self._openstack(name, args)
        elif cloud == "oci":
            self._oci(name, args)
        else:  # the config checks stop this earlier; kept for programs fed other configs
            raise ValueError(f"environment {args.group.environment} is a {cloud} cluster, which cannot grow; "
                             "events need an OpenStack or OCI environment")
        self.register_outputs({"pool": args.group.pool, "nodes": args.group.count})

    def _openstack(self, name: str, args: EventNodesArgs) -> None:
        """A Magnum node group on the environment's cluster, and the labeler that labels and taints its nodes."""
        from stacks.infra import openstack_rules as rules
        from stacks.infra.openstack_pool import MagnumClusterRef, MagnumNodeGroup, openstack_provider

        env, pool = args.environment, objects.node_pool(args.event, args.group)
        assert env.openstack is not None
        provider = openstack_provider(f"{name}-openstack", env.openstack.region, pulumi.ResourceOptions(parent=self))
        cluster = MagnumClusterRef.from_stack_outputs(args.reference.require_output)
        MagnumNodeGroup(f"{name}-nodegroup", cluster, pool, provider, opts=pulumi.ResourceOptions(parent=self))
        # The environment's labeler service account (kube-system/swan-node-labeler) does the work.
        k8s.apps.v1.DaemonSet(
            f"{name}-node-labeler",
            metadata={"name": f"{rules.LABELER_NAME}-{pool.name}", "namespace": rules.LABELER_NAMESPACE,
                      "labels": {"app.kubernetes.io/managed-by": "swan-iac", objects.EVENT_LABEL: args.event.name}},
            spec=rules.labeler_daemonset_spec(pool, pool.name, env.openstack.node_labeler_image),
            opts=pulumi.ResourceOptions(parent=self, provider=args.kubernetes))

    def _oci(self, name: str, args: EventNodesArgs) -> None:
        """An OKE node pool on the environment's cluster and node subnet; labels and taints at registration."""
        from stacks.infra.oci_pool import OkeClusterRef, OkeNodePool, oci_provider

        env, pool = args.environment, objects.node_pool(args.event, args.group)
        assert env.oci is not None
        provider = oci_provider(f"{name}-oci", env.oci.region, pulumi.ResourceOptions(parent=self))
        # Cluster, compartment, version, subnet and domains from the environment's stack outputs;
        # images, boot volume, pod range and ssh key from its stack file.
        cluster = OkeClusterRef.from_stack_outputs(args.reference.require_output, env.oci)
        OkeNodePool(f"{name}-nodepool", cluster, pool, provider, pulumi.ResourceOptions(parent=self))


@dataclass
class EventAccessArgs:
    event: Event
    sessions: int
    environment: EnvironmentConfig
    kubernetes: k8s.Provider


class EventAccess(pulumi.ComponentResource):
    """Who may start the event's sessions in one environment, when, and how many."""

    def __init__(self, name: str, args: EventAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:event:Access", name, None, opts)
        here = pulumi.ResourceOptions(parent=self, provider=args.kubernetes)
        event, env = args.event, args.environment
        priority = objects.priority_class(event)
        priority_class = k8s.scheduling.v1.PriorityClass(
            f"{name}-priority-class", metadata=priority["metadata"], value=priority["value"],
            global_default=priority["globalDefault"], preemption_policy=priority["preemptionPolicy"],
            description=priority["description"], opts=here)
        quota = objects.resource_quota(event, args.sessions, env.security.user_namespace)
        k8s.core.v1.ResourceQuota(
            f"{name}-quota", metadata=quota["metadata"], spec=quota["spec"],
            opts=pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(depends_on=[priority_class])))
        flavour = objects.event_config_map(event, env)
        k8s.core.v1.ConfigMap(
            f"{name}-hub-flavour", metadata=flavour["metadata"], data=flavour["data"],
            opts=pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(depends_on=[priority_class])))
        self.register_outputs({"sessions": args.sessions})


@dataclass
class CourseEventArgs:
    plan: EventPlan
    environments: dict[str, EnvironmentConfig]


class CourseEvent(pulumi.ComponentResource):
    """Everything one event adds, in every environment its plan uses."""

    def __init__(self, name: str, args: CourseEventArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:event:CourseEvent", name, None, opts)
        event = args.plan.event
        here = pulumi.ResourceOptions(parent=self)
        self.references: dict[str, pulumi.StackReference] = {}
        for env_name in dict.fromkeys(group.environment for group in args.plan.nodes):
            env = args.environments[env_name]
            ref = pulumi.StackReference(
                f"{pulumi.get_organization()}/{pulumi.get_project()}/{env_name}", opts=here)
            self.references[env_name] = ref
            kubernetes = k8s.Provider(f"{env_name}-k8s", kubeconfig=ref.require_output("kubeconfig"),
                                      enable_server_side_apply=True, opts=here)
            groups = [g for g in args.plan.nodes if g.environment == env_name]
            for group in groups:
                EventNodes(f"{env_name}-{group.pool}", EventNodesArgs(event, group, env, ref, kubernetes), here)
            EventAccess(f"{env_name}-access",
                        EventAccessArgs(event, sum(g.sessions for g in groups), env, kubernetes), here)
        self.register_outputs({"event": event.name})


def event(cfg: EventConfig) -> None:
    """The program `stacks.program.run` calls for `swan:kind: event` stacks."""
    stack = pulumi.get_stack()
    environments = load_environments(cfg.event.environments)
    plan = plan_event(cfg, environments, stack=stack)
    CourseEvent(cfg.event.name, CourseEventArgs(plan, environments))
    summary = plan.to_json()
    pulumi.export("event", cfg.event.name)
    pulumi.export("window", summary["window"])
    pulumi.export("plan", summary)
    # Per environment: the `expectations` document for `swan verify` against that cluster.
    pulumi.export("verifyExpectations", objects.verify_expectations(plan))
