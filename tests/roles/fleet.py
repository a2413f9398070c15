"""The test fleet: one fresh host per role with the variables the tests declare, and
the steps those variables switch off (because this machine cannot reach or emulate them)."""
from __future__ import annotations

from pathlib import Path

# The test hosts share this machine's kernel: autofs can only start where the kernel serves it.
KERNEL_AUTOFS = "autofs" in Path("/proc/filesystems").read_text()

# The kind of output `swan gpu pack` produces: two named layouts for A100-40GB.
PLANNED_MIG_CONFIG = {
    "version": "v1",
    "mig-configs": {
        "all-disabled": [{"devices": "all", "mig-enabled": False}],
        "swan-event-a": [{"devices": [0, 1, 2, 3], "mig-enabled": True, "mig-devices": {"1g.5gb": 7}},
                         {"devices": [4, 5], "mig-enabled": True, "mig-devices": {"3g.20gb": 2}}],
    },
}

# Two fresh hosts, each role on exactly one of them (so every role's first run meets a
# host it has never touched) and `common` on both, as site.yml does for every node.
# node-a looks like a storage-client node, node-b like a GPU Kubernetes node.
FLEET = {
    "node-a": (["cvmfs_client", "eos_client", "node_exporter"], {
        "common_ntp_pools": ["0.debian.pool.ntp.org", "1.debian.pool.ntp.org"],
        "common_ntp_servers": ["ntp.example.org"],
        "cvmfs_client_install_packages": False,
        "cvmfs_client_repositories": ["sft.cern.ch", "sw.hsf.org"],
        "cvmfs_client_http_proxy": "http://squid.example.org:3128",
        "cvmfs_client_quota_limit_mb": 5000,
        "cvmfs_client_start_autofs": KERNEL_AUTOFS,
        "eos_client_start_autofs": KERNEL_AUTOFS,
        "eos_client_install_packages": False,
        "eos_client_instances": [
            {"name": "user", "mgm": "eosuser.example.org", "remote_path": "/eos/user/"},
            {"name": "project", "mgm": "eosproject.example.org:1094", "remote_path": "/eos/project/"}],
        "eos_client_keytab": "0 u:daemon g:daemon n:swan N:1 c:1 e:0 f:0 k:" + "ab" * 32 + "\n",
        "node_exporter_listen_address": ":9100",
        "node_exporter_collectors_enabled": ["systemd", "processes"],
    }),
    "node-b": (["k8s_node", "nvidia_gpu"], {
        "common_ssh_permit_root_login": "prohibit-password",
        "k8s_node_install_packages": False,
        "k8s_node_join": False,
        "nvidia_gpu_install_packages": False,
        "nvidia_gpu_configure_hardware": False,
        "nvidia_gpu_mig_config": PLANNED_MIG_CONFIG,
        "nvidia_gpu_mig_config_selected": "swan-event-a",
    }),
}

ROLE_HOSTS = {"common": ["node-a", "node-b"], "cvmfs_client": ["node-a"], "eos_client": ["node-a"],
              "node_exporter": ["node-a"], "k8s_node": ["node-b"], "nvidia_gpu": ["node-b"]}

# What the switches above leave out, said plainly.
NOT_EXERCISED = {
    "common": ["common: chrony is enabled but not started (a container has no CAP_SYS_TIME)"],
    "cvmfs_client": ["cvmfs_client: CERN apt repository + cvmfs package + cvmfs_config reload/probe "
                     "(cvmfs_client_install_packages: false; CERN is unreachable)"],
    "eos_client": ["eos_client: EOS apt repository + eos-fusex package (eos_client_install_packages: false)"],
    "nvidia_gpu": ["nvidia_gpu: CUDA and container-toolkit repositories + packages (nvidia_gpu_install_packages: false)",
                   "nvidia_gpu: nvidia-persistenced, MIG mode, nvidia-mig-parted apply (nvidia_gpu_configure_hardware: false; no GPU)"],
    "k8s_node": ["k8s_node: pkgs.k8s.io repository + kubelet/kubeadm (k8s_node_install_packages: false)",
                 "k8s_node: kubeadm join (k8s_node_join: false; no control plane)",
                 "k8s_node: live kernel modules/sysctls (systemd skips systemd-modules-load/-sysctl in a container)"],
    "node_exporter": [],
}
if not KERNEL_AUTOFS:
    for _role in ("cvmfs_client", "eos_client"):
        NOT_EXERCISED[_role].append(f"{_role}: autofs started and reloaded ({_role}_start_autofs: false; "
                                    "this machine's kernel has no autofs)")

