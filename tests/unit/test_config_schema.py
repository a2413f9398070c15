"""The committed JSON schema matches the models, and accepts exactly the files `swan check` accepts."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from stacks.config.schema import SCHEMA_FILE, schema_text

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "config" / SCHEMA_FILE  # the generated schema beside the operator examples
CONFIG = ROOT / "tests" / "fixtures" / "config"


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))


def test_committed_schema_is_in_sync_with_the_models():
    assert SCHEMA.read_text() == schema_text(), "run `make schema` and commit the result"


def test_every_fixture_stack_file_validates_in_an_editor():
    for path in sorted(CONFIG.glob("Pulumi.*.yaml")):
        errors = [e.message for e in validator().iter_errors(yaml.safe_load(path.read_text()))]
        assert not errors, f"{path.name}: {errors}"


def test_editor_flags_unknown_keys_and_plain_text_secrets():
    document = yaml.safe_load((CONFIG / "Pulumi.kind.yaml").read_text())
    document["config"]["swan:hubb"] = {}
    assert list(validator().iter_errors(document))
    document = yaml.safe_load((CONFIG / "Pulumi.kind.yaml").read_text())
    document["config"]["swan:storage"]["eos"] = {"enabled": True, "keytab": "plain text"}
    assert list(validator().iter_errors(document))
