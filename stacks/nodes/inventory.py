"""Ansible inventories built from plain data, so Pulumi outputs, stack config and tests
all describe hosts the same way: name, address, user, groups, variables."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from stacks.errors import InputError, Problem

# Roles applied by playbooks/site.yml: `common` to every host, the others to the
# inventory group of the same name.
ROLE_GROUPS = ("cvmfs_client", "eos_client", "nvidia_gpu", "k8s_node", "node_exporter")
ROLES = ("common",) + ROLE_GROUPS

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class NodeHost:
    """One host to configure: where to reach it and which role groups it is in."""

    name: str
    address: str
    user: str = "root"
    port: int = 22
    groups: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)

    @property
    def roles(self) -> tuple[str, ...]:
        """Roles site.yml applies to this host, in playbook order."""
        return ("common",) + tuple(r for r in ROLE_GROUPS if r in self.groups)


def hosts_from_data(items: Iterable[Mapping[str, Any] | NodeHost], source: str = "hosts") -> list[NodeHost]:
    """Check plain host records and turn them into NodeHost; every problem is reported."""
    problems: list[Problem] = []
    hosts: list[NodeHost] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if isinstance(item, NodeHost):
            hosts.append(item)
            continue
        where = f"[{index}]"
        if not isinstance(item, Mapping):
            problems.append(Problem(source, where, "must be a mapping with name and address"))
            continue
        unknown = set(item) - {"name", "address", "user", "port", "groups", "vars"}
        for key in sorted(unknown):
            problems.append(Problem(source, f"{where}.{key}", "unknown key (expected name, address, user, port, groups, vars)"))
        name, address = item.get("name"), item.get("address")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(Problem(source, f"{where}.name", "required: letters, digits, '.', '_' or '-'"))
        elif name in seen:
            problems.append(Problem(source, f"{where}.name", f"{name!r} appears twice"))
        if not isinstance(address, str) or not address:
            problems.append(Problem(source, f"{where}.address", "required: an IP address or DNS name"))
        user = item.get("user", "root")
        if not isinstance(user, str) or not user:
            problems.append(Problem(source, f"{where}.user", "must be a user name"))
        port = item.get("port", 22)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            problems.append(Problem(source, f"{where}.port", "must be a TCP port number"))
        groups = item.get("groups", [])
        if not isinstance(groups, (list, tuple)) or not all(isinstance(g, str) and _NAME.match(g) for g in groups):
            problems.append(Problem(source, f"{where}.groups", "must be a list of group names"))
            groups = []
        host_vars = item.get("vars", {})
        if not isinstance(host_vars, Mapping):
            problems.append(Problem(source, f"{where}.vars", "must be a mapping"))
            host_vars = {}
        if isinstance(name, str):
            seen.add(name)
        hosts.append(NodeHost(str(name), str(address), str(user), port if isinstance(port, int) else 22,
                              tuple(groups), dict(host_vars)))
    if problems:
        raise InputError(problems)
    return hosts


def build_inventory(hosts: Iterable[Mapping[str, Any] | NodeHost], group_vars: Mapping[str, Mapping[str, Any]] | None = None) -> dict:
    """An Ansible YAML inventory (as a dict): host variables under `all`, one child group
    per group name; `group_vars` maps a group name (or "all") to its variables."""
    checked = hosts_from_data(hosts)
    group_vars = dict(group_vars or {})
    all_hosts: dict[str, dict] = {}
    children: dict[str, dict] = {}
    for host in checked:
        all_hosts[host.name] = {
            "ansible_host": host.address,
            "ansible_user": host.user,
            "ansible_port": host.port,
            **dict(host.vars),
        }
        for group in host.groups:
            children.setdefault(group, {"hosts": {}})["hosts"][host.name] = None
    for group, variables in group_vars.items():
        if group != "all":
            children.setdefault(group, {"hosts": {}})["vars"] = dict(variables)
    inventory: dict[str, Any] = {"hosts": all_hosts, "children": children}
    if "all" in group_vars:
        inventory["vars"] = dict(group_vars["all"])
    return {"all": inventory}


def write_inventory(inventory: Mapping[str, Any], path: str | Path) -> Path:
    """Write an inventory dict as YAML (mode 0600: it may hold secret variables)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(yaml.safe_dump(dict(inventory), sort_keys=False))
    return path


def hosts_in_inventory(inventory_path: str | Path, limit: str | None = None) -> dict[str, list[str]]:
    """Host name -> roles site.yml applies to it, for any inventory Ansible can read
    (YAML, INI, folder), restricted by an Ansible host pattern."""
    path = Path(inventory_path)
    if not path.exists():
        raise InputError(Problem(str(path), "", "inventory file not found"))
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    manager = InventoryManager(loader=DataLoader(), sources=[str(path)])
    hosts = manager.get_hosts(pattern=limit or "all")
    if not hosts:
        raise InputError(Problem(str(path), "limit" if limit else "", f"no host matches {limit or 'all'!r}"))
    result: dict[str, list[str]] = {}
    for host in hosts:
        groups = {g.name for g in host.get_groups()}
        result[host.name] = ["common"] + [r for r in ROLE_GROUPS if r in groups]
    return result


