"""Helpers shared by the cloud stack suites: renders with dependencies, k8s objects, policy reachability."""
from __future__ import annotations

import ipaddress
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import kubernetes_validate
import yaml

from stacks.render import Rendered, render

PLATFORM = "swan:platform:SwanPlatform::swan"


@dataclass
class StackRender:
    """One offline render on disk, plus which resources each resource waits for (depends_on)."""

    folder: Path
    rendered: Rendered
    dependencies: dict[tuple[str, str], list[tuple[str, str]]]

    @property
    def resources(self) -> list[dict]:
        return json.loads((self.folder / "resources.json").read_text())

    @property
    def outputs(self) -> dict:
        return json.loads((self.folder / "outputs.json").read_text())

    def of_type(self, type_: str) -> list[dict]:
        return [r for r in self.resources if r["type"] == type_]

    def one(self, type_: str, name: str) -> dict:
        (found,) = [r for r in self.resources if r["type"] == type_ and r["name"] == name]
        return found

    def k8s_objects(self) -> dict[str, dict]:
        return {p.name: yaml.safe_load(p.read_text()) for p in sorted((self.folder / "k8s").glob("*.yaml"))}

    def helm(self, release: str) -> dict:
        return yaml.safe_load((self.folder / "helm" / f"{release}.yaml").read_text())


def _type_name(urn: str) -> tuple[str, str]:
    parts = urn.split("::")
    return parts[2].split("$")[-1], parts[3]


@contextmanager
def recording_dependencies():
    """Capture the depends_on of every registration (resources.json does not hold them)."""
    from pulumi.runtime import mocks

    dependencies: dict[tuple[str, str], list[tuple[str, str]]] = {}
    original = mocks.MockMonitor.RegisterResource

    def register(self, request):
        dependencies[(request.type, request.name)] = [_type_name(urn) for urn in request.dependencies]
        return original(self, request)

    mocks.MockMonitor.RegisterResource = register
    try:
        yield dependencies
    finally:
        mocks.MockMonitor.RegisterResource = original


def render_stack(stack: str, out: Path) -> StackRender:
    """The stack rendered with its real charts; a release that could not be templated fails the test."""
    with recording_dependencies() as dependencies:
        folder, rendered = render(stack, out)
    problems = {t.release: t.problem for t in rendered.charts if t.problem}
    assert not problems, f"{stack}: releases not templated with their real chart: {problems}"
    return StackRender(folder, rendered, dependencies)


def under_platform(resource: dict, by_key: dict[str, dict]) -> bool:
    """Whether the resource's parent chain reaches the SwanPlatform component."""
    parent = resource["parent"]
    while parent is not None:
        if parent == PLATFORM:
            return True
        parent = by_key[parent]["parent"]
    return False


def platform_resources(resources: list[dict]) -> dict[tuple[str, str], dict]:
    by_key = {f"{r['type']}::{r['name']}": r for r in resources}
    return {(r["type"], r["name"]): r for r in resources if under_platform(r, by_key)}


# API groups of custom resources the stacks declare, and what brings their CRDs.
CRD_SOURCES = {
    "cert-manager.io": "helm release cert-manager (crds.enabled)",
    "monitoring.coreos.com": "kube-prometheus-stack, a documented prerequisite when monitoring is enabled",
}


def schema_failures(render_: StackRender, version: str) -> dict[str, str]:
    """Every k8s/ object against the strict schema of `version`; custom resources are checked
    for a known CRD source instead (kubernetes-validate has no schema for them)."""
    failures = {}
    releases = {p.stem: yaml.safe_load(p.read_text()) for p in (render_.folder / "helm").glob("*.yaml")}
    for name, obj in render_.k8s_objects().items():
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        if "." in group and not group.endswith(".k8s.io"):
            if group not in CRD_SOURCES:
                failures[name] = f"custom resource of unknown API group {group}"
            elif group == "cert-manager.io" and not (
                    "cert-manager" in releases and releases["cert-manager"]["values"]["crds"]["enabled"]):
                failures[name] = "ClusterIssuer without a cert-manager release installing its CRDs"
            elif not isinstance(obj.get("spec"), dict) or not obj["metadata"].get("name"):
                failures[name] = "custom resource without metadata.name or spec"
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures[name] = exc.message
    return failures


def egress_allowed(policies: list[dict], labels: dict[str, str], ip: str, port: int) -> bool:
    """Would any egress rule of these NetworkPolicy specs let a pod with `labels` reach ip:port?
    An IPv6 address matches only IPv6 blocks, as in Kubernetes."""
    address = ipaddress.ip_address(ip)
    for spec in policies:
        match = spec["podSelector"].get("matchLabels", {})
        if any(labels.get(k) != v for k, v in match.items()):
            continue
        for rule in spec.get("egress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            if not rule.get("to"):
                return True  # no peers: every destination
            for peer in rule["to"]:
                block = peer.get("ipBlock")
                if not block:
                    continue
                network = ipaddress.ip_network(block["cidr"])
                if network.version == address.version and address in network and not any(
                        address in ipaddress.ip_network(e) for e in block.get("except", [])
                        if ipaddress.ip_network(e).version == address.version):
                    return True
    return False


def user_pod_policies(render_: StackRender, user_namespace: str) -> list[dict]:
    return [o["spec"] for o in render_.k8s_objects().values()
            if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == user_namespace]
