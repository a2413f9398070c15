"""Infrastructure layer: one module per cloud, each yielding a Kubernetes provider for the platform.

Cloud modules are imported only when their cloud is selected: provider SDKs are slow to import.
"""
from __future__ import annotations

from stacks.config.model import EnvironmentConfig
from stacks.infra.base import Infra

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
