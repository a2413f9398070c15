"""Shared types of the config models: the base model and the checked scalars (quantities,
durations, names, CIDRs, cron schedules, secrets) every section uses.

A leaf module: the section models (model.py, nodes_model.py, event_model.py, each cloud's
stacks/infra/<cloud>/config.py) build on it, and it imports nothing of the project.
"""
from __future__ import annotations

import ipaddress
import re
import types
import typing
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError, ValidationInfo,
                      WithJsonSchema, model_validator)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

from stacks.config.strict_yaml import YamlNumber

SECRET_PLACEHOLDER = "[secret]"

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_DURATION = re.compile(r"^([0-9]+)(s|m|h|d)$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "m": 10**-3}


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"'{value}' is not a Kubernetes quantity (examples: 16Gi, 512Mi, 2, 500m)")
    return value


def quantity_value(quantity: str) -> float:
    """A Kubernetes quantity in base units (bytes or cores)."""
    match = _QUANTITY.match(quantity)
    assert match, quantity
    unit = match.group(2) or ""
    return float(quantity[: len(quantity) - len(unit)]) * _UNITS[unit]


def _byte_size(value: str) -> str:
    """A memory or disk size: a bare number would be bytes, which nobody means."""
    if not re.search(r"[A-Za-z]$", value):
        raise ValueError(f"'{value}' has no unit, so it would be {value} bytes; write e.g. {value}Gi")
    return value


MAX_DURATION_DAYS = 365


def _duration(value: str) -> str:
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"'{value}' is not a duration (examples: 30m, 4h, 2d)")
    if duration_seconds(value) > MAX_DURATION_DAYS * 86400:
        raise ValueError(f"'{value}' is longer than {MAX_DURATION_DAYS} days")
    return value


def _positive(value: str) -> str:
    if duration_seconds(value) == 0:
        raise ValueError(f"'{value}' is zero; this duration must be positive")
    return value


def duration_seconds(value: str) -> int:
    number, unit = _DURATION.match(value).groups()  # type: ignore[union-attr]
    return int(number) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(f"'{value}' is not a valid name (lower-case letters, digits and '-', at most 63)")
    return value


def _hostname(value: str) -> str:
    if not _HOSTNAME.match(value):
        raise ValueError(f"'{value}' is not a valid DNS host name")
    return value


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a CIDR block (example: 192.0.2.0/24): {exc}") from None
    return str(network)


def _restricted_cidr(value: str) -> str:
    """A source range for a sensitive port: anything but the whole internet."""
    cidr = _cidr(value)
    if ipaddress.ip_network(cidr).prefixlen == 0:
        raise ValueError(f"'{value}' opens the port to the whole internet; list the admin or office ranges instead")
    return cidr


def _not_everything(cidrs: list[str]) -> list[str]:
    """Ranges that together cover the whole internet (0.0.0.0/1 + 128.0.0.0/1) are as open as /0."""
    for version in (4, 6):
        networks = [ipaddress.ip_network(c) for c in cidrs if ipaddress.ip_network(c).version == version]
        if any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(networks)):  # type: ignore[type-var]
            raise ValueError(f"{', '.join(map(str, networks))} together cover the whole IPv{version} internet; "
                             "list the admin or office ranges instead")
    return cidrs


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not an IP address (example: 169.254.169.254)") from None


