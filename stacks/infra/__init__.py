"""Infrastructure layer: one module per cloud, each yielding a Kubernetes provider for the platform.

Cloud modules are imported only when their cloud is selected: provider SDKs are slow to import.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from stacks.config.model import EnvironmentConfig


@dataclass
class Infra:
    """What every cloud hands to the platform layer and exports for event stacks."""

    provider: pulumi.ProviderResource
    kubeconfig: pulumi.Output[str]
    outputs: dict[str, pulumi.Input] = field(default_factory=dict)
    # fixed addresses of the VMs of each `nodes.vmGroups` entry (OpenStack), for the node roles
    vm_addresses: dict[str, pulumi.Output[list[str]]] = field(default_factory=dict)


# StorageClasses each cloud's clusters bring themselves (the render does not show them): kind's
# local-path `standard` and OKE's block-volume `oci-bv`, both the default class. Magnum brings none;
# the OpenStack infra creates its default class (`swan-cinder`) when Cinder CSI is enabled.
CLUSTER_STORAGE_CLASSES: dict[str, set[str]] = {"kind": {"standard"}, "oci": {"oci-bv"}, "openstack": set()}


def build_infra(cfg: EnvironmentConfig) -> Infra:
    if cfg.cloud == "kind":
        from stacks.infra.kind import build
    elif cfg.cloud == "openstack":
        from stacks.infra.openstack import build  # type: ignore[no-redef]
    else:
        from stacks.infra.oci import build  # type: ignore[no-redef]
    return build(cfg)
