"""Strict validation: built-in kinds through kubernetes-validate's schemas, custom resources
through their CRD's structural schema, as the API server with strict field validation would."""
from __future__ import annotations

import copy
import time

import kubernetes_validate
import pytest
from render_checks_fixtures import chart_objects, fixture, load

from stacks.render_checks import RenderObject, objects_from_manifests, strict_failures, unvalidated
from stacks.render_checks.schema import is_custom_group, shipped_version

K8S = "1.31"


def _obj(manifest: dict, path: str = "k8s/object.yaml") -> RenderObject:
    return RenderObject("k8s", path, manifest)


def _failure(objects: list[RenderObject], obj: RenderObject, prerequisites: dict | None = None) -> str | None:
    return strict_failures([*objects, obj], K8S, prerequisites or {}).get(obj.path)


DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "swan"},
    "spec": {"selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}},
}


# ---- built-in kinds ----

def test_a_valid_builtin_object_passes():
    assert _failure([], _obj(DEPLOYMENT)) is None


def test_an_unknown_field_of_a_builtin_object_fails():
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    message = _failure([], _obj(bad))
    assert "spec.template.spec.containers.0" in message and "imagePullPolicyy" in message


def test_a_wrong_type_in_a_builtin_object_fails():
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["replicas"] = "two"
    assert "spec.replicas: 'two' is not of type" in _failure([], _obj(bad))


def test_an_unknown_builtin_kind_fails():
    message = _failure([], _obj({**DEPLOYMENT, "kind": "Deploymnet"}))
    assert "neither a built-in kind of Kubernetes 1.31" in message


def test_apiversion_and_kind_are_required():
    assert _failure([], _obj({"metadata": {"name": "x"}})) == "apiVersion and kind are required"


@pytest.mark.parametrize("given, used", [("1.31", "1.31.0"), ("1.31.0", "1.31.0"), ("v1.31.2", "1.31.0"), ("1.37", "1.37.0")])
def test_kubernetes_version_formats(given, used):
    assert shipped_version(given) == used


@pytest.mark.parametrize("given", ["1.24", "1.99", "2.0", "latest"])
def test_a_version_kubernetes_validate_does_not_ship_is_an_error(given):
    with pytest.raises(ValueError, match="kubernetes-validate has no schemas"):
        strict_failures([], given, {})


def test_custom_groups():
    assert is_custom_group("cert-manager.io") and is_custom_group("monitoring.coreos.com")
    assert not any(is_custom_group(g) for g in ("", "apps", "networking.k8s.io", "rbac.authorization.k8s.io"))


def test_same_verdicts_as_kubernetes_validate_on_real_charts():
    """The cached validators are kubernetes-validate's own schemas: same verdict on every kind."""
    objects = chart_objects("swan-2.3.73", "swan", "swan", "-f", fixture("swan-values.yaml"))
    broken = copy.deepcopy(next(o for o in objects if o.kind == "Deployment").obj)
    broken["spec"]["template"]["spec"]["hostname"] = 3
    objects.append(_obj(broken, "k8s/broken.yaml"))
    failures = strict_failures(objects, K8S, {})
    one_per_kind = {(o.api_version, o.kind): o for o in objects}  # schemas are per kind
    for o in one_per_kind.values():
        try:
            kubernetes_validate.validate(o.obj, K8S, strict=True)
            theirs = True
        except kubernetes_validate.ValidationError:
            theirs = False
        assert (o.path not in failures) == theirs, o.path
    assert list(failures) == ["k8s/broken.yaml"]


# ---- custom resources: a hand-written CRD covering the structural-schema features ----

WIDGET_CRD = objects_from_manifests(load("widget-crd.yaml"), "chart:widgets")
WIDGET = {"apiVersion": "example.org/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "swan"},
          "spec": {"replicas": 2}}


def _widget_failure(**spec) -> str | None:
    return _failure(WIDGET_CRD, _obj({**WIDGET, "spec": {**WIDGET["spec"], **spec}}))


