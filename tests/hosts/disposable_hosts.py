"""Disposable Debian hosts for role tests: a debootstrap image built once and cached
outside the clone, an overlayfs copy per host, systemd-nspawn with systemd as PID 1 in a
network namespace on a private bridge, sshd with a generated key, apt through a proxy
bound only to the bridge address. Everything is torn down by id (pid, namespace name,
mount point, link name), also when a test fails.

Needs root, debootstrap, iproute2, tinyproxy, ssh; systemd-nspawn is taken from the
machine if installed, otherwise extracted from Debian's systemd-container package into
the cache (installing it could upgrade the machine's own systemd)."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("SWAN_HOSTS_CACHE", "/var/cache/swan-iac"))
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# What a Debian cloud image has and Ansible needs; roles install the rest themselves.
IMAGE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt",
                  "iproute2", "ca-certificates", "sudo", "procps")
IMAGE_VERSION = "3"  # bump to force a rebuild when the image recipe changes
BOOT_TIMEOUT = 90.0


class HarnessMissing(RuntimeError):
    """The machine lacks something the host harness needs (named in the message)."""


def log(message: str) -> None:
    print(f"[hosts] {message}", flush=True)


def run(*command: str, check: bool = True, timeout: float | None = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=check, timeout=timeout, capture_output=True, text=True, **kwargs)


@contextlib.contextmanager
def cache_lock(name: str):
    """An exclusive flock under the cache, so parallel runs build things once."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------- tools


@dataclass(frozen=True)
class Tools:
    nspawn: str
    nspawn_env: dict
    tinyproxy: str


def check_machine() -> None:
    """Fail loudly, naming everything missing, when the machine cannot run hosts."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (run the host tests as root)")
    for tool, package in (("debootstrap", "debootstrap"), ("ip", "iproute2"), ("ssh", "openssh-client"),
                          ("ssh-keygen", "openssh-client"), ("tinyproxy", "tinyproxy-bin"),
                          ("apt-get", "apt"), ("dpkg", "dpkg")):
        if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            missing.append(f"{tool} (apt-get install {package})")
    if "overlay" not in Path("/proc/filesystems").read_text():
        missing.append("overlayfs support in the kernel (modprobe overlay)")
    if missing:
        raise HarnessMissing("the host harness needs: " + "; ".join(missing) + " (see .ci/deps-hosts.sh)")


def _which(tool: str) -> str:
    found = shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        raise HarnessMissing(f"{tool} not found")
    return found


def ensure_nspawn() -> tuple[str, dict]:
    """systemd-nspawn to use, and the environment it needs: the machine's own one if
    installed, else Debian's package unpacked into the cache (never installed)."""
    if os.environ.get("SWAN_NSPAWN"):
        return os.environ["SWAN_NSPAWN"], {}
    if shutil.which("systemd-nspawn"):
        return shutil.which("systemd-nspawn"), {}
    folder = CACHE / "systemd-container"
    binary = folder / "root/usr/bin/systemd-nspawn"
    libs = folder / "root/usr/lib/x86_64-linux-gnu/systemd"
    env = {"LD_LIBRARY_PATH": str(libs)}
    with cache_lock("systemd-container"):
        if not binary.exists():
            log("unpacking systemd-nspawn from Debian's systemd-container (not installing it)")
            staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=CACHE))
            try:
                # Same version for the binary and its private library.
                run("apt-get", "download", "systemd-container", "libsystemd-shared", cwd=staging)
                for deb in staging.glob("*.deb"):
                    run("dpkg", "-x", str(deb), str(staging / "root"))
                shutil.rmtree(folder, ignore_errors=True)
                staging.rename(folder)
            except subprocess.CalledProcessError as error:
                shutil.rmtree(staging, ignore_errors=True)
                raise HarnessMissing(f"cannot download systemd-container with apt-get: {error.stderr.strip()}") from None
    probe = run(str(binary), "--version", check=False, env={**os.environ, **env})
    if probe.returncode != 0:
        raise HarnessMissing(f"unpacked systemd-nspawn does not run: {probe.stderr.strip()}")
    return str(binary), env


