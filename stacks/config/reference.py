"""The config reference (docs/config-reference.md): every key of a stack file, generated from the models.

One section per stack kind (`swan:kind`), one table per config section, one row per key: the key
path as an operator writes it (`swan:hub.culling.gpuTimeout`; `[]` marks the items of a list), its
type, its default and its description (the field's attribute docstring, which the JSON schema
carries too). Deterministic, so the committed copy is kept in sync by a test and `make schema`.
"""
from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import AfterValidator, AwareDatetime, BaseModel, PlainValidator
from pydantic.fields import FieldInfo

from stacks.config.loader import NAMESPACE, STACK_MODELS, project_dir
from stacks.config.types import Secret

REFERENCE_FILE = Path("docs") / "config-reference.md"

# The checked scalars of stacks/config/types.py (and clouds.py), by the validator that checks them.
_CHECKED: dict[str, str | None] = {
    "_quantity": "quantity",
    "_byte_size": "with a unit",
    "_duration": "duration",
    "_positive": "positive",
    "_dns_label": "name (DNS label)",
    "_hostname": "host name",
    "_cidr": "CIDR",
    "_restricted_cidr": "CIDR, not /0",
    "_not_everything": "together not the whole internet",
    "_ip_address": "IP address",
    "_host_address": "IP address or host name",
    "_cron_schedule": "cron schedule",
    "_ocid.<locals>.check": "OCID",
    "_secret": None,  # the type, Secret, says it all
}
_PLAIN = {str: "string", int: "integer", float: "number", bool: "boolean", AwareDatetime: "date-time with a time zone",
          Secret: "Pulumi secret (`secure:`)"}


def _args(annotation: Any) -> tuple:
    return typing.get_args(annotation)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _without_none(annotation: Any) -> Any:
    """`X | None` -> X (unset is shown as the default)."""
    if _is_union(annotation):
        rest = [a for a in _args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]
    return annotation


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field annotation holds (through Optional, unions, lists and dicts), in order."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in _args(annotation):
        found += [m for m in models_in(arg) if m not in found]
    return found


def all_models() -> list[type[BaseModel]]:
    """Every model reachable from a stack model, each once, depth first in field order."""
    found: list[type[BaseModel]] = []

    def visit(model: type[BaseModel]) -> None:
        if model in found:
            return
        found.append(model)
        for field in model.model_fields.values():
            for sub in models_in(field.annotation):
                visit(sub)

    for model in STACK_MODELS.values():
        visit(model)
    return found


def _checks(metadata: list) -> list[str]:
    words = []
    for item in metadata:
        if isinstance(item, (AfterValidator, PlainValidator)):
            name = item.func.__qualname__
            if name not in _CHECKED:
                raise ValueError(f"no reference name for the validator {name}: add it to _CHECKED")
            if _CHECKED[name]:
                words.append(_CHECKED[name])
    return words


def _bounds(metadata: list, what: str) -> str:
    """`1-16`, `>= 0`, `> 0, <= 256`, `at least 1` ... from the annotated-types constraints."""
    def first(kind: type, attribute: str) -> Any:
        return next((getattr(m, attribute) for m in metadata if isinstance(m, kind)), None)

    ge, gt, le = first(annotated_types.Ge, "ge"), first(annotated_types.Gt, "gt"), first(annotated_types.Le, "le")
    length = first(annotated_types.MinLen, "min_length")
    parts = []
    if ge is not None and le is not None:
        parts.append(f"{ge}-{le}")
    else:
        parts += [f"{op} {bound}" for op, bound in ((">=", ge), (">", gt), ("<=", le)) if bound is not None]
    if length:
        parts.append("non-empty" if what == "string" and length == 1 else f"at least {length}")
    return ", ".join(parts)


def type_text(annotation: Any, metadata: list | None = None) -> str:
    """What a value must be, in words: `list of CIDR, not /0`, `integer, 1-16`, `one of: "a", "b"`."""
    annotation = _without_none(annotation)
    metadata = list(metadata or [])
    if typing.get_origin(annotation) is Annotated:
        inner, *extra = _args(annotation)
        return type_text(inner, [*extra, *metadata])
    origin = typing.get_origin(annotation)
    if origin is Literal:
        values = ", ".join(json.dumps(v) for v in _args(annotation))
        text = values if len(_args(annotation)) == 1 else f"one of: {values}"
    elif origin is list:
        item = type_text(_args(annotation)[0])
        text = f"list, each {item}" if item.startswith("one of") else f"list of {_plural(item)}"
    elif origin is dict:
        key, value = _args(annotation)
        text = f"map of {type_text(key)} to {type_text(value)}"
    elif _is_union(annotation) and all(arg in _PLAIN for arg in _args(annotation)):  # e.g. a count or a share
        text = " or ".join(_PLAIN[arg] for arg in _args(annotation))
    elif _is_union(annotation) or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        text = "object"
    elif annotation in _PLAIN:
        text = _PLAIN[annotation]
    else:
        raise ValueError(f"no reference name for the type {annotation!r}")
    checks = _checks(metadata)
    if checks and text == "string":  # a checked string: say what it is
        text, checks = checks[0], checks[1:]
    bounds = _bounds(metadata, text)
    return ", ".join([text, *checks, *([bounds] if bounds else [])])


