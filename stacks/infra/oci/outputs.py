"""What an OCI environment exports, beside what every environment does (`stacks.stack_outputs`)."""
from __future__ import annotations

from typing import Literal

from stacks.stack_outputs import EnvironmentOutputs, StackOutputs


class OkeClusterOutputs(StackOutputs):
    """The fields of `stacks.infra.oci.pool.OkeClusterRef`: event stacks rebuild it from these."""

    cluster_id: str
    compartment_id: str
    kubernetes_version: str
    node_subnet_id: str
    availability_domains: list[str]
    node_image_id: str
    gpu_node_image_id: str
    boot_volume_gb: int
    pods_cidr: str
    ssh_public_key: str | None = None


class Outputs(EnvironmentOutputs, OkeClusterOutputs):
    cloud: Literal["oci"]
    region: str
    """Event stacks (their OCI provider)."""
