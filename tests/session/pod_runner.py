"""Run one container of a chart-rendered Deployment as a local process, the way kubelet would.

Input is a folder (or several) of rendered objects, one object per file
(`charts/<release>/<Kind>-<namespace>-<name>.yaml`, `k8s/...`). For the chosen container the
runner resolves, like kubelet:
  * volumes: configMap / secret (items, key->path, defaultMode/mode, optional, kubelet's
    `..data` atomic-writer layout), projected (configMap, secret, serviceAccountToken,
    downwardAPI), downwardAPI, emptyDir, persistentVolumeClaim (a directory per claim, shared
    by pods, the claim must exist); volumeMounts with subPath/subPathExpr and readOnly;
  * the service account token volume at /var/run/secrets/kubernetes.io/serviceaccount
    (token, ca.crt, namespace) unless automount is off on the pod or its ServiceAccount;
  * env: envFrom, then env (value with $(VAR) expansion; valueFrom secretKeyRef,
    configMapKeyRef, fieldRef), then Kubernetes service links for every Service of the
    namespace and the API server's KUBERNETES_* variables; the image's ENV underneath;
  * command/args over the image's entrypoint/cmd, with $(VAR) expansion; workingDir;
  * /etc/hosts (Services and extra names -> 127.0.0.1), /etc/resolv.conf, /etc/hostname,
    /dev/termination-log; securityContext runAsUser/runAsGroup/fsGroup, allowPrivilegeEscalation.
The executable is mapped to a local one by an explicit table of the caller (`Image.executables`);
anything unmapped fails. Values "[secret]" (what `swan render` writes for masked secrets) are
never given to a container: reading one fails unless the caller supplies a substitute.
Processes run through container_init.py (own mount/PID/UTS namespaces, the shared pod network).
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

import yaml

HERE = Path(__file__).resolve().parent
PLACEHOLDER = "[secret]"
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


class PodRunnerError(RuntimeError):
    """A container cannot be run as rendered (missing object, unsupported feature, unmapped binary)."""


class SecretPlaceholderError(PodRunnerError):
    """The container would read a "[secret]" placeholder and no substitute was given."""


# ----------------------------------------------------------------------------- rendered objects

class RenderedObjects:
    """Objects from render folders, addressable by (kind, namespace, name)."""

    def __init__(self, *folders: Path):
        self.objects: dict[tuple[str, str, str], dict] = {}
        for folder in folders:
            for path in sorted(Path(folder).glob("*.yaml")):
                for doc in yaml.safe_load_all(path.read_text()):
                    if doc:
                        self.add(doc, source=path)

    def add(self, obj: dict, source: Path | None = None) -> None:
        meta = obj.get("metadata") or {}
        key = (obj["kind"], meta.get("namespace") or "", meta["name"])
        if key in self.objects and source is not None:
            raise PodRunnerError(f"{source}: {key} is defined twice")
        self.objects[key] = obj

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return self.objects.get((kind, namespace, name))

    def of_kind(self, kind: str, namespace: str | None = None) -> list[dict]:
        return [o for (k, ns, _), o in sorted(self.objects.items()) if k == kind and (namespace is None or ns == namespace)]


# ----------------------------------------------------------------------------- images

class Init:
    """Marks an image entrypoint that is an init such as tini: `tini -- cmd ...` runs cmd as the
    child of a PID 1 that forwards signals and reaps (container_init plays that part)."""

    def __init__(self, separator: str = "--"):
        self.separator = separator

    def __repr__(self) -> str:
        return f"Init({self.separator!r})"


@dataclass
class Image:
    """What the container image would provide, mapped onto this host."""
    name: str
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)          # the image's ENV
    working_dir: str = "/"                                      # the image's WORKDIR
    user: int = 0                                                # the image's USER (uid)
    executables: dict[str, Union[str, Init]] = field(default_factory=dict)  # argv[0] (name or path) -> host path
    files: dict[str, str] = field(default_factory=dict)         # container path -> host path (image content)


# ----------------------------------------------------------------------------- cluster access

@dataclass
class ClusterAccess:
    """How a pod reaches the API server: in-cluster config (env + service account files)."""
    host: str
    port: int
    ca_pem: bytes
    token_for: Callable[[str, str], str]   # (namespace, service account) -> bearer token


# ----------------------------------------------------------------------------- helpers

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def expand(text: str, *maps: dict[str, str]) -> str:
    """Kubernetes $(VAR) expansion: defined vars are replaced, `$$` escapes, others stay."""
    def repl(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        for mp in maps:
            if name in mp:
                return mp[name]
        return m.group(0)
    return _VAR.sub(repl, text)


def service_env(services: list[dict], host: str = "127.0.0.1") -> dict[str, str]:
    """Service link variables as kubelet makes them (pkg/kubelet/envvars)."""
    env: dict[str, str] = {}
    for svc in services:
        spec = svc.get("spec") or {}
        if spec.get("clusterIP") == "None" or spec.get("type") == "ExternalName" or not spec.get("ports"):
            continue
        ip = host
        prefix = svc["metadata"]["name"].upper().replace("-", "_")
        ports = spec["ports"]
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for p in ports:
            if p.get("name"):
                env[f"{prefix}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p["port"])
        first = ports[0]
        env[f"{prefix}_PORT"] = f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
        for p in ports:
            proto = p.get("protocol", "TCP")
            base = f"{prefix}_PORT_{p['port']}_{proto.upper()}"
            env[base] = f"{proto.lower()}://{ip}:{p['port']}"
            env[f"{base}_PROTO"] = proto.lower()
            env[f"{base}_PORT"] = str(p["port"])
            env[f"{base}_ADDR"] = ip
    return env


def placeholder_paths(value: bytes) -> list[str]:
    """Dotted paths of "[secret]" leaves when the value is a YAML/JSON document (e.g. z2jh's values.yaml)."""
    try:
        doc = yaml.safe_load(value)
    except yaml.YAMLError:
        return []
    found: list[str] = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
        elif isinstance(node, str) and PLACEHOLDER in node:
            found.append(path or "(document)")
    if isinstance(doc, (dict, list)):
        walk(doc, "")
    return found


def _decode_secret(secret: dict) -> dict[str, bytes]:
    data: dict[str, bytes] = {}
    for k, v in (secret.get("data") or {}).items():
        if v == PLACEHOLDER:
            data[k] = PLACEHOLDER.encode()
        else:
            data[k] = base64.b64decode(v)
    for k, v in (secret.get("stringData") or {}).items():
        data[k] = str(v).encode()
    return data


def _configmap_data(cm: dict) -> dict[str, bytes]:
    data = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
    return data


Substitute = Union[str, bytes, Callable[[str], str]]


def _apply_fs_group(folder: Path, gid: int, writable: bool) -> None:
    """kubelet's SetVolumeOwnership for fsGroup: group ownership, group rw, setgid dirs."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        os.chown(path, -1, gid)
        mode = path.stat().st_mode & 0o7777
        if path.is_dir():
            mode |= 0o2000 | 0o050 | (0o020 if writable else 0)
        else:
            mode |= 0o040 | (0o020 if writable else 0)
        path.chmod(mode)


@dataclass
class RunningContainer:
    pod_name: str
    namespace: str
    container: str
    process: subprocess.Popen
    log_path: Path
    argv: list[str]
    env: dict[str, str]
    labels: dict[str, str]
    ports: dict[str, int]          # port name (or str(number)) -> containerPort
    mounts: list[dict]

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.log()[-chars:]

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM (forwarded to the container's PID 1), then SIGKILL to the whole process group
        after `grace` s. The container's PID 1 dies with its launcher, and every process of the
        container (even one in its own session) with its PID 1."""
        if self.process.poll() is None:
            try:
                os.kill(self.process.pid, signal.SIGTERM)  # the launcher forwards it to the container's PID 1
            except ProcessLookupError:
                pass
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait(10)


# ----------------------------------------------------------------------------- the runner

class PodRunner:
    def __init__(self, objects: RenderedObjects, workdir: Path, netns, cluster: ClusterAccess,
                 substitutes: dict[str, Substitute] | None = None,
                 extra_hosts: list[str] = (), extra_files: dict[str, Path] | None = None,
                 node_name: str = "swan-harness-node", pod_ip: str = "127.0.0.1"):
        """substitutes: values for "[secret]" placeholders, keyed "secret/<name>/<key>",
        "configmap/<name>/<key>" or "env/<container>/<VAR>"; a callable gets the rendered
        text and returns the text to use. extra_hosts: names resolving to 127.0.0.1 in every
        pod. extra_files: container path -> host file bound read-only into every container
        (e.g. a CA bundle)."""
        self.objects = objects
        self.workdir = Path(workdir)
        self.netns = netns
        self.cluster = cluster
        self.substitutes = dict(substitutes or {})
        self.used_substitutes: set[str] = set()
        self.extra_hosts = list(extra_hosts)
        self.extra_files = dict(extra_files or {})
        self.node_name = node_name
        self.pod_ip = pod_ip
        self.running: list[RunningContainer] = []

    # -- secrets and placeholders

    def _guard(self, key: str, value: bytes, problems: list[str]) -> bytes:
        if key in self.substitutes:
            self.used_substitutes.add(key)
            sub = self.substitutes[key]
            if callable(sub):
                value = sub(value.decode()).encode()
            else:
                value = sub.encode() if isinstance(sub, str) else sub
        if PLACEHOLDER.encode() in value:
            paths = placeholder_paths(value)
            problems.append(f"{key} (at {', '.join(paths)})" if paths else key)
        return value

    def _source(self, kind: str, ns: str, name: str, optional: bool, what: str) -> dict[str, bytes] | None:
        """The data of a Secret or ConfigMap the pod reads; absent and not optional: it would not start."""
        obj = self.objects.get(kind, ns, name)
        if obj is None:
            if optional:
                return None
            raise PodRunnerError(f"{what}: {kind} {ns}/{name} is not in the render (the pod would not start)")
        return _decode_secret(obj) if kind == "Secret" else _configmap_data(obj)

    # -- volumes

    def _write_atomic(self, folder: Path, files: dict[str, tuple[bytes, int]]) -> None:
        """kubelet's AtomicWriter layout: ..<timestamp>/ with the files, ..data -> it, key -> ..data/key."""
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("..%Y_%m_%d_%H_%M_%S.") + f"{secrets.randbelow(10**9):09d}"
        ts = folder / stamp
        ts.mkdir()
        tops = set()
        for rel, (content, mode) in files.items():
            path = ts / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            path.chmod(mode)
            tops.add(rel.split("/")[0])
        (folder / "..data").symlink_to(stamp)
        for top in sorted(tops):
            (folder / top).symlink_to(f"..data/{top}")

    def _key_files(self, data: dict[str, bytes] | None, items, default_mode: int, kind: str,
                   ns: str, name: str, problems: list[str], what: str) -> dict[str, tuple[bytes, int]]:
        if data is None:
            return {}
        out = {}
        if items:
            for item in items:
                if item["key"] not in data:
                    raise PodRunnerError(f"{what}: {kind} {ns}/{name} has no key {item['key']!r}")
                value = self._guard(f"{kind.lower()}/{name}/{item['key']}", data[item["key"]], problems)
                out[item["path"]] = (value, item.get("mode", default_mode))
        else:
            for k, v in data.items():
                out[k] = (self._guard(f"{kind.lower()}/{name}/{k}", v, problems), default_mode)
        return out

    def _field(self, path: str, pod: dict) -> str:
        meta = pod["metadata"]
        m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
        if m:
            return (meta.get(m.group(1)) or {}).get(m.group(2), "")
        fields = {
            "metadata.name": meta["name"], "metadata.namespace": meta["namespace"],
            "metadata.uid": meta["uid"], "spec.nodeName": self.node_name,
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
            "status.podIP": self.pod_ip, "status.podIPs": self.pod_ip, "status.hostIP": self.pod_ip,
            "status.hostIPs": self.pod_ip,
            "metadata.labels": "\n".join(f'{k}="{v}"' for k, v in sorted((meta.get("labels") or {}).items())),
            "metadata.annotations": "\n".join(f'{k}="{v}"' for k, v in sorted((meta.get("annotations") or {}).items())),
        }
        if path not in fields:
            raise PodRunnerError(f"fieldRef {path!r} is not supported by the harness")
        return fields[path]

    def _sa_files(self, ns: str, sa: str) -> dict[str, tuple[bytes, int]]:
        return {"token": (self.cluster.token_for(ns, sa).encode(), 0o644),
                "ca.crt": (self.cluster.ca_pem, 0o644),
                "namespace": (ns.encode(), 0o644)}

    def _prepare_volume(self, vol: dict, pod: dict, pod_dir: Path, problems: list[str]) -> tuple[Path, bool]:
        """Materialize one volume; returns (host dir, always read-only)."""
        ns = pod["metadata"]["namespace"]
        what = f"pod {pod['metadata']['name']} volume {vol['name']}"
        folder = pod_dir / "volumes" / vol["name"]
        if "configMap" in vol or "secret" in vol:
            src = vol.get("configMap") or vol.get("secret")
            kind = "ConfigMap" if "configMap" in vol else "Secret"
            name = src.get("name") if kind == "ConfigMap" else src.get("secretName")
            data = self._source(kind, ns, name, src.get("optional", False), what)
            files = self._key_files(data, src.get("items"), src.get("defaultMode", 0o644), kind, ns, name, problems, what)
            self._write_atomic(folder, files)
            return folder, True
        if "projected" in vol:
            src = vol["projected"]
            mode = src.get("defaultMode", 0o644)
            files = {}
            for s in src.get("sources", []):
                if "configMap" in s or "secret" in s:
                    inner = s.get("configMap") or s.get("secret")
                    kind = "ConfigMap" if "configMap" in s else "Secret"
                    data = self._source(kind, ns, inner["name"], inner.get("optional", False), what)
                    files.update(self._key_files(data, inner.get("items"), mode, kind, ns, inner["name"], problems, what))
                elif "serviceAccountToken" in s:
                    sa = pod["spec"].get("serviceAccountName", "default")
                    files[s["serviceAccountToken"]["path"]] = (self.cluster.token_for(ns, sa).encode(), mode)
                elif "downwardAPI" in s:
                    for item in s["downwardAPI"].get("items", []):
                        files[item["path"]] = (self._downward(item, pod), item.get("mode", mode))
                else:
                    raise PodRunnerError(f"{what}: projected source {sorted(s)} is not supported by the harness")
            self._write_atomic(folder, files)
            return folder, True
        if "downwardAPI" in vol:
            src = vol["downwardAPI"]
            files = {item["path"]: (self._downward(item, pod), item.get("mode", src.get("defaultMode", 0o644)))
                     for item in src.get("items", [])}
            self._write_atomic(folder, files)
            return folder, True
        if "emptyDir" in vol:
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o777)
            return folder, False
        if "persistentVolumeClaim" in vol:
            claim = vol["persistentVolumeClaim"]["claimName"]
            if self.objects.get("PersistentVolumeClaim", ns, claim) is None:
                raise PodRunnerError(f"{what}: PersistentVolumeClaim {ns}/{claim} is not in the render "
                                     "(the pod would stay Pending)")
            folder = self.workdir / "pvcs" / ns / claim
            folder.mkdir(parents=True, exist_ok=True)
            return folder, bool(vol["persistentVolumeClaim"].get("readOnly"))
        raise PodRunnerError(f"{what}: volume type {sorted(k for k in vol if k != 'name')} is not supported by the harness")

    def _downward(self, item: dict, pod: dict) -> bytes:
        if "fieldRef" in item:
            return self._field(item["fieldRef"]["fieldPath"], pod).encode()
        raise PodRunnerError(f"downwardAPI item {item} is not supported by the harness")

    # -- env

    def _env(self, container: dict, pod: dict, problems: list[str]) -> dict[str, str]:
        ns = pod["metadata"]["namespace"]
        cname = container["name"]
        what = f"pod {pod['metadata']['name']} container {cname}"
        svc_env: dict[str, str] = {}
        if pod["spec"].get("enableServiceLinks", True):
            svc_env.update(service_env(self.objects.of_kind("Service", ns)))
        master = {"KUBERNETES_SERVICE_HOST": self.cluster.host, "KUBERNETES_SERVICE_PORT": str(self.cluster.port),
                  "KUBERNETES_SERVICE_PORT_HTTPS": str(self.cluster.port),
                  "KUBERNETES_PORT": f"tcp://{self.cluster.host}:{self.cluster.port}",
                  f"KUBERNETES_PORT_{self.cluster.port}_TCP": f"tcp://{self.cluster.host}:{self.cluster.port}",
                  f"KUBERNETES_PORT_{self.cluster.port}_TCP_PROTO": "tcp",
                  f"KUBERNETES_PORT_{self.cluster.port}_TCP_PORT": str(self.cluster.port),
                  f"KUBERNETES_PORT_{self.cluster.port}_TCP_ADDR": self.cluster.host}
        svc_env.update(master)

        env: dict[str, str] = {}
        for src in container.get("envFrom", []):
            prefix = src.get("prefix", "")
            if "configMapRef" in src:
                ref = src["configMapRef"]
                data = self._source("ConfigMap", ns, ref["name"], ref.get("optional", False), what) or {}
                for k, v in data.items():
                    env[prefix + k] = self._guard(f"configmap/{ref['name']}/{k}", v, problems).decode()
            elif "secretRef" in src:
                ref = src["secretRef"]
                data = self._source("Secret", ns, ref["name"], ref.get("optional", False), what) or {}
                for k, v in data.items():
                    env[prefix + k] = self._guard(f"secret/{ref['name']}/{k}", v, problems).decode()
        for var in container.get("env", []):
            name = var["name"]
            if "valueFrom" not in var:
                value = expand(str(var.get("value", "")), env, svc_env)
                env[name] = self._guard(f"env/{cname}/{name}", value.encode(), problems).decode()
                continue
            vf = var["valueFrom"]
            if "secretKeyRef" in vf or "configMapKeyRef" in vf:
                ref = vf.get("secretKeyRef") or vf.get("configMapKeyRef")
                kind = "Secret" if "secretKeyRef" in vf else "ConfigMap"
                data = self._source(kind, ns, ref["name"], ref.get("optional", False), what)
                if data is None:
                    continue
                if ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise PodRunnerError(f"{what}: env {name}: {kind} {ns}/{ref['name']} has no key {ref['key']!r}")
                env[name] = self._guard(f"{kind.lower()}/{ref['name']}/{ref['key']}", data[ref["key"]], problems).decode()
            elif "fieldRef" in vf:
                env[name] = self._field(vf["fieldRef"]["fieldPath"], pod)
            elif "resourceFieldRef" in vf:
                # resourceFieldRef (limits/requests as numbers) is not modelled: the variable is
                # left out, as nothing the harness runs reads one.
                continue
            else:
                raise PodRunnerError(f"{what}: env {name}: valueFrom {sorted(vf)} is not supported")
        for k, v in svc_env.items():
            env.setdefault(k, v)
        return env

    # -- pod files

    def _hosts(self, pod: dict) -> str:
        ns = pod["metadata"]["namespace"]
        lines = ["# Kubernetes-managed hosts file (swan-iac session harness: every Service is 127.0.0.1).",
                 "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                 f"{self.pod_ip}\t{pod['metadata']['name']}"]
        for svc in self.objects.of_kind("Service"):
            name, sns = svc["metadata"]["name"], svc["metadata"]["namespace"]
            names = ([name] if sns == ns else []) + [f"{name}.{sns}", f"{name}.{sns}.svc", f"{name}.{sns}.svc.cluster.local"]
            lines.append("127.0.0.1\t" + " ".join(names))
        lines.append("127.0.0.1\tkubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local")
        if self.extra_hosts:
            lines.append("127.0.0.1\t" + " ".join(self.extra_hosts))
        return "\n".join(lines) + "\n"

    # -- run

    def pod_from_deployment(self, namespace: str, name: str) -> dict:
        dep = self.objects.get("Deployment", namespace, name)
        if dep is None:
            raise PodRunnerError(f"Deployment {namespace}/{name} is not in the render")
        template = dep["spec"]["template"]
        spec = json.loads(json.dumps(template["spec"]))
        template_hash = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels["pod-template-hash"] = template_hash
        suffix = "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{name}-{template_hash}-{suffix}", "namespace": namespace,
                             "uid": str(uuid.uuid4()), "labels": labels,
                             "annotations": dict((template.get("metadata") or {}).get("annotations") or {})},
                "spec": spec}

    def _resolve_argv(self, argv: list[str], image: Image, what: str) -> tuple[list[str], bool]:
        init = False
        table = image.executables
        if argv and isinstance(table.get(argv[0]), Init):
            sep = table[argv[0]].separator
            rest = argv[1:]
            if rest and rest[0] == sep:
                rest = rest[1:]
            argv, init = rest, True
        if not argv:
            raise PodRunnerError(f"{what}: no command (neither the container nor the image {image.name} gives one)")
        exe = table.get(argv[0])
        if exe is None or isinstance(exe, Init):
            raise PodRunnerError(f"{what}: executable {argv[0]!r} of image {image.name} is not mapped to a local "
                                 f"one (mapped: {sorted(table)})")
        if not os.access(exe, os.X_OK):
            raise PodRunnerError(f"{what}: {argv[0]!r} is mapped to {exe}, which is missing or not executable")
        return [str(exe)] + argv[1:], init

    def run(self, namespace: str, deployment: str, container: str, image: Image,
            log_path: Path | None = None) -> RunningContainer:
        """Start `container` of Deployment namespace/deployment as one pod would run it. Call it
        from a thread that outlives the container: the launcher dies with that thread
        (PR_SET_PDEATHSIG), so a killed test process leaves nothing running."""
        pod = self.pod_from_deployment(namespace, deployment)
        spec = pod["spec"]
        pod_name = pod["metadata"]["name"]
        what = f"Deployment {namespace}/{deployment} container {container}"
        if spec.get("initContainers"):
            raise PodRunnerError(f"{what}: initContainers {[c['name'] for c in spec['initContainers']]} "
                                 "are not supported by the harness")
        if spec.get("hostNetwork"):
            raise PodRunnerError(f"{what}: hostNetwork pods are not supported by the harness")
        matches = [c for c in spec.get("containers", []) if c["name"] == container]
        if not matches:
            raise PodRunnerError(f"{what}: no such container (has {[c['name'] for c in spec.get('containers', [])]})")
        c = matches[0]
        pod_dir = self.workdir / "pods" / pod_name
        pod_dir.mkdir(parents=True)
        problems: list[str] = []

        # service account
        sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        sa_obj = self.objects.get("ServiceAccount", namespace, sa)
        if sa_obj is None and sa != "default":
            raise PodRunnerError(f"{what}: ServiceAccount {namespace}/{sa} is not in the render (the pod would be refused)")
        automount = spec.get("automountServiceAccountToken")
        if automount is None:
            automount = (sa_obj or {}).get("automountServiceAccountToken", True)

        # volumes and mounts
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        prepared: dict[str, tuple[Path, bool]] = {}
        chowned: set[str] = set()
        env = self._env(c, pod, problems)
        mounts: list[dict] = []
        for vm in c.get("volumeMounts", []):
            vol = volumes.get(vm["name"])
            if vol is None:
                raise PodRunnerError(f"{what}: volumeMount {vm['name']} has no volume")
            if vm["name"] not in prepared:
                prepared[vm["name"]] = self._prepare_volume(vol, pod, pod_dir, problems)
            folder, always_ro = prepared[vm["name"]]
            fs_group = (spec.get("securityContext") or {}).get("fsGroup")
            if fs_group and vm["name"] not in chowned:
                _apply_fs_group(folder, fs_group, writable=not always_ro)
                chowned.add(vm["name"])
            source = folder
            sub = vm.get("subPath") or (expand(vm["subPathExpr"], env) if vm.get("subPathExpr") else "")
            if sub:
                if sub.startswith("/") or ".." in sub.split("/"):
                    raise PodRunnerError(f"{what}: subPath {sub!r} must be relative and stay in the volume")
                source = folder / sub
                if not source.exists() and not source.is_symlink():
                    source.mkdir(parents=True)  # kubelet creates a missing subPath as a directory
                source = Path(os.path.realpath(source))
                if not str(source).startswith(str(folder.resolve())):
                    raise PodRunnerError(f"{what}: subPath {sub!r} leaves the volume")
            mounts.append({"source": str(source), "target": vm["mountPath"],
                           "readonly": bool(always_ro or vm.get("readOnly")), "volume": vm["name"]})
        if automount and not any(m["target"].rstrip("/") == SA_MOUNT for m in mounts):
            folder = pod_dir / "volumes" / "kube-api-access"
            self._write_atomic(folder, self._sa_files(namespace, sa))
            mounts.append({"source": str(folder), "target": SA_MOUNT, "readonly": True, "volume": "kube-api-access"})
        if problems:
            raise SecretPlaceholderError(
                f"{what} would read \"[secret]\" placeholders: {', '.join(sorted(set(problems)))}; "
                "pass substitutes={...} with those keys to run it")

        # pod files (kubelet) and image content
        etc = pod_dir / "etc"
        etc.mkdir()
        (etc / "hosts").write_text(self._hosts(pod))
        (etc / "resolv.conf").write_text(f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local\n"
                                         "nameserver 127.0.0.1\noptions ndots:5\n")
        (etc / "hostname").write_text(pod_name + "\n")
        (pod_dir / "termination-log").write_text("")
        for target, src in (("/etc/hosts", etc / "hosts"), ("/etc/resolv.conf", etc / "resolv.conf"),
                            ("/etc/hostname", etc / "hostname"), ("/dev/termination-log", pod_dir / "termination-log")):
            mounts.append({"source": str(src), "target": target, "readonly": False, "volume": "(kubelet)"})
        for target, src in {**image.files, **self.extra_files}.items():
            if not Path(src).exists():
                raise PodRunnerError(f"{what}: {src} (for {target}) does not exist")
            mounts.append({"source": str(src), "target": target, "readonly": True, "volume": "(image)"})

        # command
        full_env = dict(image.env)
        full_env.update(env)
        full_env.setdefault("HOSTNAME", pod_name)
        sc = {**(spec.get("securityContext") or {}), **(c.get("securityContext") or {})}
        uid = sc.get("runAsUser", image.user)
        gid = sc.get("runAsGroup", 0 if uid == 0 else uid)
        if "HOME" not in full_env:
            import pwd
            try:
                full_env["HOME"] = pwd.getpwuid(uid).pw_dir
            except KeyError:
                full_env["HOME"] = "/"
        if c.get("command"):
            argv = list(c["command"]) + list(c.get("args") or [])
        elif c.get("args"):
            argv = list(image.entrypoint) + list(c["args"])
        else:
            argv = list(image.entrypoint) + list(image.cmd)
        argv = [expand(a, full_env) for a in argv]
        argv, init = self._resolve_argv(argv, image, what)

        pod_sc = spec.get("securityContext") or {}
        groups = sorted({g for g in [pod_sc.get("fsGroup")] + list(pod_sc.get("supplementalGroups") or [])
                         if g is not None})
        plan = {
            "netns_fd": self.netns.fd, "owner_pid": os.getpid(), "scratch": str(pod_dir / "rootfs"), "hostname": pod_name,
            "mounts": [{"source": m["source"], "target": m["target"], "readonly": m["readonly"]} for m in mounts],
            "workdir": c.get("workingDir") or image.working_dir, "argv": argv, "env": full_env,
            "uid": uid, "gid": gid, "groups": groups, "init": init,
            "no_new_privs": (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is False,
        }
        (pod_dir / "rootfs").mkdir()
        plan_path = pod_dir / "plan.json"
        plan_path.write_text(json.dumps(plan, indent=1))
        (pod_dir / "pod.yaml").write_text(yaml.safe_dump(pod, sort_keys=False))
        log_path = log_path or (pod_dir / f"{container}.log")
        log = open(log_path, "ab")
        try:
            process = subprocess.Popen([sys.executable, "-I", str(HERE / "container_init.py"), str(plan_path)],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       pass_fds=(self.netns.fd,), start_new_session=True, cwd="/")
        finally:
            log.close()
        ports = {}
        for p in c.get("ports", []):
            ports[str(p["containerPort"])] = p["containerPort"]
            if p.get("name"):
                ports[p["name"]] = p["containerPort"]
        rc = RunningContainer(pod_name, namespace, container, process, Path(log_path), argv, full_env,
                              pod["metadata"]["labels"], ports, mounts)
        self.running.append(rc)
        return rc

    def stop_all(self) -> None:
        for rc in reversed(self.running):
            rc.stop()


# ----------------------------------------------------------------------------- kube-proxy

def service_port_map(objects: RenderedObjects, namespace: str, running: list[RunningContainer]) -> dict[int, int]:
    """{service port: container port} for the Services of `namespace` that select a running pod
    (every Service is 127.0.0.1 here, so a Service port that differs from its target needs a
    forwarder, as kube-proxy would do). Conflicting ports fail."""
    result: dict[int, tuple[int, str]] = {}
    for svc in objects.of_kind("Service", namespace):
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector:
            continue
        pods = [rc for rc in running if rc.namespace == namespace and all(rc.labels.get(k) == v for k, v in selector.items())]
        if not pods:
            continue
        for p in svc["spec"].get("ports", []):
            target = p.get("targetPort", p["port"])
            if isinstance(target, str) and not target.isdigit():
                if target not in pods[0].ports:
                    raise PodRunnerError(f"Service {namespace}/{svc['metadata']['name']}: targetPort {target!r} "
                                         f"is not a port of pod {pods[0].pod_name}")
                target = pods[0].ports[target]
            target = int(target)
            name = svc["metadata"]["name"]
            if p["port"] in result and result[p["port"]][0] != target:
                raise PodRunnerError(f"Services {result[p['port']][1]} and {name} both use port {p['port']} "
                                     "on 127.0.0.1 with different targets")
            result[p["port"]] = (target, name)
    return {port: target for port, (target, _) in result.items()}