def _host_address(value: str) -> str:
    """An IP address or a DNS name, as ssh takes it."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        if re.fullmatch(r"[0-9.]+", value) or not _HOSTNAME.match(value.lower()):
            raise ValueError(f"'{value}' is neither an IP address nor a DNS host name") from None
        return value


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_CRON_NAMES = {3: "jan feb mar apr may jun jul aug sep oct nov dec".split(), 4: "sun mon tue wed thu fri sat".split()}
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def _cron_schedule(value: str) -> str:
    """A Kubernetes CronJob schedule: five fields (or a macro such as @daily), each in range."""
    if value.strip() in _CRON_MACROS:
        return value
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"'{value}' is not a cron schedule: it needs 5 fields (minute hour day month weekday), "
                         f"e.g. '30 3 * * *'")
    for i, (text, (what, low, high)) in enumerate(zip(fields, _CRON_FIELDS)):
        names = _CRON_NAMES.get(i, [])
        for part in text.split(","):
            spec, _, step = part.partition("/")
            bounds = [] if spec == "*" else spec.split("-", 1)
            numbers = [names.index(b.lower()) + (i == 3) if b.lower() in names else b for b in bounds]
            if (step and not step.isdigit()) or (step and int(step) == 0) or not all(
                    isinstance(n, int) or (n.isdigit() and n.isascii()) for n in numbers) or (
                    not bounds and spec != "*"):
                raise ValueError(f"'{value}': {what} '{text}' is not a cron field")
            if any(not low <= int(n) <= high for n in numbers):
                raise ValueError(f"'{value}': {what} '{text}' is outside {low}-{high}")
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]
ByteSize = Annotated[str, AfterValidator(_quantity), AfterValidator(_byte_size)]
Cidr = Annotated[str, AfterValidator(_cidr)]
RestrictedCidr = Annotated[str, AfterValidator(_restricted_cidr)]
RestrictedCidrs = Annotated[list[RestrictedCidr], AfterValidator(_not_everything)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
HostAddress = Annotated[str, AfterValidator(_host_address)]
CronSchedule = Annotated[str, AfterValidator(_cron_schedule)]
Duration = Annotated[str, AfterValidator(_duration)]
PositiveDuration = Annotated[str, AfterValidator(_duration), AfterValidator(_positive)]
Name = Annotated[str, AfterValidator(_dns_label)]
Hostname = Annotated[str, AfterValidator(_hostname)]


def config_problem(loc: tuple, message: str, value: Any) -> InitErrorDetails:
    """A rule's finding as a pydantic error detail, so `swan check` points at the offending key."""
    return InitErrorDetails(type=PydanticCustomError("config", message), loc=loc, input=value)


def unique_names(names: list[str], what: str) -> None:
    """Names are how stacks refer to pools, sessions and hosts: a repeated one is an error."""
    if len(set(names)) != len(names):
        raise ValueError(f"{what} names must be unique, got {names}")


class Secret(str):
    """A value that came from a Pulumi `secure:` entry; offline it holds the placeholder."""


def _secret(value: Any, info: ValidationInfo) -> Secret:
    """Secrets must be `secure:` in the file; the Pulumi engine hands them over decrypted."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, str) and not (info.context or {}).get("from_file"):
        return Secret(value)
    raise ValueError(
        "must be a Pulumi secret (`pulumi config set --secret --path ...` writes `secure: ...`), never plain text"
    )


def _leaf_types(annotation: Any) -> set:
    """The plain types a field annotation accepts (through Optional, unions and Literal)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_leaf_types(a) for a in typing.get_args(annotation)))
    if origin is Literal:
        return {type(a) for a in typing.get_args(annotation)}
    if origin is Annotated:
        return _leaf_types(typing.get_args(annotation)[0])
    return {origin or annotation}


def _yaml_surprise(value: Any, accepts: set) -> str | None:
    """What YAML did to an unquoted value that the field would take the wrong way, if anything."""
    wants_text = any(isinstance(t, type) and issubclass(t, str) for t in accepts)
    wants_number = bool(accepts & {int, float})
    if isinstance(value, bool) and bool not in accepts and (wants_number or wants_text):
        return (f"YAML reads the unquoted word as the yes/no value {str(value).lower()}, "
                + ("not a number" if wants_number else "not text; quote it"))
    if isinstance(value, YamlNumber) and wants_text and not value.as_written():
        return (f"YAML reads {value.text} as the number {value} (and so does Pulumi); "
                f"quote it to keep it as written: \"{value.text}\"")
    return None