# Run in a child interpreter, so Ansible's warnings (printed once per process) are captured
# whole and its global state stays out of the CLI: Ansible's own inventory parsing, then its
# own --limit semantics (InventoryManager.subset, as ansible-playbook applies it).
_PROBE = r"""
import json, sys
try:
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
except ImportError as exc:
    print(json.dumps({"unavailable": str(exc)}))
    sys.exit(0)
answer = {}
try:
    manager = InventoryManager(loader=DataLoader(), sources=[sys.argv[1]])
    answer["hosts"] = [h.name for h in manager.get_hosts("all")]
except AnsibleError as exc:
    answer["error"] = str(exc).strip().splitlines()[0]
if len(sys.argv) > 2 and "hosts" in answer:
    try:
        manager.subset(sys.argv[2])
        answer["limited"] = [h.name for h in manager.get_hosts("all")]
    except AnsibleError as exc:
        answer["limit_error"] = str(exc).strip().splitlines()[0]
print(json.dumps(answer))
"""

# Ansible warnings that only restate that nothing was parsed (the message says that itself).
_GENERIC = ("Unable to parse ", "No inventory was parsed", "Could not match supplied host pattern",
            "provided hosts list is empty")


def _ansible_reasons(stderr: str) -> list[str]:
    """The first line of each distinct warning or error Ansible printed about the source; the
    'auto' plugin's is dropped (it repeats the yaml plugin's)."""
    reasons: list[str] = []
    for line in stderr.splitlines():
        match = re.match(r"\s*\[(?:WARNING|ERROR)\]:\s*(?:\*\s*)?(.*)", line)
        if not match:
            continue
        text = match.group(1).strip()
        if not text or text.startswith(_GENERIC) or "'auto' plugin" in text:
            continue
        text = re.sub(r"^Failed to parse inventory with '(\w+)' plugin: (Failed to parse inventory: )?",
                      r"\1 plugin: ", text)
        if text not in reasons:
            reasons.append(text)
    return reasons


def _shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _some(names: list[str], shown: int = 8) -> str:
    names = sorted(names)
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def inventory_hosts(source: str | Path, limit: str | None = None, *, option: str = "--inventory",
                    timeout: float = 300) -> list[str]:
    """The hosts Ansible reads from `source` (a file or folder, parsed by Ansible itself in a
    child process), those matching the Ansible pattern `limit` when given.

    InputError naming `option` (or --limit) when the source is missing, is not an inventory
    Ansible can read, holds no host, or when `limit` matches none of its hosts (which are
    listed). When Ansible is not installed nothing is checked and [] is returned."""
    import json
    import subprocess
    import sys

    shown = str(source)
    path = Path(source)
    if not path.exists():
        raise InputError(Problem(option, "", f"{shown}: inventory file not found"))
    if path.is_dir() and not any(path.iterdir()):
        raise InputError(Problem(option, "", f"{shown}: an empty folder, not an Ansible inventory"))
    command = [sys.executable, "-c", _PROBE, str(path)] + ([limit] if limit is not None else [])
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        raise InputError(Problem(option, "", f"{shown}: Ansible did not read it within {timeout:.0f}s")) from None
    except (IndexError, ValueError):
        reason = (_ansible_reasons(done.stderr) or [done.stderr.strip().splitlines()[-1:] or "no answer"])[0]
        raise InputError(Problem(option, "", f"{shown}: Ansible could not read it ({_shorten(str(reason))})")) from None
    if "unavailable" in answer:
        return []
    reasons = _ansible_reasons(done.stderr)
    if "error" in answer:
        raise InputError(Problem(option, "", f"{shown}: not an Ansible inventory ({_shorten(answer['error'])})"))
    hosts = answer["hosts"]
    if not hosts:
        unreadable = "Unable to parse" in done.stderr or "Failed to parse" in done.stderr
        if unreadable or reasons:
            # the plugin that should have read it says best why not: yaml for .yml, else ini
            preferred = "yaml plugin:" if path.suffix.lower() in (".yml", ".yaml", ".json") else "ini plugin:"
            reasons.sort(key=lambda r: not r.startswith(preferred))
            why = f" ({_shorten(reasons[0])})" if reasons else ""
            raise InputError(Problem(option, "", f"{shown}: not an Ansible inventory{why}"))
        raise InputError(Problem(option, "", f"{shown}: holds no hosts (nothing to configure)"))
    if limit is None:
        return sorted(hosts)
    if "limit_error" in answer:
        raise InputError(Problem("--limit", "", f"{limit!r}: not an Ansible host pattern ({_shorten(answer['limit_error'])})"))
    if not answer["limited"]:
        raise InputError(Problem("--limit", "", f"{limit!r} matches no host of {shown} (hosts: {_some(hosts)})"))
    return sorted(answer["limited"])
