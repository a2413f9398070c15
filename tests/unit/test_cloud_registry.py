"""The clouds are registered in one place (stacks.infra.clouds), and nothing outside the infra layer
(and the config models, which hold each cloud's section) branches on a cloud's name."""
from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from stacks.config.model import EnvironmentConfig
from stacks.infra import CLUSTER_STORAGE_CLASSES
from stacks.infra.clouds import CLOUDS, Cloud, _entry, cloud_of, growable
from stacks.stack_outputs import ENVIRONMENT_OUTPUTS

REPO = Path(__file__).resolve().parents[2]
STACKS = REPO / "stacks"
# Where a cloud's name may be compared: the cloud modules and the registry, and the config models
# (each cloud's section is only valid with its cloud).
MAY_BRANCH = (STACKS / "infra", STACKS / "config")
# Comparisons that name a cloud's string but are not about the cloud, with why: (module, source).
NOT_A_CLOUD_BRANCH = {
    # the Kubernetes object field `kind`, not the kind cloud
    ("stacks/render.py", '"kind" not in inputs'),
    ("stacks/render.py", 'k not in ("apiVersion", "kind")'),
}


def test_the_registry_has_exactly_the_clouds_the_config_allows():
    allowed = typing.get_args(EnvironmentConfig.model_fields["cloud"].annotation)
    assert list(CLOUDS) == list(allowed)
    assert all(name == cloud.name for name, cloud in CLOUDS.items())


def test_every_cloud_has_its_output_model_and_storage_classes():
    assert set(ENVIRONMENT_OUTPUTS) == set(CLOUDS)
    assert CLUSTER_STORAGE_CLASSES == {name: set(c.storage_classes) for name, c in CLOUDS.items()}


@pytest.mark.parametrize("name", list(CLOUDS))
def test_every_entry_resolves(name):
    cloud = CLOUDS[name]
    assert isinstance(cloud, Cloud)
    assert callable(getattr(__import__(cloud.infra_module, fromlist=["build"]), "build"))
    # a cloud events can grow has an event pool component, and only such a cloud
    assert (cloud.event_node_pool is not None) == cloud.can_grow_for_events
    if cloud.event_node_pool:
        assert callable(_entry(cloud.event_node_pool))
    if cloud.agent_namespaces:
        assert callable(_entry(cloud.agent_namespaces))


def test_cloud_of_takes_a_name_or_a_config_and_refuses_unknown_clouds():
    assert cloud_of("oci") is CLOUDS["oci"]
    with pytest.raises(ValueError, match="unknown cloud 'aws'"):
        cloud_of("aws")
    assert [c.name for c in growable()] == ["openstack", "oci"]
    with pytest.raises(ValueError, match="cannot grow; events need an environment on OpenStack or OCI"):
        CLOUDS["kind"].create_event_node_pool()


def test_the_registry_and_planning_import_no_pulumi():
    """Pure event planning uses the registry; the registry must stay light (no pulumi, no provider SDK)."""
    code = ("import sys, stacks.infra.clouds, stacks.events.plan; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_oci', 'pulumi_openstack')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _names_a_cloud(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "cloud":
        return True
    if isinstance(node, ast.Constant) and node.value in CLOUDS:
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_names_a_cloud(e) for e in node.elts)
    return False


def cloud_branches() -> list[tuple[str, int, str]]:
    """(module, line, source) of every ==, !=, in, not in comparison naming `.cloud` or a cloud's name
    outside the modules that may branch on it."""
    found = []
    for path in sorted(STACKS.rglob("*.py")):
        if any(path.is_relative_to(d) for d in MAY_BRANCH):
            continue
        source = path.read_text()
        for node in ast.walk(ast.parse(source, str(path))):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
                continue
            if any(_names_a_cloud(operand) for operand in (node.left, *node.comparators)):
                module = str(path.relative_to(REPO))
                text = ast.get_source_segment(source, node) or ""
                if (module, text) not in NOT_A_CLOUD_BRANCH:
                    found.append((module, node.lineno, text))
    return found


def test_no_module_outside_infra_and_config_branches_on_the_cloud():
    assert cloud_branches() == [], "ask stacks.infra.clouds.cloud_of(cfg) instead of comparing the cloud's name"


def test_the_scan_finds_a_branch(tmp_path, monkeypatch):
    module = tmp_path / "stacks" / "platform_layer" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text('def f(cfg):\n    return cfg.cloud == "kind" or "oci" in (cfg.cloud,)\n')
    monkeypatch.setattr(sys.modules[__name__], "STACKS", tmp_path / "stacks")
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "MAY_BRANCH", ())
    assert [line for _, line, _ in cloud_branches()] == [2, 2]
