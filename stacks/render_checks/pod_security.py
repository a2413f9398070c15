"""Does a pod template meet a Pod Security Standards level (`baseline`, `restricted`)?

Pod Security Admission refuses, at creation, a pod its namespace's `enforce` level does not allow;
for a DaemonSet or Deployment that means no pod at all, and only the controller's events say why.
The rules are those of the Kubernetes documentation's Pod Security Standards (policy version
`latest` for Kubernetes 1.31, which the namespaces' `enforce-version: latest` applies), written
out here because the admission plugin itself (Go, k8s.io/pod-security-admission) cannot run on
the development machines; `privileged` allows everything.
"""
from __future__ import annotations

LEVELS = ("privileged", "baseline", "restricted")

BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}


def _containers(spec: dict) -> list[dict]:
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or []),
            *(spec.get("ephemeralContainers") or [])]


def _baseline(spec: dict) -> list[str]:
    problems = []
    pod_sc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field}: true")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            problems.append(f"volume {volume.get('name')}: hostPath")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl.get('name')} is not a safe one")
    contexts = [("pod", pod_sc), *((f"container {c.get('name')}", c.get("securityContext") or {})
                                   for c in _containers(spec))]
    for where, sc in contexts:
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"{where}: windowsOptions.hostProcess")
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{where}: seccompProfile Unconfined")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{where}: appArmorProfile Unconfined")
        selinux = sc.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            problems.append(f"{where}: seLinuxOptions {selinux}")
    for container in _containers(spec):
        name, sc = container.get("name"), container.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"container {name}: privileged")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"container {name}: procMount {sc['procMount']}")
        added = set((sc.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            problems.append(f"container {name}: adds capabilities {sorted(added)}")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            problems.append(f"container {name}: hostPort")
    return problems


def _restricted(spec: dict) -> list[str]:
    problems = []
    pod_sc = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume.get('name')}: type {sorted(kinds - RESTRICTED_VOLUMES)}")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod: runAsUser 0")
    for container in _containers(spec):
        name, sc = container.get("name"), container.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"container {name}: allowPrivilegeEscalation must be false")
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"container {name}: runAsNonRoot must be true (pod or container)")
        if sc.get("runAsUser") == 0:
            problems.append(f"container {name}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"container {name}: seccompProfile must be RuntimeDefault or Localhost (pod or container)")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"container {name}: capabilities must drop ALL")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"container {name}: adds capabilities {sorted(added)} (restricted: NET_BIND_SERVICE only)")
    return problems


def pod_security_problems(pod_spec: dict, level: str) -> list[str]:
    """What keeps a pod with `pod_spec` out of a namespace enforcing `level`; empty when it is allowed."""
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r}; one of {', '.join(LEVELS)}")
    if level == "privileged":
        return []
    problems = _baseline(pod_spec)
    if level == "restricted":
        problems += _restricted(pod_spec)
    return problems
