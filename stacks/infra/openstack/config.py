"""The `swan:openstack` section: a Magnum cluster on its own network, and the rules tying it to the
rest of the environment (`problems`). Pure: no pulumi, no provider SDK.

Only what SWAN decides lives here: networks, who may reach what, images and control-plane sizes.
Credentials never do: the OpenStack provider reads OS_CLOUD / OS_* (clouds.yaml), or
`pulumi config set --secret openstack:password ...` when a CI job has no such file.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import InitErrorDetails

from stacks.config.types import Cidr, IpAddress, Model, Name, RestrictedCidrs, config_problem as _problem


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
    "calico_ipv4pool": "podCidr",
    "service_cluster_ip_range": "serviceCidr",
}

# Magnum's heat driver (openstack/magnum before its removal in 2026, k8s_fedora_coreos_v1 kubecluster.yaml)
# runs cluster DNS at this fixed service address; no label moves it, so the service range must hold it.
HEAT_DNS_SERVICE_IP = "10.254.0.10"
# The newest Kubernetes the heat driver was tested with (Magnum 19.0.0 Dalmatian: kube_tag v1.28.9-rancher1).
HEAT_TESTED_KUBERNETES = (1, 28)


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
    pod_cidr: Cidr = "10.244.0.0/16"
    """Calico's pod address pool (Magnum label calico_ipv4pool; Magnum's own default 10.100.0.0/16
    would contain the default networkCidr); must not overlap the subnet or the service range."""
    service_cidr: Cidr = "10.254.0.0/16"
    """Kubernetes service range (Magnum label service_cluster_ip_range); must hold 10.254.0.10, the
    cluster DNS address Magnum's heat driver fixes."""
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


Section = OpenStack


def problems(cfg: Any) -> list[InitErrorDetails]:
    """Magnum's limits on the environment's node pools (cfg: an EnvironmentConfig with cloud: openstack)."""
    found: list[InitErrorDetails] = []
    if not cfg.node_pools:
        found.append(_problem(("nodePools",), "at least one node pool is needed on a cloud", []))
    for i, pool in enumerate(cfg.node_pools):
        if pool.flavor is None:
            found.append(_problem(("nodePools", i, "flavor"), "required on openstack: an OpenStack flavor", None))
        found.extend(_magnum_pool_problems(i, pool, first=i == 0))
    if cfg.openstack is not None:
        found.extend(_ranges_problems(cfg.openstack))
        found.extend(_addresses_in_cluster_ranges(cfg))
    return found


def _addresses_in_cluster_ranges(cfg: Any) -> list[InitErrorDetails]:
    """DNS servers and static hosts the nodes must reach: inside the pod or service range, the cluster
    would route their traffic to pods or services instead."""
    os_cfg = cfg.openstack
    ranges = {"podCidr": ipaddress.ip_network(os_cfg.pod_cidr), "serviceCidr": ipaddress.ip_network(os_cfg.service_cidr)}
    places = [(("openstack", "dnsNameservers", i), server) for i, server in enumerate(os_cfg.dns_nameservers)]
    places += [(("nodes", "static", i, "address"), host.address) for i, host in enumerate(cfg.nodes.static)]
    found = []
    for loc, address in places:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue  # a DNS name: nothing to compare
        for key, network in ranges.items():
            if ip in network:
                found.append(_problem(loc, f"{address} is inside openstack.{key} {network}", address))
    return found


def _ranges_problems(os_cfg: OpenStack) -> list[InitErrorDetails]:
    """Pods, services and the cluster subnet are routed differently: an overlap sends traffic to the
    wrong place (Magnum's default pod pool 10.100.0.0/16 contains the default subnet 10.100.0.0/22)."""
    ranges = {"networkCidr": os_cfg.network_cidr, "podCidr": os_cfg.pod_cidr, "serviceCidr": os_cfg.service_cidr}
    found = []
    keys = list(ranges)
    for i, key in enumerate(keys):
        for other in keys[:i]:
            if ipaddress.ip_network(ranges[key]).overlaps(ipaddress.ip_network(ranges[other])):
                found.append(_problem(("openstack", key), f"{ranges[key]} overlaps {other} {ranges[other]}",
                                      ranges[key]))
    if ipaddress.ip_address(HEAT_DNS_SERVICE_IP) not in ipaddress.ip_network(os_cfg.service_cidr):
        found.append(_problem(("openstack", "serviceCidr"),
                              f"must contain {HEAT_DNS_SERVICE_IP}, the cluster DNS address Magnum's heat driver "
                              "fixes", os_cfg.service_cidr))
    return found


def warnings(cfg: Any) -> list[str]:
    """What Magnum will do differently from what the config seems to say (`swan check` prints these)."""
    os_cfg = cfg.openstack
    found = []
    bounded = [p.name for p in cfg.node_pools[1:] if p.min_count is not None or p.max_count is not None]
    if bounded:
        found.append(f"nodePools {', '.join(bounded)}: minCount/maxCount are recorded on the Magnum node groups, "
                     "but the autoscaler Magnum's heat driver starts scales only the default worker group (nodePools[0]); "
                     "these groups keep `count` nodes (resize them with count)")
    tag = re.match(r"v?(\d+)\.(\d+)", os_cfg.magnum_labels.get("kube_tag", "") if os_cfg else "")
    if tag and (int(tag[1]), int(tag[2])) > HEAT_TESTED_KUBERNETES:
        found.append(f"openstack.magnumLabels.kube_tag {os_cfg.magnum_labels['kube_tag']} is newer than Magnum's "
                     f"heat driver was tested with (v{HEAT_TESTED_KUBERNETES[0]}.{HEAT_TESTED_KUBERNETES[1]}); "
                     "use a Cluster API driver (magnum-capi-helm) template where available")
    joining = [m.name for m in cfg.nodes.machines if "k8s_node" in m.roles]
    if joining:
        found.append(f"nodes {', '.join(joining)}: the k8s_node role runs `kubeadm join`, which a Magnum heat "
                     "cluster does not accept (no bootstrap-token auth, no kubeadm cluster-info); add Kubernetes "
                     "capacity as node groups (nodePools) and keep these hosts outside Kubernetes")
    return found


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
