"""Infrastructure layer: one package per cloud (stacks/infra/<cloud>/), each yielding a Kubernetes provider for the platform.

The clouds are registered in `stacks.infra.clouds` (`CLOUDS`, `cloud_of`). Cloud modules are imported
only when their cloud is selected: provider SDKs are slow to import.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from stacks.infra.clouds import CLOUDS, cloud_of

if TYPE_CHECKING:
    from stacks.config.model import EnvironmentConfig
    from stacks.infra.base import Infra

# StorageClasses each cloud's clusters bring themselves (the render does not show them), by cloud name.
CLUSTER_STORAGE_CLASSES: dict[str, set[str]] = {c.name: set(c.storage_classes) for c in CLOUDS.values()}


def build_infra(cfg: EnvironmentConfig) -> Infra:
    return cloud_of(cfg).build(cfg)
