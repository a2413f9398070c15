"""One Magnum node group, as the environment (stacks.infra.openstack) and course events
(stacks.events.program) both create it: the one place that decides how a `NodePool` of the config
becomes an OpenStack resource.

`MagnumNodeGroup` takes a `MagnumClusterRef`, the pool spec and the OpenStack provider
(`openstack_provider`, credentials from the stack's `openstack:*` config). The environment fills the
ref from its own cluster; an event from the environment's stack outputs. The node group's inputs
are `rules.node_group_args`; the labels and taints also reach the nodes through the
labeler DaemonSet (`rules.labeler_daemonset_spec`), which both stacks declare in the
cluster. pulumi_openstack is imported only when a group or provider is built.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import pulumi

from stacks.config.model import NodePool
from stacks.infra.openstack import rules
from stacks.infra.provider_config import cloud_provider_settings
from stacks.infra.openstack.outputs import MagnumClusterOutputs


@dataclass(frozen=True)
class MagnumClusterRef:
    """The Magnum cluster a node group joins. Its fields are the stack outputs
    `stacks.infra.openstack.outputs.MagnumClusterOutputs`: the environment exports them, an event reads them back."""

    cluster_id: pulumi.Input[str]

    @classmethod
    def from_stack_outputs(cls, read: Callable[[str], pulumi.Input]) -> MagnumClusterRef:
        """An event's ref: `read(field)` is the environment's output of that field
        (`stacks.stack_outputs.stack_reference_reader`)."""
        return cls(**{f.name: read(f.name) for f in fields(cls)})

    def stack_outputs(self) -> dict[str, pulumi.Input]:
        """What the environment exports (field name -> value) so that `from_stack_outputs` can rebuild this ref."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


assert {f.name for f in fields(MagnumClusterRef)} == set(MagnumClusterOutputs.model_fields)


def openstack_provider(name: str, region: str | None,
                       opts: pulumi.ResourceOptions | None = None) -> pulumi.ProviderResource:
    """The OpenStack provider for `region`, with the credentials the stack config sets
    (`openstack:cloud`, `openstack:applicationCredentialSecret` ...)."""
    import pulumi_openstack as openstack

    return openstack.Provider(name, region=region, **cloud_provider_settings("openstack"), opts=opts)


class MagnumNodeGroup(pulumi.ComponentResource):
    """One Magnum node group (flavor, size and autoscaling bounds, role, labels merged with the
    template's). `after`: resources the group must wait for (Magnum fails node groups created at
    the same time, so the environment chains its groups).

    The NodeGroup resource carries the component's name and an alias to the component's own parent,
    where it was created before this component existed, so existing groups are not replaced.
    """

    node_group: pulumi.CustomResource

    def __init__(self, name: str, cluster: MagnumClusterRef, pool: NodePool, provider: pulumi.ProviderResource,
                 after: Sequence[pulumi.Resource] = (), opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:MagnumNodeGroup", name, None, opts)
        import pulumi_openstack as openstack

        self.node_group = openstack.containerinfra.NodeGroup(
            name, cluster_id=cluster.cluster_id, **rules.node_group_args(pool),
            # Labels, role, flavor (a MIG layout change too) force a new group, and Magnum refuses a second
            # group of the same name in a cluster: the old group goes first.
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(after) or None,
                                        ignore_changes=rules.node_group_ignored_changes(pool) or None,
                                        aliases=[pulumi.Alias(parent=opts.parent if opts else None)],
                                        delete_before_replace=True))
        self.register_outputs({"nodeGroupId": self.node_group.id})


def event_node_pool(name: str, pool: NodePool, read: Callable[[str], pulumi.Output],
                    kubernetes: pulumi.ProviderResource, labels: dict[str, str], parent: pulumi.Resource) -> None:
    """A course event's pool on an environment's cluster (registry: stacks.infra.clouds): a Magnum node group,
    the cluster reference and region read from the environment's stack outputs, and the labeler that labels
    and taints its nodes (the environment's labeler service account, kube-system/swan-node-labeler, does the
    work). `labels`: what the event's objects in the cluster carry."""
    import pulumi_kubernetes as k8s

    provider = openstack_provider(f"{name}-openstack", read("region"), pulumi.ResourceOptions(parent=parent))
    cluster = MagnumClusterRef.from_stack_outputs(read)
    MagnumNodeGroup(f"{name}-nodegroup", cluster, pool, provider, opts=pulumi.ResourceOptions(parent=parent))
    k8s.apps.v1.DaemonSet(
        f"{name}-node-labeler",
        metadata={"name": f"{rules.LABELER_NAME}-{pool.name}", "namespace": rules.LABELER_NAMESPACE,
                  "labels": {"app.kubernetes.io/managed-by": "swan-iac", **labels}},
        spec=rules.labeler_daemonset_spec(pool, pool.name, read("node_labeler_image")),
        opts=pulumi.ResourceOptions(parent=parent, provider=kubernetes))
