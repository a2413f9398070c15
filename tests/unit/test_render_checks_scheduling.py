"""Tolerations, node selection and DaemonSets that must run on every pool they serve."""
from __future__ import annotations

import pytest
from render_checks_fixtures import chart_objects, fixture

from stacks.render_checks import Pool, daemonset_reach_problems, objects_from_manifests, selects, untolerated
from stacks.render_checks.scheduling import tolerates

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
EVENT_TAINT = {"key": "swan.cern.ch/event", "value": "course-a", "effect": "NoExecute"}
SOFT_TAINT = {"key": "swan.cern.ch/spare", "value": "", "effect": "PreferNoSchedule"}


@pytest.mark.parametrize("toleration, taint, expected", [
    ({"key": "nvidia.com/gpu", "operator": "Exists"}, GPU_TAINT, True),
    ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, GPU_TAINT, True),
    ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}, GPU_TAINT, False),
    ({"key": "nvidia.com/gpu", "operator": "Equal", "value": "present"}, GPU_TAINT, True),
    ({"key": "nvidia.com/gpu", "value": "present"}, GPU_TAINT, True),  # Equal is the default
    ({"key": "nvidia.com/gpu", "operator": "Equal", "value": "absent"}, GPU_TAINT, False),
    ({"key": "nvidia.com/gpu"}, GPU_TAINT, False),  # Equal with an empty value
    ({"operator": "Exists"}, GPU_TAINT, True),  # empty key + Exists tolerates everything
    ({"operator": "Exists"}, EVENT_TAINT, True),
    ({"operator": "Exists", "effect": "NoSchedule"}, EVENT_TAINT, False),
    ({"key": "other", "operator": "Exists"}, GPU_TAINT, False),
])
def test_tolerates(toleration, taint, expected):
    assert tolerates(toleration, taint) is expected


def test_untolerated_ignores_prefer_no_schedule():
    spec = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}
    assert untolerated(spec, [GPU_TAINT, EVENT_TAINT, SOFT_TAINT]) == [EVENT_TAINT]
    assert untolerated({}, [SOFT_TAINT]) == []


GPU_NODE = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.count": "4", "swan.cern.ch/node-pool": "a100"}


def _affinity(*terms: list[dict]) -> dict:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": list(t)} for t in terms]}}}}


@pytest.mark.parametrize("spec, expected", [
    ({}, True),
    ({"nodeSelector": {"swan.cern.ch/node-pool": "a100"}}, True),
    ({"nodeSelector": {"swan.cern.ch/node-pool": "t4"}}, False),
    (_affinity([{"key": "swan.cern.ch/node-pool", "operator": "In", "values": ["t4", "a100"]}]), True),
    (_affinity([{"key": "swan.cern.ch/node-pool", "operator": "NotIn", "values": ["a100"]}]), False),
    (_affinity([{"key": "absent", "operator": "NotIn", "values": ["x"]}]), True),
    (_affinity([{"key": "nvidia.com/gpu.present", "operator": "Exists"}]), True),
    (_affinity([{"key": "nvidia.com/gpu.present", "operator": "DoesNotExist"}]), False),
    (_affinity([{"key": "nvidia.com/gpu.count", "operator": "Gt", "values": ["2"]}]), True),
    (_affinity([{"key": "nvidia.com/gpu.count", "operator": "Lt", "values": ["2"]}]), False),
    (_affinity([{"key": "swan.cern.ch/node-pool", "operator": "Gt", "values": ["2"]}]), False),  # not a number
    # terms are ORed, expressions of a term ANDed
    (_affinity([{"key": "nvidia.com/gpu.present", "operator": "DoesNotExist"}],
               [{"key": "nvidia.com/gpu.present", "operator": "Exists"}]), True),
    (_affinity([{"key": "nvidia.com/gpu.present", "operator": "Exists"},
                {"key": "swan.cern.ch/node-pool", "operator": "In", "values": ["t4"]}]), False),
    (_affinity([]), False),  # an empty term matches no node
    ({**_affinity([{"key": "nvidia.com/gpu.present", "operator": "Exists"}]),
      "nodeSelector": {"swan.cern.ch/node-pool": "t4"}}, False),  # both must hold
])
def test_selects(spec, expected):
    assert selects(spec, GPU_NODE) is expected


def _daemonset(name: str, **pod_spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [{"name": "c"}], **pod_spec}}}}


POOLS = [Pool("cpu", {"swan.cern.ch/node-pool": "cpu"}),
         Pool("a100", GPU_NODE, [GPU_TAINT]),
         Pool("event-a", {"swan.cern.ch/node-pool": "event-a", "nvidia.com/gpu.present": "true"}, [GPU_TAINT, EVENT_TAINT])]
EVERY_POOL = lambda pool: True  # noqa: E731
GPU_POOLS = lambda pool: pool.labels.get("nvidia.com/gpu.present") == "true"  # noqa: E731


def test_a_daemonset_that_reaches_every_pool_passes():
    objects = objects_from_manifests([_daemonset("cvmfs-nodeplugin", tolerations=[{"operator": "Exists"}])], "k8s")
    assert daemonset_reach_problems(objects, POOLS, [("*-nodeplugin", EVERY_POOL)]) == []


