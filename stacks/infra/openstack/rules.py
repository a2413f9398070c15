"""Pure parts of the OpenStack (Magnum) environment: what is open to whom, Magnum labels, node groups.

Where SWAN's rules are enforced on Magnum:
- Kubernetes API (6443): Magnum owns the API load balancer; `master_lb_allowed_cidrs` makes Octavia
  accept only `apiCidrs` on it.
- ssh (22): nodes get no floating IP, so Magnum's own node security groups only face the cluster
  subnet; the one host reachable by ssh is the bastion, whose security group opens 22 to
  `adminCidrs` only (never the whole internet: the config model rejects prefix length 0).
- HTTP/HTTPS (80/443): the Octavia load balancer the cloud controller creates for ingress-nginx.

Magnum limits this module works around:
- node groups created concurrently can fail: they are chained (see `node_group_chain`);
- node group labels do not always reach the Kubernetes nodes: a small DaemonSet per group applies
  the pool's labels and taints from the Kubernetes side (`labeler_*`), selecting the group's nodes by
  the `magnum.openstack.org/nodegroup` label the Magnum driver always sets;
- a node group cannot have fewer than one node: the config model rejects count/minCount 0;
- a ClusterTemplate in use cannot change (Magnum refuses any update of a referenced template but a
  rename): its name carries a hash of its content (`template_name`), so a change is a new template;
- node group names are unique per cluster and labels, role, flavor and image force a new group
  (terraform-provider-openstack): the old group is deleted before its replacement (pool.py).
"""
from __future__ import annotations

import hashlib
import ipaddress
import json

from stacks.infra.openstack.config import OpenStack
from stacks.config.model import EnvironmentConfig, NodePool
from stacks.infra.pools import PAUSE_IMAGE, pool_labels, pool_taints

SSH_PORT = 22
DEFAULT_GROUP = "default-worker"   # the node group Magnum creates with every cluster
NODEGROUP_LABEL = "magnum.openstack.org/nodegroup"
LABELER_NAMESPACE = "kube-system"
LABELER_NAME = "swan-node-labeler"
METADATA_ADDRESS = "169.254.169.254"  # Nova's metadata service, where cloud-init reads the ssh key


def agent_namespaces(cfg: EnvironmentConfig) -> list[str]:
    """Where the OpenStack layer runs its own agents: the node labelers (registry: stacks.infra.clouds)."""
    return [LABELER_NAMESPACE]


def _ethertype(cidr: str) -> str:
    return "IPv6" if ipaddress.ip_network(cidr).version == 6 else "IPv4"


def _rule(direction: str, protocol: str, port: int | None, cidr: str, description: str) -> dict:
    rule = {"direction": direction, "ethertype": _ethertype(cidr), "protocol": protocol,
            "remote_ip_prefix": cidr, "description": description}
    if port is not None:
        rule.update(port_range_min=port, port_range_max=port)
    return rule


def bastion_rules(os_cfg: OpenStack) -> list[dict]:
    """The bastion's whole security group (default rules deleted): ssh in from the admins, ssh out
    to the cluster subnet, DNS to the resolvers and HTTPS for package updates."""
    rules = [_rule("ingress", "tcp", SSH_PORT, cidr, f"ssh from admin range {cidr}") for cidr in os_cfg.admin_cidrs]
    rules.append(_rule("egress", "tcp", SSH_PORT, os_cfg.network_cidr, "ssh jumps to cluster nodes"))
    for server in os_cfg.dns_nameservers:
        prefix = f"{server}/{32 if ipaddress.ip_address(server).version == 4 else 128}"
        rules += [_rule("egress", proto, 53, prefix, f"DNS to {server}") for proto in ("udp", "tcp")]
    rules.append(_rule("egress", "tcp", 443, "0.0.0.0/0", "package updates (HTTPS)"))
    # With the default egress rules deleted, cloud-init could not fetch the keypair from the metadata
    # service and nobody could log in. Preferred to forcing a config drive, which not every Nova offers.
    rules.append(_rule("egress", "tcp", 80, f"{METADATA_ADDRESS}/32", "cloud-init: instance metadata (ssh key)"))
    return rules


def split_pools(cfg: EnvironmentConfig) -> tuple[NodePool, list[NodePool]]:
    """Magnum's default worker group (the first pool, a CPU pool) and the extra node groups."""
    return cfg.node_pools[0], list(cfg.node_pools[1:])


def template_labels(cfg: EnvironmentConfig) -> dict[str, str]:
    """ClusterTemplate labels: the site's own, plus those SWAN derives from the rest of the config."""
    os_cfg = cfg.openstack
    assert os_cfg is not None
    autoscaling = any(p.autoscaled for p in cfg.node_pools)
    return {
        **os_cfg.magnum_labels,
        "master_lb_allowed_cidrs": ",".join(os_cfg.api_cidrs),
        "master_lb_floating_ip_enabled": "true",
        "auto_scaling_enabled": "true" if autoscaling else "false",
        "calico_ipv4pool": os_cfg.pod_cidr,
        "service_cluster_ip_range": os_cfg.service_cidr,
    }


def template_settings(cfg: EnvironmentConfig) -> dict:
    """Every ClusterTemplate input the config decides (the network ids are the stack's own and stable)."""
    os_cfg = cfg.openstack
    assert os_cfg is not None
    default_pool, _ = split_pools(cfg)
    return {
        "image": os_cfg.image, "master_flavor": os_cfg.master_flavor, "flavor": default_pool.flavor,
        "external_network_id": os_cfg.external_network,
        "dns_nameserver": (os_cfg.dns_nameservers or [None])[0],
        "docker_volume_size": os_cfg.docker_volume_size, "labels": template_labels(cfg),
    }


