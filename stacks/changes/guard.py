"""`swan check STACK --against DIR`: the changes a deploy must not make by surprise.

A change that REPLACES a cluster, network, subnet, router or node group (per `rules`) is refused unless
the stack lists that resource in `swan:replace`; a change `pulumi up` will ignore (an autoscaled pool's
`count`, the default Magnum group's bounds) is explained, with how to make it on purpose. Pure: takes
the diff between the earlier render and the stack's new one, and the stack's config.
"""
from __future__ import annotations

from stacks.changes import rules
from stacks.changes.diff import RenderDiff, ResourceChange
from stacks.errors import Problem

SIZE_FIELDS = {"nodeCount", "nodeConfigDetails.size"}  # node counts the autoscaler owns after creation
RESIZE_BY_CLOUD = {
    "openstack": "openstack coe cluster resize --nodegroup {group} {cluster} N",
    "oci": "oci ce node-pool update --node-pool-id <{group} pool id> --size N",
}


def target_of(change: ResourceChange) -> str | None:
    """How `swan:replace` names this resource, when it is one of the guarded parts."""
    part = rules.part_of(change.type)
    if part == "nodePool":
        return f"nodePool:{change.cloud_name}"
    return part


def refusals(diff: RenderDiff, cfg, config_file: str) -> list[Problem]:
    """Replacements of guarded resources the stack's `replace` list does not allow."""
    allowed = set(getattr(cfg, "replace", []))
    found = []
    for change in diff.replacements:
        target = target_of(change)
        if change.origin != "resource" or target is None or target in allowed:
            continue
        fields = ", ".join(sorted({f.dotted for f in change.fields if f.kind == "replace"}))
        found.append(Problem(config_file, "replace", (
            f"this change REPLACES {change.type} {change.name!r} (changed: {fields}); the provider deletes it "
            f"and creates it again. Undo the change, or add `{target}` to swan:replace to allow it")))
    return found


def _pool(cfg, name: str | None):
    pools = list(getattr(cfg, "node_pools", []))
    for i, pool in enumerate(pools):
        if pool.name == name:
            return i, pool
    return (0, pools[0]) if pools else (None, None)  # Magnum's cluster: its default group, the first pool


def notes(diff: RenderDiff, cfg, config_file: str) -> list[str]:
    """What `pulumi up` will leave alone although the config changed, and how to do it on purpose."""
    found = []
    cloud = getattr(cfg, "cloud", "")
    for change in diff.changes:
        for f in change.fields:
            if f.kind != "ignored":
                continue
            is_cluster = rules.part_of(change.type) == "cluster"
            i, pool = _pool(cfg, None if is_cluster else change.cloud_name)
            where = f"{config_file}: nodePools[{i}]" if pool is not None else config_file
            cluster = getattr(getattr(cfg, cloud, None), "cluster_name", "CLUSTER")
            if f.why in SIZE_FIELDS and pool is not None:
                group = "default-worker" if is_cluster else pool.name
                command = RESIZE_BY_CLOUD.get(cloud, "the cloud's own resize command").format(
                    group=group, cluster=cluster)
                found.append(
                    f"{where}.count: {f.before} -> {f.after} is ignored after creation: pool {pool.name!r} "
                    f"autoscales within minCount/maxCount and the autoscaler owns its size. To change it on "
                    f"purpose, move minCount/maxCount (the autoscaler follows), or resize it once with "
                    f"`{command}`; remove both bounds to have `pulumi up` set `count` again")
            elif is_cluster and f.why == "labels" and pool is not None:
                found.append(
                    f"{where}.minCount/maxCount: the default worker group's bounds are Magnum cluster labels, "
                    f"read when the cluster is created ({f.dotted}: {f.before} -> {f.after} is ignored, a label "
                    f"change would replace the cluster). Change them on the running cluster with `openstack coe "
                    f"nodegroup update {cluster} default-worker replace /min_node_count=N /max_node_count=M`")
            else:
                found.append(f"{change.label}: {f.dotted} is ignored after creation ({f.why})")
    return list(dict.fromkeys(found))
