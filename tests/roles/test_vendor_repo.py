"""The internal vendor_repo role, through the roles that include it, on a fresh disposable
host: the real vendor repositories are unreachable here, so the test builds signed local
ones (file:// URIs, a key of its own) in both layouts the roles use, a flat one (NVIDIA,
pkgs.k8s.io: Suites "/") and one with a suite and components (CERN), and checks the files
the role writes byte for byte, the packages installed, and that a second run changes nothing."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from email.utils import formatdate
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import KERNEL_AUTOFS  # noqa: E402
from stacks.nodes import apply_playbook, build_inventory  # noqa: E402

pytestmark = pytest.mark.hosts

REPO_ROOT = "/srv/swan-test-repo"  # inside the host
ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} missing on this machine (gpg: Debian package gpg; dpkg-deb: dpkg)"
    return path


def build_deb(pool: Path, package: str) -> Path:
    """A tiny Architecture: all package holding /usr/share/swan-test/<package>."""
    tree = Path(tempfile.mkdtemp(prefix="swan-test-deb-"))
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 1.0\nArchitecture: all\nMaintainer: swan-iac tests <tests@example.invalid>\n"
        f"Description: swan-iac vendor_repo test package\n")
    (tree / "usr" / "share" / "swan-test").mkdir(parents=True)
    (tree / "usr" / "share" / "swan-test" / package).write_text(f"{package}\n")
    pool.mkdir(parents=True, exist_ok=True)
    deb = pool / f"{package}_1.0_all.deb"
    subprocess.run([_tool("dpkg-deb"), "--root-owner-group", "--build", str(tree), str(deb)],
                   check=True, capture_output=True)
    shutil.rmtree(tree)
    return deb


def packages_stanza(deb: Path, filename: str) -> str:
    data = deb.read_bytes()
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True).stdout
    return (control.rstrip("\n") + f"\nFilename: {filename}\nSize: {len(data)}\n"
            f"SHA256: {hashlib.sha256(data).hexdigest()}\n\n")


def sign_release(folder: Path, fields: str, indexes: list[str], gnupg: dict) -> None:
    """Release (hashes of the indexes) and InRelease (clear-signed), as apt wants them."""
    lines = [f"Date: {formatdate(usegmt=True)}", fields.rstrip("\n"), "SHA256:"]
    for index in indexes:
        data = (folder / index).read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {index}")
    (folder / "Release").write_text("\n".join(line for line in lines if line) + "\n")
    subprocess.run([_tool("gpg"), "--batch", "--yes", "--clearsign", "--digest-algo", "SHA256",
                    "-o", str(folder / "InRelease"), str(folder / "Release")], check=True, capture_output=True, env=gnupg)


def build_repositories(root: Path) -> Path:
    """root/key.asc, root/flat-driver and root/flat-toolkit (flat), root/cern-like
    (dists/bookworm-prod/main), each signed with a fresh key."""
    home = root.parent / "gnupg"
    home.mkdir(mode=0o700)
    gnupg = {**os.environ, "GNUPGHOME": str(home)}
    try:
        subprocess.run([_tool("gpg"), "--batch", "--passphrase", "", "--quick-generate-key",
                        "swan-iac test repository <tests@example.invalid>", "ed25519", "sign", "never"],
                       check=True, capture_output=True, env=gnupg)
        key = subprocess.run(["gpg", "--armor", "--export"], check=True, capture_output=True, env=gnupg).stdout
        root.mkdir()
        (root / "key.asc").write_bytes(key)
        for name, package in (("flat-driver", "swan-test-driver"), ("flat-toolkit", "swan-test-toolkit")):
            deb = build_deb(root / name / "pool", package)
            (root / name / "Packages").write_text(packages_stanza(deb, f"./pool/{deb.name}"))
            sign_release(root / name, "", ["Packages"], gnupg)
        cern = root / "cern-like"
        deb = build_deb(cern / "pool" / "main", "swan-test-eos")
        index = cern / "dists" / "bookworm-prod" / "main" / f"binary-{ARCH}"
        index.mkdir(parents=True)
        (index / "Packages").write_text(packages_stanza(deb, f"pool/main/{deb.name}"))
        sign_release(cern / "dists" / "bookworm-prod",
                     f"Suite: bookworm-prod\nCodename: bookworm-prod\nArchitectures: {ARCH} all\nComponents: main\n",
                     [f"main/binary-{ARCH}/Packages"], gnupg)
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=gnupg, capture_output=True)  # the agent gpg started
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # apt reads file: repositories as _apt
    return root


@pytest.fixture(scope="module")
def vendor_host(lab, tmp_path_factory):
    repo = build_repositories(tmp_path_factory.mktemp("vendor") / "repo")
    host = lab.boot("node-vendor")
    shutil.copytree(repo, host.merged / REPO_ROOT.lstrip("/"))
    return host, repo


def apply_twice(lab, host, role: str, variables: dict):
    inventory = build_inventory([lab.inventory_host(host, [role], variables)])
    first = apply_playbook("role", inventory, extravars={"swan_role": role})
    second = apply_playbook("role", inventory, extravars={"swan_role": role})
    return first, second


def read(lab, host, path: str) -> str:
    done = host.ssh(lab.key, f"cat {path}")
    assert done.returncode == 0, f"{path}: {done.stderr}"
    return done.stdout


def stat(lab, host, path: str) -> str:
    return host.ssh(lab.key, f"stat -c '%U:%G %a' {path}").stdout.strip()


def installed(lab, host, package: str) -> bool:
    done = host.ssh(lab.key, f"dpkg-query -W -f='${{Status}}' {package}")
    return done.stdout.strip() == "install ok installed"


def test_repository_with_suite_and_components_through_eos_client(lab, vendor_host):
    host, repo = vendor_host
    first, second = apply_twice(lab, host, "eos_client", {
        "eos_client_install_packages": True,
        "eos_client_repository": {"name": "swan-test-eos", "uri": f"file://{REPO_ROOT}/cern-like",
                                  "suites": ["bookworm-prod"], "components": ["main"],
                                  "key_url": f"file://{REPO_ROOT}/key.asc"},
        "eos_client_packages": ["swan-test-eos"],
        "eos_client_instances": [{"name": "user", "mgm": "eosuser.example.org", "remote_path": "/eos/user/"}],
        "eos_client_keytab": "0 u:daemon g:daemon n:swan N:1 c:1 e:0 f:0 k:" + "ab" * 32 + "\n",
        "eos_client_start_autofs": KERNEL_AUTOFS,
    })
    assert read(lab, host, "/etc/apt/sources.list.d/swan-test-eos.sources") == (
        "# Ansible managed\n"
        "Types: deb\n"
        f"URIs: file://{REPO_ROOT}/cern-like\n"
        "Suites: bookworm-prod\n"
        "Components: main\n"
        "Signed-By: /etc/apt/keyrings/swan-test-eos.asc\n")
    assert read(lab, host, "/etc/apt/keyrings/swan-test-eos.asc") == (repo / "key.asc").read_text()
    assert stat(lab, host, "/etc/apt/keyrings") == "root:root 755"
    assert stat(lab, host, "/etc/apt/keyrings/swan-test-eos.asc") == "root:root 644"
    assert stat(lab, host, "/etc/apt/sources.list.d/swan-test-eos.sources") == "root:root 644"
    assert installed(lab, host, "swan-test-eos")
    # The steps run inside the internal role, and each changed the fresh host (the keyring
    # folder aside: bookworm's apt ships /etc/apt/keyrings, so that step only checks it).
    vendor_changes = [e.task for e in first.changed_tasks() if e.role == "vendor_repo"]
    assert [task for task in vendor_changes if task != "Create the apt keyring folder"] == [
        "Fetch the signing key of swan-test-eos", "Add the apt repository swan-test-eos",
        "Install the packages from swan-test-eos"]
    assert second.changed == 0, [f"{e.role}: {e.task}" for e in second.changed_tasks()]


def test_two_flat_repositories_through_nvidia_gpu(lab, vendor_host):
    host, repo = vendor_host
    first, second = apply_twice(lab, host, "nvidia_gpu", {
        "nvidia_gpu_install_packages": True,
        "nvidia_gpu_configure_hardware": False,
        "nvidia_gpu_driver_repository": {"name": "swan-test-driver", "uri": f"file://{REPO_ROOT}/flat-driver",
                                         "suites": ["/"], "components": [], "key_url": f"file://{REPO_ROOT}/key.asc"},
        "nvidia_gpu_driver_packages": ["swan-test-driver"],
        # no components key: the documented default (none) applies
        "nvidia_gpu_toolkit_repository": {"name": "swan-test-toolkit", "uri": f"file://{REPO_ROOT}/flat-toolkit",
                                          "suites": ["/"], "key_url": f"file://{REPO_ROOT}/key.asc"},
        "nvidia_gpu_toolkit_packages": ["swan-test-toolkit"],
    })
    for name in ("swan-test-driver", "swan-test-toolkit"):
        assert read(lab, host, f"/etc/apt/sources.list.d/{name}.sources") == (
            "# Ansible managed\n"
            "Types: deb\n"
            f"URIs: file://{REPO_ROOT}/flat-{name.rsplit('-', 1)[1]}\n"
            "Suites: /\n"
            f"Signed-By: /etc/apt/keyrings/{name}.asc\n")
        assert read(lab, host, f"/etc/apt/keyrings/{name}.asc") == (repo / "key.asc").read_text()
        assert installed(lab, host, name)
    changes = [e.task for e in first.changed_tasks() if e.role == "vendor_repo"]
    assert [task for task in changes if task != "Create the apt keyring folder"] == [
        "Fetch the signing key of swan-test-driver", "Add the apt repository swan-test-driver",
        "Install the packages from swan-test-driver",
        "Fetch the signing key of swan-test-toolkit", "Add the apt repository swan-test-toolkit",
        "Install the packages from swan-test-toolkit"]
    assert second.changed == 0, [f"{e.role}: {e.task}" for e in second.changed_tasks()]


def test_the_internal_role_names_a_missing_variable_before_any_change(lab, vendor_host):
    """vendor_repo's own argument_specs: a caller that forgets a variable is told which."""
    from stacks.nodes import PlaybookFailed

    host, _ = vendor_host
    inventory = build_inventory([lab.inventory_host(host)])
    with pytest.raises(PlaybookFailed) as failure:
        apply_playbook("role", inventory, extravars={
            "swan_role": "vendor_repo", "vendor_repo_name": "swan-test-driver", "vendor_repo_suites": ["/"],
            "vendor_repo_key_url": f"file://{REPO_ROOT}/key.asc", "vendor_repo_packages": ["swan-test-driver"]})
    assert failure.value.host == "node-vendor"
    assert "vendor_repo_uri" in failure.value.message
    assert failure.value.run.changed == 0
