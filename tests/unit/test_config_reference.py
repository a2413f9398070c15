"""Every config key is described, and the descriptions reach operators unchanged: in the JSON
schema (editor hover help) and in the committed config reference (docs/config-reference.md)."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

from pydantic import BaseModel

from stacks.config import event_model, model, nodes_model, types
from stacks.infra.clouds import CLOUDS
from stacks.config.loader import NAMESPACE, STACK_MODELS
from stacks.config.reference import REFERENCE_FILE, all_models, reference_text, rows
from stacks.config.schema import SCHEMA_FILE, schema_text

ROOT = Path(__file__).resolve().parents[2]


def defined_models() -> list[type[BaseModel]]:
    """Every model class the config modules define (the shared base `Model` aside)."""
    found = []
    cloud_sections = [cloud.module("config") for cloud in CLOUDS.values()]
    for module in (types, model, nodes_model, event_model, *cloud_sections):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseModel) and cls.__module__ == module.__name__ and cls is not types.Model \
                    and not cls.__name__.startswith("_"):  # private bases: their fields reach files through a subclass
                found.append(cls)
    return found


def test_the_reference_covers_every_model_the_config_defines():
    # NodeMachine is only a base class: its fields reach files through StaticHost and VmGroup
    reached = set(all_models())
    assert {m.__name__ for m in defined_models() if m not in reached} <= {"NodeMachine"}


def test_every_field_has_a_description():
    missing = [f"{m.__module__}.{m.__name__}.{name}" for m in defined_models()
               for name, field in m.model_fields.items() if not (field.description or "").strip()]
    assert not missing, f"fields without a description (a docstring under the field): {missing}"


def test_descriptions_are_written_for_operators():
    """One short text per key, ending like a sentence."""
    for m in all_models():
        for name, field in m.model_fields.items():
            text = " ".join(field.description.split())
            assert text.endswith("."), f"{m.__name__}.{name}: {text!r}"
            assert len(text) <= 300, f"{m.__name__}.{name} is {len(text)} characters: keep it short"


def test_committed_reference_is_in_sync_with_the_models():
    committed = (ROOT / REFERENCE_FILE).read_text()
    assert committed == reference_text(), f"{REFERENCE_FILE} is out of date: run `make schema` and commit the result"


def test_reference_has_a_row_per_key():
    text = reference_text()
    for stack_model in STACK_MODELS.values():
        for key, _, _, description in rows(stack_model.model_fields, f"{NAMESPACE}:"):
            assert f"| {key} |" in text, key
            assert " ".join(description.split()).replace("|", "\\|") in text, key
    assert "| `swan:hub.culling.gpuTimeout` | duration, positive | `\"1h\"` |" in text


def test_schema_descriptions_match_the_models():
    schema = json.loads((ROOT / "config" / SCHEMA_FILE).read_text())
    assert schema == json.loads(schema_text()), "run `make schema` and commit the result"
    defs = schema["$defs"]
    stacks_by_title = {alt["title"]: alt for alt in schema["properties"]["config"]["oneOf"]}
    for m in all_models():
        if m in STACK_MODELS.values():
            kind = next(k for k, v in STACK_MODELS.items() if v is m)
            properties = {key.removeprefix(f"{NAMESPACE}:"): value
                          for key, value in stacks_by_title[f"{kind} stack"]["properties"].items()}
        else:
            properties = defs[m.__name__]["properties"]
        for name, field in m.model_fields.items():
            key = field.alias or name
            assert properties[key].get("description") == field.description, f"{m.__name__}.{key}"
