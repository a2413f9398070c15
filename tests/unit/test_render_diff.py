"""The pure parts of `swan diff`: per-field diffs, rule matching, ignored versus replaced, the comment."""
from __future__ import annotations

import json

from stacks.changes import rules
from stacks.changes.diff import MISSING, diff_folders, field_changes, markdown

NODE_GROUP = "openstack:containerinfra/nodeGroup:NodeGroup"


def test_field_changes_walk_nested_maps_and_lists_by_index():
    before = {"a": {"b": 1, "gone": 2}, "l": [1, 2, 3], "same": "x"}
    after = {"a": {"b": 5, "new": 3}, "l": [1, 9], "same": "x"}
    assert field_changes(before, after) == [
        (("a", "b"), 1, 5), (("a", "gone"), 2, MISSING), (("a", "new"), MISSING, 3),
        (("l", 1), 2, 9), (("l", 2), 3, MISSING)]


def test_a_rule_matches_nested_leaves_and_whole_blocks_but_not_neighbours():
    assert rules.covers("blockDevices.uuid", ("blockDevices", 0, "uuid"))
    assert rules.covers("options.kubernetesNetworkConfig.podsCidr", ("options",))  # the whole block added
    assert not rules.covers("options.kubernetesNetworkConfig.podsCidr", ("options", "addOns"))
    assert rules.covers("labels", ("labels", "nvidia.com/mig.config"))  # keys with dots stay whole
    assert not rules.covers("name", ("nameSuffix",))


def test_ignored_wins_over_replacing_and_unknown_types_count_as_replacing():
    options = {"ignoreChanges": ["nodeCount"]}
    assert rules.ignored(("nodeCount",), options) == "nodeCount"
    assert rules.replacing(NODE_GROUP, ("nodeCount",), {}) is None
    assert rules.replacing(NODE_GROUP, ("flavorId",), {}) == "flavorId"
    assert rules.replacing("example:new/type:Type", ("anything",), {}) == "*"
    assert rules.replacing(NODE_GROUP, ("maxNodeCount",), {"replaceOnChanges": ["maxNodeCount"]}) == "maxNodeCount"


NAMESPACE = "kubernetes:core/v1:Namespace"


def _render(folder, resources):
    folder.mkdir()
    (folder / "resources.json").write_text(json.dumps([
        {"type": type_, "name": name, "parent": None, "custom": True, "inputs": inputs,
         "options": {"ignoreChanges": ["nodeCount"]} if type_ == NODE_GROUP else {}}
        for (type_, name), inputs in resources.items()]))
    return folder


def test_the_comment_lists_replacements_first_and_counts_what_it_leaves_out(tmp_path):
    labels = lambda value: {"metadata": {"name": "ns", "labels": {f"k{j}": value for j in range(30)}}}  # noqa: E731
    a = _render(tmp_path / "a", {(NAMESPACE, "ns"): labels("a"), (NODE_GROUP, "z"): {"flavorId": "small", "nodeCount": 1}})
    b = _render(tmp_path / "b", {(NAMESPACE, "ns"): labels("b"), (NODE_GROUP, "z"): {"flavorId": "large", "nodeCount": 2}})
    diff = diff_folders(a, b)
    assert [c.name for c in diff.replacements] == ["z"]  # namespace labels change in place
    text = markdown(diff, "a", "b", limit=10)
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| change ")]
    assert len(rows) == 10
    assert rows[0].startswith("| **replace**") and "flavorId" in rows[0]  # sorted after the namespace, shown first
    assert "…and 22 more rows" in text  # 30 labels + flavor + ignored count = 32 rows, 10 shown
    assert "**1 REPLACED**" in text


def test_an_item_inserted_into_a_list_is_one_change_not_a_shift():
    """dependsOn, env and args grow in the middle; named items are matched by name."""
    before = {"dependsOn": ["a", "b", "c"], "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}
    after = {"dependsOn": ["a", "new", "b", "c"], "env": [{"name": "W", "value": "0"}, {"name": "X", "value": "1"},
                                                         {"name": "Y", "value": "3"}]}
    assert field_changes(before, after) == [
        (("dependsOn", 1), MISSING, "new"),
        (("env", 0), MISSING, {"name": "W", "value": "0"}),
        (("env", 2, "value"), "2", "3")]
