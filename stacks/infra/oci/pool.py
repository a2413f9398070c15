"""One OKE node pool, as the environment (stacks.infra.oci) and course events (stacks.events.program)
both create it: the one place that decides how a `NodePool` of the config becomes OCI resources.

`OkeNodePool` takes an `OkeClusterRef` (which cluster, subnet, images ... as Pulumi inputs), the pool
spec and the OCI provider (`oci_provider`, credentials from the stack's `oci:*` config). The
environment fills the ref from its own resources; an event from the environment's stack outputs
(`OkeClusterRef.from_stack_outputs`), all of them. Pure decisions (shape config, image, labels, node
bootstrap) live in `network` and `pools`. pulumi_oci is imported only when a pool or provider is
built (the SDK is slow to import).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import pulumi

from stacks.config.model import NodePool
from stacks.infra.oci import network as net
from stacks.infra.provider_config import cloud_provider_settings
from stacks.infra.oci.outputs import OkeClusterOutputs


@dataclass(frozen=True)
class OkeClusterRef:
    """The OKE cluster a node pool joins, and the environment's settings every pool of it shares. Its
    fields are the stack outputs `stacks.infra.oci.outputs.OkeClusterOutputs`: the environment exports them, an
    event reads them back."""

    cluster_id: pulumi.Input[str]
    compartment_id: pulumi.Input[str]
    kubernetes_version: pulumi.Input[str]
    node_subnet_id: pulumi.Input[str]
    availability_domains: pulumi.Input[Sequence[str]]  # where a pool without its own list is placed
    node_image_id: pulumi.Input[str]
    gpu_node_image_id: pulumi.Input[str]
    boot_volume_gb: pulumi.Input[int]
    pods_cidr: pulumi.Input[str]  # blocked from the metadata service on every node
    ssh_public_key: pulumi.Input[str] | None = None

    @classmethod
    def from_stack_outputs(cls, read: Callable[[str], pulumi.Input]) -> OkeClusterRef:
        """An event's ref: `read(field)` is the environment's output of that field
        (`stacks.stack_outputs.stack_reference_reader`)."""
        return cls(**{f.name: read(f.name) for f in fields(cls)})

    def stack_outputs(self) -> dict[str, pulumi.Input]:
        """What the environment exports (field name -> value) so that `from_stack_outputs` can rebuild this ref."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Every field is a stack output of the environment (stacks.infra.oci.outputs.OkeClusterOutputs), so an event
# reads the whole ref from the environment's outputs and nothing from its stack file.
assert {f.name for f in fields(OkeClusterRef)} == set(OkeClusterOutputs.model_fields)


def oci_provider(name: str, region: str, opts: pulumi.ResourceOptions | None = None) -> pulumi.ProviderResource:
    """The OCI provider for `region`, with the credentials the stack config sets (`oci:privateKey` ...)."""
    import pulumi_oci

    return pulumi_oci.Provider(name, region=region, **cloud_provider_settings("oci"), opts=opts)


class OkeNodePool(pulumi.ComponentResource):
    """One OKE node pool: shape, image and boot volume, placement over availability domains on the
    node subnet, the pool's labels at creation and its taints at kubelet registration.

    The NodePool resource carries the component's name and an alias to the component's own parent,
    where it was created before this component existed, so existing pools are not replaced.
    """

    node_pool: pulumi.CustomResource

    def __init__(self, name: str, cluster: OkeClusterRef, pool: NodePool, provider: pulumi.ProviderResource,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:OkeNodePool", name, None, opts)
        from pulumi_oci import containerengine

        domains = list(pool.availability_domains) if pool.availability_domains else cluster.availability_domains
        placements = pulumi.Output.all(domains, cluster.node_subnet_id).apply(
            lambda found: [{"availability_domain": ad, "subnet_id": found[1]} for ad in found[0]])
        shape_config = {"ocpus": pool.ocpus, "memory_in_gbs": pool.memory_gb} if net.is_flex(pool) else None
        self.node_pool = containerengine.NodePool(
            name, cluster_id=cluster.cluster_id, compartment_id=cluster.compartment_id, name=pool.name,
            kubernetes_version=cluster.kubernetes_version, node_shape=pool.flavor, node_shape_config=shape_config,
            node_source_details={
                "source_type": "IMAGE",
                "image_id": net.node_image(pool, cluster.node_image_id, cluster.gpu_node_image_id),
                "boot_volume_size_in_gbs": pulumi.Output.from_input(cluster.boot_volume_gb).apply(str),
            },
            node_config_details={
                "size": pool.count,
                "placement_configs": placements,
                "node_pool_pod_network_option_details": {"cni_type": net.CNI},
                "is_pv_encryption_in_transit_enabled": True,
            },
            initial_node_labels=net.initial_node_labels(pool),
            node_metadata=pulumi.Output.from_input(cluster.pods_cidr).apply(lambda cidr: net.node_metadata(pool, cidr)),
            ssh_public_key=cluster.ssh_public_key,
            opts=pulumi.ResourceOptions(parent=self, provider=provider,
                                        # an autoscaled pool's size belongs to the autoscaler after creation
                                        ignore_changes=["nodeConfigDetails.size"] if pool.autoscaled else None,
                                        aliases=[pulumi.Alias(parent=opts.parent if opts else None)]))
        self.register_outputs({"nodePoolId": self.node_pool.id})


def event_node_pool(name: str, pool: NodePool, read: Callable[[str], pulumi.Output],
                    kubernetes: pulumi.ProviderResource, labels: dict[str, str], parent: pulumi.Resource) -> None:
    """A course event's pool on an environment's cluster and node subnet (registry: stacks.infra.clouds): an
    OKE node pool, labelled and tainted at registration. Cluster, compartment, version, subnet, domains,
    images, boot volume, pod range and ssh key: all from the environment's stack outputs (`read`)."""
    provider = oci_provider(f"{name}-oci", read("region"), pulumi.ResourceOptions(parent=parent))
    cluster = OkeClusterRef.from_stack_outputs(read)
    OkeNodePool(f"{name}-nodepool", cluster, pool, provider, pulumi.ResourceOptions(parent=parent))
