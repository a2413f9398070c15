"""The operator examples in config/ stay valid. This is the only test that reads config/'s stack
files: every other test uses its own stacks in tests/fixtures/config (see tests/conftest.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_operator_examples_pass_swan_check():
    examples = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (REPO / "config").glob("Pulumi.*.yaml"))
    assert examples, "no Pulumi.<stack>.yaml under config/"
    env = {**os.environ, "SWAN_PROJECT_DIR": str(REPO), "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "stacks.cli.main", "check", *examples], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for stack in examples:
        assert stack in result.stdout
