"""A fake Kubernetes API server over HTTPS: the subset the SWAN hub's clients call.

Clients: kubespawner 6.1 (kubernetes_asyncio: pod and event reflectors, pods, PVCs, secrets,
services) and swanspawner's AvailableGPUs (sync `kubernetes`: nodes by label, pods in `swan`
labelled `gpu`), both configured in-cluster (service account token + CA).

Implemented, for core/v1 and a few other groups (see RESOURCES):
  * get / list / create / update (PUT) / patch (merge, strategic treated as merge, JSON patch)
    / delete / deletecollection, on namespaced and cluster-scoped resources, `status` subresource;
  * list: labelSelector (`k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (..)`, `k notin (..)`),
    fieldSelector (`path=v`, `path==v`, `path!=v` on any dotted field), limit/continue;
  * watch=true: chunked JSON lines (ADDED/MODIFIED/DELETED, BOOKMARK with
    allowWatchBookmarks), from resourceVersion (unset or "0": current objects first), ending
    after timeoutSeconds;
  * Status objects for 400/401/404/405/409/422 as the real server writes them; the bearer token
    of a service account (from token_for) is required on every request;
  * namespaces must exist (default, kube-system, kube-public do; seed the others);
  * a created pod stays Pending, or becomes Running with podIP 127.0.0.1 (pod_behavior).
Not modelled: RBAC, admission (quotas, limit ranges), defaulting beyond a few pod fields,
garbage collection, graceful deletion (pods go at once).

Every request is recorded (`requests`, `mutations()`: verb, path, body as a dict) and
logged to a file, one line each.
"""
from __future__ import annotations

import base64
import copy
import datetime
import json
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from harness_tls import TestCA, TLSServer

# plural -> (group, version, Kind, namespaced)
RESOURCES = {
    ("", "pods"): ("v1", "Pod", True),
    ("", "events"): ("v1", "Event", True),
    ("", "persistentvolumeclaims"): ("v1", "PersistentVolumeClaim", True),
    ("", "secrets"): ("v1", "Secret", True),
    ("", "services"): ("v1", "Service", True),
    ("", "configmaps"): ("v1", "ConfigMap", True),
    ("", "endpoints"): ("v1", "Endpoints", True),
    ("", "serviceaccounts"): ("v1", "ServiceAccount", True),
    ("", "resourcequotas"): ("v1", "ResourceQuota", True),
    ("", "limitranges"): ("v1", "LimitRange", True),
    ("", "namespaces"): ("v1", "Namespace", False),
    ("", "nodes"): ("v1", "Node", False),
    ("", "persistentvolumes"): ("v1", "PersistentVolume", False),
    ("networking.k8s.io", "ingresses"): ("v1", "Ingress", True),
    ("networking.k8s.io", "networkpolicies"): ("v1", "NetworkPolicy", True),
    ("events.k8s.io", "events"): ("v1", "Event", True),
    ("apps", "deployments"): ("v1", "Deployment", True),
    ("rbac.authorization.k8s.io", "roles"): ("v1", "Role", True),
    ("rbac.authorization.k8s.io", "rolebindings"): ("v1", "RoleBinding", True),
    ("storage.k8s.io", "storageclasses"): ("v1", "StorageClass", False),
}
KIND_TO_PLURAL = {(g, kind): plural for (g, plural), (_, kind, _) in RESOURCES.items()}
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

_PATH = re.compile(r"^/(?:api/(?P<cv>v1)|apis/(?P<group>[^/]+)/(?P<gv>[^/]+))"
                   r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<res>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?/?$")


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


# ----------------------------------------------------------------------------- selectors

_REQ_SPLIT = re.compile(r",(?![^()]*\))")


def parse_label_selector(text: str | None) -> list[tuple]:
    reqs = []
    for raw in _REQ_SPLIT.split(text or ""):
        part = raw.strip()
        if not part:
            continue
        m = re.fullmatch(r"([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)", part)
        if m:
            reqs.append((m.group(2), m.group(1), {v.strip() for v in m.group(3).split(",") if v.strip()}))
            continue
        m = re.fullmatch(r"([^\s!=()]+)\s*(==|!=|=)\s*([^\s,()]*)", part)
        if m:
            reqs.append(({"==": "=", "=": "=", "!=": "!="}[m.group(2)], m.group(1), m.group(3)))
            continue
        m = re.fullmatch(r"!\s*([^\s!=()]+)", part)
        if m:
            reqs.append(("!exists", m.group(1), None))
            continue
        if re.fullmatch(r"[A-Za-z0-9][-A-Za-z0-9_./]*", part):
            reqs.append(("exists", part, None))
            continue
        raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r} in labelSelector {text!r}")
    return reqs


