"""Objects with two owners: declared by two sources, or a Secret that cert-manager will write.

Two owners of one object fight: each `pulumi up` or `helm upgrade` overwrites the other's
version (or fails on Helm's ownership annotations), and a Secret declared by the program and
also written by cert-manager flips between a placeholder and the real certificate.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from stacks.render_checks.objects import RenderObject

ISSUER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")


def _certificate_secrets(objects: list[RenderObject]) -> list[tuple[RenderObject, str, str]]:
    """(writer, namespace, secret name) of every Secret cert-manager will write: the TLS secrets
    of Ingresses annotated with an issuer (ingress-shim), and Certificates' spec.secretName."""
    written = []
    for o in objects:
        spec = o.obj.get("spec") or {}
        if o.kind == "Ingress" and any(a in o.annotations for a in ISSUER_ANNOTATIONS):
            written += [(o, o.namespace or "default", tls["secretName"])
                        for tls in spec.get("tls") or [] if tls.get("secretName")]
        elif o.kind == "Certificate" and o.api_group == "cert-manager.io" and spec.get("secretName"):
            written.append((o, o.namespace or "default", spec["secretName"]))
    return written


def double_owners(objects: Iterable[RenderObject]) -> list[str]:
    """Objects (same kind whatever the API group, namespace and name) declared by more than one
    source (two charts, or a chart and the program), and Secrets that cert-manager writes but
    some source also declares."""
    objects = list(objects)
    by_identity: dict[tuple[str, str, str], list[RenderObject]] = defaultdict(list)
    for o in objects:
        by_identity[(o.kind, o.namespace or "", o.name)].append(o)
    problems = []
    for (kind, namespace, name), owners in sorted(by_identity.items()):
        if len({o.source for o in owners}) > 1:
            where = f"{namespace}/{name}" if namespace else name
            problems.append(f"{kind} {where} is declared by {len(owners)} sources: "
                            + ", ".join(sorted(o.path for o in owners)))
    for writer, namespace, secret in _certificate_secrets(objects):
        for declared in by_identity.get(("Secret", namespace, secret), []):
            problems.append(f"{declared.path}: Secret {namespace}/{secret} is also written by cert-manager "
                            f"for {writer.kind} {writer.path}")
    return problems
