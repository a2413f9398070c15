"""Upstream Helm charts on disk, and what they create: `helm template` with the pinned chart.

A Helm release is only a name, a version and values until its chart runs. `swan render` runs
each release's real chart at the pinned version, so that what the cluster would get is what
the render shows and what the tests check. Charts are read from chart folders named
`<chart>-<version>` (the layout of `helm pull --untar`): the local cache that `swan charts pull`
fills, or any mirror holding the same layout (`SWAN_CHARTS`, `--charts`). Nothing here needs
a cluster or the network, except `pull`.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

CHARTS_ENV = "SWAN_CHARTS"  # folders of `<chart>-<version>` charts, separated by ':'
HELM_ENV = "SWAN_HELM"      # the helm binary, when it is not `helm` on PATH
DEFAULT_CACHE = Path.home() / ".cache" / "swan-iac" / "charts"
HELM_TIMEOUT = 120  # seconds for one `helm template` or `helm pull`

# Built-in kinds that have no namespace; custom kinds take their scope from their CRD.
CLUSTER_SCOPED = frozenset({
    "APIService", "CSIDriver", "CSINode", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "FlowSchema", "IngressClass", "MutatingWebhookConfiguration", "Namespace",
    "Node", "PersistentVolume", "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass", "StorageClass",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration",
    "VolumeAttachment",
})


class ChartError(Exception):
    """A chart that cannot be found, fetched or templated; the message says what to do."""


@dataclass(frozen=True)
class ChartRef:
    """Which chart a release installs: `repository` is None for an `oci://.../<chart>` address."""

    chart: str     # as the release declares it: a name, or a full oci:// address
    version: str
    repository: str | None = None

    @property
    def name(self) -> str:
        return self.chart.rstrip("/").rsplit("/", 1)[-1]

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}"

    def __str__(self) -> str:
        where = f" from {self.repository}" if self.repository else ""
        return f"{self.chart} {self.version}{where}"


def chart_dirs(option: str | None = None) -> list[Path]:
    """Where charts are looked up: `--charts`, else SWAN_CHARTS, else the user's chart cache."""
    value = option or os.environ.get(CHARTS_ENV)
    if not value:
        return [DEFAULT_CACHE]
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p]


def find_chart(ref: ChartRef, dirs: list[Path]) -> Path | None:
    """The first `<chart>-<version>` folder holding that chart at that version."""
    for folder in dirs:
        candidate = folder / ref.folder
        meta = candidate / "Chart.yaml"
        if meta.is_file():
            declared = yaml.safe_load(meta.read_text()) or {}
            if str(declared.get("name")) == ref.name and str(declared.get("version")) == ref.version:
                return candidate
    return None


def helm_binary() -> str | None:
    return os.environ.get(HELM_ENV) or shutil.which("helm")


def _helm(args: list[str]) -> str:
    helm = helm_binary()
    if helm is None:
        raise ChartError(f"helm 3 is not installed (put it on PATH or set {HELM_ENV}); see README, 'Charts'")
    try:
        done = subprocess.run([helm, *args], capture_output=True, text=True, timeout=HELM_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ChartError(f"helm {args[0]} took more than {HELM_TIMEOUT} s") from None
    if done.returncode != 0:
        raise ChartError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"helm {args[0]} failed")
    return done.stdout


