"""common: time sync, sshd hardening, unattended security upgrades."""
import pytest


def test_chrony_installed_and_enabled(host):
    assert host.package("chrony").is_installed
    assert host.service("chrony").is_enabled


def test_chrony_uses_declared_sources(host, declared):
    config = host.file("/etc/chrony/chrony.conf").content_string
    for pool in declared["common_ntp_pools"]:
        assert f"pool {pool} iburst" in config
    for server in declared["common_ntp_servers"]:
        assert f"server {server} iburst" in config


def test_chrony_running(host, in_container):
    if in_container:
        pytest.skip("container: no CAP_SYS_TIME, the clock belongs to the machine")
    assert host.service("chrony").is_running


def _sshd_effective(host) -> dict:
    out = host.check_output("sshd -T -C user=root,host=localhost,addr=127.0.0.1")
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def test_sshd_refuses_passwords(host):
    effective = _sshd_effective(host)
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["permitemptypasswords"] == "no"


def test_sshd_root_needs_a_key(host, declared):
    expected = {"prohibit-password": "without-password", "no": "no"}[declared["common_ssh_permit_root_login"]]
    assert _sshd_effective(host)["permitrootlogin"] == expected


def test_sshd_running(host):
    assert host.service("ssh").is_running


def test_unattended_upgrades_on(host):
    assert host.package("unattended-upgrades").is_installed
    dump = host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    assert 'APT::Periodic::Update-Package-Lists "1";' in dump
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_unattended_upgrades_security_only(host, declared):
    dump = host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    origins = [line.split(" ", 1)[1].strip('";') for line in dump.splitlines()
               if line.startswith("Unattended-Upgrade::Origins-Pattern:: ")]
    assert origins == declared["common_unattended_origins"]
