"""Namespaces of the service, each with Pod Security Admission labels.

Levels follow what runs there: the hub namespace hosts the CSI node plugins of the swan chart
(privileged, host mounts), users get `baseline` (the SWAN image runs as root, so `restricted`
is only warned about), Spark executors likewise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from stacks.platform_layer.k8s import child, meta


def psa_labels(enforce: str, warn: str = "restricted") -> dict[str, str]:
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": warn,
        "pod-security.kubernetes.io/audit": warn,
    }


@dataclass
class NamespacesArgs:
    levels: dict[str, str]  # namespace -> PSA enforce level
    provider: pulumi.ProviderResource
    extra_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    # Namespaces whose deletion would delete data Pulumi does not own (the chart's hub database claim,
    # the spawner's home volume claims): `protect`ed, so `pulumi destroy` or a replacement stops first.
    protected: frozenset[str] = frozenset()


class Namespaces(pulumi.ComponentResource):
    """Creates every namespace up front so later components can depend on them."""

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:platform:Namespaces", name, None, opts)
        self.by_name: dict[str, k8s.core.v1.Namespace] = {}
        for ns, level in sorted(args.levels.items()):
            labels = {**psa_labels(level), **args.extra_labels.get(ns, {})}
            self.by_name[ns] = k8s.core.v1.Namespace(
                f"ns-{ns}", metadata=meta(ns, labels=labels), opts=pulumi.ResourceOptions.merge(
                    child(self, args.provider), pulumi.ResourceOptions(protect=ns in args.protected or None))
            )
        self.register_outputs({"namespaces": sorted(self.by_name)})
