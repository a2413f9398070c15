"""OpenStack infrastructure: network, router, Magnum cluster and node groups, and their provider.

Imports pulumi_openstack; node groups and the provider come from `pool`, which course
events use too. Credentials come from the provider's own environment (OS_CLOUD with clouds.yaml,
or OS_AUTH_URL/OS_APPLICATION_CREDENTIAL_* ...) or `openstack:*` stack config; the stack config
only names the region. Pure decisions live in `rules`.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_openstack as openstack

from stacks.config.model import EnvironmentConfig
from stacks.infra.base import Infra
from stacks.infra.openstack.vms import OpenStackVms
from stacks.infra.openstack import rules
from stacks.infra.openstack.rules import agent_namespaces  # noqa: F401 (the registry asks cluster.py)
from stacks.infra.openstack.pool import MagnumClusterRef, MagnumNodeGroup, openstack_provider


class OpenStackNetwork(pulumi.ComponentResource):
    """The cluster's private network and subnet, routed to the external network (outbound NAT)."""

    def __init__(self, name: str, cfg: EnvironmentConfig, provider: openstack.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:OpenStackNetwork", name, None, opts)
        os_cfg = cfg.openstack
        assert os_cfg is not None
        here = pulumi.ResourceOptions(parent=self, provider=provider)
        prefix = os_cfg.cluster_name
        external = openstack.networking.get_network_output(
            name=os_cfg.external_network, external=True,
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider))
        # Protected: the cluster and every node sit on them (`swan check --against` refuses replacing them).
        kept = pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(protect=True))
        self.network = openstack.networking.Network("network", name=f"{prefix}-net", admin_state_up=True, opts=kept)
        self.subnet = openstack.networking.Subnet(
            "subnet", name=f"{prefix}-subnet", network_id=self.network.id, cidr=os_cfg.network_cidr, ip_version=4,
            dns_nameservers=os_cfg.dns_nameservers, opts=kept)
        self.router = openstack.networking.Router(
            "router", name=f"{prefix}-router", admin_state_up=True, external_network_id=external.id, opts=kept)
        self.interface = openstack.networking.RouterInterface(
            "router-interface", router_id=self.router.id, subnet_id=self.subnet.id, opts=here)
        self.register_outputs({"networkId": self.network.id, "subnetId": self.subnet.id})


class Bastion(pulumi.ComponentResource):
    """The only ssh entry: a small server with a floating IP and a security group of its own."""

    def __init__(self, name: str, cfg: EnvironmentConfig, network: OpenStackNetwork, provider: openstack.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:Bastion", name, None, opts)
        os_cfg = cfg.openstack
        assert os_cfg is not None and os_cfg.bastion is not None
        here = pulumi.ResourceOptions(parent=self, provider=provider)
        prefix = os_cfg.cluster_name
        group = openstack.networking.SecGroup(
            "secgroup", name=f"{prefix}-bastion", description="SWAN bastion: ssh from the admin ranges only",
            delete_default_rules=True, opts=here)
        for i, rule in enumerate(rules.bastion_rules(os_cfg)):
            openstack.networking.SecGroupRule(f"rule-{i}", security_group_id=group.id, **rule, opts=here)
        port = openstack.networking.Port(
            "port", name=f"{prefix}-bastion", network_id=network.network.id, admin_state_up=True,
            fixed_ips=[{"subnet_id": network.subnet.id}], security_group_ids=[group.id], opts=here)
        openstack.compute.Instance(
            "server", name=f"{prefix}-bastion", flavor_name=os_cfg.bastion.flavor, image_name=os_cfg.bastion.image,
            key_pair=os_cfg.bastion.keypair, networks=[{"port": port.id}],
            opts=pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(depends_on=[network.interface])))
        self.floating_ip = openstack.networking.FloatingIp(
            "floating-ip", pool=os_cfg.external_network, port_id=port.id, description=f"{prefix} bastion",
            opts=pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(depends_on=[network.interface])))
        self.register_outputs({"address": self.floating_ip.address})


