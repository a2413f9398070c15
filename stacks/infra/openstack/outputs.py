"""What an OpenStack environment exports, beside what every environment does (`stacks.stack_outputs`)."""
from __future__ import annotations

from typing import Literal

from stacks.stack_outputs import EnvironmentOutputs, StackOutputs


class MagnumClusterOutputs(StackOutputs):
    """The fields of `stacks.infra.openstack.pool.MagnumClusterRef`: event stacks rebuild it from these."""

    cluster_id: str


class Outputs(EnvironmentOutputs, MagnumClusterOutputs):
    cloud: Literal["openstack"]
    region: str | None = None
    """Event stacks (their OpenStack provider); unset: the provider's own."""
    node_labeler_image: str
    """Event stacks (their node labeler DaemonSet)."""
    bastion_address: str | None = None
    """With a bastion: operators (ssh)."""
    vm_addresses: dict[str, list[str]] | None = None
    """With `swan:nodes.vmGroups`: the VMs' fixed addresses per group; operators (ssh through the bastion)."""
