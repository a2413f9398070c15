"""Adding a cloud is one package and one registry line (DEVELOPERS.md, "Adding a cloud").

A throw-away cloud package `fakecloud` (the four modules every cloud has, written to a temporary
folder) and one `Cloud(...)` entry are all this test adds; it then uses the project's real config
loader, JSON schema export, stack-output contract and infra dispatcher, untouched. Runs in a fresh
interpreter because the config model takes its cloud sections from the registry when imported.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PACKAGE = {
    "__init__.py": '"""A cloud that exists only in this test."""\n',
    "config.py": '''
        from stacks.config.types import Cidr, Model, config_problem


        class FakeCloud(Model):
            """A fake cloud's cluster."""

            region: str
            """Where it runs."""
            api_cidr: Cidr = "10.0.0.0/8"
            """Who may reach its API."""


        Section = FakeCloud


        def problems(cfg):
            if not cfg.node_pools:
                return [config_problem(("nodePools",), "at least one node pool is needed on fakecloud", [])]
            return []
    ''',
    "outputs.py": '''
        from typing import Literal

        from stacks.stack_outputs import EnvironmentOutputs


        class Outputs(EnvironmentOutputs):
            cloud: Literal["fakecloud"]
            region: str
    ''',
    "cluster.py": '''
        def build(cfg):
            return ("built", cfg.fakecloud.region)
    ''',
}

SCRIPT = '''
import json, sys
sys.path.insert(0, sys.argv[1])
from stacks.infra import clouds
clouds.CLOUDS["fakecloud"] = clouds.Cloud(
    "fakecloud", "FakeCloud", "fakecloud", "fakecloud", section_required=True, can_grow_for_events=False,
    storage_classes=frozenset(), ingress_on_host_ports=False, pools_autoscale=True)

from pathlib import Path
from stacks.config.loader import validate_file
from stacks.config.schema import schema_text
from stacks.errors import InputError
from stacks.infra import build_infra
from stacks.stack_outputs import environment_outputs

def check(name, text):
    path = Path(sys.argv[1]) / f"Pulumi.{name}.yaml"
    path.write_text(text)
    try:
        return validate_file(path)
    except InputError as exc:
        return [f"{p.key}: {p.message}" for p in exc.problems]

base = "config:\\n  swan:cloud: fakecloud\\n  swan:hub:\\n    host: swan.example.org\\n    auth:\\n      type: dummy\\n    software:\\n      - release: LCG_107\\n        platform: x86_64-el9-gcc13-opt\\n    sessions:\\n      - name: small\\n        cores: 1\\n        memory: 2Gi\\n"
pools = "  swan:nodePools:\\n    - name: workers\\n"
cfg = check("good", base + "  swan:fakecloud:\\n    region: moon-1\\n" + pools)
assert not isinstance(cfg, list), cfg
schema = json.loads(schema_text())
print(json.dumps({
    "built": list(build_infra(cfg)),
    "missing_section": check("nosection", base + pools),
    "no_pools": check("nopools", base + "  swan:fakecloud:\\n    region: moon-1\\n"),
    "bad_cidr": check("badcidr", base + "  swan:fakecloud:\\n    region: moon-1\\n    apiCidr: 10.0.0.300/8\\n" + pools),
    "wrong_section": check("wrong", base.replace("fakecloud", "kind") + "  swan:fakecloud:\\n    region: moon-1\\n"),
    "schema_has_section": "fakecloud" in json.dumps(schema),
    "outputs_fields": sorted(environment_outputs("fakecloud").model_fields),
}))
'''


def test_a_new_cloud_package_and_registry_line_reach_config_schema_outputs_and_build(tmp_path):
    package = tmp_path / "fakecloud"
    package.mkdir()
    for name, text in PACKAGE.items():
        (package / name).write_text(textwrap.dedent(text))
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["built"] == ["built", "moon-1"]
    assert any("swan:fakecloud" in p and "required with cloud: fakecloud" in p for p in found["missing_section"])
    assert any("at least one node pool is needed on fakecloud" in p for p in found["no_pools"])
    assert any("swan:fakecloud.apiCidr" in p for p in found["bad_cidr"])
    assert any("swan:fakecloud" in p and "only valid with cloud: fakecloud" in p for p in found["wrong_section"])
    assert found["schema_has_section"]
    assert "region" in found["outputs_fields"] and "kubeconfig" in found["outputs_fields"]