def test_the_crd_itself_is_validated_as_a_builtin_kind():
    assert strict_failures(WIDGET_CRD, K8S, {}) == {}
    bad = copy.deepcopy(WIDGET_CRD[0].obj)
    bad["spec"]["scoep"] = "Cluster"
    assert "scoep" in _failure([], _obj(bad))


def test_a_valid_custom_resource_passes():
    assert _widget_failure(size="50%", note="n", mode="fast", port=1, tags=["a", "b"], labels={"a": "b"},
                           config={"anything": {"goes": [1]}},
                           template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}},
                           empty={}) is None
    assert _failure(WIDGET_CRD, _obj({**WIDGET, "status": {"ready": True}})) is None


@pytest.mark.parametrize("spec, expected", [
    ({"replicas": "2"}, "spec.replicas: '2' is not of type 'integer'"),
    ({"replikas": 2}, "'replikas' was unexpected"),
    ({"mode": "medium"}, "spec.mode: 'medium' is not one of"),
    ({"labels": {"a": 1}}, "spec.labels.a: 1 is not of type 'string'"),
    ({"empty": {"a": 1}}, "spec.empty: Additional properties are not allowed ('a' was unexpected)"),
    ({"port": 0}, "spec.port: 0 is less than or equal to the minimum of 0"),
    ({"tags": ["a", "a"]}, "spec.tags: ['a', 'a'] has non-unique elements"),
    ({"size": 1.5}, "spec.size: 1.5 is not of type 'integer', 'string'"),
    ({"size": True}, "spec.size: True is not of type 'integer', 'string'"),
])
def test_a_wrong_custom_resource_fails(spec, expected):
    assert expected in _widget_failure(**spec)


def test_required_fields():
    assert "spec: 'replicas' is a required property" in _failure(WIDGET_CRD, _obj({**WIDGET, "spec": {}}))
    assert "metadata: 'name' is a required property" in _failure(WIDGET_CRD, _obj({**WIDGET, "metadata": {"namespace": "swan"}}))
    assert "'metadata' is a required property" in _failure(WIDGET_CRD, _obj({k: v for k, v in WIDGET.items() if k != "metadata"}))


def test_unknown_top_level_and_metadata_fields_fail():
    assert "'spek' was unexpected" in _failure(WIDGET_CRD, _obj({**WIDGET, "spek": {}}))
    assert "'lables' was unexpected" in _failure(WIDGET_CRD, _obj({**WIDGET, "metadata": {"name": "w", "lables": {}}}))


def test_nulls_as_the_api_server_treats_them():
    """Nulls of object fields are pruned (accepted) whatever `nullable` says; a null array item
    stays, so only a nullable item schema accepts it."""
    assert _widget_failure(note=None, mode=None, size=None, labels=None) is None
    assert _widget_failure(optionalTags=["a", None]) is None
    assert "spec.tags.0: None is not of type 'string'" in _widget_failure(tags=[None])


def test_embedded_resources_need_apiversion_and_kind_and_valid_metadata():
    assert "spec.template: 'kind' is a required property" in _widget_failure(template={"apiVersion": "v1"})
    assert "spec.template.metadata" in _widget_failure(
        template={"apiVersion": "v1", "kind": "Pod", "metadata": {"nmae": "p"}})


def test_a_version_the_crd_does_not_serve_fails():
    assert "does not serve example.org/v1beta1 (served: v1)" in _failure(
        WIDGET_CRD, _obj({**WIDGET, "apiVersion": "example.org/v1beta1"}))


def test_a_custom_resource_without_its_crd_fails_unless_its_group_is_a_prerequisite():
    monitor = _obj({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "hub"},
                    "spec": {"anything": True}}, "k8s/ServiceMonitor-swan-hub.yaml")
    assert "nor defined by a CustomResourceDefinition in the render" in _failure([], monitor)
    prerequisites = {"monitoring.coreos.com": "kube-prometheus-stack is a documented prerequisite"}
    assert strict_failures([monitor], K8S, prerequisites) == {}
    assert unvalidated([monitor, *WIDGET_CRD], prerequisites) == [
        "k8s/ServiceMonitor-swan-hub.yaml: ServiceMonitor monitoring.coreos.com/v1 not validated (no CRD in the render): "
        "kube-prometheus-stack is a documented prerequisite"]


