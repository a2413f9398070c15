"""The clouds are registered in one place (stacks.infra.clouds), each is one package with the same
modules, and nothing outside the infra layer branches on a cloud's name."""
from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from stacks.config.model import EnvironmentConfig
from stacks.infra import CLUSTER_STORAGE_CLASSES
from stacks.infra.clouds import CLOUDS, Cloud, cloud_of, growable
from stacks.stack_outputs import EnvironmentOutputs, environment_outputs

REPO = Path(__file__).resolve().parents[2]
STACKS = REPO / "stacks"
# Where a cloud's name may be compared: the cloud packages and the registry.
MAY_BRANCH = (STACKS / "infra",)
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


def test_the_config_model_has_exactly_the_registered_cloud_sections():
    sections = [name for name, field in EnvironmentConfig.model_fields.items()
                if "cloud:" in (field.description or "") and name != "cloud"]
    assert sections == [c.section for c in CLOUDS.values()]
    for cloud in CLOUDS.values():
        assert typing.get_args(EnvironmentConfig.model_fields[cloud.section].annotation)[0] is cloud.section_model()


def test_every_cloud_has_its_output_model_and_storage_classes():
    for name, cloud in CLOUDS.items():
        model = environment_outputs(name)
        assert issubclass(model, EnvironmentOutputs) and model is cloud.outputs_model()
        assert typing.get_args(model.model_fields["cloud"].annotation) == (name,)
    assert CLUSTER_STORAGE_CLASSES == {name: set(c.storage_classes) for name, c in CLOUDS.items()}


@pytest.mark.parametrize("name", list(CLOUDS))
def test_every_entry_resolves(name):
    cloud = CLOUDS[name]
    assert isinstance(cloud, Cloud)
    assert callable(cloud.module("cluster").build)
    assert callable(cloud.module("config").problems)
    assert cloud.package == f"stacks.infra.{name}" and (STACKS / "infra" / name / "__init__.py").exists()
    # a cloud events can grow has an event pool component, and only such a cloud
    has_pool = (STACKS / "infra" / name / "pool.py").exists()
    assert has_pool == cloud.can_grow_for_events
    if has_pool:
        assert callable(cloud.module("pool").event_node_pool)


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
