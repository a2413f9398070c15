"""The nightly CronJob's Kubernetes rights are exactly what its checks read.

Two links, each tested: (1) the paths a check declares (`ClusterVerification.paths()`) are exactly the
paths the real check GETs, for every shape of expectations; (2) the rendered ClusterRole and Roles of
`swan-verify` grant exactly the reads of the CronJob's own expectations (its `expect.yaml`, from the
render), the course-event reader's included: everything it reads (else the nightly run gets 403) and
nothing else. The API server is the only stand-in: it records every path and answers with bare objects.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from stacks.render import render
from stacks.verify.access import allows, granted, rbac_rules, read_of
from stacks.verify.cluster import ClusterVerification, load_expectations
from stacks.verify.events import read_open_events
from stacks.verify.model import CheckFailed, CheckSkipped, Deadline


class PathRecorder:
    """Answers every GET with an empty list or a bare object, and remembers the path."""

    def __init__(self):
        self.paths: list[str] = []

    def get(self, path: str) -> dict:
        self.paths.append(path)
        read = read_of(path)
        if not read.name:
            return {"items": []}
        return {"metadata": {"name": read.name, "namespace": read.namespace}, "status": {}, "spec": {}, "data": {}}


EXPECTATIONS = [  # every way the expectations make the checks read the API
    {"pools": [{"name": "gpu", "gpu": {"nvidia.com/gpu": 4}}],
     "workloads": [{"kind": "Deployment", "namespace": "swan", "name": "hub"},
                   {"kind": "DaemonSet", "namespace": "kube-system", "name": "cvmfs"}],
     "tls_secrets": [{"namespace": "swan", "name": "swan-tls"}]},
    {"namespaces": ["swan", "swan-users"], "tls_secrets": []},
    {"namespaces": ["swan", "swan-users"]},
    {},
]


def run_checks(api, document: dict) -> None:
    for check in ClusterVerification(api, load_expectations(document, "test")).checks():
        try:
            check.run(Deadline(5))
        except (CheckFailed, CheckSkipped):
            pass  # the bare answers fail most checks: only what they read matters here


@pytest.mark.parametrize("document", EXPECTATIONS, ids=["named", "namespaces-no-tls", "namespaces", "everywhere"])
def test_each_check_declares_exactly_the_paths_it_reads(document):
    for name, declared in ClusterVerification(None, load_expectations(document, "test")).paths().items():
        api = PathRecorder()
        (check,) = [c for c in ClusterVerification(api, load_expectations(document, "test")).checks() if c.name == name]
        try:
            check.run(Deadline(5))
        except (CheckFailed, CheckSkipped):
            pass
        assert sorted(set(api.paths)) == sorted(set(declared)), name


def test_no_tls_secrets_means_no_secret_is_read():
    api = PathRecorder()
    run_checks(api, {"namespaces": ["swan"], "tls_secrets": []})
    assert not [p for p in api.paths if "/secrets" in p]


def test_rules_from_reads_name_what_is_read_by_name():
    reads = [read_of("/api/v1/nodes"), read_of("/api/v1/namespaces/swan/secrets/swan-tls"),
             read_of("/apis/apps/v1/namespaces/swan/deployments")]
    cluster, roles = rbac_rules(reads)
    assert cluster == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]
    assert roles == {"swan": [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["swan-tls"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}]}
    grants = granted(cluster, None) | granted(roles["swan"], "swan")
    assert allows(grants, read_of("/api/v1/namespaces/swan/secrets/swan-tls"))
    assert not allows(grants, read_of("/api/v1/namespaces/swan/secrets/hub"))
    assert not allows(grants, read_of("/apis/apps/v1/namespaces/kube-system/deployments"))


@pytest.fixture(scope="module", params=["oci-pilot", "kind"])
def rendered(request, tmp_path_factory) -> Path:
    """oci-pilot: TLS, GPU pools and CUDA software (its CronJob also reads course events); kind: no TLS."""
    return render(request.param, tmp_path_factory.mktemp("render") / request.param)[0]


def test_the_cronjob_may_read_everything_its_checks_read_and_nothing_more(rendered):
    k8s = rendered / "k8s"
    config_map = yaml.safe_load((k8s / "ConfigMap-swan-swan-verify-sessions.yaml").read_text())
    expect = yaml.safe_load(config_map["data"]["expect.yaml"])
    api = PathRecorder()
    run_checks(api, expect)
    cron = yaml.safe_load((k8s / "CronJob-swan-swan-verify.yaml").read_text())
    args = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    if "--events-namespace" in args:
        read_open_events(api, args[args.index("--events-namespace") + 1], (), now=dt.datetime.now(dt.timezone.utc))
    reads = {read_of(p) for p in api.paths}

    grants = set()
    for path in k8s.glob("ClusterRole-*-swan-verify.yaml"):
        grants |= granted(yaml.safe_load(path.read_text())["rules"], None)
    for path in k8s.glob("Role-*-swan-verify.yaml"):
        role = yaml.safe_load(path.read_text())
        grants |= granted(role["rules"], role["metadata"]["namespace"])
    assert sorted(r for r in reads if not allows(grants, r)) == [], "the CronJob would get 403 for these"
    assert sorted(g for g in grants if not any(allows({g}, r) for r in reads)) == [], "granted but never read"
    assert not [g for g in grants if g.resource == "secrets" and (g.name is None or g.verb != "get")], \
        "the CronJob may read secrets it does not name"
