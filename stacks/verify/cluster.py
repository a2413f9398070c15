"""Cluster checks over the Kubernetes API: nodes Ready, GPU allocatable per pool against the
plan, platform DaemonSets/Deployments ready, event pools labelled and tainted as declared,
TLS certificates not about to expire.

The checks read API objects through `ApiReader.get(path)`, so tests feed them recorded
objects and production feeds them `KubeApi` (plain HTTPS with the kubeconfig's credentials).
What is expected comes from `ClusterExpectations` (stack outputs or `--expect FILE`).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Protocol

from stacks.errors import InputError, Problem
from stacks.verify.model import Check, CheckFailed, CheckSkipped

CHECK_NAMES = ("cluster.nodes", "cluster.gpu", "cluster.workloads", "cluster.event-pools", "cluster.tls")
POOL_LABEL = "swan.cern.ch/node-pool"  # the label stacks.infra.pools puts on every pool's nodes
GPU_RESOURCE_PREFIXES = ("nvidia.com/gpu", "nvidia.com/mig-")


class ApiReader(Protocol):
    def get(self, path: str) -> dict:
        """GET an API path (e.g. `/api/v1/nodes`) and return the decoded JSON object."""


# -- expectations -------------------------------------------------------------------------
@dataclass
class PoolExpectation:
    """A node pool as declared: how to find its nodes, its GPU resources, labels and taints."""

    name: str
    selector: dict[str, str]
    gpu: dict[str, int] = field(default_factory=dict)  # resource -> allocatable total over the pool
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    event: bool = False


@dataclass
class ClusterExpectations:
    pools: list[PoolExpectation] = field(default_factory=list)
    workloads: list[dict[str, str]] = field(default_factory=list)  # {kind, namespace, name}
    namespaces: list[str] = field(default_factory=list)  # where to look when workloads/tls are not listed
    # {namespace, name}; None (not given): every TLS secret in `namespaces`; []: none to check
    tls_secrets: Optional[list[dict[str, str]]] = None
    cert_days: int = 14


def load_expectations(data: dict, source: str) -> ClusterExpectations:
    """Validate an expectations document (YAML/JSON dict); every problem names its key."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise InputError(Problem(source, "", "expected a mapping"))
    known = {"pools", "workloads", "namespaces", "tls_secrets", "cert_days"}
    for key in sorted(set(data) - known):
        problems.append(Problem(source, key, f"unknown key (known: {', '.join(sorted(known))})"))
    pools = []
    for i, p in enumerate(data.get("pools") or []):
        where = f"pools[{i}]"
        if not isinstance(p, dict) or not p.get("name"):
            problems.append(Problem(source, where, "needs a name"))
            continue
        gpu = p.get("gpu") or {}
        for res, n in gpu.items():
            if not str(res).startswith(GPU_RESOURCE_PREFIXES):
                problems.append(Problem(source, f"{where}.gpu.{res}", "not nvidia.com/gpu or nvidia.com/mig-<profile>"))
            if not isinstance(n, int) or n < 0:
                problems.append(Problem(source, f"{where}.gpu.{res}", "must be a whole number >= 0"))
        taints = p.get("taints") or []
        for j, t in enumerate(taints):
            if not isinstance(t, dict) or "key" not in t or "effect" not in t:
                problems.append(Problem(source, f"{where}.taints[{j}]", "needs key and effect"))
        pools.append(PoolExpectation(
            name=p["name"], selector=p.get("selector") or {POOL_LABEL: p["name"]}, gpu=dict(gpu),
            labels=dict(p.get("labels") or {}), taints=list(taints), event=bool(p.get("event", False))))
    for i, w in enumerate(data.get("workloads") or []):
        if not isinstance(w, dict) or w.get("kind") not in ("Deployment", "DaemonSet") or not w.get("name") \
                or not w.get("namespace"):
            problems.append(Problem(source, f"workloads[{i}]", "needs kind (Deployment|DaemonSet), namespace, name"))
    for i, t in enumerate(data.get("tls_secrets") or []):
        if not isinstance(t, dict) or not t.get("name") or not t.get("namespace"):
            problems.append(Problem(source, f"tls_secrets[{i}]", "needs namespace and name"))
    cert_days = data.get("cert_days", 14)
    if not isinstance(cert_days, int) or cert_days < 0:
        problems.append(Problem(source, "cert_days", "must be a whole number >= 0"))
    if problems:
        raise InputError(problems)
    return ClusterExpectations(pools=pools, workloads=list(data.get("workloads") or []),
                               namespaces=list(data.get("namespaces") or []),
                               tls_secrets=list(data["tls_secrets"] or []) if "tls_secrets" in data else None,
                               cert_days=cert_days)


