"""Strict schema validation of every rendered object, as the API server would accept or refuse it.

Built-in kinds use kubernetes-validate's strict schemas (unknown fields are errors). Its
`validate()` reloads a 1.3 MB definitions file on every call, far too slow for a whole render,
so the same schema files are compiled here once per kind and version and kept.

Custom resources are validated against the `openAPIV3Schema` of their CustomResourceDefinition
in the render, translated from a Kubernetes structural schema into JSON schema with the API
server's rules (unknown fields are errors as with kubectl's strict field validation; nulls in
non-nullable object fields are pruned, not refused). A custom resource whose CRD is not in the
render fails, unless its API group is a documented prerequisite of the stack.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Iterable

import jsonschema
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from stacks.render_checks.objects import RenderObject

DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = {"$ref": f"{DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}


@lru_cache(maxsize=None)
def shipped_version(kubernetes_version: str) -> str:
    """The schema version kubernetes-validate uses for a Kubernetes version ("1.31", "v1.31.2"):
    the newest one it ships that is not newer. (Its own choice compares versions as strings.)"""
    wanted = tuple(int(x) for x in re.findall(r"\d+", kubernetes_version)[:2])
    shipped = sorted({tuple(int(x) for x in v.split(".")) for v in kv.all_versions()})
    fitting = [v for v in shipped if v[:2] <= wanted]
    if len(wanted) != 2 or not fitting or wanted > shipped[-1][:2]:
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version!r} "
                         f"(it ships {'.'.join(map(str, shipped[0][:2]))} to {'.'.join(map(str, shipped[-1][:2]))})")
    return ".".join(map(str, fitting[-1]))


@lru_cache(maxsize=None)
def _registry(version: str) -> Registry:
    """kubernetes-validate's shared definitions (strict variant) for one version."""
    definitions = kv.schema_contents(f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version)
    return Registry().with_resource(DEFINITIONS, Resource.from_contents(definitions))


