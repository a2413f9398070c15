"""What user sessions may reach, and how much of the cluster they may take.

User pods (namespace `security.userNamespace`) start from deny-all and get back only: DNS,
the hub API (port 8081, nothing else of the hub or proxy), the internet minus the cloud
metadata address, private ranges and the Kubernetes API server, and inbound traffic from the
proxy/hub to the notebook port. Spark drivers (pods labelled `swan.cern.ch/spark-driver`) are
the one exception allowed to the API server, because Spark on Kubernetes creates executors
through it; their RBAC stops at the Spark namespace.

Sessions outside course events share one ResourceQuota: cores, memory and pods from
`security.quota`, and every GPU resource the GPU pools provide (whole GPUs and shared-GPU seats, each
MIG profile) at most what they provide (gpu_capacity.py), nvidia.com/gpu lower if
`security.quota.gpus` says so.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.config.model import EnvironmentConfig
from stacks.platform_layer.gpu_capacity import WHOLE_GPU, gpu_capacity
from stacks.platform_layer.hub_values import SPARK_DRIVER_LABEL  # the hub labels Spark sessions
from stacks.platform_layer.k8s import PlatformArgs, child, meta

PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
USER_POD = {"component": "singleuser-server"}


def _ns(name: str) -> dict:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def user_network_policies(cfg: EnvironmentConfig) -> dict[str, dict]:
    """NetworkPolicy specs for the user namespace, by name (pure, so tests can reason on them)."""
    sec = cfg.security
    internet_except = list(dict.fromkeys([f"{sec.metadata_address}/32", *PRIVATE_RANGES,
                                          *[c for c in sec.api_server_cidrs if not c.startswith("0.")]]))
    policies = {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{"namespaceSelector": _ns("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }],
        },
        "allow-hub-api": {
            "podSelector": {"matchLabels": USER_POD},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{"namespaceSelector": _ns(sec.hub_namespace), "podSelector": {"matchLabels": {"component": "hub"}}}],
                "ports": [{"protocol": "TCP", "port": 8081}],
            }],
        },
        "allow-internet": {
            "podSelector": {"matchLabels": USER_POD},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": internet_except}}]}],
        },
        "allow-from-proxy": {
            "podSelector": {"matchLabels": USER_POD},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{"namespaceSelector": _ns(sec.hub_namespace),
                          "podSelector": {"matchExpressions": [{"key": "component", "operator": "In",
                                                                "values": ["hub", "proxy"]}]}}],
                "ports": [{"protocol": "TCP", "port": 8888}],
            }],
        },
    }
    if cfg.spark.enabled:
        policies["allow-spark"] = {
            "podSelector": {"matchLabels": USER_POD},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"namespaceSelector": _ns(cfg.spark.namespace)}]}],
            "egress": [{"to": [{"namespaceSelector": _ns(cfg.spark.namespace)}]}],
        }
        policies["allow-spark-driver-api"] = {
            "podSelector": {"matchLabels": {**USER_POD, SPARK_DRIVER_LABEL: "true"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": c}} for c in sec.api_server_cidrs],
                        "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}],
        }
    return policies


def spark_network_policies(cfg: EnvironmentConfig) -> dict[str, dict]:
    """Executors talk to their driver (user namespace) and DNS, nothing else inside the cluster."""
    return {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-drivers": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"namespaceSelector": _ns(cfg.security.user_namespace)},
                                  {"podSelector": {}}]}],
            "egress": [
                {"to": [{"namespaceSelector": _ns(cfg.security.user_namespace)}, {"podSelector": {}}]},
                {"to": [{"namespaceSelector": _ns("kube-system"),
                         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            ],
        },
    }


def user_gpu_caps(cfg: EnvironmentConfig) -> dict[str, int]:
    """Every GPU resource the pools provide, capped at what they provide at their largest (gpu_capacity);
    nvidia.com/gpu lower where `security.quota.gpus` says so."""
    caps = gpu_capacity(cfg)
    gpus = cfg.security.quota.gpus
    if gpus and WHOLE_GPU in caps:
        caps[WHOLE_GPU] = min(caps[WHOLE_GPU], gpus)
    return caps


def user_quota(cfg: EnvironmentConfig) -> dict[str, str]:
    """The `hard` caps of sessions outside course events. Extended resources (GPUs) are quota'd by their
    `requests.` name only: Kubernetes allows no other (no overcommit), and never matches `limits.<name>`."""
    q = cfg.security.quota
    hard = {"requests.cpu": q.cpu, "limits.cpu": q.cpu, "requests.memory": q.memory,
            "limits.memory": q.memory, "pods": str(q.pods)}
    hard.update({f"requests.{resource}": str(count) for resource, count in user_gpu_caps(cfg).items()})
    return hard


def user_limit_range(cfg: EnvironmentConfig) -> dict:
    q = cfg.security.quota
    return {"limits": [{
        "type": "Container",
        "default": {"cpu": "1", "memory": "2Gi"},
        "defaultRequest": {"cpu": "100m", "memory": "512Mi"},
        "max": {"cpu": q.max_container_cpu, "memory": q.max_container_memory},
    }]}


class Security(pulumi.ComponentResource):
    """NetworkPolicies, ResourceQuota and LimitRange around user sessions (and Spark executors)."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Security", name, None, opts)
        cfg = args.config
        users = cfg.security.user_namespace
        opts_ = child(self, args.provider, args.depends_on)
        groups = [(users, user_network_policies(cfg))]
        if cfg.spark.enabled:
            groups.append((cfg.spark.namespace, spark_network_policies(cfg)))
        for namespace, policies in groups:
            for policy, spec in policies.items():
                k8s.networking.v1.NetworkPolicy(
                    f"netpol-{namespace}-{policy}", metadata=meta(policy, namespace), spec=spec, opts=opts_)
        # Course-event sessions carry their event's PriorityClass and are capped by the event's
        # own quota; this one covers every other session.
        k8s.core.v1.ResourceQuota(
            "quota-users", metadata=meta("swan-users", users),
            spec={"hard": user_quota(cfg), "scopeSelector": {"matchExpressions": [
                {"scopeName": "PriorityClass", "operator": "DoesNotExist"}]}}, opts=opts_)
        k8s.core.v1.LimitRange(
            "limits-users", metadata=meta("swan-users", users), spec=user_limit_range(cfg), opts=opts_)
        self.register_outputs({})
