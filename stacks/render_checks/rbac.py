"""Broad rights in a render's RBAC: roles that may read every Secret in their scope, or use `*`.

A `get`/`list`/`watch` on `secrets` without `resourceNames` returns (or, for `list`/`watch`, streams)
the data of every Secret the role covers: service account tokens, TLS keys, the hub's own secrets. The
project's own roles must never hold such a rule; the charts' identities that do (a controller that
issues certificates needs them) are listed with their reason in the README, which a test keeps true.
"""
from __future__ import annotations

from dataclasses import dataclass

from stacks.render_checks.objects import RenderObject

READ_VERBS = {"get", "list", "watch"}
ROLE_KINDS = {"Role", "ClusterRole"}


def broad_rules(rules: list[dict]) -> list[str]:
    """Why these rules are broad, one reason per offending rule (empty: none)."""
    reasons = []
    for rule in rules or []:
        wildcard = [key for key in ("verbs", "resources", "apiGroups") if "*" in (rule.get(key) or [])]
        if wildcard:
            reasons.append(f"`*` in {', '.join(wildcard)}")
            continue
        reads = READ_VERBS & set(rule.get("verbs") or [])
        if "" in (rule.get("apiGroups") or []) and "secrets" in (rule.get("resources") or []) and reads \
                and not rule.get("resourceNames"):
            reasons.append(f"{'/'.join(sorted(reads))} on every Secret")
    return reasons


@dataclass(frozen=True, order=True)
class BroadIdentity:
    """A service account bound to a broad role, as the README table lists it."""

    release: str  # the chart release ("k8s" for the project's own objects)
    service_account: str  # namespace/name
    role: str  # Kind/name


def broad_identities(objects: list[RenderObject]) -> dict[BroadIdentity, list[str]]:
    """Every (release, service account, role) where a binding gives the account a broad role, with the reasons."""
    roles = {(o.kind, o.obj["metadata"].get("namespace"), o.obj["metadata"]["name"]): (o, broad_rules(o.obj.get("rules")))
             for o in objects if o.kind in ROLE_KINDS}
    found: dict[BroadIdentity, list[str]] = {}
    for o in objects:
        if o.kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        ref = o.obj.get("roleRef", {})
        scope = o.obj["metadata"].get("namespace") if ref.get("kind") == "Role" else None
        role = roles.get((ref.get("kind"), scope, ref.get("name")))
        if role is None or not role[1]:
            continue
        for subject in o.obj.get("subjects") or []:
            if subject.get("kind") != "ServiceAccount":
                continue
            account = f"{subject.get('namespace') or o.obj['metadata'].get('namespace')}/{subject['name']}"
            key = BroadIdentity(o.source.removeprefix("chart:"), account, f"{ref['kind']}/{ref['name']}")
            found[key] = sorted(set(found.get(key, [])) | set(role[1]))
    return found


def own_broad_roles(objects: list[RenderObject]) -> dict[str, list[str]]:
    """The project's own roles (k8s/) that are broad, by file, with the reasons."""
    return {o.path: reasons for o in objects
            if o.source == "k8s" and o.kind in ROLE_KINDS and (reasons := broad_rules(o.obj.get("rules")))}
