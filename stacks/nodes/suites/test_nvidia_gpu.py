"""nvidia_gpu: mig-parted configuration from the planner, driver, toolkit, MIG mode."""
import pytest
import yaml


def test_mig_parted_config_is_the_declared_one(host, declared):
    written = yaml.safe_load(host.file(declared["nvidia_gpu_mig_config_path"]).content_string)
    assert written == declared["nvidia_gpu_mig_config"]


def test_selected_config_recorded(host, declared):
    folder = declared["nvidia_gpu_mig_config_path"].rsplit("/", 1)[0]
    selected = host.file(f"{folder}/selected").content_string.strip()
    assert selected == declared["nvidia_gpu_mig_config_selected"]
    assert selected in declared["nvidia_gpu_mig_config"]["mig-configs"]


def test_driver_and_toolkit_installed(host, declared):
    if not declared["nvidia_gpu_install_packages"]:
        pytest.skip("nvidia_gpu_install_packages is false: no NVIDIA packages")
    for package in declared["nvidia_gpu_driver_packages"] + declared["nvidia_gpu_toolkit_packages"]:
        assert host.package(package).is_installed


def test_gpus_and_mig_mode(host, declared):
    if not declared["nvidia_gpu_configure_hardware"]:
        pytest.skip("nvidia_gpu_configure_hardware is false: no GPU to check")
    assert host.service("nvidia-persistenced").is_running
    modes = host.check_output("nvidia-smi --query-gpu=mig.mode.current --format=csv,noheader").split()
    expected = "Enabled" if declared["nvidia_gpu_mig_enabled"] else "Disabled"
    assert modes and all(mode == expected for mode in modes)