def template(release: str, namespace: str, chart_dir: Path, values: dict, kube_version: str,
             api_versions: list[str]) -> list[dict]:
    """Every object the chart creates for these values, as `helm install` would send them."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as values_file:
        json.dump(values, values_file)
        values_file.flush()
        args = ["template", release, str(chart_dir), "--namespace", namespace, "--values", values_file.name,
                "--kube-version", kube_version, "--include-crds", "--skip-tests"]
        for api in api_versions:
            args += ["--api-versions", api]
        out = _helm(args)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: large CRDs parse several times faster
    return [doc for doc in yaml.load_all(out, Loader=loader) if isinstance(doc, dict) and doc.get("kind")]


def with_namespace(objects: list[dict], namespace: str) -> list[dict]:
    """Namespaced objects that a chart leaves without a namespace go to the release's namespace,
    as Helm installs them; cluster-scoped kinds (built-in or by their CRD's scope) have none."""
    cluster_kinds = set(CLUSTER_SCOPED) | {
        o["spec"]["names"]["kind"] for o in objects
        if o.get("kind") == "CustomResourceDefinition" and o.get("spec", {}).get("scope") == "Cluster"}
    placed = []
    for obj in objects:
        meta = dict(obj.get("metadata") or {})
        if obj.get("kind") not in cluster_kinds and not meta.get("namespace"):
            meta["namespace"] = namespace
        placed.append({**obj, "metadata": meta})
    return placed


def redacted(obj: dict, placeholder: str = "[secret]") -> dict:
    """The object as a render shows it: a Secret's values masked (charts generate tokens at random
    when templated offline; a render shows no secret and stays byte-identical), and the pod-template
    checksums of secrets and tokens likewise. Keys stay visible."""
    if obj.get("kind") == "Secret":
        return {**obj, **{field: {k: placeholder for k in obj[field]}
                          for field in ("data", "stringData") if isinstance(obj.get(field), dict)}}
    template = (obj.get("spec") or {}).get("template") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    secret_sums = [k for k in annotations if k.startswith("checksum/") and ("secret" in k or "token" in k)]
    if secret_sums:
        annotations = {**annotations, **{k: placeholder for k in secret_sums}}
        template = {**template, "metadata": {**template["metadata"], "annotations": annotations}}
        return {**obj, "spec": {**obj["spec"], "template": template}}
    return obj


def file_name(obj: dict) -> str:
    """`<Kind>-<namespace>-<name>.yaml`, `cluster` standing for no namespace (as k8s/ files)."""
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}-{meta.get('namespace') or 'cluster'}-{meta.get('name', 'unnamed')}.yaml"


@dataclass(frozen=True)
class ReleaseTemplate:
    """What templating one release gave: its objects, or the reason there are none."""

    release: str
    ref: ChartRef
    objects: list[dict] | None = None
    problem: str | None = None


@dataclass(frozen=True)
class ReleaseSpec:
    """The parts of a Helm release that templating needs."""

    release: str
    namespace: str
    ref: ChartRef
    values: dict


def template_all(releases: list[ReleaseSpec], dirs: list[Path], kube_version: str,
                 api_versions: list[str]) -> list[ReleaseTemplate]:
    """Template every release with its pinned chart, in parallel; a missing chart or helm is
    reported per release, never raised, so the rest still renders."""

    def one(spec: ReleaseSpec) -> ReleaseTemplate:
        chart_dir = find_chart(spec.ref, dirs)
        if chart_dir is None:
            return ReleaseTemplate(spec.release, spec.ref, problem=(
                f"chart {spec.ref.folder} not found in {', '.join(str(d) for d in dirs)} "
                f"(`swan charts pull` fetches it, or point {CHARTS_ENV}/--charts at a mirror)"))
        try:
            objects = template(spec.release, spec.namespace, chart_dir, spec.values, kube_version, api_versions)
        except ChartError as exc:
            return ReleaseTemplate(spec.release, spec.ref, problem=f"helm template failed: {exc}")
        return ReleaseTemplate(spec.release, spec.ref, objects=with_namespace(objects, spec.namespace))

    if not releases:
        return []
    with ThreadPoolExecutor(max_workers=min(4, len(releases))) as pool:
        return list(pool.map(one, releases))


def pull(ref: ChartRef, cache: Path) -> Path:
    """Fetch a chart into the cache as `<chart>-<version>/` (nothing to do when it is there)."""
    target = cache / ref.folder
    if find_chart(ref, [cache]) is not None:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".pull-") as staging:
        source = [ref.chart] if ref.repository is None else [ref.name, "--repo", ref.repository]
        _helm(["pull", *source, "--version", ref.version, "--untar", "--untardir", staging])
        pulled = Path(staging) / ref.name
        if not (pulled / "Chart.yaml").is_file():
            raise ChartError(f"helm pull of {ref} gave no {ref.name}/Chart.yaml")
        if target.exists():
            shutil.rmtree(target)
        pulled.rename(target)
    return target
