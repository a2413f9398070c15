"""Updates that never surprise (issue 13 items 1, 2): resource options in the render, `swan diff`
between two renders, and `swan check --against` refusing unannounced replacements.

Every render here is the real program under Pulumi's mock engine, the same path as `swan render`.
The mock engine cannot diff or run `pulumi up`: what these tests can show is that the engine is
told (ignoreChanges, protect, with property names the provider SDKs declare), and what the
provider would replace (from the provider sources' ForceNew facts in replacement_rules.json). That
a real `pulumi up` then leaves an autoscaled count alone is for the nightly run on a real cloud.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stacks.changes import rules
from stacks.changes.diff import diff_folders
from stacks.cli.main import app
from stacks.render import render

runner = CliRunner()
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
CLUSTER = "openstack:containerinfra/cluster:Cluster"
NODE_GROUP = "openstack:containerinfra/nodeGroup:NodeGroup"
OKE_POOL = "oci:ContainerEngine/nodePool:NodePool"


def edit(project, stack: str, *pairs: tuple[str, str]) -> None:
    path = project.config / f"Pulumi.{stack}.yaml"
    text = path.read_text()
    for old, new in pairs:
        assert old in text, f"the fixture stack {stack} no longer holds {old!r}: update the test"
        text = text.replace(old, new, 1)
    path.write_text(text)


def render_to(stack: str, out: Path, charts: bool = False) -> Path:
    render(stack, out, None if charts else [])
    return out


def resources(folder: Path) -> list[dict]:
    return json.loads((folder / "resources.json").read_text())


def one(folder: Path, type_: str, name: str) -> dict:
    (found,) = [r for r in resources(folder) if r["type"] == type_ and r["name"] == name]
    return found


def change_of(diff, type_: str, name: str):
    (found,) = [c for c in diff.changes if c.type == type_ and c.name == name and c.origin == "resource"]
    return found


# -- options in resources.json ------------------------------------------------------------------------

def test_openstack_render_protects_the_network_and_cluster_and_ignores_autoscaled_counts():
    folder = GOLDEN / "openstack-prod"
    for type_, name in [(CLUSTER, "cluster"), ("openstack:networking/network:Network", "network"),
                        ("openstack:networking/subnet:Subnet", "subnet"), ("openstack:networking/router:Router", "router")]:
        assert one(folder, type_, name)["options"]["protect"] is True, (type_, name)
    cluster = one(folder, CLUSTER, "cluster")
    assert cluster["options"]["ignoreChanges"] == ["createTimeout", "labels", "nodeCount"]  # first pool autoscales
    # the cluster's labels hold only the default group's bounds: the site's labels live in the template
    assert set(cluster["inputs"]["labels"]) == {"min_node_count", "max_node_count"}
    for group in [r for r in resources(folder) if r["type"] == NODE_GROUP]:
        assert group["options"]["ignoreChanges"] == ["nodeCount"], group["name"]
        assert "protect" not in group["options"]  # pools come and go with the config (and events)
    namespaces = {r["inputs"]["metadata"]["name"]: r.get("options", {}) for r in resources(folder)
                  if r["type"] == "kubernetes:core/v1:Namespace"}
    assert namespaces["swan"].get("protect") and namespaces["swan-users"].get("protect")  # hub DB, home volumes
    assert not namespaces["spark"].get("protect")


def test_oci_render_protects_vcn_subnets_gateways_cluster_and_ignores_autoscaled_pool_sizes():
    folder = GOLDEN / "oci-pilot"
    protected = {(r["type"], r["name"]) for r in resources(folder) if r.get("options", {}).get("protect")}
    for type_ in ("oci:Core/vcn:Vcn", "oci:ContainerEngine/cluster:Cluster", "oci:Core/internetGateway:InternetGateway",
                  "oci:Core/natGateway:NatGateway"):
        assert any(t == type_ for t, _ in protected), type_
    assert sum(1 for t, _ in protected if t == "oci:Core/subnet:Subnet") == 3
    pools = {r["inputs"]["name"]: r.get("options", {}) for r in resources(folder) if r["type"] == OKE_POOL}
    config = (Path(__file__).resolve().parents[1] / "fixtures" / "config" / "Pulumi.oci-pilot.yaml").read_text()
    assert "minCount" in config or "maxCount" in config
    assert any(o.get("ignoreChanges") == ["nodeConfigDetails.size"] for o in pools.values())


def test_kind_protects_nothing_so_destroy_removes_a_development_cluster():
    assert not [r for r in resources(GOLDEN / "kind") if r.get("options", {}).get("protect")]


def test_explicit_dependencies_are_recorded_without_the_implicit_ones():
    cluster = one(GOLDEN / "openstack-prod", CLUSTER, "cluster")
    # depends_on=[router interface]; its template and network ids are inputs, so not listed again
    assert cluster["options"]["dependsOn"] == ["openstack:networking/routerInterface:RouterInterface::router-interface"]


# -- the table of replacing properties ----------------------------------------------------------------

def test_every_resource_type_the_program_registers_has_replacement_facts():
    """A new custom type must get its provider's facts (with their source) before a render can use it."""
    registered = {r["type"] for stack in GOLDEN.iterdir() for r in resources(stack) if r["custom"]}
    missing = sorted(registered - set(rules.table()))
    assert not missing, f"add these types to stacks/changes/replacement_rules.json: {missing}"
    assert all(rule.source for rule in rules.table().values())


