"""JSON schema of a whole `config/Pulumi.<stack>.yaml` file, for editors (yaml-language-server).

Generated from the pydantic models, so it cannot drift from what `swan check` accepts; the
committed copy (config/swan-stack.schema.json) is kept in sync by a test and `make schema`.
Each key's description (the docstring under its field) is the editor's hover help; the same
texts make the config reference (stacks/config/reference.py, docs/config-reference.md).
"""
from __future__ import annotations

import json
from pathlib import Path

from stacks.config.loader import NAMESPACE, STACK_MODELS

SCHEMA_FILE = "swan-stack.schema.json"


def _file_schema(model, defs: dict) -> dict:
    schema = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs.update(schema.pop("$defs", {}))
    properties = {f"{NAMESPACE}:{key}": value for key, value in schema["properties"].items()}
    return {
        "type": "object",
        "properties": properties,
        "required": [f"{NAMESPACE}:{key}" for key in schema.get("required", [])],
        # other namespaces (provider settings such as openstack:authUrl) pass through
        "patternProperties": {f"^(?!{NAMESPACE}:)[A-Za-z0-9_-]+:.+$": {}},
        "additionalProperties": False,
    }


def stack_file_schema() -> dict:
    """One alternative per stack kind (`swan:kind`), under the file's `config:` key."""
    defs: dict = {}
    alternatives = []
    for kind, model in STACK_MODELS.items():
        config = _file_schema(model, defs)
        if kind != "environment":
            config["required"] = sorted(set(config["required"]) | {f"{NAMESPACE}:kind"})
        alternatives.append({"title": f"{kind} stack", **config})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "swan-iac stack config (config/Pulumi.<stack>.yaml)",
        "type": "object",
        "properties": {
            "config": {"oneOf": alternatives},
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
            "environment": {},
        },
        "required": ["config"],
        "$defs": dict(sorted(defs.items())),
    }


def schema_text() -> str:
    return json.dumps(stack_file_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    from stacks.config.loader import config_dir

    Path(config_dir(), SCHEMA_FILE).write_text(schema_text())
