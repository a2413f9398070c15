"""Read `config/Pulumi.<stack>.yaml` files into the typed model, collecting every problem.

The same representation feeds both readers of a stack: `swan check`/`swan render` read the
file here (secure values become the `[secret]` placeholder, since no key is at hand), and the
Pulumi program reads the engine's config, which holds the same keys already decrypted.
"""
from __future__ import annotations

import base64
import binascii
import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from stacks.config import strict_yaml
from stacks.config.event_model import EventConfig
from stacks.config.model import EnvironmentConfig
from stacks.config.types import SECRET_PLACEHOLDER, Secret
from stacks.errors import InputError, Problem

NAMESPACE = "swan"

# Stack kinds (`swan:kind`) and the model each one is validated against.
STACK_MODELS: dict[str, type[BaseModel]] = {"environment": EnvironmentConfig}
STACK_MODELS["event"] = EventConfig


def project_dir() -> Path:
    """The folder holding Pulumi.yaml: SWAN_PROJECT_DIR, else the nearest one above the cwd."""
    if os.environ.get("SWAN_PROJECT_DIR"):
        return Path(os.environ["SWAN_PROJECT_DIR"])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return Path(__file__).resolve().parents[2]


def config_dir() -> Path:
    return project_dir() / "config"


def stack_file(stack: str) -> Path:
    return config_dir() / f"Pulumi.{stack}.yaml"


def stack_names() -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in config_dir().glob("Pulumi.*.yaml"))


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# What Pulumi writes under `secure:`: `v1:<nonce>:<ciphertext>` (passphrase and cloud-KMS secrets
# providers) or one base64 string (the Pulumi Cloud service), base64 either way.
_B64 = r"[A-Za-z0-9+/]+={0,2}"
_CIPHERTEXT = re.compile(rf"^(v1:{_B64}(:{_B64})?|{_B64})$")


def _ciphertext_problem(text: Any) -> str | None:
    if not isinstance(text, str) or not _CIPHERTEXT.match(text) or len(text) < 16:
        return ("`secure:` holds no Pulumi ciphertext; set it with `pulumi config set --secret --path ...` "
                "instead of writing it by hand")
    try:
        for part in text.removeprefix("v1:").split(":"):
            base64.b64decode(part, validate=True)
    except binascii.Error:
        return "`secure:` holds no valid base64 ciphertext; set it with `pulumi config set --secret --path ...`"
    return None


def _replace_secure(value: Any, key: str, problems: list[Problem], shown: str) -> Any:
    """Pulumi writes secrets as `{secure: <ciphertext>}`; offline they become a placeholder."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            if problem := _ciphertext_problem(value["secure"]):
                problems.append(Problem(shown, key, problem))
            return Secret(SECRET_PLACEHOLDER)
        return {k: _replace_secure(v, f"{key}.{k}", problems, shown) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v, f"{key}[{i}]", problems, shown) for i, v in enumerate(value)]
    return value


def read_swan_keys(path: Path) -> dict[str, Any]:
    """The `swan:` keys of one stack file (namespace stripped), or InputError for a broken file."""
    raw, problems = _read_swan_keys(path)
    if problems:
        raise InputError(problems)
    return raw


def _read_swan_keys(path: Path) -> tuple[dict[str, Any], list[Problem]]:
    """The `swan:` keys, and the problems of keys that can still be validated beside them."""
    shown = display_path(path)
    if not path.is_file():
        raise InputError(Problem(shown, "", f"no such stack config (stacks here: {', '.join(stack_names()) or 'none'})"))
    document = strict_yaml.load(path, shown)
    if document is None:
        raise InputError(Problem(shown, "", "the file is empty; it needs a `config:` mapping with swan: keys"))
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise InputError(Problem(shown, "config", "missing or not a mapping of `namespace:key: value` entries"))
    raw: dict[str, Any] = {}
    problems = []
    for key, value in document["config"].items():
        namespace, _, name = str(key).partition(":")
        if not name:
            problems.append(Problem(shown, str(key), "config keys need a namespace, e.g. swan:" + str(key)))
        elif namespace == NAMESPACE:
            raw[name] = _replace_secure(value, str(key), problems, shown)
        elif _looks_like_ours(namespace):
            problems.append(Problem(shown, str(key), f"unknown namespace '{namespace}'; did you mean {NAMESPACE}:{name}?"))
    return raw, problems


def _looks_like_ours(namespace: str) -> bool:
    """A namespace that is a typo of ours (swna, Swan, swan_), not a provider's (oci, kubernetes)."""
    return namespace.lower() == NAMESPACE or bool(difflib.get_close_matches(namespace.lower(), [NAMESPACE], cutoff=0.7))


def _key(loc: tuple) -> str:
    """pydantic's error location as the operator writes it: swan:hub.sessions[0].memory."""
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
        elif i > 0 and loc[i - 1] == "auth" and item in ("dummy", "oidc"):
            continue  # discriminator tag pydantic inserts; not a key in the file
        else:
            parts.append(str(item))
    return f"{NAMESPACE}:" + ".".join(parts) if parts else f"{NAMESPACE}:"


def _message(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "required key is missing"
    return error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")


def validate(raw: dict[str, Any], shown: str, from_file: bool = True) -> BaseModel:
    """Validate raw `swan:` keys against the model for their `swan:kind`; every error is reported."""
    kind = raw.get("kind", "environment")
    model = STACK_MODELS.get(str(kind))
    if model is None:
        raise InputError(Problem(shown, "swan:kind", f"unknown stack kind '{kind}' (one of: {', '.join(STACK_MODELS)})"))
    try:
        return model.model_validate(raw, context={"from_file": from_file})
    except ValidationError as exc:
        problems = [Problem(shown, _key(e["loc"]), _message(e)) for e in exc.errors()]
        raise InputError(sorted(set(problems), key=lambda p: (p.key, p.message))) from None


def load_stack(stack: str) -> BaseModel:
    """Read and validate config/Pulumi.<stack>.yaml."""
    path = stack_file(stack)
    return validate_file(path)


def validate_file(path: Path) -> BaseModel:
    """Read and validate one stack file, reporting the file's and the model's problems together."""
    return read_and_validate(path)[1]


def read_and_validate(path: Path) -> tuple[dict[str, Any], BaseModel]:
    """The file's raw `swan:` keys and their validated model, from one read of the file."""
    raw, problems = _read_swan_keys(path)
    try:
        cfg = validate(raw, display_path(path))
    except InputError as exc:
        raise InputError(problems + exc.problems) from None
    if problems:
        raise InputError(problems)
    return raw, cfg


def to_engine_config(raw: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Raw keys as the Pulumi engine passes them to a program: strings, JSON for structures."""
    config, secret_keys = {}, []
    for name, value in raw.items():
        key = f"{NAMESPACE}:{name}"
        config[key] = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        if SECRET_PLACEHOLDER in config[key]:
            secret_keys.append(key)
    return config, secret_keys


def from_engine_config() -> BaseModel:
    """Inside the Pulumi program: the stack's `swan:` keys from the engine, validated."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    stack = pulumi.get_stack()
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    for key, value in values.items():
        namespace, _, name = key.partition(":")
        if namespace != NAMESPACE:
            continue
        text = str(value)
        raw[name] = json.loads(text) if text[:1] in "{[" else text
    shown = display_path(stack_file(stack))
    return validate(raw, shown, from_file=False)
