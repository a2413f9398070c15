"""kube-router as a NetworkPolicy controller only, for clusters whose CNI does not enforce policies.

OKE's flannel overlay routes pod traffic but ignores NetworkPolicy objects, so the platform's
user-pod policies (deny by default, hub API only, no metadata service, no API server) would be
decorative there. kube-router with only its firewall enabled (no routing, no service proxy)
turns every NetworkPolicy into iptables/ipset rules on each node, next to flannel.
Pure specs; `stacks.infra.oci.cluster` creates the objects.
"""
from __future__ import annotations

NAME = "kube-router"
NAMESPACE = "kube-system"
ARGS = ["--run-router=false", "--run-firewall=true", "--run-service-proxy=false", "--health-port=20244"]


def cluster_role_rules() -> list[dict]:
    """Read access to what policies select on; nothing is written through the API."""
    return [
        {"apiGroups": [""], "resources": ["namespaces", "pods", "services", "nodes", "endpoints"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    ]


def daemonset_spec(image: str) -> dict:
    """One privileged pod per node (it programs the node's iptables), on every node, GPU ones too."""
    labels = {"app.kubernetes.io/name": NAME}
    return {
        "selector": {"matchLabels": labels},
        "updateStrategy": {"type": "RollingUpdate"},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "serviceAccountName": NAME,
                "hostNetwork": True,
                "priorityClassName": "system-node-critical",
                "tolerations": [{"operator": "Exists"}],
                "containers": [{
                    "name": NAME,
                    "image": image,
                    "args": ARGS,
                    "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 20244},
                                      "initialDelaySeconds": 10, "periodSeconds": 5},
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                  "limits": {"cpu": "500m", "memory": "512Mi"}},
                    "securityContext": {"privileged": True},
                    "volumeMounts": [{"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": True},
                                     {"name": "xtables-lock", "mountPath": "/run/xtables.lock"}],
                }],
                "volumes": [
                    {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
                    {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
                ],
            },
        },
    }