# -- pure evaluation over API objects -----------------------------------------------------
def _matches(labels: dict, selector: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _quantity(value) -> int:
    """Extended resources (GPUs, MIG slices) are whole numbers; tolerate the string form."""
    return int(str(value))


def nodes_ready(nodes: list[dict]) -> str:
    if not nodes:
        raise CheckFailed("the cluster has no nodes")
    bad = []
    for n in nodes:
        conds = {c["type"]: c for c in n.get("status", {}).get("conditions", [])}
        ready = conds.get("Ready", {})
        if ready.get("status") != "True":
            bad.append(f"{n['metadata']['name']} ({ready.get('reason') or 'no Ready condition'})")
        elif n.get("spec", {}).get("unschedulable"):
            bad.append(f"{n['metadata']['name']} (cordoned)")
    if bad:
        raise CheckFailed(f"{len(bad)} of {len(nodes)} nodes not Ready: {', '.join(bad)}")
    return f"{len(nodes)} nodes Ready"


def gpu_allocatable(nodes: list[dict], pools: list[PoolExpectation]) -> str:
    planned = [p for p in pools if p.gpu]
    if not planned:
        raise CheckSkipped("no GPU pool in the plan")
    problems, seen = [], []
    for p in planned:
        members = [n for n in nodes if _matches(n["metadata"].get("labels", {}), p.selector)]
        if not members:
            problems.append(f"pool {p.name}: no nodes match {p.selector}")
            continue
        for res, want in sorted(p.gpu.items()):
            have = sum(_quantity(n.get("status", {}).get("allocatable", {}).get(res, 0)) for n in members)
            if have < want:
                problems.append(f"pool {p.name}: {res} allocatable {have}, plan {want}")
            else:
                seen.append(f"{p.name}: {res}={have}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return ", ".join(seen)


def workloads_ready(objects: list[dict]) -> str:
    if not objects:
        raise CheckSkipped("no DaemonSets or Deployments to check")
    bad = []
    for o in objects:
        kind, meta, st = o.get("kind"), o["metadata"], o.get("status", {})
        ref = f"{kind} {meta.get('namespace')}/{meta['name']}"
        if kind == "DaemonSet":
            want, have = st.get("desiredNumberScheduled", 0), st.get("numberReady", 0)
        else:
            want, have = o.get("spec", {}).get("replicas", 1), st.get("readyReplicas", 0)
        if have < want:
            bad.append(f"{ref} {have}/{want} ready")
    if bad:
        raise CheckFailed("; ".join(bad))
    return f"{len(objects)} DaemonSets/Deployments ready"


def _taint_text(t: dict) -> str:
    return f"{t['key']}={t.get('value', '')}:{t['effect']}"


def event_pools_declared(nodes: list[dict], pools: list[PoolExpectation]) -> str:
    declared = [p for p in pools if p.event]
    if not declared:
        raise CheckSkipped("no event node pool declared")
    problems, ok = [], []
    for p in declared:
        members = [n for n in nodes if _matches(n["metadata"].get("labels", {}), p.selector)]
        if not members:
            problems.append(f"pool {p.name}: no nodes match {p.selector}")
            continue
        want_taints = {_taint_text(t) for t in p.taints}
        for n in members:
            name, labels = n["metadata"]["name"], n["metadata"].get("labels", {})
            wrong = [f"{k}={v}" for k, v in p.labels.items() if labels.get(k) != v]
            have_taints = {_taint_text(t) for t in n.get("spec", {}).get("taints", [])}
            missing = sorted(want_taints - have_taints)
            if wrong:
                problems.append(f"{name}: label(s) {', '.join(wrong)} missing")
            if missing:
                problems.append(f"{name}: taint(s) {', '.join(missing)} missing")
        ok.append(f"{p.name} ({len(members)} nodes)")
    if problems:
        raise CheckFailed("; ".join(problems))
    return "labelled and tainted: " + ", ".join(ok)


def certificate_not_after(secret: dict) -> dt.datetime:
    from cryptography import x509

    pem = base64.b64decode(secret.get("data", {}).get("tls.crt", ""))
    if not pem:
        raise ValueError("no tls.crt")
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc


def certificates_valid(secrets: list[dict], days: int, now: Optional[dt.datetime] = None) -> str:
    if not secrets:
        raise CheckSkipped("no TLS secrets to check")
    now = now or dt.datetime.now(dt.timezone.utc)
    limit = now + dt.timedelta(days=days)
    bad, soonest = [], None
    for s in secrets:
        ref = f"{s['metadata'].get('namespace')}/{s['metadata']['name']}"
        try:
            end = certificate_not_after(s)
        except Exception as exc:
            bad.append(f"{ref}: unreadable certificate ({exc})")
            continue
        if end <= limit:
            left = (end - now).days
            bad.append(f"{ref} expires {end:%Y-%m-%d} ({'expired' if left < 0 else f'in {left} days'})")
        soonest = end if soonest is None or end < soonest else soonest
    if bad:
        raise CheckFailed(f"within {days} days: " + "; ".join(bad))
    return f"{len(secrets)} certificates valid beyond {days} days (soonest {soonest:%Y-%m-%d})"


# -- the checks, reading through an ApiReader ---------------------------------------------
class ClusterVerification:
    def __init__(self, api: ApiReader, expect: ClusterExpectations, timeout: float = 60.0,
                 now: Optional[dt.datetime] = None):
        self.api, self.expect, self.timeout, self.now = api, expect, timeout, now

    def _items(self, path: str) -> list[dict]:
        return self.api.get(path).get("items", [])

    # What each check reads, declared as API paths: the checks GET exactly these, and the nightly
    # identity's RBAC rules are generated from them (stacks.verify.access).
    NODES_PATH = "/api/v1/nodes"

    def _workload_targets(self) -> list[tuple[str, str, str | None]]:
        """(kind, API path, `namespace/name` when one named object is read) of the workload check."""
        if self.expect.workloads:
            return [(w["kind"], f"/apis/apps/v1/namespaces/{w['namespace']}/"
                     f"{'deployments' if w['kind'] == 'Deployment' else 'daemonsets'}/{w['name']}",
                     f"{w['namespace']}/{w['name']}") for w in self.expect.workloads]
        return [(kind, f"/apis/apps/v1/namespaces/{ns}/{plural}" if ns else f"/apis/apps/v1/{plural}", None)
                for ns in self.expect.namespaces or [None]
                for kind, plural in (("DaemonSet", "daemonsets"), ("Deployment", "deployments"))]

    def _tls_paths(self) -> list[str]:
        """Named TLS secrets when the expectations list them (an empty list: none to read); else every
        TLS secret of the namespaces (a `swan verify` by hand, with the operator's own rights)."""
        if self.expect.tls_secrets is not None:
            return [f"/api/v1/namespaces/{t['namespace']}/secrets/{t['name']}" for t in self.expect.tls_secrets]
        return [(f"/api/v1/namespaces/{ns}/secrets" if ns else "/api/v1/secrets")
                + "?fieldSelector=type%3Dkubernetes.io%2Ftls" for ns in self.expect.namespaces or [None]]

    def paths(self) -> dict[str, list[str]]:
        """Every API path each check GETs, by check name."""
        nodes = [self.NODES_PATH]
        return {"cluster.nodes": nodes, "cluster.gpu": nodes,
                "cluster.workloads": [path for _, path, _ in self._workload_targets()],
                "cluster.event-pools": nodes, "cluster.tls": self._tls_paths()}

    def _workloads(self) -> list[dict]:
        found = []
        for kind, path, named in self._workload_targets():
            if named is None:
                found += [{**o, "kind": kind} for o in self._items(path)]
                continue
            try:
                found.append({**self.api.get(path), "kind": kind})
            except LookupError:
                raise CheckFailed(f"{kind} {named} not found") from None
        return found

    def _tls_secrets(self) -> list[dict]:
        if self.expect.tls_secrets is not None:
            out = []
            for t, path in zip(self.expect.tls_secrets, self._tls_paths()):
                try:
                    out.append(self.api.get(path))
                except LookupError:
                    raise CheckFailed(f"TLS secret {t['namespace']}/{t['name']} not found") from None
            return out
        return [s for path in self._tls_paths() for s in self._items(path) if s.get("type") == "kubernetes.io/tls"]

    def checks(self) -> list[Check]:
        e = self.expect
        nodes = lambda: self._items(self.NODES_PATH)  # noqa: E731
        mk = lambda name, fn: Check(name, "cluster", lambda d: fn(), timeout=self.timeout)  # noqa: E731
        return [
            mk("cluster.nodes", lambda: nodes_ready(nodes())),
            mk("cluster.gpu", lambda: gpu_allocatable(nodes(), e.pools)),
            mk("cluster.workloads", lambda: workloads_ready(self._workloads())),
            mk("cluster.event-pools", lambda: event_pools_declared(nodes(), e.pools)),
            mk("cluster.tls", lambda: certificates_valid(self._tls_secrets(), e.cert_days, self.now)),
        ]


# -- the real API, with requests ------------------------------------------------------------
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeApi:
    """Read-only Kubernetes API over HTTPS with a kubeconfig (token, client cert or exec plugin)
    or, inside a pod, the service account. Small on purpose: GET and JSON only."""

    def __init__(self, server: str, headers: dict, verify, cert=None, tmpdir=None):
        import requests

        self.server = server.rstrip("/")
        self.http = requests.Session()
        self.http.headers.update(headers)
        self.http.verify = verify
        self.http.cert = cert
        self._tmpdir = tmpdir  # keeps decoded credential files alive as long as the client

    def get(self, path: str) -> dict:
        resp = self.http.get(self.server + path, timeout=30)
        if resp.status_code == 404:
            raise LookupError(path)
        if resp.status_code >= 400:
            raise CheckFailed(f"Kubernetes API GET {path}: {resp.status_code} {resp.text.strip()[:200]}")
        return resp.json()

    @classmethod
    def in_cluster(cls) -> "KubeApi":
        host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        token = (SERVICE_ACCOUNT / "token").read_text().strip()
        return cls(f"https://{host}:{port}", {"Authorization": f"Bearer {token}"}, str(SERVICE_ACCOUNT / "ca.crt"))

    @classmethod
    def from_kubeconfig(cls, path: str, context: Optional[str] = None) -> "KubeApi":
        _, _ctx, cluster, user = read_kubeconfig(path, context)
        tmp = tempfile.TemporaryDirectory(prefix="swan-verify-kube-")
        base = Path(path).parent

        def material(key: str) -> Optional[str]:
            """A credential file path from `<key>` or `<key>-data` (decoded into the temp dir)."""
            for src in (cluster, user):
                if src.get(f"{key}-data"):
                    out = Path(tmp.name) / key
                    out.write_bytes(base64.b64decode(src[f"{key}-data"]))
                    return str(out)
                if src.get(key):
                    return str(base / src[key])
            return None

        verify = False if cluster.get("insecure-skip-tls-verify") else (material("certificate-authority") or True)
        headers = {}
        token = user.get("token") or (Path(base / user["tokenFile"]).read_text().strip() if user.get("tokenFile") else None)
        if not token and user.get("exec"):
            token = _exec_token(user["exec"], path)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        cert_file, key_file = material("client-certificate"), material("client-key")
        cert = (cert_file, key_file) if cert_file and key_file else None
        return cls(cluster["server"], headers, verify, cert, tmp)


def _named(cfg: dict, kind: str) -> dict[str, dict]:
    """name -> entry of a kubeconfig list (clusters, contexts, users); malformed entries skipped."""
    entries = cfg.get(kind)
    if not isinstance(entries, list):
        return {}
    inner = kind[:-1]
    return {str(x["name"]): x[inner] for x in entries
            if isinstance(x, dict) and "name" in x and isinstance(x.get(inner), dict)}


def read_kubeconfig(path: str, context: Optional[str] = None, shown: Optional[str] = None
                    ) -> tuple[dict, dict, dict, dict]:
    """The kubeconfig, its context, cluster and user; InputError with one short line naming the
    file (as `shown`, e.g. "--kubeconfig: FILE") when it is not a usable kubeconfig. Reads only:
    no exec plugin runs, nothing is contacted."""
    import yaml

    where = shown or path

    def bad(msg: str) -> InputError:
        return InputError(Problem(where, "", msg))

    try:
        cfg = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise bad(f"cannot read kubeconfig: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise bad("not a kubeconfig: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise bad(f"not a kubeconfig: YAML syntax error at {at}{problem}") from None
    if not isinstance(cfg, dict):
        raise bad("not a kubeconfig: expected a mapping with clusters, contexts and users")
    contexts, clusters = _named(cfg, "contexts"), _named(cfg, "clusters")
    missing = [k for k, found in (("clusters", clusters), ("contexts", contexts)) if not found]
    if missing:
        raise bad(f"not a kubeconfig: no {' and no '.join(missing)}")
    ctx_name = context or cfg.get("current-context")
    known = ", ".join(sorted(contexts))
    if not ctx_name:
        raise bad(f"no current-context; give --context (contexts: {known})")
    ctx = contexts.get(str(ctx_name))
    if ctx is None:
        raise bad(f"context {ctx_name!r} not found (contexts: {known})")
    cluster = clusters.get(str(ctx.get("cluster")))
    if not cluster or not cluster.get("server"):
        raise bad(f"context {ctx_name!r}: cluster {ctx.get('cluster')!r} not found or has no server")
    user = _named(cfg, "users").get(str(ctx.get("user")), {})
    return cfg, ctx, cluster, user


def _exec_token(spec: dict, path: str) -> str:
    """Run a kubeconfig exec credential plugin (e.g. `oci ce cluster generate-token`)."""
    cmd = [spec["command"], *(spec.get("args") or [])]
    env = dict(os.environ, **{e["name"]: e["value"] for e in spec.get("env") or []})
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=True).stdout
        return json.loads(out)["status"]["token"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        raise InputError(Problem(path, "users.exec", f"credential plugin {cmd[0]} failed: {exc}")) from None


class RecordedApi:
    """API objects recorded from a real cluster (JSON files keyed by API path), for tests."""

    def __init__(self, objects: dict[str, dict]):
        self.objects = objects

    @classmethod
    def from_file(cls, path: str) -> "RecordedApi":
        return cls(json.loads(Path(path).read_text())["responses"])

    def get(self, path: str) -> dict:
        if path in self.objects:
            return self.objects[path]
        base = path.split("?")[0]
        if base in self.objects:
            return self.objects[base]
        raise LookupError(path)
