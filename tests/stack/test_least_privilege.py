"""No identity of the project's own can read every Secret, and the charts' identities that can are the
ones the README lists, with a reason (issue 13, item 6).

Over every fixture stack's full render: the project's own Roles and ClusterRoles (`k8s/`), and the
real charts' RBAC from `helm template` (`charts/`), bindings followed to their service accounts.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacks.config.loader import stack_names
from stacks.render_checks.objects import RenderObject, load_render
from stacks.render_checks.rbac import BroadIdentity, broad_identities, broad_rules, own_broad_roles

README = Path(__file__).parents[2] / "README.md"
TABLE_TITLE = "### Who may read every Secret"


@pytest.fixture(scope="module")
def all_objects(renders) -> dict[str, list[RenderObject]]:
    return {stack: load_render(renders(stack)) for stack in stack_names()}


def test_no_role_of_the_project_reads_every_secret_or_uses_a_wildcard(all_objects):
    found = {f"{stack}: {path}": reasons for stack, objects in all_objects.items()
             for path, reasons in own_broad_roles(objects).items()}
    assert found == {}
    assert sum(o.kind in ("Role", "ClusterRole") for objects in all_objects.values() for o in objects
               if o.source == "k8s") > 0, "no role of the project's own was examined"


def readme_identities() -> set[BroadIdentity]:
    text = README.read_text()
    assert TABLE_TITLE in text, f"README lacks the section {TABLE_TITLE!r}"
    section = text.split(TABLE_TITLE, 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    found = set()
    for row in rows:
        release, account, role, why = [cell.strip() for cell in row.strip("|").split("|")]
        assert why, f"README row without a reason: {row}"
        found.add(BroadIdentity(*(re.sub(r"`", "", cell) for cell in (release, account, role))))
    return found


def test_the_charts_identities_that_read_every_secret_are_the_readme_table(all_objects):
    computed = set()
    for objects in all_objects.values():
        computed |= set(broad_identities(objects))
    assert not [i for i in computed if i.release == "k8s"]
    assert sorted(computed) == sorted(readme_identities()), "update the README table (what the charts grant, and why)"


@pytest.mark.parametrize("rule, broad", [
    ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["swan-tls"]}, False),
    ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}, True),
    ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete"]}, False),
    ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["watch"]}, True),
    ({"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}, True),
    ({"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}, True),
    ({"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}, True),
    ({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}, False),
])
def test_what_counts_as_broad(rule, broad):
    assert bool(broad_rules([rule])) is broad
