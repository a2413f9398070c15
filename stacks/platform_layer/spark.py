"""Spark on Kubernetes from a notebook: drivers run in user sessions, executors in their own namespace.

A session that asks for Spark gets its own ServiceAccount `spark-<user>` (created by the hub, see
hub_side/swan_iac_hub.py); no other session has an API token. Every ServiceAccount of the user
namespace may manage executor pods in the Spark namespace, and an admission policy narrows that
to the user's own objects: what a driver creates, changes or deletes there must carry
`swan.cern.ch/spark-user=<its user>` (pods: what Spark runs; other users' executors are beyond
reach). Executors run with an account that has no rights.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from stacks.platform_layer.hub_values import SPARK_EXECUTOR_ACCOUNT, SPARK_USER_LABEL
from stacks.platform_layer.k8s import PlatformArgs, child, meta

POLICY = "swan-spark-own-objects"
MANAGED = ["pods", "services", "configmaps", "persistentvolumeclaims"]


def own_objects_policy(users_namespace: str) -> dict:
    """ValidatingAdmissionPolicy: a user-namespace ServiceAccount touches only objects labelled
    with its own user (the account is `spark-<user label>`)."""
    prefix = f"system:serviceaccount:{users_namespace}:spark-"
    target = "(request.operation == 'DELETE' ? oldObject : object)"
    return {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": [{
            "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE", "DELETE"],
            "resources": ["pods"]}]},
        "matchConditions": [{"name": "spark-driver-accounts",
                             "expression": f"request.userInfo.username.startsWith('{prefix}')"}],
        "validations": [{
            "expression": (f"has({target}.metadata.labels) && '{SPARK_USER_LABEL}' in {target}.metadata.labels && "
                           f"{target}.metadata.labels['{SPARK_USER_LABEL}'] == "
                           f"request.userInfo.username.substring({len(prefix)})"),
            "message": f"a Spark driver may only manage pods labelled {SPARK_USER_LABEL}=<its own user>",
        }],
    }


class Spark(pulumi.ComponentResource):
    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Spark", name, None, opts)
        cfg = args.config
        spark_ns, users_ns = cfg.spark.namespace, cfg.security.user_namespace
        opts_ = child(self, args.provider, args.depends_on)
        k8s.core.v1.ServiceAccount("spark-executor", metadata=meta(SPARK_EXECUTOR_ACCOUNT, spark_ns),
                                   automount_service_account_token=False, opts=opts_)
        k8s.rbac.v1.Role("spark-driver", metadata=meta("spark-driver", spark_ns), rules=[
            {"apiGroups": [""], "resources": MANAGED,
             "verbs": ["get", "list", "watch", "create", "delete", "deletecollection", "patch"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
        ], opts=opts_)
        k8s.rbac.v1.RoleBinding("spark-driver", metadata=meta("spark-driver", spark_ns),
                                subjects=[{"kind": "Group", "name": f"system:serviceaccounts:{users_ns}",
                                           "apiGroup": "rbac.authorization.k8s.io"}],
                                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                          "name": "spark-driver"}, opts=opts_)
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            "spark-own-objects", metadata=meta(POLICY), spec=own_objects_policy(users_ns), opts=opts_)
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            "spark-own-objects", metadata=meta(POLICY),
            spec={"policyName": POLICY, "validationActions": ["Deny"],
                  "matchResources": {"namespaceSelector": {"matchLabels": {
                      "kubernetes.io/metadata.name": spark_ns}}}},
            opts=pulumi.ResourceOptions.merge(opts_, pulumi.ResourceOptions(depends_on=[policy])))
        k8s.core.v1.ResourceQuota("spark-executors", metadata=meta("spark-executors", spark_ns),
                                  spec={"hard": {"pods": str(cfg.spark.max_executors_per_user * 10)}}, opts=opts_)
        self.register_outputs({"namespace": spark_ns})