def labels_match(labels: dict, reqs: list[tuple]) -> bool:
    for op, key, value in reqs:
        present = key in labels
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and present and labels[key] == value:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
        if op == "in" and labels.get(key) not in value:
            return False
        if op == "notin" and present and labels[key] in value:
            return False
    return True


def parse_field_selector(text: str | None) -> list[tuple]:
    reqs = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*)", part)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector: {part!r}")
        reqs.append(("!=" if m.group(2) == "!=" else "=", m.group(1), m.group(3)))
    return reqs


def _field(obj: dict, path: str) -> str:
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict) or p not in cur:
            return ""
        cur = cur[p]
    return "" if cur is None else (str(cur).lower() if isinstance(cur, bool) else str(cur))


def fields_match(obj: dict, reqs: list[tuple]) -> bool:
    for op, path, value in reqs:
        if (op == "=") != (_field(obj, path) == value):
            return False
    return True


# ----------------------------------------------------------------------------- patches

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def json_patch(doc, ops: list[dict]):
    doc = copy.deepcopy(doc)

    def walk(path: str):
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        return parent, parts[-1]

    for op in ops:
        parent, key = walk(op["path"])
        if isinstance(parent, list):
            idx = len(parent) if key == "-" else int(key)
            if op["op"] == "add":
                parent.insert(idx, op["value"])
            elif op["op"] == "replace":
                parent[idx] = op["value"]
            elif op["op"] == "remove":
                del parent[idx]
        else:
            if op["op"] in ("add", "replace"):
                parent[key] = op["value"]
            elif op["op"] == "remove":
                del parent[key]
        if op["op"] not in ("add", "replace", "remove"):
            raise ApiError(422, "Invalid", f"json patch op {op['op']!r} is not supported by the fake")
    return doc


# ----------------------------------------------------------------------------- the store

