"""The nightly CronJob's Kubernetes rights are exactly what its checks read.

The real cluster checks and the real course-event reader run against an API stand-in that
records every path they GET (the only seam: no API server here); each path becomes the
(API group, resource, verb) it needs, and the rendered ClusterRole and Role of `swan-verify`
must grant every one of them (else the nightly run fails with 403) and nothing else.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from stacks.render import render
from stacks.verify.cluster import ClusterVerification, load_expectations
from stacks.verify.events import read_open_events
from stacks.verify.model import CheckFailed, CheckSkipped, Deadline

PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[^/?]+)"
                  r"(?:/(?P<name>[^/?]+))?(?:\?.*)?$")


class PathRecorder:
    """Answers every GET with an empty list or a bare object, and remembers the path."""

    def __init__(self):
        self.paths: list[str] = []

    def get(self, path: str) -> dict:
        self.paths.append(path)
        match = PATH.match(path)
        if not match["name"]:
            return {"items": []}
        return {"metadata": {"name": match["name"], "namespace": match["ns"]}, "status": {}, "spec": {}, "data": {}}


def needed(path: str) -> tuple[str, str, str, str | None]:
    """(API group, resource, verb, namespace or None for cluster-wide) of a GET."""
    match = PATH.match(path)
    assert match, path
    return (match["group"] or "", match["resource"], "get" if match["name"] else "list", match["ns"])


EXPECTATIONS = [  # every way the expectations make the checks read the API
    {"pools": [{"name": "gpu", "gpu": {"nvidia.com/gpu": 4}}],
     "workloads": [{"kind": "Deployment", "namespace": "swan", "name": "hub"},
                   {"kind": "DaemonSet", "namespace": "kube-system", "name": "cvmfs"}],
     "tls_secrets": [{"namespace": "swan", "name": "swan-tls"}]},
    {"namespaces": ["swan", "swan-users"]},
    {},
]


def reads_of_the_checks(users_namespace: str) -> set[tuple[str, str, str, str | None]]:
    api = PathRecorder()
    for document in EXPECTATIONS:
        for check in ClusterVerification(api, load_expectations(document, "test")).checks():
            try:
                check.run(Deadline(5))
            except (CheckFailed, CheckSkipped):
                pass  # the bare answers fail most checks: only what they read matters here
    read_open_events(api, users_namespace, (), now=dt.datetime.now(dt.timezone.utc))
    return {needed(p) for p in api.paths}


def granted(rules: list[dict], namespace: str | None) -> set[tuple[str, str, str, str | None]]:
    return {(group, resource, verb, namespace) for rule in rules for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


@pytest.fixture(scope="module")
def oci_pilot(tmp_path_factory) -> Path:
    """oci-pilot: GPU pools and CUDA software, so its CronJob also reads course events."""
    return render("oci-pilot", tmp_path_factory.mktemp("render") / "oci-pilot")[0]


def test_the_cronjob_may_read_everything_its_checks_read_and_nothing_more(oci_pilot):
    k8s = oci_pilot / "k8s"
    cluster_role = yaml.safe_load((k8s / "ClusterRole-cluster-swan-verify.yaml").read_text())
    (role_file,) = k8s.glob("Role-*-swan-verify.yaml")
    role = yaml.safe_load(role_file.read_text())
    users = role["metadata"]["namespace"]
    reads = reads_of_the_checks(users)
    cluster_wide = granted(cluster_role["rules"], None)
    in_users = granted(role["rules"], users)

    def allowed(read):
        group, resource, verb, ns = read
        return (group, resource, verb, None) in cluster_wide or (ns == users and read in in_users)

    assert sorted(r for r in reads if not allowed(r)) == [], "the CronJob would get 403 for these"
    used = {(g, r, v) for g, r, v, _ in reads}
    assert sorted(g for g in cluster_wide | in_users if g[:3] not in used) == [], "granted but never read"
