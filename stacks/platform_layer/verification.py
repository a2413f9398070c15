"""The nightly in-cluster run of `swan verify` as a CronJob.

The job talks to the hub through its in-cluster service with a token from a Secret the
operator creates (`kubectl -n <hub ns> create secret generic <tokenSecret> --from-literal=token=...`),
so the token never passes through Pulumi state.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from stacks.config.model import EnvironmentConfig
from stacks.platform_layer.k8s import child, meta

TOKEN_ENV = "SWAN_VERIFY_TOKEN"


def verify_command(cfg: EnvironmentConfig) -> list[str]:
    hub_ns = cfg.security.hub_namespace
    return ["swan", "verify", "--hub-url", f"http://proxy-public.{hub_ns}.svc.cluster.local/",
            "--token-env", TOKEN_ENV, "--only", "hub,cluster"]


def cronjob_spec(cfg: EnvironmentConfig) -> dict:
    v = cfg.verification
    container = {
        "name": "verify",
        "image": f"{v.image.name}:{v.image.tag}",
        "args": verify_command(cfg),
        "env": [{"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": {"name": v.token_secret, "key": "token"}}}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
    }
    return {
        "schedule": v.schedule,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 5,
        "jobTemplate": {"spec": {"backoffLimit": 0, "activeDeadlineSeconds": 3600, "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "swan-verify"}},
            "spec": {"restartPolicy": "Never", "serviceAccountName": "swan-verify", "containers": [container]},
        }}},
    }


@dataclass
class VerificationArgs:
    config: EnvironmentConfig
    provider: pulumi.ProviderResource
    depends_on: list[pulumi.Resource]


class Verification(pulumi.ComponentResource):
    def __init__(self, name: str, args: VerificationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Verification", name, None, opts)
        cfg = args.config
        ns = cfg.security.hub_namespace
        opts_ = child(self, args.provider, args.depends_on)
        k8s.core.v1.ServiceAccount("swan-verify", metadata=meta("swan-verify", ns), opts=opts_)
        # Cluster checks read nodes and workloads; nothing is written.
        k8s.rbac.v1.ClusterRole("swan-verify", metadata=meta("swan-verify"), rules=[
            {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list"]},
            {"apiGroups": ["apps"], "resources": ["daemonsets", "deployments"], "verbs": ["get", "list"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]},
        ], opts=opts_)
        k8s.rbac.v1.ClusterRoleBinding(
            "swan-verify", metadata=meta("swan-verify"),
            subjects=[{"kind": "ServiceAccount", "name": "swan-verify", "namespace": ns}],
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "swan-verify"},
            opts=opts_)
        k8s.batch.v1.CronJob("swan-verify", metadata=meta("swan-verify", ns), spec=cronjob_spec(cfg), opts=opts_)
        self.register_outputs({"schedule": cfg.verification.schedule})