def ensure_tools() -> Tools:
    check_machine()
    nspawn, env = ensure_nspawn()
    return Tools(nspawn, env, _which("tinyproxy"))


# ---------------------------------------------------------------- image


def image_key() -> str:
    recipe = "|".join([IMAGE_VERSION, SUITE, MIRROR, SECURITY_MIRROR, *IMAGE_PACKAGES])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def ensure_image(tools: Tools) -> Path:
    """The cached root filesystem (read-only lower layer of every host); built with
    debootstrap on first use, under a lock, and moved into place only when complete.
    Security updates are applied at build time, like a patched cloud image, so that
    unattended-upgrades has nothing to do while a test runs."""
    target = CACHE / "images" / f"{SUITE}-{image_key()}"
    rootfs = target / "rootfs"
    with cache_lock("image"):
        if (target / "complete").exists():
            return rootfs
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"build-{SUITE}-", dir=target.parent))
        log(f"building the {SUITE} image with debootstrap into {target} (once; takes about a minute)")
        started = time.monotonic()
        try:
            run("debootstrap", "--variant=minbase", "--include=" + ",".join(IMAGE_PACKAGES),
                SUITE, str(staging / "rootfs"), MIRROR, timeout=1200)
        except subprocess.CalledProcessError as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise HarnessMissing(f"debootstrap failed: {(error.stdout + error.stderr)[-1500:]}") from None
        root = staging / "rootfs"
        (root / "etc/apt/sources.list").write_text(
            f"deb {MIRROR} {SUITE} main\n"
            f"deb {MIRROR} {SUITE}-updates main\n"
            f"deb {SECURITY_MIRROR} {SUITE}-security main\n"
        )
        upgrade = run(tools.nspawn, "-D", str(root), "--register=no", "--keep-unit", "-q", "--pipe",
                      "/bin/sh", "-c", "apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq -y dist-upgrade"
                      " && apt-get clean && find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock -delete"
                      # lists dated 1970: like a cloud image, a host's first apt task must update
                      " && touch -d @0 /var/lib/apt/lists",
                      check=False, timeout=900, env={**os.environ, **tools.nspawn_env})
        if upgrade.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise HarnessMissing(f"upgrading the image failed: {(upgrade.stdout + upgrade.stderr)[-1500:]}")
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        # Every host gets its own machine id on first boot.
        (root / "etc/machine-id").write_text("")
        staging.rename(target)
        (target / "complete").write_text(f"built in {time.monotonic() - started:.0f}s\n")
        log(f"image ready in {time.monotonic() - started:.0f}s")
        return rootfs


# ---------------------------------------------------------------- hosts


