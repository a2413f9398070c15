"""Fixtures shared by every suite: a throw-away project folder for stack configs."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# The upstream charts the stacks pin, as CI provides them beside the clone (shared/reference/charts);
# SWAN_CHARTS, when set, points elsewhere (a chart cache filled by `swan charts pull`).
CHART_MIRROR = REPO.parent / "shared" / "reference" / "charts"
os.environ.setdefault("SWAN_CHARTS", str(CHART_MIRROR))
# The tests' own stacks: tests/fixtures/config (and a Pulumi.yaml link), never the operator
# examples in config/ (only tests/unit/test_config_examples.py reads those).
FIXTURES = REPO / "tests" / "fixtures"
os.environ["SWAN_PROJECT_DIR"] = str(FIXTURES)


class Project:
    """A temporary copy of Pulumi.yaml and the fixture stacks (tests/fixtures/config), selected via SWAN_PROJECT_DIR."""

    def __init__(self, root: Path):
        self.root = root
        self.config = root / "config"

    def write(self, stack: str, text: str) -> Path:
        path = self.config / f"Pulumi.{stack}.yaml"
        path.write_text(text)
        return path

    def write_config(self, stack: str, swan: dict, other: dict | None = None) -> Path:
        """A stack file from `swan:` keys given without their namespace."""
        document = {"config": {**{f"swan:{k}": v for k, v in swan.items()}, **(other or {})}}
        return self.write(stack, yaml.safe_dump(document, sort_keys=False))

    def read_swan(self, stack: str) -> dict:
        document = yaml.safe_load((self.config / f"Pulumi.{stack}.yaml").read_text())
        return {k.split(":", 1)[1]: v for k, v in document["config"].items() if k.startswith("swan:")}


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    """The fixture stacks copied to a temp project's config/; the cwd moves there so paths print as config/..."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURES / "config", root / "config")
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    monkeypatch.setenv("SWAN_PROJECT_DIR", str(root))
    monkeypatch.chdir(root)
    return Project(root)
