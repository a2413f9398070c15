"""Volumes that would leave pods Pending: claims that do not exist, classes nobody provides,
statically bound claims without their volume.

A pod whose PersistentVolumeClaim is missing, or whose claim names a StorageClass the cluster
does not have, is accepted by the API server and then waits forever; only the objects together
show it, so this is checked across the whole render.
"""
from __future__ import annotations

from typing import Iterable

from stacks.render_checks.objects import RenderObject, pod_templates

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def _claims(objects: list[RenderObject]) -> list[tuple[RenderObject, str, str, dict]]:
    """(owner, namespace, claim name, claim spec) of every PVC, StatefulSet volumeClaimTemplate
    and ephemeral volume claim template."""
    claims = [(o, o.namespace or "default", o.name, o.obj.get("spec") or {})
              for o in objects if o.kind == "PersistentVolumeClaim"]
    for o in objects:
        if o.kind == "StatefulSet":
            for t in (o.obj.get("spec") or {}).get("volumeClaimTemplates") or []:
                name = f"{(t.get('metadata') or {}).get('name')}-{o.name}-<ordinal>"
                claims.append((o, o.namespace or "default", name, t.get("spec") or {}))
    for pod in pod_templates(objects):
        for volume in pod.spec.get("volumes") or []:
            if template := (volume.get("ephemeral") or {}).get("volumeClaimTemplate"):
                claims.append((pod.owner, pod.namespace, f"<pod>-{volume.get('name')}", template.get("spec") or {}))
    return claims


def pvc_problems(objects: Iterable[RenderObject], default_storage_classes: set[str]) -> list[str]:
    """Every mounted claim exists in its pod's namespace; every claim's StorageClass is in the
    render or in `default_storage_classes` (classes the cluster itself provides, e.g. kind's
    `standard`; a claim without a class needs a default one), or a PersistentVolume of its class
    in the render claims it; a claim with class "" is bound statically, so a PersistentVolume in
    the render must name it (claimRef) or be named by it."""
    objects = list(objects)
    problems = []
    existing = {(o.namespace or "default", o.name) for o in objects if o.kind == "PersistentVolumeClaim"}
    for pod in pod_templates(objects):
        for volume in pod.spec.get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim and (pod.namespace, claim) not in existing:
                problems.append(f"{pod.owner.path}: volume {volume.get('name')!r} mounts PersistentVolumeClaim "
                                f"{claim!r}, which is not in namespace {pod.namespace!r}")

    classes = {o.name for o in objects if o.kind == "StorageClass"} | set(default_storage_classes)
    has_default = bool(default_storage_classes) or any(
        o.kind == "StorageClass" and o.annotations.get(DEFAULT_CLASS_ANNOTATION) == "true" for o in objects)
    volumes = {o.name: o.obj.get("spec") or {} for o in objects if o.kind == "PersistentVolume"}
    for owner, namespace, name, spec in _claims(objects):
        where = f"{owner.path}: PersistentVolumeClaim {namespace}/{name}"
        storage_class = spec.get("storageClassName")
        if storage_class is None and not has_default:
            problems.append(f"{where} has no storageClassName and the cluster has no default StorageClass")
        elif storage_class == "":
            problems += _static_binding(where, namespace, name, spec, volumes)
        elif storage_class and storage_class not in classes and not _prebound(namespace, name, storage_class, volumes):
            problems.append(f"{where} uses StorageClass {storage_class!r}, which is neither in the render nor "
                            f"provided by the cluster ({', '.join(sorted(default_storage_classes)) or 'none'})")
    return problems


def _prebound(namespace: str, name: str, storage_class: str, volumes: dict[str, dict]) -> bool:
    """A PersistentVolume of the claim's class that claims it (claimRef) binds it without any
    provisioner, so the class need not exist."""
    return any((s.get("claimRef") or {}).get("name") == name
               and (s.get("claimRef") or {}).get("namespace", "default") == namespace
               and s.get("storageClassName") == storage_class for s in volumes.values())


def _static_binding(where: str, namespace: str, name: str, spec: dict, volumes: dict[str, dict]) -> list[str]:
    """A claim with storageClassName "" binds only to a PersistentVolume of no class that
    names it (claimRef) or that it names (volumeName)."""
    wanted = spec.get("volumeName")
    if wanted:
        if wanted not in volumes:
            return [f"{where} is bound to PersistentVolume {wanted!r}, which is not in the render"]
        bound = {wanted: volumes[wanted]}
    else:
        bound = {pv: s for pv, s in volumes.items()
                 if (s.get("claimRef") or {}).get("name") == name
                 and (s.get("claimRef") or {}).get("namespace", "default") == namespace}
        if not bound:
            return [f"{where} has storageClassName \"\" (static binding) but no PersistentVolume in the render "
                    f"claims it (claimRef) and it names none (volumeName)"]
    return [f"{where} is bound to PersistentVolume {pv!r} of StorageClass {s['storageClassName']!r}, not \"\""
            for pv, s in bound.items() if s.get("storageClassName")]