class NodeLabeler(pulumi.ComponentResource):
    """Applies every pool's labels and taints from inside Kubernetes (see rules.py)."""

    def __init__(self, name: str, cfg: EnvironmentConfig, provider: k8s.Provider,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:NodeLabeler", name, None, opts)
        here = pulumi.ResourceOptions(parent=self, provider=provider)
        ns, sa = rules.LABELER_NAMESPACE, rules.LABELER_NAME
        meta = {"labels": {"app.kubernetes.io/managed-by": "swan-iac"}}
        account = k8s.core.v1.ServiceAccount(sa, metadata={"name": sa, "namespace": ns, **meta}, opts=here)
        role = k8s.rbac.v1.ClusterRole(sa, metadata={"name": sa, **meta}, rules=rules.labeler_cluster_role(), opts=here)
        binding = k8s.rbac.v1.ClusterRoleBinding(
            sa, metadata={"name": sa, **meta},
            subjects=[{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": sa}, opts=here)
        after = pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(depends_on=[account, role, binding]))
        for pool in cfg.node_pools:
            k8s.apps.v1.DaemonSet(
                f"{sa}-{pool.name}", metadata={"name": f"{sa}-{pool.name}", "namespace": ns, **meta},
                spec=rules.labeler_daemonset_spec(pool, rules.magnum_group_name(cfg, pool),
                                                  cfg.openstack.node_labeler_image), opts=after)
        self.register_outputs({})


class OpenStackInfra(pulumi.ComponentResource):
    """Network, Magnum ClusterTemplate + Cluster, one NodeGroup per extra pool, kubeconfig provider."""

    def __init__(self, name: str, cfg: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:OpenStack", name, None, opts)
        os_cfg = cfg.openstack
        assert os_cfg is not None
        provider = openstack_provider("openstack", os_cfg.region, pulumi.ResourceOptions(parent=self))
        here = pulumi.ResourceOptions(parent=self, provider=provider)
        self.network = OpenStackNetwork("network", cfg, provider, pulumi.ResourceOptions(parent=self))
        self.bastion = (Bastion("bastion", cfg, self.network, provider, pulumi.ResourceOptions(parent=self))
                        if os_cfg.bastion else None)
        self.vms = (OpenStackVms("vms", cfg, self.network.network.id, self.network.subnet.id, provider,
                                 [self.network.interface], pulumi.ResourceOptions(parent=self))
                    if cfg.nodes.vm_groups else None)

        default_pool, extra_pools = rules.split_pools(cfg)
        # Magnum refuses to update a template a cluster uses (except a rename), and the provider would try
        # in place: the name carries the content's hash and any change makes a new template, created
        # before the old one is deleted.
        template = openstack.containerinfra.ClusterTemplate(
            "cluster-template", name=rules.template_name(cfg), coe="kubernetes", server_type="vm",
            fixed_network=self.network.network.id, fixed_subnet=self.network.subnet.id,
            # Calico enforces NetworkPolicies (flannel ignores them): the platform's user-pod
            # policies, including the block of the metadata service, depend on it.
            network_driver="calico", volume_driver="cinder",
            master_lb_enabled=True, floating_ip_enabled=False, tls_disabled=False, public=False,
            **rules.template_settings(cfg),
            opts=pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(replace_on_changes=["*"])))
        self.cluster = openstack.containerinfra.Cluster(
            "cluster", name=os_cfg.cluster_name, cluster_template_id=template.id, master_count=os_cfg.master_count,
            node_count=default_pool.count, flavor=default_pool.flavor, keypair=os_cfg.keypair,
            labels=rules.default_group_labels(default_pool), merge_labels=True,
            fixed_network=self.network.network.id, fixed_subnet=self.network.subnet.id,
            floating_ip_enabled=False, master_lb_enabled=True, create_timeout=os_cfg.create_timeout_minutes,
            # A new template means a new cluster: Magnum's heat driver refuses cluster upgrades
            # (NotSupported), which is what the provider would call for a changed template id.
            opts=pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(
                depends_on=[self.network.interface], additional_secret_outputs=["kubeconfig"], protect=True,
                # a new template (named by its content) cannot be applied to a heat cluster in place
                replace_on_changes=["clusterTemplateId"],
                # labels (only the default group's bounds) are ForceNew: read at creation, then left alone
                ignore_changes=rules.cluster_ignored_changes(default_pool))))

        # Magnum fails node groups created at the same time: each one waits for the previous.
        self.cluster_ref = MagnumClusterRef(cluster_id=self.cluster.id)  # an event's comes from the stack outputs
        previous: pulumi.Resource = self.cluster
        self.node_groups: dict[str, pulumi.CustomResource] = {}
        for pool in extra_pools:
            group = MagnumNodeGroup(f"nodegroup-{pool.name}", self.cluster_ref, pool, provider, after=[previous],
                                    opts=pulumi.ResourceOptions(parent=self)).node_group
            self.node_groups[pool.name] = group
            previous = group

        self.kubeconfig = pulumi.Output.secret(self.cluster.kubeconfig.apply(lambda k: (k or {}).get("raw_config")))
        self.provider = k8s.Provider("openstack-k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self))
        if str(os_cfg.magnum_labels.get("cinder_csi_enabled", "")).lower() == "true":
            # Magnum installs Cinder's CSI driver but no StorageClass: claims without a class (the
            # hub database, user homes) need a default one.
            k8s.storage.v1.StorageClass(
                "cinder-default", metadata={"name": CINDER_STORAGE_CLASS, "annotations": {
                    "storageclass.kubernetes.io/is-default-class": "true"},
                    "labels": {"app.kubernetes.io/managed-by": "swan-iac"}},
                provisioner="cinder.csi.openstack.org", reclaim_policy="Delete", allow_volume_expansion=True,
                volume_binding_mode="WaitForFirstConsumer",
                opts=pulumi.ResourceOptions(parent=self, provider=self.provider))
        NodeLabeler("node-labeler", cfg, self.provider,
                    pulumi.ResourceOptions(parent=self, depends_on=list(self.node_groups.values()) or [self.cluster]))
        self.register_outputs({"clusterId": self.cluster.id})


CINDER_STORAGE_CLASS = "swan-cinder"


def build(cfg: EnvironmentConfig) -> Infra:
    infra = OpenStackInfra("openstack", cfg)
    os_cfg = cfg.openstack
    assert os_cfg is not None
    # Stack outputs, by field of stacks.infra.openstack.outputs.Outputs.
    outputs: dict[str, pulumi.Input] = {
        **infra.cluster_ref.stack_outputs(),  # what an event's MagnumClusterRef is read from
        "cluster_name": os_cfg.cluster_name,
        "region": os_cfg.region,  # an event's OpenStack provider
        "node_labeler_image": os_cfg.node_labeler_image,  # an event's labeler DaemonSet
    }
    if infra.bastion is not None:
        outputs["bastion_address"] = infra.bastion.floating_ip.address
    vm_addresses = infra.vms.addresses if infra.vms else {}
    if vm_addresses:
        outputs["vm_addresses"] = vm_addresses
    return Infra(provider=infra.provider, kubeconfig=infra.kubeconfig, outputs=outputs, vm_addresses=vm_addresses)
