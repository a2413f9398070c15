"""Machines that are not managed Kubernetes nodes, configured by the Ansible roles under roles/.

Two modes: `static` hosts are servers that already exist (a GPU box in the machine room),
`vmGroups` are plain OpenStack instances the stack creates (clouds without Magnum). Both are
turned into Kubernetes nodes by the roles, applied from `pulumi up` through ansible-runner and
by `swan nodes apply STACK`.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from stacks.config.types import Model, Name, NodeGpu, SecretValue, unique_names

# Roles of playbooks/site.yml besides `common`, which every host gets.
RoleName = Literal["cvmfs_client", "eos_client", "nvidia_gpu", "k8s_node", "node_exporter"]
DEFAULT_ROLES: list[str] = ["cvmfs_client", "k8s_node", "node_exporter"]


class NodeMachine(Model):
    """What static hosts and VM groups share: roles and an optional GPU."""

    roles: list[RoleName] = Field(default_factory=lambda: list(DEFAULT_ROLES))
    gpu: NodeGpu | None = None

    @property
    def all_roles(self) -> list[str]:
        """The roles applied: the declared ones, plus `nvidia_gpu` for a host with a GPU."""
        return list(dict.fromkeys([*self.roles, *(["nvidia_gpu"] if self.gpu else [])]))


class StaticHost(NodeMachine):
    name: Name
    address: str = Field(min_length=1)
    user: str = "root"
    port: int = Field(22, ge=1, le=65535)


class VmGroup(NodeMachine):
    """OpenStack instances with a port on the cluster network and a boot volume."""

    name: Name
    count: int = Field(1, ge=1, le=100)
    flavor: str
    image: str
    volume_gb: int = Field(50, ge=10)
    user: str = "debian"


class Join(Model):
    """`kubeadm join` of the k8s_node role: the API endpoint, a bootstrap token, the CA hash."""

    address: str = Field(pattern=r"^[A-Za-z0-9.-]+:[0-9]+$")
    token: SecretValue
    ca_cert_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")


class Nodes(Model):
    static: list[StaticHost] = []
    vm_groups: list[VmGroup] = []
    join: Join | None = None
    # Vendor repositories (CERN, NVIDIA, Kubernetes) are installed from; off only for test hosts.
    install_packages: bool = True
    ssh_key_file: str | None = None   # private key Ansible uses (default: the ssh agent)

    @model_validator(mode="after")
    def _consistent(self) -> "Nodes":
        unique_names([m.name for m in self.machines], "static host and vmGroup")
        if self.join is None and any("k8s_node" in m.roles for m in self.machines):
            raise ValueError("join (address, token, caCertHash) is required for hosts with the k8s_node role")
        return self

    @property
    def machines(self) -> list[NodeMachine]:
        return [*self.static, *self.vm_groups]
