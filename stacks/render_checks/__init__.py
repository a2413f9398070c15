"""Cross-object checks over a `swan render` folder (pure: no Pulumi, subprocess or network).

Each module answers one question the API server alone would not: is every object valid for the
target Kubernetes version (`schema`), does every mounted volume exist and bind (`storage`), do
the node DaemonSets reach every pool (`scheduling`), does any object have two owners
(`ownership`), do the NetworkPolicies allow exactly the flows SWAN needs (`netpol`).
"""
from stacks.render_checks.netpol import (Address, Flow, Pod, allowed, explain, flow_problems, pod_from_workload,
                                        swan_flows)
from stacks.render_checks.objects import RenderObject, load_render, objects_from_manifests, pod_templates
from stacks.render_checks.ownership import double_owners
from stacks.render_checks.scheduling import Pool, daemonset_reach_problems, selects, untolerated
from stacks.render_checks.schema import strict_failures, unvalidated
from stacks.render_checks.storage import pvc_problems

__all__ = [
    "Address", "Flow", "Pod", "Pool", "RenderObject", "allowed", "daemonset_reach_problems", "double_owners",
    "explain", "flow_problems", "load_render", "objects_from_manifests", "pod_from_workload", "pod_templates",
    "pvc_problems", "selects", "strict_failures", "swan_flows", "unvalidated", "untolerated",
]