class Model(BaseModel):
    """Base: camelCase keys, unknown keys rejected, numbers accepted where text is expected
    (unless YAML changed them: `1.30` is the number 1.3, so it must be quoted)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        coerce_numbers_to_str=True,
        frozen=True,
        use_attribute_docstrings=True,  # a string literal under a field is its description
    )

    @model_validator(mode="before")
    @classmethod
    def _as_written(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        surprises = []
        for name, field in cls.model_fields.items():
            for key in dict.fromkeys((field.alias or name, name)):
                value = data.get(key)
                if isinstance(value, (bool, int, float)) and (why := _yaml_surprise(value, _leaf_types(field.annotation))):
                    surprises.append(InitErrorDetails(type=PydanticCustomError("yaml_type", why), loc=(key,), input=value))
        if surprises:
            raise ValidationError.from_exception_data(cls.__name__, surprises)
        return data


SecretValue = Annotated[
    Secret,
    PlainValidator(_secret),
    WithJsonSchema({"type": "object", "properties": {"secure": {"type": "string"}}, "required": ["secure"],
                    "additionalProperties": False, "description": "a Pulumi secret (pulumi config set --secret)"}),
]


GpuModelName = Literal["A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB", "A30-24GB",
                       "T4", "V100", "A10", "L4", "L40S"]


class GpuSharing(Model):
    """NVIDIA's device plugin shares each GPU of the pool between `replicas` sessions (MIG off):
    with `mps` every session gets at most GPU memory / replicas and 1/replicas of the compute
    (enforced by the MPS daemon); with `time-slicing` they take turns and nothing is enforced."""

    mode: Literal["mps", "time-slicing"]
    """`mps` (memory and compute limits per session) or `time-slicing` (no limits)."""
    replicas: int = Field(ge=2, le=48)
    """Sessions per GPU (2-48; MPS allows 48 clients per GPU, 16 on V100); `swan gpu pack --demand 4gb=N`
    sizes it from the GPU memory a session needs."""


class NodeGpu(Model):
    model: GpuModelName
    """GPU model in the node or host; pool nodes are labelled with it (`swan.cern.ch/gpu-model`)."""
    per_node: int = Field(1, ge=1, le=16)
    """GPUs in each node or host, as its flavor or hardware has them; a pool's GPU quota
    (security.quota) counts them, nothing else is sized from it."""
    mig_config: str = "all-disabled"
    """MIG layout of the GPUs: `all-disabled` (whole GPUs) or a layout of this model from the planner's
    catalog (`swan gpu pack` prints them); pool nodes get it as `nvidia.com/mig.config`, hosts apply it."""
    sharing: GpuSharing | None = None
    """Share every GPU between sessions with the device plugin (node pools only, MIG off); pool nodes get
    `nvidia.com/device-plugin.config` naming the plugin config (`mps-4`, `ts-4`)."""

    @model_validator(mode="after")
    def _known_layout(self) -> "NodeGpu":
        """The layout label must name a config the gpu-operator holds (the planner's catalog)."""
        if self.mig_config != "all-disabled":
            from stacks.planner.mig_parted import catalog

            names = catalog([self.model])["mig-configs"]
            if self.mig_config not in names:
                examples = ", ".join(sorted(names)[:3])
                raise ValueError(f"migConfig '{self.mig_config}' is not a layout of {self.model} "
                                 f"(examples: {examples}; `swan gpu pack` prints layout names)")
            if self.sharing is not None:
                raise ValueError("sharing needs whole GPUs (migConfig all-disabled): the device plugin shares "
                                 "a whole GPU, and refuses MPS on MIG devices")
        if self.sharing is not None and self.sharing.mode == "mps":
            from stacks.planner.geometry import MODELS

            most = MODELS[self.model].mps_max_clients
            if self.sharing.replicas > most:
                raise ValueError(f"sharing.replicas {self.sharing.replicas} is more than the {most} MPS clients "
                                 f"the device plugin allows on a {self.model}")
        return self

    @property
    def device_plugin_config(self) -> str:
        """The device-plugin config its nodes select (`nvidia.com/device-plugin.config`)."""
        from stacks.planner.sharing import CONFIG_PREFIX, DEFAULT_CONFIG  # keyed by the modes named as here

        if self.sharing is None:
            return DEFAULT_CONFIG
        return f"{CONFIG_PREFIX[self.sharing.mode]}-{self.sharing.replicas}"

    @property
    def resources_per_gpu(self) -> dict[str, int]:
        """Extended resources one GPU makes allocatable: `nvidia.com/mig-<profile>` per device of its
        MIG layout (mixed strategy), else `nvidia.com/gpu` once, or `replicas` times when shared."""
        if self.mig_config != "all-disabled":
            from stacks.planner.mig_parted import catalog

            devices = catalog([self.model])["mig-configs"][self.mig_config][0].get("mig-devices", {})
            if devices:
                return {f"nvidia.com/mig-{profile}": n for profile, n in sorted(devices.items())}
        return {"nvidia.com/gpu": self.sharing.replicas if self.sharing else 1}
