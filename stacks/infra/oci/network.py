"""Pure parts of the OCI (OKE) environment: security lists, route rules, node pool shape and boot.

Network layout (flannel overlay pods, see Oci in stacks.config.clouds):
- API endpoint subnet (public): 6443 from `apiCidrs` and from the nodes, 12250 from the nodes;
- load balancer subnet (public): 80/443 from `ingressCidrs`, out only to the nodes' NodePorts;
- node subnet (private, no public IPs): anything between nodes, the control plane and NodePorts
  from the load balancers; ssh only from `adminCidrs`; out to the internet through the NAT
  gateway and to Oracle services (OCIR, Object Storage, OKE) through the service gateway.
Rules follow Oracle's documented minimum for OKE; nothing else is opened.

Metadata service: OKE nodes answer instance-principal credentials on 169.254.169.254. Besides the
platform's NetworkPolicy (enforced by kube-router, see network_policy_controller: flannel alone
ignores policies), every node drops pod traffic to that address in the raw table before routing
(`node_user_data`), so the block holds even if the policy controller is down; the node itself,
which needs the metadata for its own bootstrap, is unaffected. The VCN is IPv4 only, so there is no IPv6 path
to the metadata service (fd00:c1::a9fe:a9fe) either.
"""
from __future__ import annotations

import base64
from typing import TypeVar

from stacks.infra.clouds import CLOUDS
from stacks.infra.oci.config import NODE_PORTS, Oci
from stacks.config.model import NodePool
from stacks.infra.pools import pool_labels, pool_taints

TCP, UDP, ICMP, ALL = "6", "17", "1", "all"
KUBE_API_PORT = 6443
OKE_TUNNEL_PORT = 12250      # nodes to the OKE control plane
KUBE_PROXY_HEALTH_PORT = 10256  # load balancer health checks
PATH_MTU = {"type": 3, "code": 4}  # ICMP "fragmentation needed"
SSH_PORT = 22
ANYWHERE = "0.0.0.0/0"
CNI = "FLANNEL_OVERLAY"
OKE_INIT_URL = "http://169.254.169.254/opc/v2/instance/metadata/oke_init_script"
T = TypeVar("T")

METADATA_ADDRESS = CLOUDS["oci"].metadata_address


def _ports(low: int, high: int | None = None) -> dict:
    return {"min": low, "max": high if high is not None else low}


def _ingress(protocol: str, source: str, description: str, tcp: dict | None = None,
             icmp: dict | None = None, source_type: str = "CIDR_BLOCK") -> dict:
    rule = {"protocol": protocol, "source": source, "source_type": source_type, "stateless": False,
            "description": description}
    if tcp:
        rule["tcp_options"] = tcp
    if icmp:
        rule["icmp_options"] = icmp
    return rule


def _egress(protocol: str, destination: str, description: str, tcp: dict | None = None,
            icmp: dict | None = None, destination_type: str = "CIDR_BLOCK") -> dict:
    rule = {"protocol": protocol, "destination": destination, "destination_type": destination_type,
            "stateless": False, "description": description}
    if tcp:
        rule["tcp_options"] = tcp
    if icmp:
        rule["icmp_options"] = icmp
    return rule


