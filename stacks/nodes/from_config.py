"""From an environment's config to what the node playbook needs: hosts and role variables.

Pure (no Pulumi, no Ansible run), so the Pulumi resource, `swan nodes apply STACK` and the
tests build the very same inventory.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from stacks.config.model import EnvironmentConfig
from stacks.config.nodes_model import NodeMachine
from stacks.config.types import SECRET_PLACEHOLDER
from stacks.errors import InputError, Problem


def keytab_text(value: str) -> str:
    """The keytab file's text from the stack's value, which is base64 (as the Kubernetes Secret the
    EOS CSI driver mounts takes it); the role writes the file itself. Offline the value is the
    secret placeholder, passed on as it is."""
    if value == SECRET_PLACEHOLDER:
        return value
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InputError(Problem("swan:storage.eos.keytab", "", "must be the keytab file base64-encoded "
                                 "(pulumi config set --secret --path storage.eos.keytab \"$(base64 -w0 eos.keytab)\")"))\
            from None


def _host(name: str, address: str, user: str, port: int, machine: NodeMachine) -> dict:
    host_vars: dict[str, Any] = {}
    if machine.gpu:  # the role applies the layout on the host itself (mig-parted)
        host_vars["nvidia_gpu_mig_config_selected"] = machine.gpu.mig_config
    return {"name": name, "address": address, "user": user, "port": port, "groups": machine.all_roles,
            "vars": host_vars}


def node_hosts(cfg: EnvironmentConfig, vm_addresses: dict[str, list[str]] | None = None) -> list[dict]:
    """Inventory records: every static host, then `<group>-<n>` for each VM of each group."""
    hosts = [_host(h.name, h.address, h.user, h.port, h) for h in cfg.nodes.static]
    for group in cfg.nodes.vm_groups:
        addresses = (vm_addresses or {}).get(group.name, [])
        for index, address in enumerate(addresses):
            hosts.append(_host(f"{group.name}-{index}", address, group.user, 22, group))
    return hosts


def role_vars(cfg: EnvironmentConfig) -> dict[str, Any]:
    """Variables of every role, from the same config the platform uses (repositories, proxy, EOS, join)."""
    nodes, storage = cfg.nodes, cfg.storage
    install = nodes.install_packages
    variables: dict[str, Any] = {
        "cvmfs_client_install_packages": install,
        "cvmfs_client_repositories": list(storage.cvmfs.repositories),
        "cvmfs_client_http_proxy": storage.cvmfs.http_proxy,
        "cvmfs_client_quota_limit_mb": storage.cvmfs.cache_quota_mb,
        "k8s_node_install_packages": install,
        "k8s_node_kubernetes_minor": cfg.kubernetes_version,
        "nvidia_gpu_install_packages": install,
        "nvidia_gpu_configure_hardware": install,
    }
    gpu_models = sorted({m.gpu.model for m in nodes.machines if m.gpu})
    if gpu_models:
        from stacks.planner.mig_parted import catalog

        variables["nvidia_gpu_mig_config"] = catalog(gpu_models)
    if storage.eos.enabled:
        variables.update({
            "eos_client_install_packages": install,
            "eos_client_instances": [{"name": i.name, "mgm": i.host, "remote_path": i.mount_dir}
                                     for i in storage.eos.instances],
            "eos_client_keytab": keytab_text(str(storage.eos.keytab)),
        })
    if nodes.join:
        variables.update({"k8s_node_join": True, "k8s_node_join_address": nodes.join.address,
                          "k8s_node_join_token": str(nodes.join.token),
                          "k8s_node_join_ca_cert_hash": nodes.join.ca_cert_hash})
    if nodes.ssh_key_file:
        variables["ansible_ssh_private_key_file"] = nodes.ssh_key_file
    return variables

