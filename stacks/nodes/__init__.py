"""Node configuration: Ansible roles applied through ansible-runner, checked by testinfra.

Plain-data entry points (no Pulumi needed): `build_inventory`, `apply_playbook`,
`run_node_suites`."""
from __future__ import annotations

from stacks.nodes.checks import SuiteResult, run_node_suites
from stacks.nodes.inventory import NodeHost, build_inventory, hosts_from_data, write_inventory
from stacks.nodes.runner import PlaybookFailed, PlaybookRun, TaskEvent, apply_playbook, content_digest

__all__ = [
    "NodeHost", "PlaybookFailed", "PlaybookRun", "SuiteResult", "TaskEvent",
    "apply_playbook", "build_inventory", "content_digest", "hosts_from_data", "run_node_suites", "write_inventory",
]