# ---- real CRDs: cert-manager, gpu-operator ----

def _cert_manager() -> list[RenderObject]:
    return chart_objects("cert-manager-v1.16.1", "cert-manager", "cert-manager", "--set", "crds.enabled=true")


CLUSTER_ISSUER = {
    "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "letsencrypt"},
    "spec": {"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory", "email": "swan-admins@cern.ch",
                      "privateKeySecretRef": {"name": "letsencrypt-account"},
                      "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]}},
}


def test_cert_manager_chart_and_a_valid_cluster_issuer_pass():
    objects = _cert_manager()
    assert sum(o.kind == "CustomResourceDefinition" for o in objects) == 6
    assert strict_failures([*objects, _obj(CLUSTER_ISSUER)], K8S, {}) == {}


def test_cluster_issuer_with_an_unknown_field_fails():
    bad = copy.deepcopy(CLUSTER_ISSUER)
    bad["spec"]["acme"]["emial"] = "x@cern.ch"
    assert "spec.acme: Additional properties are not allowed ('emial' was unexpected)" in _failure(_cert_manager(), _obj(bad))


def test_cluster_issuer_with_a_wrong_type_fails():
    bad = copy.deepcopy(CLUSTER_ISSUER)
    bad["spec"]["acme"]["solvers"] = {"http01": {}}
    assert "spec.acme.solvers: {'http01': {}} is not of type 'array'" in _failure(_cert_manager(), _obj(bad))


def _gpu_operator() -> list[RenderObject]:
    return chart_objects("gpu-operator-v24.9.0", "gpu-operator", "gpu-operator", "--include-crds")


def test_gpu_operator_cluster_policy_passes_against_its_crd():
    objects = _gpu_operator()
    policy = next(o for o in objects if o.kind == "ClusterPolicy")
    assert policy.namespace is None  # cluster-scoped, from its CRD
    assert strict_failures(objects, K8S, {}) == {}


def test_a_broken_cluster_policy_fails():
    objects = _gpu_operator()
    bad = copy.deepcopy(next(o for o in objects if o.kind == "ClusterPolicy").obj)
    bad["spec"]["mig"]["strateggy"] = "mixed"
    bad["spec"]["driver"]["enabled"] = "yes"
    message = _failure(objects, _obj(bad))
    assert "spec.driver.enabled: 'yes' is not of type 'boolean'" in message and "'strateggy' was unexpected" in message


def test_three_hundred_objects_well_under_a_second():
    """After warm-up (validators compiled), ~300 objects never seen before take well under a second."""
    objects = [*chart_objects("swan-2.3.73", "swan", "swan", "-f", fixture("swan-values.yaml")),
               *_cert_manager(), *_gpu_operator(), _obj(CLUSTER_ISSUER)]
    strict_failures(objects, K8S, {})  # warm-up

    def fresh(round_: int) -> list[RenderObject]:  # same kinds, new content (no cached verdict)
        out = []
        for o in objects:
            obj = copy.deepcopy(o.obj)
            obj["metadata"].setdefault("labels", {})["round"] = str(round_)
            out.append(RenderObject(o.source, o.path, obj))
        return out

    batch = fresh(1) + fresh(2)
    batch = batch[:300] if len(batch) >= 300 else batch + fresh(3)[:300 - len(batch)]
    start = time.process_time()  # CPU time: other work on the machine does not count
    assert strict_failures(batch, K8S, {}) == {}
    elapsed = time.process_time() - start
    print(f"{len(batch)} objects validated in {elapsed:.3f} s")
    assert elapsed < 1.0, f"{len(batch)} objects took {elapsed:.2f} s"
