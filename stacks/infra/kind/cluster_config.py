"""Pure parts of the kind cluster: the cluster config file and the kind command lines.

Kept apart from the Pulumi provider so they are unit-tested without Docker or kind.
"""
from __future__ import annotations

from stacks import yaml_text
from stacks.config.model import EnvironmentConfig
from stacks.infra.kind.config import KindCluster
from stacks.infra.pools import pool_labels, pool_taints

CVMFS_NODE_PATH = "/var/cvmfs"  # where the swan chart's cvmfs-csi automounts (automountHostPath)


def kind_config(cfg: EnvironmentConfig) -> dict:
    """kind's v1alpha4 Cluster: one control plane receiving ingress, workers from the node pools."""
    kc = cfg.kind_cluster or KindCluster()
    # The CVMFS CSI node plugin mounts with Bidirectional propagation; inside a kind node that
    # only works on a shared mount, which this host folder provides.
    mounts = [{"hostPath": kc.cvmfs_host_path, "containerPath": CVMFS_NODE_PATH, "propagation": "Bidirectional"}]
    control_plane = {
        "role": "control-plane",
        "image": kc.node_image,
        "labels": {"ingress-ready": "true"},
        "extraPortMappings": [
            {"containerPort": 80, "hostPort": kc.http_port, "protocol": "TCP"},
            {"containerPort": 443, "hostPort": kc.https_port, "protocol": "TCP"},
        ],
        "extraMounts": mounts,
    }
    workers = []
    for pool in cfg.node_pools:
        node = {"role": "worker", "image": kc.node_image, "labels": pool_labels(pool), "extraMounts": mounts}
        taints = pool_taints(pool)
        if taints:  # kind has no taints field: kubeadm registers them at join
            node["kubeadmConfigPatches"] = [yaml_text.dump(
                {"kind": "JoinConfiguration", "nodeRegistration": {"taints": taints}})]
        workers.extend(dict(node) for _ in range(pool.count))
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": kc.name,
            "nodes": [control_plane, *workers]}


def kind_config_yaml(cfg: EnvironmentConfig) -> str:
    return yaml_text.dump(kind_config(cfg))


def create_command(name: str, config_path: str, wait: str = "5m") -> list[str]:
    return ["kind", "create", "cluster", "--name", name, "--config", config_path, "--wait", wait]


def delete_command(name: str) -> list[str]:
    return ["kind", "delete", "cluster", "--name", name]


def kubeconfig_command(name: str) -> list[str]:
    return ["kind", "get", "kubeconfig", "--name", name]


def replace_keys(olds: dict, news: dict) -> list[str]:
    """A kind cluster cannot be changed in place: any change of name or config recreates it."""
    return [key for key in ("name", "config") if olds.get(key) != news.get(key)]
