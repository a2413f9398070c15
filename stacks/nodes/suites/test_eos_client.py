"""eos_client: keytab, one fuse configuration and autofs entry per declared instance."""
import json

import pytest


def test_keytab_is_root_only(host, declared):
    keytab = host.file(declared["eos_client_keytab_path"])
    assert keytab.is_file
    assert keytab.user == "root"
    assert keytab.mode == 0o400
    assert keytab.size > 0


def test_fuse_configuration_per_instance(host, declared):
    for instance in declared["eos_client_instances"]:
        config = json.loads(host.file(f"/etc/eos/fuse.{instance['name']}.conf").content_string)
        assert config["name"] == instance["name"]
        assert config["hostport"] == instance["mgm"]
        assert config["remotemountdir"] == instance["remote_path"]
        assert config["localmountdir"] == f"{declared['eos_client_mount_root']}/{instance['name']}"
        assert config["auth"]["ssskeytab"] == declared["eos_client_keytab_path"]


def test_no_undeclared_instances(host, declared):
    present = set(host.check_output("ls /etc/eos").split())
    assert {p for p in present if p.startswith("fuse.")} == {f"fuse.{i['name']}.conf" for i in declared["eos_client_instances"]}


def test_autofs_map(host, declared):
    root = declared["eos_client_mount_root"]
    assert f"{root} /etc/auto.eos" in host.file("/etc/auto.master.d/eos.autofs").content_string
    lines = [l for l in host.file("/etc/auto.eos").content_string.splitlines() if l and not l.startswith("#")]
    assert lines == [f"{i['name']} -fstype=eosx,fsname={i['name']} :eosxd" for i in declared["eos_client_instances"]]
    if declared["eos_client_start_autofs"]:  # false only on test hosts whose kernel has no autofs
        assert host.service("autofs").is_running


def test_fuse_client_installed(host, declared):
    if not declared["eos_client_install_packages"]:
        pytest.skip("eos_client_install_packages is false: eos-fusex not installed")
    for package in declared["eos_client_packages"]:
        assert host.package(package).is_installed
