"""What every cloud module hands to the platform layer (its own module, so that the cloud
modules and the infra package's dispatcher do not import each other)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pulumi


@dataclass
class Infra:
    """What every cloud hands to the platform layer, and its own stack outputs."""

    provider: pulumi.ProviderResource
    kubeconfig: pulumi.Output[str]
    # the cloud's stack outputs, by field name of its model in stacks.stack_outputs (camelCase when exported)
    outputs: dict[str, pulumi.Input] = field(default_factory=dict)
    # fixed addresses of the VMs of each `nodes.vmGroups` entry (OpenStack), for the node roles
    vm_addresses: dict[str, pulumi.Output[list[str]]] = field(default_factory=dict)
