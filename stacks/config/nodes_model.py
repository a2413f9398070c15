"""Machines that are not managed Kubernetes nodes, configured by the Ansible roles under roles/.

Two modes: `static` hosts are servers that already exist (a GPU box in the machine room),
`vmGroups` are plain OpenStack instances the stack creates (clouds without Magnum). Both are
turned into Kubernetes nodes by the roles, applied from `pulumi up` through ansible-runner and
by `swan nodes apply STACK`.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from stacks.config.types import HostAddress, Model, Name, NodeGpu, SecretValue, unique_names

# Roles of playbooks/site.yml besides `common`, which every host gets.
RoleName = Literal["cvmfs_client", "eos_client", "nvidia_gpu", "k8s_node", "node_exporter"]
DEFAULT_ROLES: list[str] = ["cvmfs_client", "k8s_node", "node_exporter"]


class NodeMachine(Model):
    """What static hosts and VM groups share: roles and an optional GPU."""

    roles: list[RoleName] = Field(default_factory=lambda: list(DEFAULT_ROLES))
    """Ansible roles applied besides `common` (which every host
    gets); `nvidia_gpu` is added for a host with a GPU."""
    gpu: NodeGpu | None = None
    """The GPUs of the host: adds the nvidia_gpu role, which applies the MIG layout on the host."""

    @field_validator("gpu")
    @classmethod
    def _no_sharing_on_hosts(cls, gpu: NodeGpu | None) -> NodeGpu | None:
        if gpu is not None and gpu.sharing is not None:
            raise ValueError("sharing is for node pools (the gpu-operator's device plugin reads the node label); "
                             "a host's GPUs are configured by the nvidia_gpu role, which does not share them")
        return gpu

    @property
    def all_roles(self) -> list[str]:
        """The roles applied: the declared ones, plus `nvidia_gpu` for a host with a GPU."""
        return list(dict.fromkeys([*self.roles, *(["nvidia_gpu"] if self.gpu else [])]))


class StaticHost(NodeMachine):
    name: Name
    """Host name in the inventory (unique among static hosts and VM groups)."""
    address: HostAddress
    """IP address or DNS name Ansible connects to."""
    user: str = "root"
    """ssh user Ansible connects as."""
    port: int = Field(22, ge=1, le=65535)
    """ssh port."""


class VmGroup(NodeMachine):
    """OpenStack instances with a port on the cluster network and a boot volume."""

    name: Name
    """Group name (unique among static hosts and VM groups): instances
    are `<clusterName>-<name>-<n>`, inventory hosts `<name>-<n>`."""
    count: int = Field(1, ge=1, le=100)
    """Instances in the group (1-100)."""
    flavor: str
    """OpenStack flavor of the instances."""
    image: str
    """Glance image the boot volumes are created from (passed as the volume's image id)."""
    volume_gb: int = Field(50, ge=10)
    """Boot volume size in GB (at least 10)."""
    user: str = "debian"
    """ssh user Ansible connects as (port 22)."""


class Join(Model):
    """`kubeadm join` of the k8s_node role: the API endpoint, a bootstrap token, the CA hash."""

    address: str = Field(pattern=r"^[A-Za-z0-9.-]+:[0-9]+$")
    """API server endpoint the hosts join, host:port (e.g. 10.100.0.10:6443)."""
    token: SecretValue
    """kubeadm bootstrap token (a Pulumi secret)."""
    ca_cert_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    """Hash of the cluster CA's public key, `sha256:<64 hex digits>` (kubeadm's --discovery-token-ca-cert-hash)."""


class Nodes(Model):
    static: list[StaticHost] = []
    """Servers that already exist (e.g. a GPU box in the machine room), configured in place."""
    vm_groups: list[VmGroup] = []
    """Plain OpenStack instances the stack creates and configures (cloud: openstack only)."""
    join: Join | None = None
    """How hosts with the k8s_node role join the cluster (`kubeadm join`); required when one has that role."""
    install_packages: bool = True
    """Install packages from the vendor repositories (CERN, NVIDIA,
    Kubernetes) and set up GPU hardware; off only for test hosts."""
    ssh_key_file: str | None = None
    """Private key file Ansible connects with; unset: the ssh agent."""

    @model_validator(mode="after")
    def _consistent(self) -> "Nodes":
        unique_names([m.name for m in self.machines], "static host and vmGroup")
        if self.join is None and any("k8s_node" in m.roles for m in self.machines):
            raise ValueError("join (address, token, caCertHash) is required for hosts with the k8s_node role")
        return self

    @property
    def machines(self) -> list[NodeMachine]:
        return [*self.static, *self.vm_groups]
