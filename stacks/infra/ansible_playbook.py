"""`AnsiblePlaybook`: a Pulumi dynamic resource that applies playbooks/site.yml through ansible-runner.

It runs again when the inventory, the role variables or any role/playbook file changes (the
`fingerprint` input); a failure becomes a Pulumi error naming the host and task. Deleting it
changes nothing on the hosts: configuration is not undone.
"""
from __future__ import annotations

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

WATCHED = ("playbook", "inventory", "fingerprint")


def run_playbook(props: dict) -> dict:
    """Apply the playbook; the outputs summarise the run (what changed where)."""
    from stacks.nodes.runner import PlaybookFailed, apply_playbook

    try:
        run = apply_playbook(props["playbook"], props["inventory"])
    except PlaybookFailed as failed:
        raise RuntimeError(f"node configuration failed: {failed}") from None  # names host and task
    return {"changed": run.changed, "hosts": sorted({e.host for e in run.events if e.host})}


class AnsiblePlaybookProvider(ResourceProvider):
    def create(self, props: dict) -> CreateResult:
        return CreateResult(id_=props["playbook"], outs={**props, **run_playbook(props)})

    def diff(self, id_: str, olds: dict, news: dict) -> DiffResult:
        changed = [key for key in WATCHED if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        return UpdateResult(outs={**news, **run_playbook(news)})

    def delete(self, id_: str, props: dict) -> None:
        return None


class AnsiblePlaybook(pulumi.dynamic.Resource, module="ansible", name="Playbook"):
    changed: pulumi.Output[int]
    hosts: pulumi.Output[list[str]]

    def __init__(self, name: str, playbook: str, inventory: pulumi.Input[dict], fingerprint: str,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(AnsiblePlaybookProvider(), name,
                         {"playbook": playbook, "inventory": inventory, "fingerprint": fingerprint,
                          "changed": None, "hosts": None}, opts)
