"""Config sections of the real clouds: `swan:openstack` (Magnum) and `swan:oci` (OKE).

Only what SWAN decides lives here: networks, who may reach what, images and control-plane
sizes. Credentials never do: the OpenStack provider reads OS_CLOUD / OS_* (clouds.yaml), the
OCI provider reads ~/.oci/config or OCI_* variables, or `pulumi config set --secret
openstack:password ...` / `oci:privateKey ...` when a CI job has no such files.

`cloud_problems` holds the rules that need the whole environment (node pools, security keys),
returned as pydantic error details so that `swan check` points at the offending key.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from stacks.config.types import Cidr, IpAddress, Model, Name, RestrictedCidrs

METADATA_ADDRESS = "169.254.169.254"  # the instance metadata service on OpenStack (Nova) and OCI (IMDS)
NODE_PORTS = (30000, 32767)


def _ocid(kind: str):
    pattern = re.compile(rf"^ocid1\.{kind}\.[a-z0-9-]+\.[a-z0-9-]*\.[a-z0-9]+$")

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"'{value}' is not an OCI {kind} OCID (ocid1.{kind}.oc1...)")
        return value

    return check




def _overlaps(cidrs: dict[str, str]) -> str | None:
    """The first pair of named CIDR blocks that overlap, as text, or None."""
    items = list(cidrs.items())
    for i, (name_a, a) in enumerate(items):
        for name_b, b in items[i + 1:]:
            if ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b)):
                return f"{name_a} {a} overlaps {name_b} {b}"
    return None


class Bastion(Model):
    """The one host reachable by ssh (from `adminCidrs`); nodes are reached through it (`ssh -J`)."""

    flavor: str
    """OpenStack flavor of the bastion server."""
    image: str
    """Glance image (name) the bastion boots."""
    keypair: str
    """Nova keypair installed on the bastion."""


# Magnum labels SWAN computes from other keys; setting them by hand would bypass those keys.
MANAGED_MAGNUM_LABELS = {
    "master_lb_allowed_cidrs": "apiCidrs",
    "master_lb_floating_ip_enabled": "(always true: the API is reached through its load balancer)",
    "auto_scaling_enabled": "nodePools[].minCount/maxCount",
    "min_node_count": "nodePools[0].minCount",
    "max_node_count": "nodePools[0].maxCount",
}


class OpenStack(Model):
    """A Magnum cluster on its own network behind a router to `externalNetwork`."""

    cluster_name: Name = "swan"
    """Name of the Magnum cluster; also prefixes the network, router, bastion and VM names."""
    region: str | None = None
    """OpenStack region; unset: the provider's own (clouds.yaml or OS_REGION_NAME)."""
    external_network: str
    """Name of the provider network: the router's gateway, load balancer and floating IPs."""
    network_cidr: Cidr = "10.100.0.0/22"
    """The cluster's private subnet."""
    dns_nameservers: list[IpAddress] = []
    """DNS servers of the subnet (the first is Magnum's `dns_nameserver`); the bastion may query them."""
    image: str
    """Glance image Magnum boots (a Fedora CoreOS build the driver supports)."""
    master_flavor: str
    """Flavor of the control-plane (master) nodes."""
    master_count: int = Field(3, ge=1, le=7)
    """Control-plane nodes: an odd number (1, 3, 5, 7), as etcd needs."""
    keypair: str | None = None
    """Nova keypair of the cluster's nodes and of the VM groups' instances; unset: none."""
    docker_volume_size: int = Field(50, ge=10)
    """Size in GB of each node's container storage volume (Magnum's docker_volume_size; at least 10)."""
    api_cidrs: RestrictedCidrs = Field(min_length=1)
    """Who may reach the Kubernetes API (6443) on its load balancer
    (Magnum's master_lb_allowed_cidrs); never the whole internet."""
    admin_cidrs: RestrictedCidrs = []
    """Who may ssh (22) to the bastion (and the VM groups); empty: no ssh at all; needs a bastion."""
    bastion: Bastion | None = None
    """The one host reachable by ssh, from adminCidrs; nodes are reached through it (`ssh -J`)."""
    magnum_labels: dict[str, str] = {}
    """Site labels of the cluster template (kube_tag, cinder_csi_enabled, ...); labels SWAN sets from
    other keys are refused; `cinder_csi_enabled: "true"` adds the default StorageClass swan-cinder."""
    create_timeout_minutes: int = Field(90, ge=10)
    """Minutes Pulumi waits for Magnum to create the cluster (at least 10)."""
    node_labeler_image: str = "registry.k8s.io/kubectl:v1.31.2"
    """kubectl image of the DaemonSets that apply each pool's labels and taints to its nodes."""

    @field_validator("master_count")
    @classmethod
    def _odd_masters(cls, count: int) -> int:
        if count % 2 == 0:
            raise ValueError(f"masterCount {count} is even; etcd needs an odd number of masters (1, 3, 5)")
        return count

    @field_validator("magnum_labels")
    @classmethod
    def _not_managed(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if key in MANAGED_MAGNUM_LABELS:
                raise ValueError(f"label '{key}' is set by SWAN from {MANAGED_MAGNUM_LABELS[key]}; remove it here")
        return labels

    @model_validator(mode="after")
    def _bastion_needs_admins(self) -> "OpenStack":
        if self.bastion is not None and not self.admin_cidrs:
            raise ValueError("a bastion needs adminCidrs (the ranges allowed to ssh to it)")
        if self.admin_cidrs and self.bastion is None:
            raise ValueError("adminCidrs only apply to the bastion: add a bastion or remove adminCidrs")
        return self


class OracleServices(Model):
    """The region's 'All <region> Services in Oracle Services Network' entry for the service gateway
    (`oci network service list`): nodes reach OCIR, Object Storage and OKE without the internet."""

    service_id: Annotated[str, AfterValidator(_ocid("service"))]
    """OCID of the region's 'All <region> Services in Oracle Services Network'
    service (`oci network service list`), attached to the service gateway."""
    cidr_label: str = Field(pattern=r"^all-[a-z0-9]+-services-in-oracle-services-network$")
    """That service's CIDR label, e.g. all-fra-services-in-oracle-services-network,
    used in route rules and security lists."""


class Oci(Model):
    """An OKE cluster in its own VCN: public subnets for the API endpoint and load balancers,
    a private subnet for the nodes (internet through NAT, Oracle services through the service gateway)."""

    compartment_id: Annotated[str, AfterValidator(_ocid("compartment"))]
    """OCID of the compartment every resource is created in."""
    region: str = Field(pattern=r"^[a-z]+-[a-z]+-[0-9]+$")
    """OCI region, e.g. eu-frankfurt-1."""
    cluster_name: Name = "swan"
    """Name of the OKE cluster; also prefixes the VCN, gateway and subnet names."""
    kubernetes_version: str = Field(pattern=r"^v1\.[0-9]+\.[0-9]+$")
    """OKE's exact Kubernetes version, e.g. v1.31.1: a release of swan:kubernetesVersion."""
    vcn_cidr: Cidr = "10.0.0.0/16"
    """Address range of the VCN; the three subnets lie inside it."""
    api_subnet_cidr: Cidr = "10.0.0.0/28"
    """Public subnet of the Kubernetes API endpoint."""
    node_subnet_cidr: Cidr = "10.0.16.0/20"
    """Private subnet of the nodes (no public addresses)."""
    lb_subnet_cidr: Cidr = "10.0.32.0/24"
    """Public subnet of the load balancers."""
    pods_cidr: Cidr = "10.244.0.0/16"
    """Pod addresses of the flannel overlay, outside the VCN; blocked from the metadata service on every node."""
    services_cidr: Cidr = "10.96.0.0/16"
    """Kubernetes Service addresses, outside the VCN."""
    availability_domains: list[str] = Field(min_length=1)
    """Availability domains (full names, e.g. Uocm:EU-FRANKFURT-1-AD-1)
    node pools are placed in, unless a pool lists its own; at least one."""
    oracle_services: OracleServices
    """The Oracle Services Network entry of the region, for the service gateway."""
    node_image_id: Annotated[str, AfterValidator(_ocid("image"))]
    """OCID of the OKE node image of CPU pools (an image for kubernetesVersion)."""
    gpu_node_image_id: Annotated[str, AfterValidator(_ocid("image"))]
    """OCID of the OKE node image of GPU pools: an Oracle Linux GPU image (NVIDIA driver included)."""
    boot_volume_gb: int = Field(100, ge=50)
    """Boot volume size of every node in GB (at least 50)."""
    api_cidrs: RestrictedCidrs = Field(min_length=1)
    """Who may reach the Kubernetes API endpoint (6443); never the whole internet."""
    admin_cidrs: RestrictedCidrs = []
    """Who may ssh (22) to the nodes' private addresses, e.g. the OCI Bastion's range; empty: no ssh."""
    ingress_cidrs: list[Cidr] = ["0.0.0.0/0"]
    """Who may reach the ingress load balancer (80 and 443)."""
    ssh_public_key: str | None = None
    """ssh public key installed on the nodes; unset: none."""
    enforce_network_policies: bool = True
    """Run kube-router (firewall only) so the platform's NetworkPolicies are enforced: flannel,
    OKE's overlay, does not; turn off only when another controller (e.g. Calico) enforces them."""
    kube_router_image: str = "docker.io/cloudnativelabs/kube-router:v2.2.1"
    """kube-router image used with enforceNetworkPolicies."""

    @model_validator(mode="after")
    def _network_layout(self) -> "Oci":
        vcn = ipaddress.ip_network(self.vcn_cidr)
        subnets = {"apiSubnetCidr": self.api_subnet_cidr, "nodeSubnetCidr": self.node_subnet_cidr,
                   "lbSubnetCidr": self.lb_subnet_cidr}
        for key, cidr in subnets.items():
            if not ipaddress.ip_network(cidr).subnet_of(vcn):  # type: ignore[arg-type]
                raise ValueError(f"{key} {cidr} is not inside vcnCidr {self.vcn_cidr}")
        clash = _overlaps({**subnets, "podsCidr": self.pods_cidr, "servicesCidr": self.services_cidr})
        if clash:
            raise ValueError(clash)
        for key in ("podsCidr", "servicesCidr"):
            cidr = self.pods_cidr if key == "podsCidr" else self.services_cidr
            if ipaddress.ip_network(cidr).overlaps(vcn):
                raise ValueError(f"{key} {cidr} overlaps vcnCidr {self.vcn_cidr}")
        return self


def _problem(loc: tuple, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("cloud", message), loc=loc, input=value)


def cloud_problems(cfg: Any) -> list[InitErrorDetails]:
    """Rules that tie the cloud section to the rest of the environment (EnvironmentConfig)."""
    problems: list[InitErrorDetails] = []
    for cloud in ("openstack", "oci"):
        section = getattr(cfg, cloud)
        if cfg.cloud == cloud and section is None:
            problems.append(_problem((cloud,), f"required with cloud: {cloud} (network, images, who may reach the API)",
                                     None))
        elif cfg.cloud != cloud and section is not None:
            problems.append(_problem((cloud,), f"only valid with cloud: {cloud} (this stack has cloud: {cfg.cloud})",
                                     cloud))
    if cfg.cloud == "kind" or getattr(cfg, cfg.cloud) is None:
        return problems
    if cfg.security.metadata_address != METADATA_ADDRESS:
        problems.append(_problem(("security", "metadataAddress"),
                                 f"the metadata service of {cfg.cloud} is {METADATA_ADDRESS}; "
                                 "user pods must not reach it",
                                 cfg.security.metadata_address))
    if cfg.cloud == "oci" and not cfg.oci.kubernetes_version.startswith(f"v{cfg.kubernetes_version}."):
        problems.append(_problem(("oci", "kubernetesVersion"),
                                 f"{cfg.oci.kubernetes_version} is not a {cfg.kubernetes_version} release "
                                 f"(swan:kubernetesVersion)", cfg.oci.kubernetes_version))
    if not cfg.node_pools:
        problems.append(_problem(("nodePools",), "at least one node pool is needed on a cloud", []))
    for i, pool in enumerate(cfg.node_pools):
        if pool.flavor is None:
            what = "an OpenStack flavor" if cfg.cloud == "openstack" else "an OCI shape"
            problems.append(_problem(("nodePools", i, "flavor"), f"required on {cfg.cloud}: {what}", None))
        if cfg.cloud == "openstack":
            problems.extend(_magnum_pool_problems(i, pool, first=i == 0))
        else:
            problems.extend(_oke_pool_problems(i, pool, cfg.oci))
    return problems


def _magnum_pool_problems(i: int, pool: Any, first: bool) -> list[InitErrorDetails]:
    problems = []
    if pool.count < 1:
        problems.append(_problem(("nodePools", i, "count"),
                                 "Magnum node groups cannot have fewer than 1 node; remove the pool instead",
                                 pool.count))
    if pool.min_count is not None and pool.min_count < 1:
        problems.append(_problem(("nodePools", i, "minCount"),
                                 "Magnum node groups cannot scale below 1 node (use minCount: 1)", pool.min_count))
    if pool.min_count is not None and pool.count < pool.min_count:
        problems.append(_problem(("nodePools", i, "count"), f"count {pool.count} is below minCount {pool.min_count}",
                                 pool.count))
    if first and pool.gpu is not None:
        problems.append(_problem(("nodePools", 0, "gpu"),
                                 "the first pool becomes Magnum's default worker group and must be a CPU pool",
                                 pool.name))
    if pool.availability_domains:
        problems.append(_problem(("nodePools", i, "availabilityDomains"),
                                 "availability domains are an OCI notion; Magnum places node groups itself",
                                 pool.availability_domains))
    return problems


def _oke_pool_problems(i: int, pool: Any, oci: Oci) -> list[InitErrorDetails]:
    problems = []
    flex = pool.flavor is not None and pool.flavor.endswith(".Flex")
    if flex and (pool.ocpus is None or pool.memory_gb is None):
        problems.append(_problem(("nodePools", i, "ocpus"), f"flex shape {pool.flavor} needs ocpus and memoryGb",
                                 pool.ocpus))
    if not flex and (pool.ocpus is not None or pool.memory_gb is not None):
        problems.append(_problem(("nodePools", i, "ocpus"),
                                 f"ocpus/memoryGb only apply to flex shapes (*.Flex), not {pool.flavor}", pool.ocpus))
    unknown = [ad for ad in pool.availability_domains if ad not in oci.availability_domains]
    if unknown:
        problems.append(_problem(("nodePools", i, "availabilityDomains"),
                                 f"{unknown} not among oci.availabilityDomains {oci.availability_domains}",
                                 pool.availability_domains))
    return problems