@lru_cache(maxsize=None)
def _builtin_validator(version: str, api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    """The compiled strict schema of a built-in kind, named as kubernetes-validate names it
    (rbac.authorization.k8s.io/v1 -> rbac-v1); None when kubernetes-validate does not know it."""
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        file = f"kubernetes-json-schema/v{version}-local-strict/{kind.lower()}-{short}.json"
        schema = kv.schema_contents(file, version)
    except FileNotFoundError:
        return None
    return jsonschema.Draft202012Validator(schema, registry=_registry(version))


def is_custom_group(group: str) -> bool:
    """An API group that only a CRD can define (built-in groups are "", "apps", "*.k8s.io")."""
    return "." in group and not group.endswith(".k8s.io")


# ---- structural schema (CRD) -> JSON schema ----

_VALUE_KEYWORDS = ("enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "multipleOf",
                   "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "required")
_JUNCTORS = ("allOf", "anyOf", "oneOf")


def _value_validation(node: dict) -> dict:
    """A schema inside allOf/anyOf/oneOf/not: value validations only, never pruning (structural
    schemas forbid types and additionalProperties there, except the int-or-string idiom)."""
    out = {k: node[k] for k in ("type", *_VALUE_KEYWORDS) if k in node}
    _bounds(node, out)
    if "not" in node:
        out["not"] = _value_validation(node["not"])
    for j in _JUNCTORS:
        if j in node:
            out[j] = [_value_validation(n) for n in node[j]]
    if "properties" in node:
        out["properties"] = {k: _value_validation(v) for k, v in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        out["items"] = _value_validation(node["items"])
    return out


def _bounds(node: dict, out: dict) -> None:
    """OpenAPI v3.0 writes exclusive bounds as booleans next to minimum/maximum."""
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if node.get(exclusive) is True and bound in node:
            out[exclusive] = out.pop(bound)


def structural_to_json_schema(node: dict, null_ok: bool = False) -> dict:
    """JSON schema for one node of a structural schema. `null_ok`: a null here is accepted
    whatever the node says (the API server prunes nulls of non-nullable object fields before it
    validates); elsewhere (an array item, the root) only a `nullable` node accepts null."""
    out = {k: node[k] for k in _VALUE_KEYWORDS if k in node}
    _bounds(node, out)
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    elif "type" in node:
        out["type"] = node["type"]
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    for j in _JUNCTORS:
        if j in node:
            out[j] = [_value_validation(n) for n in node[j]]
    if "not" in node:
        out["not"] = _value_validation(node["not"])

    properties = {k: structural_to_json_schema(v, null_ok=True) for k, v in (node.get("properties") or {}).items()}
    if node.get("x-kubernetes-embedded-resource"):
        properties = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": OBJECT_META,
                      **properties}
        out["required"] = sorted({*out.get("required", []), "apiVersion", "kind"})
    if properties:
        out["properties"] = properties
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        out["additionalProperties"] = structural_to_json_schema(additional, null_ok=True)
    elif additional is not True and not node.get("x-kubernetes-preserve-unknown-fields") and (
            properties or node.get("type") == "object"):
        out["additionalProperties"] = False  # the server prunes it: an unknown field
    if isinstance(node.get("items"), dict):
        out["items"] = structural_to_json_schema(node["items"])
    if null_ok or node.get("nullable"):
        return {"if": {"type": "null"}, "else": out}  # null: nothing else to check
    return out


def custom_resource_schema(open_api_v3_schema: dict) -> dict:
    """JSON schema of a whole custom resource: the CRD's schema, with apiVersion, kind and
    metadata.name required and metadata checked as ObjectMeta (the server ignores the CRD's
    own metadata schema beyond that)."""
    schema = structural_to_json_schema(open_api_v3_schema)
    schema.setdefault("properties", {}).update(
        {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
         "metadata": {"allOf": [OBJECT_META, {"required": ["name"]}]}})
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    return schema


_custom_validators: dict[tuple[str, str], jsonschema.Draft202012Validator] = {}


def _custom_validator(version: str, open_api_v3_schema: dict) -> jsonschema.Draft202012Validator:
    """The compiled schema of one CRD version, kept by content (renders repeat the same CRDs)."""
    key = (version, json.dumps(open_api_v3_schema, sort_keys=True))
    if key not in _custom_validators:
        _custom_validators[key] = jsonschema.Draft202012Validator(
            custom_resource_schema(open_api_v3_schema), registry=_registry(version))
    return _custom_validators[key]


# ---- the checks ----

def _errors(validator: jsonschema.Draft202012Validator, obj: dict) -> str | None:
    """Every schema error of obj, as `field.path: message`, or None."""
    messages = sorted({f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                       for e in validator.iter_errors(obj)})
    return "; ".join(messages) if messages else None


@lru_cache(maxsize=4096)
def _builtin_errors(version: str, api_version: str, kind: str, text: str) -> str | None:
    """Errors of a built-in object given as JSON text: renders of several stacks repeat the same
    chart objects (and their large CRDs), so each distinct object is validated once."""
    return _errors(_builtin_validator(version, api_version, kind), json.loads(text))


def _served_schemas(objects: Iterable[RenderObject]) -> dict[tuple[str, str], dict[str, dict]]:
    """The openAPIV3Schema of every served version of every CRD in the render, by (group, kind)."""
    crds = {}
    for o in objects:
        if o.kind == "CustomResourceDefinition" and o.api_group == "apiextensions.k8s.io":
            spec = o.obj.get("spec") or {}
            crds[(spec.get("group"), (spec.get("names") or {}).get("kind"))] = {
                v.get("name"): (v.get("schema") or {}).get("openAPIV3Schema") or {}
                for v in spec.get("versions") or [] if v.get("served")}
    return crds


def _problem(o: RenderObject, version: str, crds: dict[tuple[str, str], dict[str, dict]],
             validators: dict[tuple[str, str, str], jsonschema.Draft202012Validator],
             prerequisite_groups: dict[str, str]) -> str | None:
    """What the API server would refuse in one object, or None."""
    if not o.api_version or not o.kind:
        return "apiVersion and kind are required"
    if not is_custom_group(o.api_group) and _builtin_validator(version, o.api_version, o.kind) is not None:
        return _builtin_errors(version, o.api_version, o.kind, json.dumps(o.obj, sort_keys=True))
    served = crds.get((o.api_group, o.kind))
    if served is None:
        if o.api_group in prerequisite_groups:
            return None  # listed by unvalidated()
        return (f"{o.kind} {o.api_version} is neither a built-in kind of Kubernetes {version.rsplit('.', 1)[0]} "
                f"nor defined by a CustomResourceDefinition in the render")
    crd_version = o.api_version.rpartition("/")[2]
    if crd_version not in served:
        return f"its CRD does not serve {o.api_version} (served: {', '.join(map(str, served)) or 'none'})"
    return _errors(validators[(o.api_group, o.kind, crd_version)], o.obj)


def strict_failures(objects: Iterable[RenderObject], kubernetes_version: str,
                    prerequisite_groups: dict[str, str]) -> dict[str, str]:
    """Every object that the API server of `kubernetes_version` would refuse under strict field
    validation, by file id. A custom resource of a group in `prerequisite_groups` whose CRD is not
    in the render is not a failure (see `unvalidated`)."""
    objects = list(objects)
    version = shipped_version(kubernetes_version)
    crds = _served_schemas(objects)
    validators = {(group, kind, name): _custom_validator(version, schema)
                  for (group, kind), served in crds.items() for name, schema in served.items()}
    failures = {o.path: _problem(o, version, crds, validators, prerequisite_groups) for o in objects}
    return {path: message for path, message in failures.items() if message is not None}


def unvalidated(objects: Iterable[RenderObject], prerequisite_groups: dict[str, str]) -> list[str]:
    """Custom resources accepted without validation: their CRD comes with a documented
    prerequisite (a group of `prerequisite_groups`), not with the render. One line each, with why."""
    objects = list(objects)
    crds = _served_schemas(objects)
    return [f"{o.path}: {o.kind} {o.api_version} not validated (no CRD in the render): "
            f"{prerequisite_groups[o.api_group]}"
            for o in objects if o.api_group in prerequisite_groups and (o.api_group, o.kind) not in crds]