class FakeKubeAPI:
    """State and behaviour; `listen()` serves it over HTTPS on a socket (host or pod network)."""

    def __init__(self, ca: TestCA, workdir: Path, node_name: str = "swan-harness-node"):
        self.ca = ca
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "apiserver.log"
        self._log = open(self.log_path, "a", buffering=1)
        self.node_name = node_name
        self.cond = threading.Condition()
        self.rv = 1
        self.store: dict[tuple[str, str, str, str], dict] = {}   # (group, plural, ns, name) -> object
        self.events: list[tuple[int, str, str, str, dict]] = []  # (rv, group, plural, type, object)
        self.requests: list[dict] = []
        self.tokens: dict[str, str] = {}
        self.admin_token = self._new_token("system:admin")
        self.pod_behavior: str | Callable[[dict], None] = "Pending"
        self.closing = False
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        cert = ca.issue(["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                         "kubernetes.default.svc.cluster.local", "localhost"], ["127.0.0.1"])
        self.ssl_context = cert.server_context(self.workdir, "apiserver")
        for ns in BUILTIN_NAMESPACES:
            self.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    # -- tokens

    def _new_token(self, user: str) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = user
        return token

    def token_for(self, namespace: str, service_account: str) -> str:
        user = f"system:serviceaccount:{namespace}:{service_account}"
        for token, u in self.tokens.items():
            if u == user:
                return token
        return self._new_token(user)

    # -- serving

    def listen(self, sock: socket.socket | None = None) -> tuple[str, int]:
        """Serve on `sock` (a listening socket, e.g. made in the pod network) or on a new
        127.0.0.1:<random> socket of the host. Returns its address."""
        if sock is None:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
        server = _Server(self, sock)
        self._servers.append(server)
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                             daemon=True, name="fake-apiserver")
        t.start()
        self._threads.append(t)
        return sock.getsockname()[:2]

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        for s in self._servers:
            s.shutdown()
            s.close_all()
            s.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._log.close()

    def log(self, line: str) -> None:
        if not self._log.closed:
            self._log.write(line + "\n")

    # -- records

    def mutations(self) -> list[dict]:
        return [r for r in self.requests if r["verb"] in ("create", "update", "patch", "delete", "deletecollection")]

    def created(self, plural: str = "pods") -> list[dict]:
        """Bodies of successful create requests for `plural`, in order (exactly as sent)."""
        return [r["body"] for r in self.requests
                if r["verb"] == "create" and r["resource"] == plural and r["status"] < 300]

    # -- store primitives (callers hold no lock)

    def _key(self, obj: dict) -> tuple[str, str, str, str]:
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        plural = KIND_TO_PLURAL.get((group, obj["kind"]))
        if plural is None:
            raise ValueError(f"fake API server: kind {obj['apiVersion']} {obj['kind']} is not modelled")
        namespaced = RESOURCES[(group, plural)][2]
        ns = (obj["metadata"].get("namespace") or "default") if namespaced else ""
        return group, plural, ns, obj["metadata"]["name"]

    def _record_event(self, group: str, plural: str, etype: str, obj: dict) -> None:
        self.events.append((self.rv, group, plural, etype, copy.deepcopy(obj)))
        self.cond.notify_all()

    def _bump(self, obj: dict) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def _put(self, key, obj: dict, etype: str) -> dict:
        self._bump(obj)
        self.store[key] = obj
        self._record_event(key[0], key[1], etype, obj)
        return obj

    def seed(self, *objects: dict) -> None:
        """Add objects as they are (nodes with labels and allocatable, configmaps, PVCs, ...)."""
        with self.cond:
            for o in objects:
                obj = copy.deepcopy(o)
                key = self._key(obj)
                if key[2]:
                    obj["metadata"]["namespace"] = key[2]
                obj["metadata"].setdefault("uid", str(uuid.uuid4()))
                obj["metadata"].setdefault("creationTimestamp", now_iso())
                if obj["kind"] == "Secret":
                    self._secret_string_data(obj)
                self._put(key, obj, "MODIFIED" if key in self.store else "ADDED")

    def get(self, plural: str, namespace: str, name: str, group: str = "") -> dict | None:
        with self.cond:
            obj = self.store.get((group, plural, namespace, name))
            return copy.deepcopy(obj) if obj else None

    def objects(self, plural: str, namespace: str | None = None, group: str = "") -> list[dict]:
        with self.cond:
            return [copy.deepcopy(o) for (g, p, ns, _), o in sorted(self.store.items())
                    if g == group and p == plural and (namespace is None or ns == namespace)]

    def pods(self, namespace: str | None = None) -> list[dict]:
        return self.objects("pods", namespace)

    def set_pod_phase(self, namespace: str, name: str, phase: str) -> dict:
        """Move a pod to Pending, Running (ready, podIP 127.0.0.1), Succeeded or Failed."""
        with self.cond:
            key = ("", "pods", namespace, name)
            pod = self.store.get(key)
            if pod is None:
                raise KeyError(f"no pod {namespace}/{name}")
            pod = copy.deepcopy(pod)
            status = pod.setdefault("status", {})
            status["phase"] = phase
            if phase == "Running":
                pod["spec"]["nodeName"] = self.node_name
                ts = now_iso()
                status.update({
                    "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "hostIP": "127.0.0.1",
                    "startTime": ts,
                    "conditions": [{"type": t, "status": "True", "lastTransitionTime": ts}
                                   for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                    "containerStatuses": [{"name": c["name"], "ready": True, "started": True, "restartCount": 0,
                                           "image": c.get("image", ""), "imageID": "",
                                           "containerID": f"containerd://{secrets.token_hex(32)}",
                                           "state": {"running": {"startedAt": ts}}}
                                          for c in pod["spec"].get("containers", [])],
                })
                self._put(key, pod, "MODIFIED")
                self._emit_event(pod, "Scheduled", f"Successfully assigned {namespace}/{name} to {self.node_name}")
                self._emit_event(pod, "Started", "Started container (fake API server)")
            else:
                self._put(key, pod, "MODIFIED")
            return copy.deepcopy(pod)

    def _emit_event(self, pod: dict, reason: str, message: str) -> None:
        ns = pod["metadata"]["namespace"]
        name = f"{pod['metadata']['name']}.{secrets.token_hex(8)}"
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": name, "namespace": ns, "uid": str(uuid.uuid4()), "creationTimestamp": now_iso()},
              "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"],
                                 "uid": pod["metadata"]["uid"], "apiVersion": "v1"},
              "reason": reason, "message": message, "type": "Normal", "count": 1,
              "firstTimestamp": now_iso(), "lastTimestamp": now_iso(), "source": {"component": "fake-apiserver"}}
        self._put(("", "events", ns, name), ev, "ADDED")

    @staticmethod
    def _secret_string_data(obj: dict) -> None:
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {}) or {}
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        obj["data"] = data

    # -- request handling (called by the HTTP handler)

    def handle(self, method: str, path: str, query: dict[str, str], body, content_type: str) -> tuple[int, dict]:
        m = _PATH.match(path)
        if not m:
            if method == "GET" and path in ("/version", "/version/"):
                return 200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake", "platform": "linux/amd64"}
            if method == "GET" and path in ("/healthz", "/readyz", "/livez"):
                return 200, {"status": "ok"}
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        group = m.group("group") or ""
        version = m.group("cv") or m.group("gv")
        plural, ns, name, sub = m.group("res"), m.group("ns"), m.group("name"), m.group("sub")
        if (group, plural) not in RESOURCES or RESOURCES[(group, plural)][0] != version:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        _, kind, namespaced = RESOURCES[(group, plural)]
        if namespaced is False and ns is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        api_version = f"{group}/{version}" if group else version
        ns = ns or ""
        if ns and method in ("POST", "PUT", "PATCH") and ("", "namespaces", "", ns) not in self.store:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                           {"name": ns, "kind": "namespaces"})
        if sub and sub not in ("status", "log"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ctx = dict(group=group, plural=plural, kind=kind, api_version=api_version, namespaced=namespaced)

        if method == "GET" and name is None:
            if query.get("watch", "").lower() in ("true", "1"):
                raise _Watch(ctx, ns if namespaced else None)
            return 200, self._list(ctx, ns if namespaced else None, query)
        if method == "GET":
            if sub == "log":
                self._get(ctx, ns, name)
                return 200, {"_raw": ""}
            return 200, self._get(ctx, ns, name)
        if method == "POST" and name is None:
            return self._create(ctx, ns, body, query)
        if method == "PUT" and name:
            return self._update(ctx, ns, name, body, query)
        if method == "PATCH" and name:
            return self._patch(ctx, ns, name, body, content_type, query)
        if method == "DELETE" and name:
            return self._delete(ctx, ns, name, query)
        if method == "DELETE" and name is None:
            return self._delete_collection(ctx, ns if namespaced else None, query)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _not_found(self, ctx, name):
        resource = f"{ctx['plural']}.{ctx['group']}" if ctx["group"] else ctx["plural"]
        return ApiError(404, "NotFound", f'{resource} "{name}" not found',
                        {"name": name, "group": ctx["group"], "kind": ctx["plural"]} if ctx["group"]
                        else {"name": name, "kind": ctx["plural"]})

    def _get(self, ctx, ns, name) -> dict:
        with self.cond:
            obj = self.store.get((ctx["group"], ctx["plural"], ns, name))
            if obj is None:
                raise self._not_found(ctx, name)
            return copy.deepcopy(obj)

    def select(self, ctx, ns, query) -> list[dict]:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"))
        out = []
        for (g, p, ons, _), o in sorted(self.store.items()):
            if g != ctx["group"] or p != ctx["plural"] or (ns is not None and ons != ns):
                continue
            if labels_match(o["metadata"].get("labels") or {}, labels) and fields_match(o, fields):
                out.append(o)
        return out

    def _list(self, ctx, ns, query) -> dict:
        with self.cond:
            items = [copy.deepcopy(o) for o in self.select(ctx, ns, query)]
            rv = str(self.rv)
        for o in items:
            o.pop("kind", None)
            o.pop("apiVersion", None)
        meta: dict = {"resourceVersion": rv}
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0)
        if limit or start:
            end = start + limit if limit else len(items)
            if end < len(items):
                meta["continue"] = str(end)
                meta["remainingItemCount"] = len(items) - end
            items = items[start:end]
        return {"kind": f"{ctx['kind']}List", "apiVersion": ctx["api_version"], "metadata": meta, "items": items}

    def _create(self, ctx, ns, body, query) -> tuple[int, dict]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {}) or {}
        obj["metadata"] = meta
        if ctx["namespaced"]:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise ApiError(400, "BadRequest",
                               "the namespace of the provided object does not match the namespace sent on the request")
            meta["namespace"] = ns
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            else:
                raise ApiError(422, "Invalid", f"{ctx['kind']} \"\" is invalid: metadata.name: Required value: "
                               "name or generateName is required",
                               {"kind": ctx["kind"], "causes": [{"reason": "FieldValueRequired",
                                                                 "message": "Required value: name or generateName is required",
                                                                 "field": "metadata.name"}]})
        obj["kind"] = ctx["kind"]
        obj["apiVersion"] = ctx["api_version"]
        key = (ctx["group"], ctx["plural"], ns if ctx["namespaced"] else "", meta["name"])
        with self.cond:
            if key in self.store:
                resource = f"{ctx['plural']}.{ctx['group']}" if ctx["group"] else ctx["plural"]
                raise ApiError(409, "AlreadyExists", f'{resource} "{meta["name"]}" already exists',
                               {"name": meta["name"], "kind": ctx["plural"]})
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_iso()
            for k in [k for k, v in meta.items() if v is None]:
                del meta[k]
            if ctx["kind"] == "Secret":
                self._secret_string_data(obj)
            if ctx["kind"] == "Pod":
                self._default_pod(obj)
            if ctx["kind"] == "PersistentVolumeClaim":
                obj["status"] = {"phase": "Pending"}
            if ctx["kind"] == "Service":
                obj.setdefault("spec", {}).setdefault("clusterIP", f"10.96.{secrets.randbelow(250)}.{secrets.randbelow(250) + 2}")
            if query.get("dryRun") == "All":
                return 201, copy.deepcopy(obj)
            self._put(key, obj, "ADDED")
            created = copy.deepcopy(obj)
        if ctx["kind"] == "Pod":
            behavior = self.pod_behavior
            if callable(behavior):
                behavior(copy.deepcopy(created))
            elif behavior == "Running":
                threading.Timer(0.05, self._run_pod, args=(ns, meta["name"])).start()
        return 201, created

    def _run_pod(self, ns: str, name: str) -> None:
        try:
            self.set_pod_phase(ns, name, "Running")
        except KeyError:
            pass

    @staticmethod
    def _default_pod(pod: dict) -> None:
        spec = pod.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        for c in spec.get("containers", []):
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("imagePullPolicy", "IfNotPresent")
        pod["status"] = {"phase": "Pending", "qosClass": "Burstable"}

    def _update(self, ctx, ns, name, body, query) -> tuple[int, dict]:
        key = (ctx["group"], ctx["plural"], ns, name)
        with self.cond:
            old = self.store.get(key)
            if old is None:
                raise self._not_found(ctx, name)
            obj = copy.deepcopy(body)
            obj["kind"], obj["apiVersion"] = ctx["kind"], ctx["api_version"]
            sent_rv = (obj.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {ctx["plural"]} "{name}": '
                               "the object has been modified; please apply your changes to the latest version and try again")
            obj.setdefault("metadata", {}).update({k: old["metadata"][k] for k in ("uid", "creationTimestamp", "namespace")
                                                   if k in old["metadata"]})
            if ctx["kind"] == "Secret":
                self._secret_string_data(obj)
            return 200, copy.deepcopy(self._put(key, obj, "MODIFIED"))

    def _patch(self, ctx, ns, name, body, content_type, query) -> tuple[int, dict]:
        key = (ctx["group"], ctx["plural"], ns, name)
        with self.cond:
            old = self.store.get(key)
            if old is None:
                raise self._not_found(ctx, name)
            if content_type.startswith("application/json-patch+json"):
                obj = json_patch(old, body)
            else:  # merge-patch, strategic-merge-patch (lists replaced, an approximation), apply-patch
                obj = merge_patch(old, body)
            obj["metadata"].update({k: old["metadata"][k] for k in ("uid", "creationTimestamp", "name")})
            return 200, copy.deepcopy(self._put(key, obj, "MODIFIED"))

    def _delete(self, ctx, ns, name, query) -> tuple[int, dict]:
        key = (ctx["group"], ctx["plural"], ns, name)
        with self.cond:
            obj = self.store.pop(key, None)
            if obj is None:
                raise self._not_found(ctx, name)
            obj = copy.deepcopy(obj)
            if ctx["kind"] == "Pod":
                obj["metadata"]["deletionTimestamp"] = now_iso()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
            self._bump(obj)
            self._record_event(ctx["group"], ctx["plural"], "DELETED", obj)
            return 200, obj

    def _delete_collection(self, ctx, ns, query) -> tuple[int, dict]:
        with self.cond:
            victims = [copy.deepcopy(o) for o in self.select(ctx, ns, query)]
            for o in victims:
                self.store.pop(self._key(o), None)
                self._bump(o)
                self._record_event(ctx["group"], ctx["plural"], "DELETED", o)
        for o in victims:
            o.pop("kind", None)
            o.pop("apiVersion", None)
        return 200, {"kind": f"{ctx['kind']}List", "apiVersion": ctx["api_version"],
                     "metadata": {"resourceVersion": str(self.rv)}, "items": victims}

    # -- watch

    def watch(self, ctx, ns, query, write: Callable[[dict], None]) -> None:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"))
        timeout = float(query.get("timeoutSeconds") or 0) or None
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("true", "1")
        deadline = time.monotonic() + timeout if timeout else None
        rv_param = query.get("resourceVersion")

        def matches(group, plural, obj) -> bool:
            return (group == ctx["group"] and plural == ctx["plural"]
                    and (ns is None or obj["metadata"].get("namespace", "") == ns)
                    and labels_match(obj["metadata"].get("labels") or {}, labels) and fields_match(obj, fields))

        with self.cond:
            if rv_param in (None, "", "0"):
                initial = [copy.deepcopy(o) for o in self.select(ctx, ns, query)]
                position = self.rv
            else:
                try:
                    position = int(rv_param)
                except ValueError:
                    raise ApiError(400, "BadRequest", f"invalid resource version: {rv_param!r}") from None
                initial = []
        for obj in initial:
            write({"type": "ADDED", "object": obj})
        last_bookmark = time.monotonic()
        while True:
            with self.cond:
                pending = [(rv, etype, obj) for rv, g, p, etype, obj in self.events
                           if rv > position and matches(g, p, obj)]
                position = max(position, self.rv)
                if not pending:
                    wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
                    if not self.closing and wait > 0:
                        self.cond.wait(wait)
                    pending = [(rv, etype, obj) for rv, g, p, etype, obj in self.events
                               if rv > position and matches(g, p, obj)]
                    position = max(position, self.rv)
                closing = self.closing
            for _, etype, obj in pending:
                write({"type": etype, "object": obj})
            if closing or (deadline is not None and time.monotonic() >= deadline):
                return
            if bookmarks and time.monotonic() - last_bookmark > 5:
                write({"type": "BOOKMARK", "object": {"kind": ctx["kind"], "apiVersion": ctx["api_version"],
                                                      "metadata": {"resourceVersion": str(position)}}})
                last_bookmark = time.monotonic()