def template_name(cfg: EnvironmentConfig) -> str:
    """`<cluster>-k8s<version>-<content hash>`: any change to the template's settings names a new
    template, which Pulumi creates beside the one the cluster still uses."""
    os_cfg = cfg.openstack
    assert os_cfg is not None
    digest = hashlib.sha256(json.dumps(template_settings(cfg), sort_keys=True).encode()).hexdigest()[:8]
    return f"{os_cfg.cluster_name}-k8s{cfg.kubernetes_version}-{digest}"


def default_group_labels(pool: NodePool) -> dict[str, str]:
    """Cluster labels for Magnum's default worker group: its autoscaling bounds, read by Magnum when
    the cluster is created. Cluster labels are ForceNew in the provider (a change replaces the cluster),
    so these are the only cluster labels (the site's live in the template) and `cluster_ignored_changes`
    keeps later changes out of `pulumi up`: bounds of a running default group change with
    `openstack coe nodegroup update CLUSTER default-worker replace /min_node_count=N /max_node_count=M`."""
    labels = {}
    if pool.autoscaled:
        labels["min_node_count"], labels["max_node_count"] = map(str, pool.bounds)
    return labels


def cluster_ignored_changes(default_pool: NodePool) -> list[str]:
    """Cluster inputs `pulumi up` leaves alone after creation: `createTimeout` (it only matters while
    the cluster is created, yet it is ForceNew: a longer timeout must not replace a running cluster),
    `labels` (the default group's bounds, ForceNew) and, when the default group autoscales,
    `nodeCount` (the autoscaler owns it)."""
    return ["createTimeout", "labels", *(["nodeCount"] if default_pool.autoscaled else [])]


def node_group_ignored_changes(pool: NodePool) -> list[str]:
    """NodeGroup inputs `pulumi up` leaves alone after creation: an autoscaled group's `nodeCount`
    (the autoscaler owns it; its bounds, min/maxNodeCount, are updated in place)."""
    return ["nodeCount"] if pool.autoscaled else []


def group_role(pool: NodePool) -> str:
    """Magnum's node group role (shown as `magnum.openstack.org/role` on the nodes)."""
    return pool.labels.get("swan.cern.ch/role") or ("gpu" if pool.gpu else "worker")


def node_group_args(pool: NodePool) -> dict:
    """Inputs of one Magnum NodeGroup; `merge_labels` keeps the template's labels (kube_tag, ...)."""
    args = {
        "name": pool.name,
        "flavor_id": pool.flavor,
        "node_count": pool.count,
        "role": group_role(pool),
        "labels": pool_labels(pool),
        "merge_labels": True,
    }
    if pool.min_count is not None:
        args["min_node_count"] = pool.min_count
    if pool.max_count is not None:
        args["max_node_count"] = pool.max_count
    return args


def node_group_chain(pools: list[NodePool]) -> list[tuple[str, str | None]]:
    """(group, group it waits for): each node group is created after the previous one."""
    return [(pool.name, pools[i - 1].name if i else None) for i, pool in enumerate(pools)]


def magnum_group_name(cfg: EnvironmentConfig, pool: NodePool) -> str:
    return DEFAULT_GROUP if pool is cfg.node_pools[0] else pool.name


def labeler_cluster_role() -> list[dict]:
    return [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]


def _kubectl(name: str, image: str, args: list[str]) -> dict:
    return {
        "name": name,
        "image": image,
        "command": ["kubectl"],
        "args": args,
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "HOME", "value": "/tmp"}],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def labeler_daemonset_spec(pool: NodePool, group: str, image: str) -> dict:
    """A DaemonSet on the nodes of Magnum node group `group`: init containers apply the pool's
    labels and taints (`$(NODE_NAME)` is expanded by the kubelet, so no shell is needed); a pause
    container keeps the pod, so nodes added later (autoscaling, repairs) are labelled too.
    Event stacks adding a node group use the same spec for their group."""
    selector = {"app.kubernetes.io/name": LABELER_NAME, "swan.cern.ch/node-pool": pool.name}
    labels = [f"{k}={v}" for k, v in sorted(pool_labels(pool).items())]
    init = [_kubectl("label", image, ["label", "node", "$(NODE_NAME)", *labels, "--overwrite"])]
    taints = [f"{t['key']}={t['value']}:{t['effect']}" for t in pool_taints(pool)]
    if taints:
        init.append(_kubectl("taint", image, ["taint", "node", "$(NODE_NAME)", *taints, "--overwrite"]))
    return {
        "selector": {"matchLabels": selector},
        "updateStrategy": {"type": "RollingUpdate"},
        "template": {
            "metadata": {"labels": selector},
            "spec": {
                "serviceAccountName": LABELER_NAME,
                "nodeSelector": {NODEGROUP_LABEL: group},
                # Runs before the pool's taints exist and keeps running once they do.
                "tolerations": [{"operator": "Exists"}],
                "priorityClassName": "system-node-critical",
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "initContainers": init,
                "containers": [{
                    "name": "pause",
                    "image": PAUSE_IMAGE,
                    "resources": {"requests": {"cpu": "1m", "memory": "8Mi"},
                                  "limits": {"cpu": "10m", "memory": "16Mi"}},
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65535, "allowPrivilegeEscalation": False,
                                        "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
                }],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
            },
        },
    }
