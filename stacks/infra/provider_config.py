"""Optional credentials for a cloud provider from the stack's own provider namespace.

The cloud modules create explicit providers (to set the region from `swan:` config), and explicit
providers do not read `openstack:*` / `oci:*` stack config by themselves. This passes the few
keys an operator may set that way (`pulumi config set --secret oci:privateKey ...`), keeping
secrets secret; anything not set falls back to the provider's environment (OS_*, ~/.oci/config).
"""
from __future__ import annotations

import re

import pulumi


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def provider_settings(namespace: str, plain: list[str], secret: list[str]) -> dict[str, pulumi.Input]:
    """{python argument: value} of the keys present in the stack config (camelCase there)."""
    config = pulumi.Config(namespace)
    settings: dict[str, pulumi.Input] = {}
    for key in plain:
        if (value := config.get(key)) is not None:
            settings[_snake(key)] = value
    for key in secret:
        if (value := config.get_secret(key)) is not None:
            settings[_snake(key)] = value
    return settings


# The provider keys each cloud reads from the stack config: (plain, secret). Environment and event
# stacks build their providers from these alike (stacks.infra.oci.pool / openstack.pool).
PROVIDER_KEYS: dict[str, tuple[list[str], list[str]]] = {
    "oci": (["auth", "configFileProfile", "tenancyOcid", "userOcid", "fingerprint"], ["privateKey"]),
    "openstack": (["cloud", "authUrl", "applicationCredentialId"], ["applicationCredentialSecret"]),
}


def cloud_provider_settings(cloud: str) -> dict[str, pulumi.Input]:
    """The credentials of `cloud`'s provider that this stack's config sets (`oci:*`, `openstack:*`)."""
    plain, secret = PROVIDER_KEYS[cloud]
    return provider_settings(cloud, plain=plain, secret=secret)
