"""Reading a render folder: sources, file ids, namespaces and the pod templates of workloads."""
from __future__ import annotations

import pytest
from render_checks_fixtures import chart_objects, fixture

from stacks.render_checks import RenderObject, load_render, objects_from_manifests, pod_templates
from stacks.render_checks.objects import file_name
from stacks.yaml_text import dump


def _write(folder, obj: RenderObject) -> None:
    path = folder / obj.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(obj.obj))


def test_load_render_reads_program_and_chart_objects_with_their_source(tmp_path):
    chart = chart_objects("swan-2.3.73", "swan", "swan", "-f", fixture("swan-values.yaml"))
    program = objects_from_manifests([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "swan-users"}}], "k8s")
    for obj in chart + program:
        _write(tmp_path, obj)
    (tmp_path / "helm").mkdir()
    (tmp_path / "helm" / "swan.yaml").write_text("chart: swan\n")  # not an object: ignored

    loaded = {o.path: o for o in load_render(tmp_path)}

    assert set(loaded) == {o.path for o in chart + program}
    namespace = loaded["k8s/Namespace-cluster-swan-users.yaml"]
    assert (namespace.source, namespace.kind, namespace.name, namespace.namespace, namespace.api_group) == \
        ("k8s", "Namespace", "swan-users", None, "")
    hub = loaded["charts/swan/Deployment-swan-hub.yaml"]
    assert (hub.source, hub.namespace, hub.api_group, hub.labels["component"]) == ("chart:swan", "swan", "apps", "hub")


def test_objects_from_manifests_fills_the_release_namespace_like_the_render():
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "xs.example.org"},
           "spec": {"group": "example.org", "scope": "Cluster", "names": {"kind": "X", "plural": "xs"}, "versions": []}}
    manifests = [crd, {"apiVersion": "example.org/v1", "kind": "X", "metadata": {"name": "x"}},
                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "namespace": "other"}},
                 {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "s"}}]
    objects = objects_from_manifests(manifests, "chart:rel", "ns")
    assert [(o.path, o.namespace) for o in objects] == [
        ("charts/rel/CustomResourceDefinition-cluster-xs.example.org.yaml", None),
        ("charts/rel/X-cluster-x.yaml", None),
        ("charts/rel/ConfigMap-ns-c.yaml", "ns"),
        ("charts/rel/ConfigMap-other-d.yaml", "other"),
        ("charts/rel/StorageClass-cluster-s.yaml", None)]
    assert "namespace" not in manifests[2]["metadata"]  # the input is not changed
    assert file_name(manifests[2]) == "ConfigMap-cluster-c.yaml"


def test_pod_templates_of_every_workload_kind():
    pod = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    manifests = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "a"}}, "spec": pod["spec"]},
        *[{"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": kind.lower()}, "spec": {"template": pod}}
          for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")],
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": pod}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"},
         "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": pod}}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "not-a-workload"}},
    ]
    templates = list(pod_templates(objects_from_manifests(manifests, "k8s", "ns")))
    assert [t.owner.kind for t in templates] == ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]
    assert all(t.namespace == "ns" and t.metadata["labels"] == {"app": "a"} and t.spec["containers"][0]["name"] == "c"
               for t in templates)


def test_pod_templates_of_a_real_chart():
    chart = chart_objects("swan-2.3.73", "swan", "swan", "-f", fixture("swan-values.yaml"))
    owners = {t.owner.path for t in pod_templates(chart)}
    assert {"charts/swan/Deployment-swan-hub.yaml", "charts/swan/DaemonSet-swan-swan-cvmfs-csi-nodeplugin.yaml",
            "charts/swan/StatefulSet-swan-user-placeholder.yaml", "charts/swan/Job-swan-hook-image-awaiter.yaml"} <= owners


def test_missing_helm_or_chart_mirror_fails_naming_what_is_missing(monkeypatch, tmp_path):
    """The real-chart tests never skip: without helm or the charts they fail and say what to provide."""
    monkeypatch.setenv("SWAN_HELM", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="helm is missing: put a helm 3 binary on PATH or set SWAN_HELM"):
        chart_objects("swan-2.3.73", "no-helm", "swan")
    monkeypatch.setenv("SWAN_CHART_MIRROR", str(tmp_path / "nowhere"))
    with pytest.raises(pytest.fail.Exception, match=f"chart mirror {tmp_path / 'nowhere'} is missing"):
        chart_objects("swan-2.3.73", "no-mirror", "swan")