class _Watch(Exception):
    def __init__(self, ctx, ns):
        super().__init__("watch")
        self.ctx, self.ns = ctx, ns


_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, fmt, *args):  # no stderr noise; requests go to apiserver.log
        pass

    def _send_json(self, code: int, body: dict) -> None:
        if "_raw" in body:
            data, ctype = body["_raw"].encode(), "text/plain"
        else:
            data, ctype = json.dumps(body).encode(), "application/json"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        api = self.server.api
        started = time.monotonic()
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        user = api.tokens.get(token.strip()) if scheme.lower() == "bearer" else None  # the scheme is case-insensitive
        m = _PATH.match(split.path)
        name = m.group("name") if m else None
        if self.command == "GET":
            verb = "get" if name else ("watch" if query.get("watch", "").lower() in ("true", "1") else "list")
        elif self.command == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            verb = _VERBS.get(self.command, self.command.lower())
        record = {"time": time.time(), "verb": verb, "method": self.command, "path": split.path, "query": query,
                  "body": body, "user": user, "resource": m.group("res") if m else None,
                  "namespace": m.group("ns") if m else None, "name": name, "status": 0}
        api.requests.append(record)
        try:
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            code, result = api.handle(self.command, split.path, query, body, content_type)
            record["status"] = code
            self._send_json(code, result)
        except _Watch as w:
            record["status"] = 200
            api.log(f"{datetime.datetime.now().isoformat(timespec='milliseconds')} {user} {self.command} "
                    f"{self.path} -> watching")
            self._stream_watch(api, w, query)
        except ApiError as e:
            record["status"] = e.code
            self._send_json(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug in the fake must show up as a 500, logged
            record["status"] = 500
            api.log(f"ERROR {type(e).__name__}: {e}")
            self._send_json(500, ApiError(500, "InternalError", f"fake API server: {type(e).__name__}: {e}").status())
        api.log(f"{datetime.datetime.now().isoformat(timespec='milliseconds')} {user or '-'} {self.command} "
                f"{self.path} -> {record['status']} ({(time.monotonic() - started) * 1000:.0f} ms)")

    def _stream_watch(self, api: FakeKubeAPI, w: _Watch, query: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def write(event: dict) -> None:
            data = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        try:
            api.watch(w.ctx, w.ns, query, write)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _Server(TLSServer):
    def __init__(self, api: FakeKubeAPI, sock: socket.socket):
        super().__init__(sock, _Handler, api.ssl_context)
        self.api = api
