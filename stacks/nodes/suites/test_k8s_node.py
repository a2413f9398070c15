"""k8s_node: kernel modules and sysctls, containerd with systemd cgroups, kubelet/kubeadm."""
import pytest


def _sysctl_file(host) -> dict:
    text = host.file("/etc/sysctl.d/90-kubernetes.conf").content_string
    return {k.strip(): v.strip() for k, v in (l.split("=", 1) for l in text.splitlines() if "=" in l and not l.startswith("#"))}


def test_modules_loaded_at_boot(host, declared):
    lines = host.file("/etc/modules-load.d/kubernetes.conf").content_string.splitlines()
    assert [l.strip() for l in lines if l.strip() and not l.startswith("#")] == declared["k8s_node_kernel_modules"]


def test_sysctls_set_at_boot(host, declared):
    assert _sysctl_file(host) == {k: str(v) for k, v in declared["k8s_node_sysctls"].items()}


def test_kernel_is_live(host, declared, in_container):
    if in_container:
        pytest.skip("container: modules and sysctls belong to the machine's kernel")
    loaded = {line.split()[0] for line in host.file("/proc/modules").content_string.splitlines()}
    assert set(declared["k8s_node_kernel_modules"]) <= loaded
    for key, value in declared["k8s_node_sysctls"].items():
        assert host.sysctl(key) == int(value)


def test_no_swap(host):
    assert len(host.file("/proc/swaps").content_string.strip().splitlines()) == 1


def test_containerd_uses_systemd_cgroups(host, declared):
    assert host.service("containerd").is_running
    assert host.service("containerd").is_enabled
    effective = host.check_output("containerd config dump")
    assert "SystemdCgroup = true" in effective
    assert f'sandbox_image = "{declared["k8s_node_sandbox_image"]}"' in effective


def test_kubernetes_packages_held(host, declared):
    if not declared["k8s_node_install_packages"]:
        pytest.skip("k8s_node_install_packages is false: no kubelet/kubeadm")
    held = host.check_output("apt-mark showhold").split()
    for package in declared["k8s_node_packages"]:
        assert host.package(package).is_installed
        assert package in held


def test_joined(host, declared):
    if not declared["k8s_node_join"]:
        pytest.skip("k8s_node_join is false: node not joined to a cluster")
    assert host.file("/etc/kubernetes/kubelet.conf").exists
    assert host.service("kubelet").is_running
