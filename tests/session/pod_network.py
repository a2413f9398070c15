"""The "pod network" of the session harness: a private network namespace with only `lo`.

Every pod the harness runs (hub, proxy) joins it, and the fakes (Kubernetes API server, OIDC
provider) listen in it, so the chart's fixed ports (8081, 8000, 8001, 443, ...) and its
listen-on-all-interfaces flags stay exactly as rendered, yet nothing listens on the host
except the test's own forwarders on 127.0.0.1 with random ports.

The namespace is created by a short-lived thread (unshare(CLONE_NEWNET) only affects the
calling thread) and lives as long as this process holds its file descriptor or a process is
in it. Sockets belong to the namespace of the thread that creates them, which is how this
process listens and connects inside it.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import select
import socket
import struct
import threading
from typing import Callable, TypeVar

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _in_thread(fn: Callable[[], T]) -> T:
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            box["error"] = e

    t = threading.Thread(target=run, name="netns-helper")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class NetNamespace:
    def __init__(self):
        def create() -> int:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                ifr = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH14x", b"lo", 0))
                flags = struct.unpack("16sH14x", ifr)[1]
                fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
            return fd

        self.fd: int | None = _in_thread(create)

    def enter_current_thread(self) -> None:
        """Move the calling thread into the namespace (for threads that only work inside it)."""
        _check(_libc.setns(self.fd, CLONE_NEWNET), "setns(net)")

    def run(self, fn: Callable[[], T]) -> T:
        """Run fn in a fresh thread inside the namespace and return its result."""
        def inside():
            self.enter_current_thread()
            return fn()
        return _in_thread(inside)

    def listen(self, host: str = "127.0.0.1", port: int = 0, backlog: int = 128) -> socket.socket:
        def make():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as e:
                s.close()
                raise OSError(e.errno, f"pod network: cannot listen on {host}:{port}: {e.strerror}") from None
            s.listen(backlog)
            return s
        return self.run(make)

    def connect(self, host: str, port: int, timeout: float = 5.0) -> socket.socket:
        return self.run(lambda: socket.create_connection((host, port), timeout=timeout))

    def port_open(self, port: int, host: str = "127.0.0.1") -> bool:
        try:
            self.connect(host, port, timeout=1.0).close()
            return True
        except OSError:
            return False

    def listening_ports(self) -> set[int]:
        """TCP ports listening in the namespace (from its /proc/net/tcp, read from inside)."""
        def read():
            ports = set()
            for name in ("/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"):
                with open(name) as f:
                    for line in list(f)[1:]:
                        fields = line.split()
                        if fields[3] == "0A":  # LISTEN
                            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
            return ports
        return self.run(read)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _relay(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    socks = [a, b]
    try:
        while not stop.is_set():
            readable, _, _ = select.select(socks, [], [], 0.5)
            for s in readable:
                data = s.recv(65536)
                other = b if s is a else a
                if not data:
                    try:
                        other.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    socks = [x for x in socks if x is not s]
                    if not socks:
                        return
                    continue
                other.sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


class Forwarder:
    """TCP forwarder: accept on `listener` (created wherever), connect with `connect()`.

    Used both ways: host 127.0.0.1:random -> pod network (the test's URL of the hub), and
    inside the pod network service port -> container port (what kube-proxy does for a
    Service whose port differs from its targetPort, e.g. proxy-public 80 -> 8000).
    """

    def __init__(self, listener: socket.socket, connect: Callable[[], socket.socket], name: str):
        self.listener = listener
        self.port = listener.getsockname()[1]
        self._connect = connect
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.name = name
        self._thread = threading.Thread(target=self._accept_loop, name=f"forward-{name}", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        self.listener.settimeout(0.3)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True, name=f"forward-{self.name}-conn")
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            upstream = self._connect()
        except OSError:
            conn.close()
            return
        conn.settimeout(None)
        upstream.settimeout(None)
        _relay(conn, upstream, self._stop)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._thread.join(timeout=2)
        for t in self._threads:
            t.join(timeout=2)


def forward_host_to_netns(netns: NetNamespace, port: int, name: str) -> Forwarder:
    """127.0.0.1:<random> on the host -> 127.0.0.1:<port> in the pod network."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    return Forwarder(listener, lambda: netns.connect("127.0.0.1", port), name)


def forward_in_netns(netns: NetNamespace, listen_port: int, target_port: int, name: str) -> Forwarder:
    """127.0.0.1:<listen_port> -> 127.0.0.1:<target_port>, both in the pod network."""
    return Forwarder(netns.listen("127.0.0.1", listen_port), lambda: netns.connect("127.0.0.1", target_port), name)
