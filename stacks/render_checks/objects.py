"""The objects of a `swan render` folder, as the cross-object checks read them.

A render folder holds `k8s/<Kind>-<namespace>-<name>.yaml` (objects the program declares) and
`charts/<release>/<Kind>-<namespace>-<name>.yaml` (objects each release's real chart creates),
one object per file. The checks need to know where an object came from (to name its file in a
message, and to tell two owners of one object apart), so every object keeps its source and path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import yaml

# the render's naming and Helm's placement of namespaced objects, one definition for both
from stacks.charts import file_name, with_namespace

WORKLOAD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")


@dataclass(frozen=True)
class RenderObject:
    """One Kubernetes object of a render: `source` is "k8s" or "chart:<release>", `path` its file
    relative to the render folder (the object's id in every message), `obj` the manifest."""

    source: str
    path: str
    obj: dict = field(hash=False, compare=False, repr=False)

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def api_group(self) -> str:
        """"apps" for apps/v1, "" for the core group (v1)."""
        return self.api_version.rpartition("/")[0]

    @property
    def namespace(self) -> str | None:
        return (self.obj.get("metadata") or {}).get("namespace")

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))

    @property
    def labels(self) -> dict:
        return (self.obj.get("metadata") or {}).get("labels") or {}

    @property
    def annotations(self) -> dict:
        return (self.obj.get("metadata") or {}).get("annotations") or {}


def load_render(folder: Path | str) -> list[RenderObject]:
    """Every object of the render folder's `k8s/` and `charts/<release>/`, in file-name order."""
    folder = Path(folder)
    found = [("k8s", p) for p in sorted((folder / "k8s").glob("*.yaml"))]
    found += [(f"chart:{p.parent.name}", p) for p in sorted((folder / "charts").glob("*/*.yaml"))]
    objects = []
    for source, file in found:
        documents = [d for d in yaml.safe_load_all(file.read_text()) if d]
        for i, doc in enumerate(documents):
            path = file.relative_to(folder).as_posix() + (f"#{i}" if i else "")
            objects.append(RenderObject(source, path, doc))
    return objects


def objects_from_manifests(manifests: Iterable[dict], source: str, namespace: str | None = None) -> list[RenderObject]:
    """RenderObjects for manifests held in memory (e.g. `helm template` output), named as the
    render names them. With `namespace`, namespaced objects that have none get it, as the render
    does for a release (stacks.charts.with_namespace, copies: the input stays as it was)."""
    manifests = [m for m in manifests if m]
    if namespace:
        manifests = with_namespace(manifests, namespace)
    folder = "k8s" if source == "k8s" else f"charts/{source.removeprefix('chart:')}"
    return [RenderObject(source, f"{folder}/{file_name(m)}", m) for m in manifests]


class PodTemplate(NamedTuple):
    """A pod that a workload object runs: its owner, namespace, pod metadata and pod spec."""

    owner: RenderObject
    namespace: str
    metadata: dict
    spec: dict


def pod_template(obj: RenderObject) -> PodTemplate | None:
    """The pod a workload runs (None for any other kind)."""
    spec = obj.obj.get("spec") or {}
    if obj.kind == "Pod":
        template = obj.obj
    elif obj.kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    elif obj.kind in WORKLOAD_KINDS:
        template = spec.get("template") or {}
    else:
        return None
    return PodTemplate(obj, obj.namespace or "default", template.get("metadata") or {}, template.get("spec") or {})


def pod_templates(objects: Iterable[RenderObject]) -> Iterator[PodTemplate]:
    """The pod template of every workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
    Job, CronJob) among the objects."""
    for obj in objects:
        if (template := pod_template(obj)) is not None:
            yield template
