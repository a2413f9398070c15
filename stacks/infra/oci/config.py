"""The `swan:oci` section: an OKE cluster in its own VCN, and the rules tying it to the rest of the
environment (`problems`). Pure: no pulumi, no provider SDK.

Only what SWAN decides lives here: networks, who may reach what, images. Credentials never do: the
OCI provider reads ~/.oci/config or OCI_* variables, or `pulumi config set --secret oci:privateKey ...`
when a CI job has no such file.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import InitErrorDetails

from stacks.config.types import Cidr, Model, Name, RestrictedCidrs, config_problem as _problem

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


Section = Oci


def problems(cfg: Any) -> list[InitErrorDetails]:
    """OKE's rules on the environment (cfg: an EnvironmentConfig with cloud: oci)."""
    found: list[InitErrorDetails] = []
    if not cfg.oci.kubernetes_version.startswith(f"v{cfg.kubernetes_version}."):
        found.append(_problem(("oci", "kubernetesVersion"),
                              f"{cfg.oci.kubernetes_version} is not a {cfg.kubernetes_version} release "
                              f"(swan:kubernetesVersion)", cfg.oci.kubernetes_version))
    if not cfg.node_pools:
        found.append(_problem(("nodePools",), "at least one node pool is needed on a cloud", []))
    for i, pool in enumerate(cfg.node_pools):
        if pool.flavor is None:
            found.append(_problem(("nodePools", i, "flavor"), "required on oci: an OCI shape", None))
        found.extend(_oke_pool_problems(i, pool, cfg.oci))
    return found


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
