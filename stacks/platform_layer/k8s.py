"""Small helpers shared by the platform components: object metadata and child options."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pulumi

from stacks.config.model import EnvironmentConfig

MANAGED_BY = {"app.kubernetes.io/managed-by": "swan-iac"}


@dataclass
class PlatformArgs:
    """What every platform component takes: the config, the cluster's provider, what must exist first."""

    config: EnvironmentConfig
    provider: pulumi.ProviderResource
    depends_on: list[pulumi.Resource] = field(default_factory=list)


def meta(name: str, namespace: str | None = None, labels: dict[str, str] | None = None,
         annotations: dict[str, str] | None = None) -> dict:
    """ObjectMeta with an explicit name (no Pulumi auto-suffix: names are part of the contract)."""
    metadata: dict = {"name": name, "labels": {**MANAGED_BY, **(labels or {})}}
    if namespace:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = annotations
    return metadata


def child(parent: pulumi.Resource, provider: pulumi.ProviderResource | None = None,
          depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
    """Options for a resource owned by a component: parent, provider and ordering in one place."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on) or None)
