"""Claims that pods mount exist, their StorageClasses exist, statically bound claims have a volume."""
from __future__ import annotations

from render_checks_fixtures import chart_objects, fixture

from stacks.render_checks import RenderObject, objects_from_manifests, pvc_problems


def _pvc(name: str, namespace: str = "swan", **spec) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": namespace},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, **spec}}


def _deployment(claim: str, namespace: str = "swan") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": namespace},
            "spec": {"template": {"spec": {"containers": [{"name": "c"}],
                                           "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]}}}}


def _class(name: str, default: bool = False) -> dict:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "p",
            "metadata": {"name": name, "annotations": annotations}}


def _pv(name: str, claim: tuple[str, str] | None = None, storage_class: str = "") -> dict:
    spec = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": storage_class}
    if claim:
        spec["claimRef"] = {"namespace": claim[0], "name": claim[1]}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def _objects(*manifests: dict) -> list[RenderObject]:
    return objects_from_manifests(manifests, "k8s")


def test_a_mounted_claim_that_exists_passes():
    assert pvc_problems(_objects(_deployment("data"), _pvc("data", storageClassName="fast"), _class("fast")), set()) == []


def test_a_mounted_claim_that_is_missing_or_in_another_namespace_fails():
    problems = pvc_problems(_objects(_deployment("data"), _pvc("data", "swan-users", storageClassName="fast"),
                                     _class("fast")), set())
    assert problems == ["k8s/Deployment-swan-app.yaml: volume 'data' mounts PersistentVolumeClaim 'data', "
                        "which is not in namespace 'swan'"]


def test_a_storage_class_must_be_in_the_render_or_provided_by_the_cluster():
    objects = _objects(_pvc("data", storageClassName="standard"))
    assert pvc_problems(objects, {"standard"}) == []
    assert pvc_problems(objects, {"csi-cinder"}) == [
        "k8s/PersistentVolumeClaim-swan-data.yaml: PersistentVolumeClaim swan/data uses StorageClass 'standard', "
        "which is neither in the render nor provided by the cluster (csi-cinder)"]


def test_a_claim_without_a_class_needs_a_default_class():
    assert "has no storageClassName and the cluster has no default StorageClass" in pvc_problems(_objects(_pvc("data")), set())[0]
    assert pvc_problems(_objects(_pvc("data"), _class("local", default=True)), set()) == []
    assert pvc_problems(_objects(_pvc("data")), {"standard"}) == []


def test_statefulset_claim_templates_need_their_class():
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "swan"},
           "spec": {"template": {"spec": {"containers": [{"name": "c"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"storageClassName": "ssd"}}]}}
    assert pvc_problems(_objects(sts), set()) == [
        "k8s/StatefulSet-swan-db.yaml: PersistentVolumeClaim swan/data-db-<ordinal> uses StorageClass 'ssd', "
        "which is neither in the render nor provided by the cluster (none)"]
    assert pvc_problems(_objects(sts, _class("ssd")), set()) == []


def test_a_statically_bound_claim_needs_its_volume():
    claim = _pvc("home", storageClassName="")
    assert "no PersistentVolume in the render claims it" in pvc_problems(_objects(claim), {"standard"})[0]
    assert pvc_problems(_objects(claim, _pv("home-pv", ("swan", "home"))), set()) == []
    assert "no PersistentVolume" in pvc_problems(_objects(claim, _pv("home-pv", ("other", "home"))), set())[0]
    named = _pvc("home", storageClassName="", volumeName="home-pv")
    assert pvc_problems(_objects(named, _pv("home-pv")), set()) == []
    assert "bound to PersistentVolume 'home-pv', which is not in the render" in pvc_problems(_objects(named), set())[0]
    assert "of StorageClass 'fast', not \"\"" in pvc_problems(_objects(named, _pv("home-pv", storage_class="fast")), set())[0]


def test_real_swan_chart():
    """The SWAN chart's own claims: cvmfs/eos use its StorageClasses; the hub database claim has no
    class, so it needs the cluster's default; the hub mounts it in its namespace."""
    objects = chart_objects("swan-2.3.73", "swan", "swan", "-f", fixture("swan-values.yaml"))
    assert pvc_problems(objects, {"standard"}) == []
    assert pvc_problems(objects, set()) == [
        "charts/swan/PersistentVolumeClaim-swan-hub-db-dir.yaml: PersistentVolumeClaim swan/hub-db-dir "
        "has no storageClassName and the cluster has no default StorageClass"]
    without_claim = [o for o in objects if o.path != "charts/swan/PersistentVolumeClaim-swan-hub-db-dir.yaml"]
    assert pvc_problems(without_claim, {"standard"}) == [
        "charts/swan/Deployment-swan-hub.yaml: volume 'pvc' mounts PersistentVolumeClaim 'hub-db-dir', "
        "which is not in namespace 'swan'"]
    without_class = [o for o in objects if o.path != "charts/swan/StorageClass-cluster-cvmfs.yaml"]
    assert pvc_problems(without_class, {"standard"}) == [
        "charts/swan/PersistentVolumeClaim-swan-cvmfs.yaml: PersistentVolumeClaim swan/cvmfs uses StorageClass "
        "'cvmfs', which is neither in the render nor provided by the cluster (standard)"]


def test_a_claim_prebound_by_a_volume_of_its_class_needs_no_storage_class():
    """The swan chart's `eos` claim with EOS off: a placeholder volume of class `eos` claims it."""
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "eos", "namespace": "swan"},
             "spec": {"storageClassName": "eos", "accessModes": ["ReadOnlyMany"],
                      "resources": {"requests": {"storage": "1"}}}}
    volume = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "swan-eos-unused"},
              "spec": {"storageClassName": "eos", "claimRef": {"namespace": "swan", "name": "eos"},
                       "capacity": {"storage": "1"}, "accessModes": ["ReadOnlyMany"], "hostPath": {"path": "/x"}}}
    from stacks.render_checks import objects_from_manifests, pvc_problems

    assert pvc_problems(objects_from_manifests([claim], "chart:swan"), {"standard"}) != []
    assert pvc_problems(objects_from_manifests([claim], "chart:swan") + objects_from_manifests([volume], "k8s"),
                        {"standard"}) == []
    elsewhere = {**volume, "spec": {**volume["spec"], "claimRef": {"namespace": "other", "name": "eos"}}}
    assert pvc_problems(objects_from_manifests([claim], "chart:swan") + objects_from_manifests([elsewhere], "k8s"),
                        {"standard"}) != []
