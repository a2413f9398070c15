"""What the verification reads from the Kubernetes API, and the RBAC rules that allow exactly that (pure).

Each check declares the API paths it GETs (`ClusterVerification.paths()`, `stacks.verify.events`);
`read_of` turns a path into the right it needs (API group, resource, verb, namespace, object name),
and `rbac_rules` turns those into a ClusterRole's rules (cluster-scoped reads only) and one Role's rules
per namespace, with `resourceNames` wherever a check reads named objects. So the nightly identity can
read the hub's TLS secret by name and no other secret, and a new check's reads are granted by
declaring them, not by widening a role by hand.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

_PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[^/?]+)"
                   r"(?:/(?P<name>[^/?]+))?(?:\?.*)?$")


@dataclass(frozen=True, order=True)
class ApiRead:
    """One right: `get` a named object or `list` a collection, in a namespace or cluster-wide (None)."""

    group: str
    resource: str
    verb: str
    namespace: Optional[str] = None
    name: Optional[str] = None


def read_of(path: str) -> ApiRead:
    """The right a GET of `path` needs (e.g. `/api/v1/namespaces/swan/secrets/swan-tls`)."""
    match = _PATH.match(path)
    if not match:
        raise ValueError(f"not a Kubernetes API resource path: {path}")
    return ApiRead(group=match["group"] or "", resource=match["resource"],
                   verb="get" if match["name"] else "list", namespace=match["ns"], name=match["name"])


def rbac_rules(reads: Iterable[ApiRead]) -> tuple[list[dict], dict[str, list[dict]]]:
    """(ClusterRole rules, {namespace: Role rules}) granting exactly `reads`: named reads become
    `get` with `resourceNames`, collections `list`; a namespaced resource read across all namespaces
    (no namespace in the path) needs the ClusterRole, as do cluster-scoped resources."""
    scopes: dict[Optional[str], dict[tuple[str, str, Optional[str]], set[str]]] = {}
    for read in set(reads):
        by_resource = scopes.setdefault(read.namespace, {})
        if read.name is None:
            by_resource.setdefault((read.group, read.resource, None), set()).add(read.verb)
        else:
            by_resource.setdefault((read.group, read.resource, read.verb), set()).add(read.name)

    def rules(by_resource: dict) -> list[dict]:
        out = []
        for (group, resource, verb), values in sorted(by_resource.items(), key=lambda kv: (kv[0][0], kv[0][1],
                                                                                             kv[0][2] or "")):
            if verb is None:
                out.append({"apiGroups": [group], "resources": [resource], "verbs": sorted(values)})
            else:
                out.append({"apiGroups": [group], "resources": [resource], "resourceNames": sorted(values),
                            "verbs": [verb]})
        return out

    cluster = rules(scopes.pop(None, {}))
    return cluster, {ns: rules(by_resource) for ns, by_resource in sorted(scopes.items())}


def granted(rules: list[dict], namespace: Optional[str]) -> set[ApiRead]:
    """The reads a role's rules allow (in `namespace`, or cluster-wide for a ClusterRole: None);
    a rule without resourceNames grants every name, shown as name None."""
    out = set()
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    for name in rule.get("resourceNames") or [None]:
                        out.add(ApiRead(group, resource, verb, namespace, name))
    return out


def allows(grants: set[ApiRead], read: ApiRead) -> bool:
    """Would Kubernetes RBAC let `read` through, given these grants (ClusterRole grants: namespace None)?"""
    for g in grants:
        if (g.group, g.resource, g.verb) != (read.group, read.resource, read.verb):
            continue
        if g.namespace is not None and g.namespace != read.namespace:
            continue
        if g.name is not None and g.name != read.name:
            continue
        return True
    return False