def test_daemonset_gaps_are_reported_per_pool_and_taint():
    objects = objects_from_manifests([
        _daemonset("cvmfs-nodeplugin", tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}]),
        _daemonset("device-plugin", nodeSelector={"nvidia.com/gpu.present": "true"}),
    ], "k8s")
    problems = daemonset_reach_problems(objects, POOLS, [("*-nodeplugin", EVERY_POOL), ("device-plugin", GPU_POOLS)])
    assert problems == [
        "k8s/DaemonSet-kube-system-cvmfs-nodeplugin.yaml: DaemonSet cvmfs-nodeplugin does not tolerate taint "
        "swan.cern.ch/event=course-a:NoExecute of pool event-a",
        "k8s/DaemonSet-kube-system-device-plugin.yaml: DaemonSet device-plugin does not tolerate taint "
        "nvidia.com/gpu=present:NoSchedule of pool a100",
        "k8s/DaemonSet-kube-system-device-plugin.yaml: DaemonSet device-plugin does not tolerate taint "
        "nvidia.com/gpu=present:NoSchedule of pool event-a",
        "k8s/DaemonSet-kube-system-device-plugin.yaml: DaemonSet device-plugin does not tolerate taint "
        "swan.cern.ch/event=course-a:NoExecute of pool event-a",
    ]
    selective = objects_from_manifests([_daemonset("cvmfs-nodeplugin", nodeSelector={"swan.cern.ch/node-pool": "cpu"})], "k8s")
    assert daemonset_reach_problems(selective, POOLS[:2], [("*-nodeplugin", EVERY_POOL)]) == [
        f"k8s/DaemonSet-kube-system-cvmfs-nodeplugin.yaml: DaemonSet cvmfs-nodeplugin does not select pool a100 "
        f"(nodeSelector/affinity do not match its labels {GPU_NODE})",
        "k8s/DaemonSet-kube-system-cvmfs-nodeplugin.yaml: DaemonSet cvmfs-nodeplugin does not tolerate taint "
        "nvidia.com/gpu=present:NoSchedule of pool a100"]


def test_daemonsets_tolerate_node_condition_taints_like_the_controller_adds():
    objects = objects_from_manifests([_daemonset("ds")], "k8s")
    cordoned = Pool("cordoned", {}, [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])
    assert daemonset_reach_problems(objects, [cordoned], [("ds", EVERY_POOL)]) == []


def test_a_pattern_that_matches_no_daemonset_is_a_problem():
    objects = objects_from_manifests([_daemonset("cvmfs-nodeplugin")], "k8s")
    assert daemonset_reach_problems(objects, POOLS, [("cvmfs-nodeplugn", EVERY_POOL)]) == [
        "no DaemonSet in the render matches 'cvmfs-nodeplugn'"]


def test_real_charts():
    """The SWAN chart's CSI node plugins tolerate nothing by default: a tainted GPU pool gets no
    CVMFS/EOS until the chart's nodeplugin.tolerations say so. The gpu-operator chart renders
    only node-feature-discovery's worker as a DaemonSet (it tolerates nvidia.com/gpu); the device
    plugin and MIG manager DaemonSets are created later by the operator, not by the chart."""
    must = [("*-csi-nodeplugin", EVERY_POOL)]
    swan = chart_objects("swan-2.3.73", "swan", "swan", "-f", fixture("swan-values.yaml"))
    problems = daemonset_reach_problems(swan, POOLS, must)
    assert "charts/swan/DaemonSet-swan-swan-cvmfs-csi-nodeplugin.yaml: DaemonSet swan-cvmfs-csi-nodeplugin does not " \
           "tolerate taint nvidia.com/gpu=present:NoSchedule of pool a100" in problems
    assert len(problems) == 2 * 3  # two plugins, three taints over the pools
    tolerating = chart_objects("swan-2.3.73", "swan", "swan", "-f", fixture("swan-values.yaml"),
                               "--set", "cvmfs-csi.nodeplugin.tolerations[0].operator=Exists",
                               "--set", "eosxd-csi.nodeplugin.tolerations[0].operator=Exists")
    assert daemonset_reach_problems(tolerating, POOLS, must) == []

    gpu = chart_objects("gpu-operator-v24.9.0", "gpu-operator", "gpu-operator")
    assert [o.name for o in gpu if o.kind == "DaemonSet"] == ["gpu-operator-node-feature-discovery-worker"]
    assert daemonset_reach_problems(gpu, POOLS[:2], [("*-node-feature-discovery-worker", EVERY_POOL)]) == []
    assert daemonset_reach_problems(gpu, POOLS, [("*-node-feature-discovery-worker", EVERY_POOL),
                                                 ("nvidia-device-plugin-daemonset", GPU_POOLS)]) == [
        "charts/gpu-operator/DaemonSet-gpu-operator-gpu-operator-node-feature-discovery-worker.yaml: DaemonSet "
        "gpu-operator-node-feature-discovery-worker does not tolerate taint swan.cern.ch/event=course-a:NoExecute "
        "of pool event-a",
        "no DaemonSet in the render matches 'nvidia-device-plugin-daemonset'"]
