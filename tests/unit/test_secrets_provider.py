"""`swan check` warns, and only warns, when a production stack's secrets use a passphrase.

What Pulumi records is read from the stack file as Pulumi writes it (pulumi/pulumi's secrets
managers): `encryptionsalt` alone for the passphrase provider, `secretsprovider` + `encryptedkey`
for a cloud KMS or Vault, none of them for the Pulumi Cloud service or a stack not created yet."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from stacks.cli.main import app
from stacks.config.secrets_provider import PASSPHRASE, secrets_provider

SALT = "encryptionsalt: v1:Zm9vYmFyYmF6cXV4:v1:c2FsdHNhbHQ=:cGxhaW50ZXh0Y2lwaGVydGV4dA==\n"
VAULT = ("secretsprovider: hashivault://swan-prod\n"
         "encryptedkey: dmF1bHQ6djE6c29tZWNpcGhlcnRleHRvZnRoZWRhdGFrZXk=\n")


@pytest.mark.parametrize("document, provider", [
    ({"encryptionsalt": "v1:abc", "config": {}}, PASSPHRASE),
    ({"secretsprovider": "passphrase", "encryptionsalt": "v1:abc"}, PASSPHRASE),
    ({"secretsprovider": "awskms://alias/swan?region=eu-central-1", "encryptedkey": "AQID"},
     "awskms://alias/swan?region=eu-central-1"),
    ({"secretsprovider": "hashivault://swan-prod", "encryptedkey": "AQID"}, "hashivault://swan-prod"),
    ({"config": {"swan:cloud": "kind"}}, None),   # Pulumi Cloud service, or not created yet
    (None, None),
])
def test_the_provider_a_stack_file_records(document, provider):
    assert secrets_provider(document) == provider


def swan_check(project, *stacks):
    result = CliRunner().invoke(app, ["check", *stacks])
    return result.exit_code, result.stderr


def prepend(project, stack: str, header: str) -> None:
    path = project.config / f"Pulumi.{stack}.yaml"
    path.write_text(header + path.read_text())


def test_a_production_stack_with_a_passphrase_is_warned_about_and_still_passes(project):
    prepend(project, "openstack-prod", SALT)
    code, stderr = swan_check(project, "openstack-prod")
    assert code == 0, stderr
    assert ("warning: config/Pulumi.openstack-prod.yaml: encryptionsalt: production stack 'openstack-prod' "
            "encrypts its secrets with a passphrase") in stderr
    assert "pulumi stack change-secrets-provider" in stderr


def test_a_production_stack_with_vault_or_no_recorded_provider_is_not_warned_about(project):
    code, stderr = swan_check(project, "openstack-prod")
    assert code == 0 and "passphrase" not in stderr, stderr
    prepend(project, "openstack-prod", VAULT)
    code, stderr = swan_check(project, "openstack-prod")
    assert code == 0 and "passphrase" not in stderr, stderr


def test_a_development_stack_may_use_a_passphrase(project):
    prepend(project, "kind", SALT)
    code, stderr = swan_check(project, "kind")
    assert code == 0 and "passphrase" not in stderr, stderr


def test_an_event_on_a_production_environment_is_held_to_the_same_rule(project):
    """event-ml-workshop runs on openstack-prod (swan:tier: production), which is not checked itself here."""
    prepend(project, "event-ml-workshop", SALT)
    code, stderr = swan_check(project, "event-ml-workshop")
    assert code == 0, stderr
    assert "production stack 'event-ml-workshop' encrypts its secrets with a passphrase" in stderr


def test_staging_is_not_production(project):
    path = project.config / "Pulumi.openstack-prod.yaml"
    path.write_text(SALT + path.read_text().replace("swan:tier: production", "swan:tier: staging"))
    code, stderr = swan_check(project, "openstack-prod")
    assert code == 0 and "passphrase" not in stderr, stderr
