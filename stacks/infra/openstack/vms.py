"""OpenStack `vm` node groups: plain instances (port, boot volume, server) the roles turn into nodes.

For clouds without Magnum, or for machines Magnum cannot make. The instances sit on the
cluster network with no floating IP; their security group admits the cluster network and ssh
from the admin ranges (through the bastion).
"""
from __future__ import annotations

import pulumi
import pulumi_openstack as openstack

from stacks.config.model import EnvironmentConfig


def vm_rules(cfg: EnvironmentConfig) -> list[dict]:
    """Ingress rules of the VM security group (egress stays open for packages and joining)."""
    os_cfg = cfg.openstack
    assert os_cfg is not None
    rules = [{"direction": "ingress", "ethertype": "IPv4", "remote_ip_prefix": os_cfg.network_cidr,
              "description": "cluster network (kubelet, CNI, node exporter)"}]
    for cidr in os_cfg.admin_cidrs:
        rules.append({"direction": "ingress", "ethertype": "IPv6" if ":" in cidr else "IPv4", "protocol": "tcp",
                      "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": cidr,
                      "description": "ssh from the admin ranges"})
    return rules


class OpenStackVms(pulumi.ComponentResource):
    """Every VM of every `nodes.vmGroups` entry; `addresses` maps a group to its fixed IPs."""

    def __init__(self, name: str, cfg: EnvironmentConfig, network_id: pulumi.Input[str], subnet_id: pulumi.Input[str],
                 provider: pulumi.ProviderResource, depends_on: list[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("swan:infra:OpenStackVms", name, None, opts)
        os_cfg = cfg.openstack
        assert os_cfg is not None
        here = pulumi.ResourceOptions(parent=self, provider=provider)
        group_sg = openstack.networking.SecGroup(
            "vm-secgroup", name=f"{os_cfg.cluster_name}-vm-nodes", description="SWAN VM nodes",
            delete_default_rules=False, opts=here)
        for i, rule in enumerate(vm_rules(cfg)):
            openstack.networking.SecGroupRule(f"vm-rule-{i}", security_group_id=group_sg.id, **rule, opts=here)
        self.addresses: dict[str, pulumi.Output[list[str]]] = {}
        for group in cfg.nodes.vm_groups:
            addresses = []
            for index in range(group.count):
                vm = f"{os_cfg.cluster_name}-{group.name}-{index}"
                port = openstack.networking.Port(
                    f"{group.name}-{index}-port", name=vm, network_id=network_id, admin_state_up=True,
                    fixed_ips=[{"subnet_id": subnet_id}], security_group_ids=[group_sg.id], opts=here)
                volume = openstack.blockstorage.Volume(
                    f"{group.name}-{index}-boot", name=f"{vm}-boot", size=group.volume_gb, image_id=group.image,
                    opts=here)
                openstack.compute.Instance(
                    f"{group.name}-{index}", name=vm, flavor_name=group.flavor, key_pair=os_cfg.keypair,
                    networks=[{"port": port.id}],
                    block_devices=[{"uuid": volume.id, "source_type": "volume", "destination_type": "volume",
                                    "boot_index": 0, "delete_on_termination": True}],
                    metadata={"swan-node-group": group.name},
                    opts=pulumi.ResourceOptions.merge(here, pulumi.ResourceOptions(depends_on=depends_on)))
                addresses.append(port.all_fixed_ips.apply(lambda ips: ips[0] if ips else ""))
            self.addresses[group.name] = pulumi.Output.all(*addresses)
        self.register_outputs({"addresses": self.addresses})
