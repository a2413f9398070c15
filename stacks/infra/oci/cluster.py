"""OCI infrastructure: VCN, gateways, subnets, an OKE cluster and its node pools, and their provider.

Imports pulumi_oci (only the submodules it uses: the SDK is slow to import); node pools and the
provider come from `pool`, which course events use too. Credentials come from the OCI
provider's own sources (~/.oci/config, OCI_* variables or secret `oci:*` provider config); the
stack config only names the region and compartment. Pure decisions live in `network`.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.config.model import EnvironmentConfig
from stacks.infra.base import Infra
from stacks.infra import network_policy_controller as npc
from stacks.infra.oci import network as net
from stacks.infra.oci.pool import OkeClusterRef, OkeNodePool, oci_provider


class OciNetwork(pulumi.ComponentResource):
    """VCN with internet, NAT and service gateways, two route tables, three subnets with security lists."""

    def __init__(self, name: str, cfg: EnvironmentConfig, provider: pulumi.ProviderResource,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:OciNetwork", name, None, opts)
        from pulumi_oci import core

        oci = cfg.oci
        assert oci is not None
        here = pulumi.ResourceOptions(parent=self, provider=provider)
        # Protected: the cluster and every node sit on them (`swan check --against` refuses replacing them).
        kept = pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(protect=True))
        compartment, prefix = oci.compartment_id, oci.cluster_name
        self.vcn = core.Vcn("vcn", compartment_id=compartment, cidr_blocks=[oci.vcn_cidr],
                            display_name=f"{prefix}-vcn", dns_label=prefix.replace("-", "")[:15], opts=kept)
        vcn_id = self.vcn.id
        gateways = {
            "internet": core.InternetGateway("internet-gateway", compartment_id=compartment, vcn_id=vcn_id,
                                             display_name=f"{prefix}-igw", enabled=True, opts=kept),
            "nat": core.NatGateway("nat-gateway", compartment_id=compartment, vcn_id=vcn_id,
                                   display_name=f"{prefix}-nat", opts=kept),
            "service": core.ServiceGateway("service-gateway", compartment_id=compartment, vcn_id=vcn_id,
                                           display_name=f"{prefix}-sgw",
                                           services=[{"service_id": oci.oracle_services.service_id}], opts=here),
        }
        tables = {
            table: core.RouteTable(
                f"routes-{table}", compartment_id=compartment, vcn_id=vcn_id, display_name=f"{prefix}-{table}",
                route_rules=[{**rule, "network_entity_id": gateways[rule["network_entity_id"]].id} for rule in rules],
                opts=here)
            for table, rules in net.route_rules(oci).items()
        }
        lists = {
            subnet: core.SecurityList(
                f"security-{subnet}", compartment_id=compartment, vcn_id=vcn_id, display_name=f"{prefix}-{subnet}",
                ingress_security_rules=rules["ingress"], egress_security_rules=rules["egress"], opts=here)
            for subnet, rules in net.security_lists(oci).items()
        }
        layout = {  # subnet: (cidr, route table, public)
            "api": (oci.api_subnet_cidr, "public", True),
            "nodes": (oci.node_subnet_cidr, "private", False),
            "lb": (oci.lb_subnet_cidr, "public", True),
        }
        self.subnets = {
            subnet: core.Subnet(
                f"subnet-{subnet}", compartment_id=compartment, vcn_id=vcn_id, cidr_block=cidr,
                display_name=f"{prefix}-{subnet}", dns_label=subnet, route_table_id=tables[table].id,
                security_list_ids=[lists[subnet].id], prohibit_public_ip_on_vnic=not public, opts=kept)
            for subnet, (cidr, table, public) in layout.items()
        }
        self.register_outputs({"vcnId": vcn_id})


class OciInfra(pulumi.ComponentResource):
    """Network, OKE cluster (enhanced, flannel), one node pool per config pool, autoscaler add-on."""

    def __init__(self, name: str, cfg: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:Oci", name, None, opts)
        from pulumi_oci import containerengine

        oci = cfg.oci
        assert oci is not None
        provider = oci_provider("oci", oci.region, pulumi.ResourceOptions(parent=self))
        here = pulumi.ResourceOptions(parent=self, provider=provider)
        self.network = OciNetwork("network", cfg, provider, pulumi.ResourceOptions(parent=self))
        subnets = self.network.subnets
        self.cluster = containerengine.Cluster(
            "cluster", compartment_id=oci.compartment_id, name=oci.cluster_name,
            kubernetes_version=oci.kubernetes_version, vcn_id=self.network.vcn.id, type="ENHANCED_CLUSTER",
            endpoint_config={"subnet_id": subnets["api"].id, "is_public_ip_enabled": True},
            cluster_pod_network_options=[{"cni_type": net.CNI}],
            options={
                "service_lb_subnet_ids": [subnets["lb"].id],
                "kubernetes_network_config": {"pods_cidr": oci.pods_cidr, "services_cidr": oci.services_cidr},
                "add_ons": {"is_kubernetes_dashboard_enabled": False, "is_tiller_enabled": False},
            },
            opts=pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(protect=True)))
        # What every node pool of this cluster needs (an event reads the same ref from the stack outputs).
        self.cluster_ref = OkeClusterRef(
            cluster_id=self.cluster.id, compartment_id=oci.compartment_id, kubernetes_version=oci.kubernetes_version,
            node_subnet_id=subnets["nodes"].id, availability_domains=list(oci.availability_domains),
            node_image_id=oci.node_image_id, gpu_node_image_id=oci.gpu_node_image_id,
            boot_volume_gb=oci.boot_volume_gb, pods_cidr=oci.pods_cidr, ssh_public_key=oci.ssh_public_key)
        self.node_pools = {
            pool.name: OkeNodePool(f"nodepool-{pool.name}", self.cluster_ref, pool, provider,
                                   pulumi.ResourceOptions(parent=self)).node_pool
            for pool in cfg.node_pools
        }
        scaled = [pool for pool in cfg.node_pools if pool.autoscaled]
        if scaled:
            # OKE's cluster-autoscaler add-on; workload identity, because pods cannot reach the
            # metadata service (instance principals) on these nodes.
            nodes = pulumi.Output.all(*[self.node_pools[p.name].id for p in scaled]).apply(
                lambda ids: ",".join(f"{low}:{high}:{pool_id}" for pool_id, (low, high)
                                     in zip(ids, [p.bounds for p in scaled])))
            containerengine.Addon(
                "cluster-autoscaler", cluster_id=self.cluster.id, addon_name="ClusterAutoscaler",
                remove_addon_resources_on_delete=True,
                configurations=[{"key": "nodes", "value": nodes}, {"key": "authType", "value": "workload"}],
                opts=here)
        kubeconfig = containerengine.get_cluster_kube_config_output(
            cluster_id=self.cluster.id, token_version="2.0.0",
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider))
        self.kubeconfig = pulumi.Output.secret(kubeconfig.content)
        self.provider = k8s.Provider("oci-k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self))
        if oci.enforce_network_policies:
            NetworkPolicyController("network-policy-controller", oci.kube_router_image, self.provider,
                                    pulumi.ResourceOptions(parent=self, depends_on=list(self.node_pools.values())))
        self.register_outputs({"clusterId": self.cluster.id})


class NetworkPolicyController(pulumi.ComponentResource):
    """kube-router (firewall only): makes flannel clusters enforce the platform's NetworkPolicies."""

    def __init__(self, name: str, image: str, provider: k8s.Provider, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:NetworkPolicyController", name, None, opts)
        here = pulumi.ResourceOptions(parent=self, provider=provider)
        ns, sa = npc.NAMESPACE, npc.NAME
        meta = {"labels": {"app.kubernetes.io/managed-by": "swan-iac"}}
        account = k8s.core.v1.ServiceAccount(sa, metadata={"name": sa, "namespace": ns, **meta}, opts=here)
        role = k8s.rbac.v1.ClusterRole(sa, metadata={"name": sa, **meta}, rules=npc.cluster_role_rules(), opts=here)
        binding = k8s.rbac.v1.ClusterRoleBinding(
            sa, metadata={"name": sa, **meta}, subjects=[{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": sa}, opts=here)
        k8s.apps.v1.DaemonSet(sa, metadata={"name": sa, "namespace": ns, **meta}, spec=npc.daemonset_spec(image),
                              opts=pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(
                                  depends_on=[account, role, binding])))
        self.register_outputs({})


def agent_namespaces(cfg: EnvironmentConfig) -> list[str]:
    """Where the OCI layer runs its own agents: kube-router, when it enforces NetworkPolicies
    (registry: stacks.infra.clouds)."""
    return [npc.NAMESPACE] if cfg.oci is not None and cfg.oci.enforce_network_policies else []


def build(cfg: EnvironmentConfig) -> Infra:
    infra = OciInfra("oci", cfg)
    oci = cfg.oci
    assert oci is not None
    # Stack outputs, by field of stacks.infra.oci.outputs.Outputs.
    return Infra(provider=infra.provider, kubeconfig=infra.kubeconfig, outputs={
        **infra.cluster_ref.stack_outputs(),  # what an event's OkeClusterRef is read from, all of it
        "cluster_name": oci.cluster_name,
        "region": oci.region,  # an event's OCI provider
    })