def _sdk_inputs(type_: str) -> set[str] | None:
    """The input properties the provider's Python SDK declares for a type (camelCase), None when the
    type has no generated class (custom resources of CRDs, dynamic providers)."""
    import importlib

    package, middle, kind = type_.split(":")
    module = {"openstack": "pulumi_openstack", "oci": "pulumi_oci", "kubernetes": "pulumi_kubernetes"}.get(package)
    parts = middle.split("/")
    if module is None or package == "kubernetes" and "." in parts[0] and not parts[0].endswith((".k8s.io", "helm.sh")):
        return None  # dynamic providers, custom resources of CRDs
    if package == "kubernetes":
        path = [parts[0].split(".")[0], parts[1]]
    else:
        path = [parts[0].lower()]
    cls = getattr(importlib.import_module(".".join([module, *path])), kind)
    names = set(inspect.signature(cls._internal_init).parameters) - {"self", "resource_name", "opts"}
    return {n.split("_")[0] + "".join(w.title() for w in n.split("_")[1:]) for n in names}


@pytest.mark.parametrize("type_", sorted(t for t in rules.table() if not t.startswith(("pulumi", "kubernetes:cert-manager",
                                                                                         "kubernetes:monitoring"))))
def test_replacing_properties_are_inputs_the_sdk_declares(type_):
    """Pulumi names differ from Terraform's (lists are plural, nested blocks flattened): a misspelt rule
    would never match. Only the first segment of a path is checked here."""
    declared = _sdk_inputs(type_)
    if declared is None:
        pytest.skip(f"{type_}: no generated SDK class")
    declared |= {"metadata", "apiVersion", "kind", "spec", "data", "stringData", "type", "binaryData", "roleRef",
                 "parameters", "provisioner"} if type_.startswith("kubernetes:") else set()
    unknown = sorted({p.split(".")[0] for p in rules.table()[type_].replace_on} - declared - {rules.ANY})
    assert not unknown, f"{type_}: {unknown} are not inputs of the SDK resource"


@pytest.mark.parametrize("stack", ["openstack-prod", "oci-pilot", "everything-on", "event-ml-workshop"])
def test_ignored_properties_are_inputs_the_sdk_declares(stack):
    """ignoreChanges names a property the provider knows, so the real engine has something to ignore."""
    for r in resources(GOLDEN / stack):
        for path in r.get("options", {}).get("ignoreChanges", []):
            assert path.split(".")[0] in (_sdk_inputs(r["type"]) or set()), (r["type"], path)
            assert path.split(".")[0] in r["inputs"], (r["type"], path)


# -- a changed config, rendered again --------------------------------------------------------------------

def test_diff_flags_a_cluster_replacement_and_not_an_autoscaled_count(project, tmp_path):
    before = render_to("openstack-prod", tmp_path / "before")
    edit(project, "openstack-prod", ("masterCount: 3", "masterCount: 5"),  # ForceNew on the Magnum cluster
         ("      count: 4\n      minCount: 1\n      maxCount: 8", "      count: 6\n      minCount: 1\n      maxCount: 8"))
    after = render_to("openstack-prod", tmp_path / "after")
    diff = diff_folders(before, after)
    cluster = change_of(diff, CLUSTER, "cluster")
    assert cluster.replaced and [f.dotted for f in cluster.fields if f.kind == "replace"] == ["masterCount"]
    t4 = change_of(diff, NODE_GROUP, "nodegroup-gpu-t4")
    assert not t4.replaced and [(f.dotted, f.kind) for f in t4.fields] == [("nodeCount", "ignored")]
    assert {c.name for c in diff.replacements} == {"cluster"}

    result = runner.invoke(app, ["diff", str(before), str(after), "--markdown", str(tmp_path / "mr.md")])
    assert result.exit_code == 0, result.output
    assert "REPLACE" in result.output and "masterCount" in result.output
    comment = (tmp_path / "mr.md").read_text()
    assert "**1 REPLACED**" in comment and "openstack:containerinfra/cluster:Cluster cluster" in comment
    assert runner.invoke(app, ["diff", str(before), str(after), "--fail-on-replace"]).exit_code == 1
    assert runner.invoke(app, ["diff", str(before), str(before), "--fail-on-replace"]).exit_code == 0


