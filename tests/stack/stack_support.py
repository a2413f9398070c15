"""Helpers shared by the cloud stack suites: renders with dependencies, k8s objects, policy reachability."""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from stacks.render import Rendered, render
from stacks.render_checks import Address, Pod, allowed, load_render, strict_failures

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


# Custom resources whose CRD is not in any render, and why that is fine.
PREREQUISITES = {"monitoring.coreos.com": "kube-prometheus-stack's CRDs are a documented prerequisite of "
                                          "swan:monitoring (README, Deploying on OpenStack)"}


def schema_failures(render_: StackRender, version: str) -> dict[str, str]:
    """Every object of the render (k8s/ and charts/) against the strict schema of `version`,
    custom resources against their CRD from the render (render_checks.strict_failures)."""
    return strict_failures(load_render(render_.folder), version, PREREQUISITES)


def egress_allowed(policies: list[dict], labels: dict[str, str], ip: str, port: int) -> bool:
    """Would these NetworkPolicy specs (of one namespace) let a pod of that namespace with
    `labels` reach ip:port? render_checks' evaluator; an IPv6 address matches only IPv6 blocks."""
    namespace = "policies"
    objects = [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": f"policy-{i}", "namespace": namespace}, "spec": spec}
               for i, spec in enumerate(policies)]
    return allowed(objects, {namespace: {}}, Pod(namespace, labels), Address(ip), port)


def user_pod_policies(render_: StackRender, user_namespace: str) -> list[dict]:
    return [o["spec"] for o in render_.k8s_objects().values()
            if o["kind"] == "NetworkPolicy" and o["metadata"]["namespace"] == user_namespace]
