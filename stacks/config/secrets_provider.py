"""Which secrets provider a stack file records, and `swan check`'s advice about it for a team.

Pulumi writes the provider into `Pulumi.<stack>.yaml` beside `config:` (pulumi/pulumi, the
passphrase and cloud secrets managers): the passphrase provider keeps only `encryptionsalt`
(and clears the other two); a cloud KMS or Vault provider keeps `secretsprovider: <url>` and
`encryptedkey` (and clears the salt); the Pulumi Cloud service keeps none of them. A file with
none of the three is therefore either a stack not created yet or one on the service: nothing
to warn about. A passphrase is one shared secret every operator and CI job must hold, cannot
be revoked per person and leaves no audit trail, hence the warning for production stacks.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel

PASSPHRASE = "passphrase"


def secrets_provider(document: Any) -> Optional[str]:
    """`passphrase`, the provider URL of a cloud KMS or Vault (`awskms://...`, `hashivault://...`),
    or None when the file records no provider (not created yet, or the Pulumi Cloud service)."""
    if not isinstance(document, dict):
        return None
    provider = document.get("secretsprovider")
    if isinstance(provider, str) and provider and provider != "default":
        return provider
    if document.get("encryptionsalt"):
        return PASSPHRASE
    return None


def is_production(cfg: BaseModel, environments: dict[str, BaseModel]) -> bool:
    """An environment whose `swan:tier` is production, or an event using one (its stack holds
    secrets too, and brings up nodes in that environment's cloud)."""
    if getattr(cfg, "tier", None) == "production":
        return True
    used = getattr(getattr(cfg, "event", None), "environments", None) or []
    return any(getattr(environments.get(name), "tier", None) == "production" for name in used)


def passphrase_warning(stack: str, shown: str, document: Any) -> Optional[str]:
    """The warning for a production stack (already known to be one) whose secrets use a passphrase."""
    if secrets_provider(document) != PASSPHRASE:
        return None
    return (f"{shown}: encryptionsalt: production stack '{stack}' encrypts its secrets with a passphrase; "
            "for a team use a cloud KMS or Vault: `pulumi stack change-secrets-provider "
            f"'hashivault://<key>' -s {stack}` (or awskms://, azurekeyvault://, gcpkms://), see README "
            "'State and secrets for a team'")


def production_secrets_warnings(loaded: dict[str, BaseModel]) -> list[str]:
    """`swan check`'s warnings for the stacks it loaded: every production stack whose file records the
    passphrase provider. Environments an event uses are read from config/ when they were not loaded;
    one that cannot be read is an error of its own, reported elsewhere."""
    from stacks.config import strict_yaml
    from stacks.config.loader import display_path, load_stack, stack_file
    from stacks.errors import InputError

    environments = {name: cfg for name, cfg in loaded.items() if getattr(cfg, "kind", "environment") == "environment"}
    for cfg in loaded.values():
        for name in getattr(getattr(cfg, "event", None), "environments", None) or []:
            if name not in environments:
                try:
                    environments[name] = load_stack(name)
                except InputError:
                    continue
    warnings = []
    for name, cfg in sorted(loaded.items()):
        if not is_production(cfg, environments):
            continue
        shown = display_path(stack_file(name))
        if warning := passphrase_warning(name, shown, strict_yaml.load(stack_file(name), shown)):
            warnings.append(warning)
    return warnings