def _plural(text: str) -> str:
    head, _, rest = text.partition(",")
    plural = {"object": "objects", "string": "strings", "integer": "integers", "CIDR": "CIDRs",
              "name (DNS label)": "names (DNS labels)"}.get(head, head)
    return plural + ("," + rest if rest else "")


def _discriminator(model: type[BaseModel]) -> str | None:
    """The `type: <value>` a variant of a union is chosen by, if it has one."""
    field = model.model_fields.get("type")
    if field is not None and typing.get_origin(field.annotation) is Literal and len(_args(field.annotation)) == 1:
        return _args(field.annotation)[0]
    return None


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True, validated_data={})
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        shown = value.model_dump(by_alias=True, mode="json", exclude_defaults=True)
        if (tag := _discriminator(type(value))) is not None:
            shown = {"type": tag, **shown}
        return f"`{_value(shown)}`" if shown else "its keys' defaults"
    return f"`{_value(value)}`"


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|")


def rows(fields: dict[str, FieldInfo], prefix: str, variant: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) of every field under `prefix`, nested ones after their
    parent; `variant` marks the fields of one model of a union (` (oidc)`)."""
    found = []
    for name, field in fields.items():
        key = f"{prefix}{field.alias or name}"
        # the key a union's variant is chosen by must be written, whatever the variant's own default
        default = "required" if variant and name == "type" else default_text(field)
        found.append((f"`{key}`{variant}", type_text(field.annotation, field.metadata), default,
                      field.description or ""))
        annotation = _without_none(field.annotation)
        path = f"{key}[]." if typing.get_origin(annotation) is list else f"{key}."
        subs = models_in(annotation)
        for sub in subs:
            tag = f" ({_discriminator(sub) or sub.__name__})" if len(subs) > 1 else variant
            found += rows(sub.model_fields, path, tag)
    return found


def _table(found: list[tuple[str, str, str, str]]) -> list[str]:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in found]
    return lines


def _doc(model: type[BaseModel]) -> str:
    return re.sub(r"\s+", " ", model.__doc__ or "").strip()


def stack_section(kind: str, model: type[BaseModel]) -> list[str]:
    """A stack kind: its top-level scalar keys in one table, then one table per config section."""
    fields = model.model_fields
    scalars = {name: field for name, field in fields.items() if not models_in(field.annotation)}
    lines = [f"## {kind.capitalize()} stacks (`{NAMESPACE}:kind: {kind}`)", "", _doc(model), "",
             "### Top-level keys", "", *_table(rows(scalars, f"{NAMESPACE}:")), ""]
    for name, field in fields.items():
        if name in scalars:
            continue
        lines += [f"### `{NAMESPACE}:{field.alias or name}`", ""]
        subs = models_in(field.annotation)
        if len(subs) == 1 and _doc(subs[0]):
            lines += [_doc(subs[0]), ""]
        lines += [*_table(rows({name: field}, f"{NAMESPACE}:")), ""]
    return lines


def reference_text() -> str:
    lines = [
        "# Stack config reference",
        "",
        "Every key of a stack file, `config/Pulumi.<stack>.yaml`. Generated from the config models in",
        "`stacks/config/` by `make schema` (`python -m stacks.config.reference`): do not edit it by hand;",
        "`tests/unit/test_config_reference.py` fails when it is out of date. The same descriptions are the",
        "hover help of editors, through `config/swan-stack.schema.json`.",
        "",
        f"Keys are written as paths: `{NAMESPACE}:hub.culling.gpuTimeout` is `gpuTimeout` under `culling` under",
        f"`{NAMESPACE}:hub` in the file (and `pulumi config set --path 'hub.culling.gpuTimeout' ...`); `[]` marks",
        f"the items of a list (`{NAMESPACE}:nodePools[].name`); `(oidc)` after a key marks the keys of one choice of",
        "`type`. Default `required` means the key must be written (when its parent is); `unset` means no",
        "value. `swan check` validates a file against all of this, and more rules that tie keys together.",
        "",
    ]
    for kind, model in STACK_MODELS.items():
        lines += stack_section(kind, model)
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    target = project_dir() / REFERENCE_FILE
    target.parent.mkdir(exist_ok=True)
    target.write_text(reference_text())