@dataclass
class Host:
    """One booted host: reachable at `address` as root with the lab's key."""

    name: str
    address: str
    machine: str
    netns: str
    veth: str
    folder: Path
    merged: Path
    pid: int = 0
    init_pid: int = 0
    log_file: Path | None = None

    def ssh(self, key: Path, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return run("ssh", *ssh_options(key), f"root@{self.address}", command, check=False, timeout=timeout)


def ssh_options(key: Path) -> list[str]:
    return ["-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5"]


@dataclass
class Lab:
    """A bridge with a host-side address, an apt proxy bound to it, and the hosts booted
    on it. Use as a context manager: leaving it tears everything down."""

    tools: Tools
    image: Path
    lab_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    folder: Path = field(init=False)
    bridge: str = field(init=False)
    network: ipaddress.IPv4Network = field(init=False)
    proxy_pid: int = 0
    hosts: dict[str, Host] = field(default_factory=dict)
    _bridge_created: bool = False

    def __post_init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix=f"swan-hosts-{self.lab_id}-"))
        self.bridge = f"swbr{self.lab_id}"
        self.network = free_network()
        self.key = self.folder / "id_ed25519"

    @property
    def gateway(self) -> str:
        return str(self.network.network_address + 1)

    @property
    def proxy_url(self) -> str:
        return f"http://{self.gateway}:3128"

    # -- lifecycle
    def __enter__(self) -> "Lab":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"swan-hosts-{self.lab_id}", "-f", str(self.key))
        run("ip", "link", "add", self.bridge, "type", "bridge")
        self._bridge_created = True
        run("ip", "addr", "add", f"{self.gateway}/{self.network.prefixlen}", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        self._start_proxy()
        log(f"lab {self.lab_id}: bridge {self.bridge} {self.gateway}/{self.network.prefixlen}, apt proxy {self.proxy_url}")

    def _start_proxy(self) -> None:
        config = self.folder / "tinyproxy.conf"
        config.write_text(
            "Port 3128\n"
            f"Listen {self.gateway}\n"
            f"Allow {self.network}\n"
            "Timeout 600\nMaxClients 64\nLogLevel Warning\nDisableViaHeader Yes\n"
            "ConnectPort 443\n"
        )
        with open(self.folder / "tinyproxy.log", "w") as out:
            process = subprocess.Popen([self.tools.tinyproxy, "-d", "-c", str(config)], stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.proxy_pid = process.pid
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex((self.gateway, 3128)) == 0:
                    return
            if process.poll() is not None:
                raise HarnessMissing(f"tinyproxy exited: {(self.folder / 'tinyproxy.log').read_text()[-500:]}")
            time.sleep(0.1)
        raise HarnessMissing("tinyproxy did not listen within 10s")

    def close(self) -> None:
        """Tear down by id: every host, the proxy, the bridge, the lab folder."""
        errors = []
        for host in list(self.hosts.values()):
            try:
                self.stop(host)
            except Exception as error:  # keep tearing down the rest
                errors.append(f"{host.name}: {error}")
        if self.proxy_pid:
            stop_process(self.proxy_pid, signal.SIGTERM, 5)
            self.proxy_pid = 0
        if self._bridge_created:
            run("ip", "link", "del", self.bridge, check=False)
            self._bridge_created = False
        shutil.rmtree(self.folder, ignore_errors=True)
        if errors:
            raise RuntimeError("teardown problems: " + "; ".join(errors))

    # -- hosts
    def boot(self, name: str) -> Host:
        """Boot a fresh host: overlay over the image, its own netns, systemd as PID 1."""
        return self._start(self._reserve(name))

    def boot_many(self, names: list[str]) -> list[Host]:
        """Boot several fresh hosts at once."""
        hosts = [self._reserve(name) for name in names]
        with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            return list(pool.map(self._start, hosts))

    def _reserve(self, name: str) -> Host:
        if name in self.hosts:
            raise ValueError(f"host {name} already booted")
        index = len(self.hosts) + 2
        host = Host(
            name=name, address=str(self.network.network_address + index), machine=f"swan-{self.lab_id}-{name}"[:64],
            netns=f"swan-{self.lab_id}-{index}", veth=f"swv{self.lab_id}{index}",
            folder=self.folder / "hosts" / name, merged=self.folder / "hosts" / name / "merged",
        )
        self.hosts[name] = host  # registered first: teardown covers a half-built host
        return host

    def _start(self, host: Host) -> Host:
        for sub in ("upper", "work", "merged"):
            (host.folder / sub).mkdir(parents=True, exist_ok=True)
        run("mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={self.image},upperdir={host.folder / 'upper'},workdir={host.folder / 'work'}", str(host.merged))
        self._prepare_root(host)
        run("ip", "netns", "add", host.netns)
        run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        run("ip", "link", "set", host.veth, "master", self.bridge, "up")
        run("ip", "-n", host.netns, "addr", "add", f"{host.address}/{self.network.prefixlen}", "dev", "eth0")
        run("ip", "-n", host.netns, "link", "set", "eth0", "up")
        run("ip", "-n", host.netns, "link", "set", "lo", "up")
        run("ip", "-n", host.netns, "route", "add", "default", "via", self.gateway)
        host.log_file = host.folder / "console.log"
        with open(host.log_file, "w") as out:
            process = subprocess.Popen(
                [self.tools.nspawn, "-D", str(host.merged), "-M", host.machine, "-b", "--register=no", "--keep-unit",
                 f"--network-namespace-path=/run/netns/{host.netns}", "--console=read-only"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, **self.tools.nspawn_env},
            )
        host.pid = process.pid
        self._wait_booted(host, process)
        return host

    def _prepare_root(self, host: Host) -> None:
        root = host.merged
        (root / "etc/hostname").write_text(host.name + "\n")
        hosts_file = root / "etc/hosts"
        hosts_file.write_text(f"127.0.0.1 localhost\n{host.address} {host.name}\n")
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        authorized = ssh_dir / "authorized_keys"
        authorized.write_text(Path(str(self.key) + ".pub").read_text())
        authorized.chmod(0o600)
        (root / "etc/apt/apt.conf.d/01proxy").write_text(f'Acquire::http::Proxy "{self.proxy_url}";\n')

    def _wait_booted(self, host: Host, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"host {host.name}: systemd-nspawn exited {process.returncode}:\n{host.log_file.read_text()[-2000:]}")
            if not host.init_pid:
                host.init_pid = child_pid(host.pid)
            with socket.socket() as probe:
                probe.settimeout(0.5)
                ready = probe.connect_ex((host.address, 22)) == 0
            if ready:
                state = host.ssh(self.key, "systemctl is-system-running --wait", timeout=max(5, deadline - time.monotonic()))
                if state.stdout.strip() in ("running", "degraded"):
                    if state.stdout.strip() == "degraded":
                        failed = host.ssh(self.key, "systemctl --failed --no-legend --plain").stdout.strip()
                        log(f"{host.name}: booted degraded ({failed})")
                    return
            time.sleep(0.3)
        raise RuntimeError(f"host {host.name} did not boot within {BOOT_TIMEOUT:.0f}s:\n{host.log_file.read_text()[-2000:]}")

    def stop(self, host: Host) -> None:
        """Power off (SIGTERM to nspawn = orderly shutdown), kill by pid if it hangs,
        then unmount, delete the namespace (and with it the veth), remove the files."""
        if host.pid:
            if not stop_process(host.pid, signal.SIGTERM, 30):
                log(f"{host.name}: no clean shutdown within 30s, killing pids {host.pid}/{host.init_pid}")
                if host.init_pid:
                    stop_process(host.init_pid, signal.SIGKILL, 10)
                stop_process(host.pid, signal.SIGKILL, 10)
            host.pid = 0
        if os.path.ismount(host.merged):
            if run("umount", str(host.merged), check=False).returncode != 0:
                run("umount", "-l", str(host.merged), check=False)
        run("ip", "netns", "del", host.netns, check=False)
        run("ip", "link", "del", host.veth, check=False)
        shutil.rmtree(host.folder, ignore_errors=True)
        self.hosts.pop(host.name, None)

    # -- inventory
    def inventory_host(self, host: Host, groups: list[str] | tuple[str, ...] = (), variables: dict | None = None) -> dict:
        """The host as plain data for stacks.nodes.build_inventory."""
        return {
            "name": host.name, "address": host.address, "user": "root", "groups": list(groups),
            "vars": {
                "ansible_ssh_private_key_file": str(self.key),
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                "ansible_python_interpreter": "/usr/bin/python3",
                **(variables or {}),
            },
        }


def free_network() -> ipaddress.IPv4Network:
    """A /24 under 10.213.0.0/16 that no route on the machine uses yet."""
    used = run("ip", "-4", "route", "show", "table", "all").stdout
    taken = set()
    for word in used.split():
        with contextlib.suppress(ValueError):
            taken.add(ipaddress.ip_network(word, strict=False))
    offset = os.getpid() % 250
    for step in range(250):
        network = ipaddress.ip_network(f"10.213.{(offset + step) % 250 + 1}.0/24")
        if not any(network.overlaps(t) for t in taken if t.prefixlen > 0):
            return network
    raise HarnessMissing("no free 10.213.x.0/24 network for a test bridge")


def child_pid(pid: int) -> int:
    """First child of a process (the container's init, child of systemd-nspawn)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])
    return 0


def stop_process(pid: int, sig: int, wait: float) -> bool:
    """Signal one process by pid and reap/wait for it; True once it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return True
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def lab_session():
    """Tools checked, image ready, a lab up; torn down on exit whatever happened."""
    tools = ensure_tools()
    image = ensure_image(tools)
    with Lab(tools, image) as lab:
        yield lab