def test_changing_the_first_pools_bounds_changes_no_cluster_input_pulumi_acts_on(project, tmp_path):
    """The default group's bounds are cluster labels (ForceNew): they must reach only ignored inputs."""
    before = render_to("openstack-prod", tmp_path / "before")
    edit(project, "openstack-prod", ("      minCount: 4\n      maxCount: 20", "      minCount: 2\n      maxCount: 30"))
    after = render_to("openstack-prod", tmp_path / "after")
    diff = diff_folders(before, after)
    assert not diff.replacements
    cluster = change_of(diff, CLUSTER, "cluster")
    assert {f.kind for f in cluster.fields} == {"ignored"}
    assert {f.dotted for f in cluster.fields} == {"labels.min_node_count", "labels.max_node_count"}
    result = runner.invoke(app, ["check", "openstack-prod", "--against", str(before)])
    assert result.exit_code == 0, result.output
    assert "openstack coe nodegroup update swan-prod default-worker" in result.output


def test_a_longer_create_timeout_does_not_replace_a_running_cluster(project, tmp_path):
    """createTimeout is ForceNew on the Magnum cluster but only matters while it is created."""
    before = render_to("openstack-prod", tmp_path / "before")
    edit(project, "openstack-prod", ("    masterCount: 3", "    masterCount: 3\n    createTimeoutMinutes: 120"))
    after = render_to("openstack-prod", tmp_path / "after")
    cluster = change_of(diff_folders(before, after), CLUSTER, "cluster")
    assert [(f.dotted, f.kind) for f in cluster.fields] == [("createTimeout", "ignored")]
    assert rules.replacing(CLUSTER, ("createTimeout",), {}) == "createTimeout"  # what it would do otherwise


def test_check_against_refuses_a_replacement_until_the_stack_allows_it(project, tmp_path):
    before = render_to("openstack-prod", tmp_path / "before")
    edit(project, "openstack-prod", ("masterCount: 3", "masterCount: 5"), ("flavor: g1.xlarge.t4", "flavor: g1.2xlarge.t4"))
    refused = runner.invoke(app, ["check", "openstack-prod", "--against", str(before)])
    assert refused.exit_code == 2
    assert ("config/Pulumi.openstack-prod.yaml: replace: this change REPLACES openstack:containerinfra/cluster:Cluster "
            "'cluster' (changed: masterCount)") in refused.output
    assert "add `cluster` to swan:replace" in refused.output and "add `nodePool:gpu-t4` to swan:replace" in refused.output
    assert "Traceback" not in refused.output

    edit(project, "openstack-prod", ("  swan:nodePools:", "  swan:replace: [cluster]\n  swan:nodePools:"))
    half = runner.invoke(app, ["check", "openstack-prod", "--against", str(before)])
    assert half.exit_code == 2 and "nodePool:gpu-t4" in half.output and "add `cluster`" not in half.output

    edit(project, "openstack-prod", ("swan:replace: [cluster]", "swan:replace: [cluster, nodePool:gpu-t4]"))
    allowed = runner.invoke(app, ["check", "openstack-prod", "--against", str(before)])
    assert allowed.exit_code == 0, allowed.output


def test_check_against_explains_how_to_resize_an_autoscaled_pool(project, tmp_path):
    before = render_to("oci-pilot", tmp_path / "before")
    text = (project.config / "Pulumi.oci-pilot.yaml").read_text()
    pool = next(r for r in resources(before) if r["type"] == OKE_POOL and r.get("options", {}).get("ignoreChanges"))
    count = pool["inputs"]["nodeConfigDetails"]["size"]
    name = pool["inputs"]["name"]
    block = text[text.index(f"- name: {name}"):]
    old = block[:block.index(f"count: {count}") + len(f"count: {count}")]
    edit(project, "oci-pilot", (old, old.replace(f"count: {count}", f"count: {count + 1}")))
    result = runner.invoke(app, ["check", "oci-pilot", "--against", str(before)])
    assert result.exit_code == 0, result.output
    assert f"count: {count} -> {count + 1} is ignored after creation: pool '{name}' autoscales" in result.output
    assert "oci ce node-pool update" in result.output


def test_the_hub_database_claim_is_kept_by_helm_and_chart_objects_are_diffed(project, tmp_path):
    """Real helm template with the pinned chart: the claim the chart creates carries Helm's keep policy
    (Pulumi cannot protect an object inside a release); a values change shows in the chart's objects."""
    before = render_to("kind", tmp_path / "before", charts=True)
    claim = (before / "charts" / "swan" / "PersistentVolumeClaim-swan-hub-db-dir.yaml").read_text()
    assert "helm.sh/resource-policy: keep" in claim
    assert diff_folders(before, before).empty
    edit(project, "kind", ("      repositories: [sft.cern.ch, cvmfs-config.cern.ch]",
                           "      repositories: [sft.cern.ch, cvmfs-config.cern.ch, atlas.cern.ch]"))
    after = render_to("kind", tmp_path / "after", charts=True)
    diff = diff_folders(before, after)
    release = change_of(diff, "kubernetes:helm.sh/v3:Release", "swan")
    assert not release.replaced and any("atlas.cern.ch" in json.dumps(f.after) for f in release.fields), release.fields
    charted = [c for c in diff.changes if c.origin == "chart:swan"]
    assert charted and not any(c.replaced for c in charted)