def security_lists(oci: Oci) -> dict[str, dict[str, list[dict]]]:
    """Ingress and egress rules of the api, nodes and lb subnets."""
    nodes, api, lb = oci.node_subnet_cidr, oci.api_subnet_cidr, oci.lb_subnet_cidr
    services = oci.oracle_services.cidr_label
    node_ports = _ports(*NODE_PORTS)
    return {
        "api": {
            "ingress": [
                *[_ingress(TCP, cidr, f"Kubernetes API from {cidr}", _ports(KUBE_API_PORT)) for cidr in oci.api_cidrs],
                _ingress(TCP, nodes, "Kubernetes API from the nodes", _ports(KUBE_API_PORT)),
                _ingress(TCP, nodes, "nodes to the OKE control plane", _ports(OKE_TUNNEL_PORT)),
                _ingress(ICMP, nodes, "path MTU discovery", icmp=PATH_MTU),
            ],
            "egress": [
                _egress(TCP, services, "control plane to OKE", destination_type="SERVICE_CIDR_BLOCK"),
                _egress(ICMP, services, "path MTU discovery", icmp=PATH_MTU, destination_type="SERVICE_CIDR_BLOCK"),
                _egress(TCP, nodes, "control plane to kubelets and webhooks"),
                _egress(ICMP, nodes, "path MTU discovery", icmp=PATH_MTU),
            ],
        },
        "nodes": {
            "ingress": [
                _ingress(ALL, nodes, "node to node and pod to pod (flannel VXLAN)"),
                _ingress(TCP, api, "control plane to kubelets and webhooks"),
                _ingress(ICMP, ANYWHERE, "path MTU discovery", icmp=PATH_MTU),
                _ingress(TCP, lb, "load balancers to NodePorts", node_ports),
                _ingress(TCP, lb, "load balancer health checks (kube-proxy)", _ports(KUBE_PROXY_HEALTH_PORT)),
                *[_ingress(TCP, cidr, f"ssh from admin range {cidr}", _ports(SSH_PORT)) for cidr in oci.admin_cidrs],
            ],
            "egress": [
                _egress(ALL, nodes, "node to node and pod to pod"),
                _egress(TCP, api, "Kubernetes API", _ports(KUBE_API_PORT)),
                _egress(TCP, api, "OKE control plane tunnel", _ports(OKE_TUNNEL_PORT)),
                _egress(ICMP, api, "path MTU discovery", icmp=PATH_MTU),
                _egress(TCP, services, "OCIR, Object Storage and OKE", destination_type="SERVICE_CIDR_BLOCK"),
                _egress(ICMP, ANYWHERE, "path MTU discovery", icmp=PATH_MTU),
                _egress(ALL, ANYWHERE, "internet through the NAT gateway (images, software, sessions)"),
            ],
        },
        "lb": {
            "ingress": [_ingress(TCP, cidr, f"{port} from {cidr}", _ports(port))
                        for port in (80, 443) for cidr in oci.ingress_cidrs],
            "egress": [
                _egress(TCP, nodes, "to NodePorts", node_ports),
                _egress(TCP, nodes, "health checks (kube-proxy)", _ports(KUBE_PROXY_HEALTH_PORT)),
            ],
        },
    }


def route_rules(oci: Oci) -> dict[str, list[dict]]:
    """Route rules by table; `network_entity_id` names the gateway (internet, nat, service)."""
    return {
        "public": [{"destination": ANYWHERE, "destination_type": "CIDR_BLOCK", "network_entity_id": "internet",
                    "description": "internet gateway"}],
        "private": [
            {"destination": ANYWHERE, "destination_type": "CIDR_BLOCK", "network_entity_id": "nat",
             "description": "outbound internet through NAT"},
            {"destination": oci.oracle_services.cidr_label, "destination_type": "SERVICE_CIDR_BLOCK",
             "network_entity_id": "service", "description": "Oracle services through the service gateway"},
        ],
    }


def is_flex(pool: NodePool) -> bool:
    return bool(pool.flavor and pool.flavor.endswith(".Flex"))


def node_image(pool: NodePool, node_image_id: T, gpu_node_image_id: T) -> T:
    """GPU shapes boot Oracle's GPU image (NVIDIA driver included), the others the plain one."""
    return gpu_node_image_id if pool.gpu else node_image_id


def initial_node_labels(pool: NodePool) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(pool_labels(pool).items())]


def kubelet_taints(pool: NodePool) -> str:
    """`--register-with-taints` value: the kubelet registers the node already tainted."""
    return ",".join(f"{t['key']}={t['value']}:{t['effect']}" for t in pool_taints(pool))


def node_user_data(pool: NodePool, pods_cidr: str) -> str:
    """cloud-init script of a node: block pods (`pods_cidr`) from the metadata service (every boot,
    before the kubelet), then run OKE's own bootstrap with the pool's taints."""
    block = f"-s {pods_cidr} -d {METADATA_ADDRESS}/32 -j DROP"
    taints = kubelet_taints(pool)
    extra = f' --kubelet-extra-args "--register-with-taints={taints}"' if taints else ""
    return "\n".join([
        "#!/bin/bash",
        "set -euo pipefail",
        "cat >/etc/systemd/system/swan-block-metadata.service <<'UNIT'",
        "[Unit]",
        "Description=SWAN: pods may not reach the instance metadata service",
        "Before=kubelet.service",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        f"ExecStart=/bin/sh -c 'iptables -t raw -C PREROUTING {block} 2>/dev/null || "
        f"iptables -t raw -I PREROUTING {block}'",
        "[Install]",
        "WantedBy=multi-user.target",
        "UNIT",
        "systemctl daemon-reload",
        "systemctl enable --now swan-block-metadata.service",
        f'curl --fail -H "Authorization: Bearer Oracle" -L0 {OKE_INIT_URL} | base64 --decode >/var/run/oke-init.sh',
        f"bash /var/run/oke-init.sh{extra}",
        "",
    ])


def node_metadata(pool: NodePool, pods_cidr: str) -> dict[str, str]:
    return {"user_data": base64.b64encode(node_user_data(pool, pods_cidr).encode()).decode()}
