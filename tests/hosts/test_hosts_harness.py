"""The harness itself: a booted host is a real systemd machine in its own network
namespace, apt goes through the bridge-only proxy, and leaving the lab removes every
process, namespace, mount and link it created, also after a failure."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from disposable_hosts import lab_session

pytestmark = pytest.mark.hosts


def _footprint(lab) -> dict:
    host = next(iter(lab.hosts.values()))
    return {"pids": [host.pid, host.init_pid, lab.proxy_pid], "netns": host.netns, "mount": str(host.merged),
            "links": [lab.bridge, host.veth], "folder": lab.folder}


def _assert_gone(footprint: dict) -> None:
    for pid in footprint["pids"]:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} still running"
    assert footprint["netns"] not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert footprint["mount"] not in Path("/proc/self/mounts").read_text()
    for link in footprint["links"]:
        assert subprocess.run(["ip", "link", "show", link], capture_output=True).returncode != 0, f"link {link} left"
    assert not footprint["folder"].exists()


def test_booted_host_is_a_systemd_machine_reached_over_ssh():
    with lab_session() as lab:
        host = lab.boot("probe")
        footprint = _footprint(lab)
        assert host.ssh(lab.key, "ps -p 1 -o comm=").stdout.strip() == "systemd"
        assert host.ssh(lab.key, "systemd-detect-virt --container").stdout.strip() == "systemd-nspawn"
        assert host.ssh(lab.key, "hostname").stdout.strip() == "probe"
        # Its own network namespace: the host's address lives there, not on the machine.
        inside = subprocess.run(["ip", "-n", host.netns, "-4", "addr"], capture_output=True, text=True).stdout
        assert host.address in inside
        assert os.readlink(f"/proc/{host.init_pid}/ns/net") != os.readlink("/proc/self/ns/net")
        # apt works through the proxy, which listens on the bridge address only.
        update = host.ssh(lab.key, "apt-get -q update", timeout=180)
        assert update.returncode == 0, update.stderr
        listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
        proxy_sockets = [line.split()[3] for line in listening.splitlines() if f"pid={lab.proxy_pid}," in line]
        assert proxy_sockets == [f"{lab.gateway}:3128"]
    _assert_gone(footprint)


def test_failure_inside_the_lab_still_tears_everything_down():
    footprint = None
    with pytest.raises(RuntimeError, match="test failed on purpose"):
        with lab_session() as lab:
            lab.boot("doomed")
            footprint = _footprint(lab)
            raise RuntimeError("test failed on purpose")
    _assert_gone(footprint)
