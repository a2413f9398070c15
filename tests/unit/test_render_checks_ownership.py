"""Objects with two owners: two sources, or a Secret that cert-manager writes."""
from __future__ import annotations

from render_checks_fixtures import chart_objects, fixture

from stacks.render_checks import RenderObject, double_owners, objects_from_manifests


def _config_map(name: str, namespace: str = "swan") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}


def _secret(name: str, namespace: str = "swan") -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "stringData": {"tls.crt": "[secret]"}}


def _ingress(api_version: str = "networking.k8s.io/v1", annotations: dict | None = None, tls: list | None = None) -> dict:
    return {"apiVersion": api_version, "kind": "Ingress",
            "metadata": {"name": "swan", "namespace": "swan", "annotations": annotations or {}},
            "spec": {"tls": tls or []}}


def test_distinct_objects_pass():
    objects = [*objects_from_manifests([_config_map("a"), _config_map("a", "other")], "k8s"),
               *objects_from_manifests([_config_map("b"), _secret("a")], "chart:swan")]
    assert double_owners(objects) == []


def test_one_object_from_two_sources_is_reported_whatever_its_api_group():
    objects = [*objects_from_manifests([_ingress("extensions/v1beta1")], "k8s"),
               *objects_from_manifests([_ingress()], "chart:swan")]
    assert double_owners(objects) == [
        "Ingress swan/swan is declared by 2 sources: charts/swan/Ingress-swan-swan.yaml, k8s/Ingress-swan-swan.yaml"]


def test_the_same_source_twice_is_not_two_owners():
    """The render keeps an object twice in k8s/ for an event spanning two clusters (file `--name`)."""
    same = [RenderObject("k8s", "k8s/ConfigMap-swan-a.yaml", _config_map("a")),
            RenderObject("k8s", "k8s/ConfigMap-swan-a--other-cluster.yaml", _config_map("a"))]
    assert double_owners(same) == []


def test_a_secret_that_cert_manager_writes_must_not_be_declared():
    tls = [{"hosts": ["swan.example.org"], "secretName": "swan-tls"}]
    for annotation in ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer"):
        objects = objects_from_manifests([_ingress(annotations={annotation: "le"}, tls=tls), _secret("swan-tls")], "k8s")
        assert double_owners(objects) == [
            "k8s/Secret-swan-swan-tls.yaml: Secret swan/swan-tls is also written by cert-manager for "
            "Ingress k8s/Ingress-swan-swan.yaml"]
    without_issuer = objects_from_manifests([_ingress(tls=tls), _secret("swan-tls")], "k8s")
    assert double_owners(without_issuer) == []  # then the Secret is the certificate's only source
    elsewhere = objects_from_manifests([_ingress(annotations={"cert-manager.io/issuer": "le"}, tls=tls),
                                        _secret("swan-tls", "other")], "k8s")
    assert double_owners(elsewhere) == []


def test_a_certificates_secret_must_not_be_declared():
    certificate = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                   "metadata": {"name": "hub", "namespace": "swan"},
                   "spec": {"secretName": "hub-tls", "dnsNames": ["hub"], "issuerRef": {"name": "ca"}}}
    objects = [*objects_from_manifests([certificate], "k8s"), *objects_from_manifests([_secret("hub-tls")], "chart:swan")]
    assert double_owners(objects) == [
        "charts/swan/Secret-swan-hub-tls.yaml: Secret swan/hub-tls is also written by cert-manager for "
        "Certificate k8s/Certificate-swan-hub.yaml"]


def test_real_charts():
    """The SWAN chart alone has one owner per object, until its ingress gets a certificate from
    cert-manager: the chart itself creates a Secret for every ingress.tls entry (from
    swan.secrets.ingress), which cert-manager would overwrite. A program object or a second chart
    declaring the chart's objects is caught too."""
    swan = chart_objects("swan-2.3.73", "swan", "swan", "-f", fixture("swan-values.yaml"))
    assert double_owners(swan) == []
    with_tls = chart_objects("swan-2.3.73", "swan", "swan", "-f", fixture("swan-values.yaml"),
                             "-f", fixture("swan-tls-values.yaml"))
    assert double_owners(with_tls) == [
        "charts/swan/Secret-swan-swan-tls.yaml: Secret swan/swan-tls is also written by cert-manager for "
        "Ingress charts/swan/Ingress-swan-jupyterhub.yaml"]

    program = objects_from_manifests([_config_map("hub")], "k8s")
    assert double_owners([*swan, *program]) == [
        "ConfigMap swan/hub is declared by 2 sources: charts/swan/ConfigMap-swan-hub.yaml, k8s/ConfigMap-swan-hub.yaml"]

    jupyterhub = chart_objects("jupyterhub-3.1.0", "jupyterhub", "swan")
    assert "Deployment swan/hub is declared by 2 sources: charts/jupyterhub/Deployment-swan-hub.yaml, " \
           "charts/swan/Deployment-swan-hub.yaml" in double_owners([*swan, *jupyterhub])
