"""Can a pod land on a node pool? Taints, tolerations, node selectors and required node affinity
with the scheduler's semantics, and the DaemonSets that must reach every pool they serve.

A CSI node plugin or a GPU device plugin that does not tolerate a pool's taint leaves that pool
without CVMFS or GPUs, and nothing fails: the DaemonSet simply has fewer pods. The pools (with
their labels and taints) are known before deploying, so the gap can be found in the render.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Callable, Iterable

from stacks.render_checks.labels import expression_matches
from stacks.render_checks.objects import RenderObject, pod_template

BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")  # PreferNoSchedule only steers the scheduler

# Tolerations the DaemonSet controller adds to every DaemonSet pod (node conditions).
DAEMONSET_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


@dataclass(frozen=True)
class Pool:
    """A group of identical nodes: their labels and taints ({key, value, effect})."""

    name: str
    labels: dict = field(default_factory=dict)
    taints: list = field(default_factory=list)


def tolerates(toleration: dict, taint: dict) -> bool:
    """Kubernetes' ToleratesTaint: an empty effect matches every effect, an empty key (with
    Exists) every key; Equal (the default operator) also compares values."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated(pod_spec: dict, taints: Iterable[dict]) -> list[dict]:
    """The taints that keep this pod off a node (NoSchedule/NoExecute ones it does not tolerate)."""
    tolerations = pod_spec.get("tolerations") or []
    return [t for t in taints if t.get("effect") in BLOCKING_EFFECTS
            and not any(tolerates(tol, t) for tol in tolerations)]


def selects(pod_spec: dict, labels: dict) -> bool:
    """Whether a node with `labels` fits the pod's nodeSelector and its required node affinity
    (terms are ORed, the expressions of a term ANDed; an empty term matches nothing;
    matchFields name nodes, which a pool does not know, so they are not evaluated)."""
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any((term.get("matchExpressions") or term.get("matchFields"))
               and all(expression_matches(e, labels) for e in term.get("matchExpressions") or [])
               for term in required.get("nodeSelectorTerms") or [])


def _taint_text(taint: dict) -> str:
    value = f"={taint['value']}" if taint.get("value") else ""
    return f"{taint.get('key')}{value}:{taint.get('effect')}"


def daemonset_reach_problems(objects: Iterable[RenderObject], pools: Iterable[Pool],
                             must_reach: list[tuple[str, Callable[[Pool], bool]]]) -> list[str]:
    """For each (DaemonSet name pattern, which pools it must run on): every matching DaemonSet
    can be scheduled on every such pool. A pattern that matches no DaemonSet is a problem too,
    so that a typo cannot hide a gap."""
    daemonsets = [o for o in objects if o.kind == "DaemonSet"]
    pools = list(pools)
    problems = []
    for pattern, needs in must_reach:
        matching = [d for d in daemonsets if fnmatch.fnmatchcase(d.name, pattern)]
        if not matching:
            problems.append(f"no DaemonSet in the render matches {pattern!r}")
        for ds in matching:
            spec = pod_template(ds).spec
            spec = {**spec, "tolerations": [*(spec.get("tolerations") or []), *DAEMONSET_TOLERATIONS]}
            for pool in filter(needs, pools):
                if not selects(spec, pool.labels):
                    problems.append(f"{ds.path}: DaemonSet {ds.name} does not select pool {pool.name} "
                                    f"(nodeSelector/affinity do not match its labels {pool.labels})")
                for taint in untolerated(spec, pool.taints):
                    problems.append(f"{ds.path}: DaemonSet {ds.name} does not tolerate taint "
                                    f"{_taint_text(taint)} of pool {pool.name}")
    return problems
