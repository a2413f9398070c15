"""The optional in-cluster events reconciler: the CronJob manifest is what the API server accepts
(strict schema of the cluster's Kubernetes version), its identity has no rights and no token, its
secrets come from a Secret, and the image it runs is the one images/ builds with the entry point the
manifest names. The image itself is not built here (no Docker engine); its Dockerfile is linted by
tests/images like every other."""
from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from stacks.verify.images import image_ref_problems, load_matrix

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "deploy" / "events-reconciler.yaml"
DOCS = list(yaml.safe_load_all(MANIFEST.read_text()))
KUBERNETES = "1.31"   # the stacks' swan:kubernetesVersion


def by_kind(kind: str) -> dict:
    [doc] = [d for d in DOCS if d["kind"] == kind]
    return doc


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d["kind"])
def test_the_manifest_passes_the_strict_kubernetes_schema(doc):
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_strict_schema_refuses_a_misspelt_field():
    cronjob = yaml.safe_load(yaml.safe_dump(by_kind("CronJob")))
    cronjob["spec"]["concurencyPolicy"] = cronjob["spec"].pop("concurrencyPolicy")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, KUBERNETES, strict=True)


def test_the_reconciler_has_no_kubernetes_rights_and_no_token():
    assert {d["kind"] for d in DOCS} == {"ServiceAccount", "CronJob"}, "no Role, RoleBinding or ClusterRole"
    account = by_kind("ServiceAccount")
    pod = by_kind("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert account["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is False


def test_the_reconciler_runs_unprivileged_with_its_secrets_from_a_secret():
    pod = by_kind("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]
    assert container["envFrom"] == [{"secretRef": {"name": "swan-events-reconciler"}}]
    assert not [e for e in container.get("env", []) if "value" in e and "TOKEN" in e["name"]]


def test_the_manifest_runs_the_image_images_builds_with_its_entry_point():
    container = by_kind("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert image_ref_problems([container["image"]]) == []
    [build] = [b for b in load_matrix().builds if container["image"] == b.ref]
    dockerfile = (REPO / build.dockerfile).read_text()
    entry = container["args"][0]
    assert f"COPY images/events-reconciler/{entry} /usr/local/bin/{entry}" in dockerfile
    assert (REPO / "images/events-reconciler" / entry).is_file()
