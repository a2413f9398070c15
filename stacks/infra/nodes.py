"""Nodes the stack configures with Ansible: static hosts and OpenStack VM groups (`swan:nodes`)."""
from __future__ import annotations

import pulumi

from stacks.config.model import EnvironmentConfig
from stacks.infra.ansible_playbook import AnsiblePlaybook
from stacks.nodes.from_config import node_hosts, role_vars
from stacks.nodes.runner import content_digest

PLAYBOOK = "site"


def inventory(cfg: EnvironmentConfig, vm_addresses: dict[str, list[str]]) -> dict:
    from stacks.nodes.inventory import build_inventory

    return build_inventory(node_hosts(cfg, vm_addresses), {"all": role_vars(cfg)})


class ConfiguredNodes(pulumi.ComponentResource):
    """Applies the roles to every host once the machines exist; re-applies on any change."""

    def __init__(self, name: str, cfg: EnvironmentConfig, vm_addresses: dict[str, pulumi.Output[list[str]]],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:ConfiguredNodes", name, None, opts)
        groups = sorted(vm_addresses)
        addresses = pulumi.Output.all(*(vm_addresses[g] for g in groups)).apply(
            lambda lists: dict(zip(groups, lists)))
        # The inventory carries the join token and the EOS keytab: secret as a whole.
        self.inventory = pulumi.Output.secret(addresses.apply(lambda a: inventory(cfg, a)))
        self.playbook = AnsiblePlaybook("site", PLAYBOOK, self.inventory, content_digest(PLAYBOOK),
                                        pulumi.ResourceOptions(parent=self))
        self.hosts = [h.name for h in cfg.nodes.static] + [
            f"{g.name}-{i}" for g in cfg.nodes.vm_groups for i in range(g.count)]
        self.register_outputs({"hosts": self.hosts})
