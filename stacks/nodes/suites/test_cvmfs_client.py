"""cvmfs_client: client configuration, cache, user, autofs map (and the client itself
when the package is installed)."""
import pytest


def _settings(host) -> dict:
    text = host.file("/etc/cvmfs/default.local").content_string
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_client_configuration(host, declared):
    settings = _settings(host)
    assert settings["CVMFS_REPOSITORIES"].split(",") == declared["cvmfs_client_repositories"]
    assert settings["CVMFS_HTTP_PROXY"].strip('"') == declared["cvmfs_client_http_proxy"]
    assert int(settings["CVMFS_QUOTA_LIMIT"]) == declared["cvmfs_client_quota_limit_mb"]
    assert settings["CVMFS_CACHE_BASE"] == declared["cvmfs_client_cache_base"]


def test_cache_owned_by_cvmfs_user(host, declared):
    assert host.user("cvmfs").exists
    cache = host.file(declared["cvmfs_client_cache_base"])
    assert cache.is_directory
    assert cache.user == "cvmfs"
    assert cache.mode == 0o700


def test_autofs_serves_the_mount_root(host, declared):
    entry = host.file("/etc/auto.master.d/cvmfs.autofs").content_string
    assert f"{declared['cvmfs_client_mount_root']} program:/etc/auto.cvmfs" in entry
    if declared["cvmfs_client_start_autofs"]:  # false only on test hosts whose kernel has no autofs
        assert host.service("autofs").is_running
    assert host.service("autofs").is_enabled


def test_repositories_mount(host, declared):
    if not declared["cvmfs_client_install_packages"]:
        pytest.skip("cvmfs_client_install_packages is false: no cvmfs client to probe")
    assert host.package("cvmfs").is_installed
    host.check_output("cvmfs_config probe " + " ".join(declared["cvmfs_client_repositories"]))
