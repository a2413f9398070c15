"""Start one container's process the way a container runtime would, on this host, as root.

Usage (by pod_runner only): python container_init.py PLAN.json, with the pod network
namespace's file descriptor passed as plan["netns_fd"].

What it does, in order:
  * joins the pod network namespace (only `lo`, where the other pods and the fakes listen);
  * unshares mount, UTS and PID namespaces; makes every mount private (nothing propagates
    back to the host);
  * forks the container's PID 1, which dies with this process (PR_SET_PDEATHSIG), so killing
    this process or its group ends every process of the container, including processes
    that started their own session (JupyterHub's managed services do); this process itself
    dies with the test process that started it;
  * builds the container root file system: an overlay whose lower layer is the host's `/`
    and whose upper layer is a tmpfs (writes anywhere in `/`, like the hub's sqlite file
    in its working directory `/`, vanish with the container), a fresh /proc, the host's other
    mounts bound in (/dev, /sys, ...);
  * binds the pod's volumes (prepared by pod_runner in a temp dir) at their mount paths,
    parents first, read-only where asked; mount points are created inside the overlay or
    inside the volume they fall in, never on the host;
  * sets the hostname (the pod name), user/group, no_new_privs, the working directory, then
    execs the command with exactly the given environment. With plan["init"] (an image whose
    entrypoint is tini) PID 1 stays a tiny init that forwards signals and reaps children.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source} on {target} ({fstype})")


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def top_level_mounts(exclude: list[str]) -> list[str]:
    """Mount points that are direct children of the root mount, in mount order."""
    entries = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            entries.append((fields[0], fields[1], _unescape(fields[4])))
    root_id = next(mid for mid, _, mp in entries if mp == "/")
    result = []
    for mid, parent, mp in entries:
        if parent != root_id or mp == "/" or mp in result:
            continue
        if any(mp == e or mp.startswith(e.rstrip("/") + "/") for e in exclude):
            continue
        result.append(mp)
    return result


DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def build_rootfs(plan: dict) -> tuple[str, list[str]]:
    """The container's `/`; returns it and the host mounts bound into it (never written to)."""
    scratch = plan["scratch"]
    mount("container-rootfs", scratch, "tmpfs", 0, "mode=0755")
    for d in ("upper", "work", "root"):
        os.mkdir(os.path.join(scratch, d))
    root = os.path.join(scratch, "root")
    mount("overlay", root, "overlay", 0,
          f"lowerdir=/,upperdir={scratch}/upper,workdir={scratch}/work")
    host_binds = []
    for mp in top_level_mounts(exclude=["/proc", "/dev", scratch]):
        target = root + mp
        if os.path.lexists(target) and not os.path.islink(target):
            mount(mp, target, None, MS_BIND | MS_REC)
            host_binds.append(mp)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # A /dev of its own, as runtimes give: a few devices, new pts, shm, the usual links.
    dev = root + "/dev"
    mount("container-dev", dev, "tmpfs", MS_NOSUID, "mode=0755")
    for name in DEVICES:
        open(f"{dev}/{name}", "w").close()
        mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
    os.mkdir(f"{dev}/pts")
    mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
    os.symlink("pts/ptmx", f"{dev}/ptmx")
    os.mkdir(f"{dev}/shm")
    mount("shm", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    return root, host_binds


def _under(path: str, root: str) -> bool:
    return root == "/" or path == root or path.startswith(root.rstrip("/") + "/")


def make_mountpoint(target: str, is_dir: bool, host_binds: list[str], volume_targets: list[str]) -> None:
    """Create a missing mount point, in the overlay or in a pod volume, never in a host mount."""
    if os.path.lexists(target):
        return
    parent = os.path.dirname(target)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    owners = [m for m in host_binds + volume_targets + ["/"] if _under(parent, m)]
    owner = max(owners, key=len)
    if owner in host_binds:
        raise RuntimeError(f"mount point {target} would be created in the host mount {owner}")
    os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
    if is_dir:
        os.mkdir(target)
    else:
        open(target, "a").close()


def container_main(plan: dict) -> None:
    """PID 1 of the container's PID namespace."""
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    # The launcher holds the write end of this pipe: EOF means it died before PDEATHSIG was set.
    import select
    if select.select([plan["_alive_r"]], [], [], 0)[0]:
        os._exit(137)
    os.close(plan["_alive_r"])
    root, host_binds = build_rootfs(plan)
    # Volume sources are host paths: hold them by O_PATH descriptors across the chroot.
    sources = []
    for m in sorted(plan["mounts"], key=lambda m: len([p for p in m["target"].split("/") if p])):
        fd = os.open(m["source"], os.O_PATH)
        sources.append((m, fd, os.path.isdir(m["source"])))
    os.chroot(root)
    os.chdir("/")
    volume_targets: list[str] = []
    for m, fd, is_dir in sources:
        target = m["target"].rstrip("/") or "/"
        make_mountpoint(target, is_dir, host_binds, volume_targets)
        volume_targets.append(target)
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND)
        if m.get("readonly"):
            mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        os.close(fd)
    import socket
    socket.sethostname(plan["hostname"])

    workdir = plan.get("workdir") or "/"
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    gid, uid = plan.get("gid"), plan.get("uid")
    if gid is not None:
        os.setgroups(plan.get("groups") or [])
        os.setgid(gid)
    if uid is not None:
        os.setuid(uid)
    if plan.get("no_new_privs"):
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    # Changing uid/gid clears the parent-death signal: set it again for the PID 1 we exec.
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")

    argv, env = plan["argv"], plan["env"]
    if not plan.get("init"):
        os.execve(argv[0], argv, env)
    # tini: forward signals to the child's process group, reap everything, exit like the child.
    child = os.fork()
    if child == 0:
        os.setpgid(0, 0)
        os.execve(argv[0], argv, env)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, lambda s, _f: os.killpg(child, s))
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid == child:
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def main() -> None:
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    # Die with the test process that started us (even if it is killed): the container follows.
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    if os.getppid() != plan["owner_pid"]:
        os._exit(137)
    _check(libc.setns(plan["netns_fd"], CLONE_NEWNET), "setns(net)")
    os.close(plan["netns_fd"])
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID), "unshare")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    alive_r, alive_w = os.pipe()
    plan["_alive_r"] = alive_r
    child = os.fork()
    if child == 0:
        os.close(alive_w)
        try:
            container_main(plan)
        except BaseException as e:  # noqa: BLE001 - report any setup failure and die
            print(f"container_init: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            os._exit(127)
    os.close(alive_r)
    # The launcher: forward termination signals to the container's PID 1, exit with its status.
    def forward(sig, _frame):
        try:
            os.kill(child, signal.SIGKILL if sig == signal.SIGKILL else sig)
        except ProcessLookupError:
            pass
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


if __name__ == "__main__":
    main()
