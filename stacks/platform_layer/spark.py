"""Spark on Kubernetes from a notebook: drivers run in user sessions, executors in their own namespace."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.platform_layer.k8s import PlatformArgs, child, meta



class Spark(pulumi.ComponentResource):
    """ServiceAccounts and RBAC: the session's `spark-driver` account may manage executor pods
    in the Spark namespace and nothing else; executors run with an account that has no rights."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Spark", name, None, opts)
        cfg = args.config
        spark_ns, users_ns = cfg.spark.namespace, cfg.security.user_namespace
        opts_ = child(self, args.provider, args.depends_on)
        k8s.core.v1.ServiceAccount("spark-driver", metadata=meta("spark-driver", users_ns), opts=opts_)
        k8s.core.v1.ServiceAccount("spark-executor", metadata=meta("spark-executor", spark_ns),
                                   automount_service_account_token=False, opts=opts_)
        k8s.rbac.v1.Role("spark-driver", metadata=meta("spark-driver", spark_ns), rules=[
            {"apiGroups": [""], "resources": ["pods", "services", "configmaps", "persistentvolumeclaims"],
             "verbs": ["get", "list", "watch", "create", "delete", "deletecollection", "patch"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
        ], opts=opts_)
        k8s.rbac.v1.RoleBinding("spark-driver", metadata=meta("spark-driver", spark_ns),
                                subjects=[{"kind": "ServiceAccount", "name": "spark-driver", "namespace": users_ns}],
                                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                          "name": "spark-driver"}, opts=opts_)
        k8s.core.v1.ResourceQuota("spark-executors", metadata=meta("spark-executors", spark_ns),
                                  spec={"hard": {"pods": str(cfg.spark.max_executors_per_user * 10)}}, opts=opts_)
        self.register_outputs({"namespace": spark_ns})
