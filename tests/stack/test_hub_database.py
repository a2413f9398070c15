"""The hub database as the real swan chart (Zero-to-JupyterHub 3.1.0 inside) receives it: PostgreSQL's
URL in the hub's config, its password only through a secretKeyRef, never in Helm values; SQLite on the
chart's hub volume, whose backup pod lands on the hub's node. Real `helm template` of the pinned chart.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

from stacks import charts
from stacks.config.loader import load_stack
from stacks.config.types import Secret
from stacks.platform_layer import hub_database, hub_values

from stack_support import egress_allowed

PASSWORD = "Pg-hub-Pa55word-that-must-never-leak"


def with_password(stack: str):
    cfg = load_stack(stack)
    db = cfg.hub.database.model_copy(update={"password": Secret(PASSWORD)})
    return cfg.model_copy(update={"hub": cfg.hub.model_copy(update={"database": db})})


def swan_chart(cfg) -> Path:
    return Path(os.environ["SWAN_CHARTS"].split(os.pathsep)[0]) / f"swan-{cfg.hub.chart_version}"


def templated(cfg) -> tuple[dict, list[dict]]:
    values = hub_values.hub_values(cfg)
    return values, charts.template("swan", cfg.security.hub_namespace, swan_chart(cfg), values,
                                   cfg.kubernetes_version, [])


def one(objects: list[dict], kind: str, name: str) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def hub_config(objects: list[dict]) -> dict:
    """The hub's settings as z2jh mounts them (its `hub` Secret's values.yaml)."""
    secret = one(objects, "Secret", "hub")
    text = secret.get("stringData", {}).get("values.yaml") or base64.b64decode(secret["data"]["values.yaml"]).decode()
    return yaml.safe_load(text)


def test_postgresql_password_reaches_the_hub_only_through_a_secret_reference():
    cfg = with_password("openstack-prod")
    values, objects = templated(cfg)
    assert PASSWORD not in yaml.safe_dump(values), "the password is in the Helm values"
    assert PASSWORD not in yaml.safe_dump_all(objects), "the chart wrote the password into an object"

    hub = one(objects, "Deployment", "hub")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in hub["containers"][0]["env"]}
    assert env["PGPASSWORD"] == {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {
        "name": hub_database.PASSWORD_SECRET, "key": "password"}}}
    assert "--upgrade-db" in hub["containers"][0]["args"], "a new hub version would refuse the older schema"
    url = hub_config(objects)["hub"]["config"]["JupyterHub"]["db_url"]
    assert url == "postgresql+psycopg2://swan_hub@10.100.8.20:5432/swan_hub?sslmode=require"
    # no hub volume with PostgreSQL, and nothing of the chart's own password plumbing
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim" and o["metadata"]["name"] == "hub-db-dir"]
    assert "hub.db.password" not in yaml.safe_dump(one(objects, "Secret", "hub"))
    assert "jupyterhub.hub.db.password" not in (one(objects, "Secret", "swan").get("data") or {})

    policy = one(objects, "NetworkPolicy", "hub")["spec"]
    labels = one(objects, "Deployment", "hub")["spec"]["template"]["metadata"]["labels"]
    assert egress_allowed([policy], labels, "10.100.8.20", 5432), "the hub's NetworkPolicy blocks its database"
    assert not egress_allowed([policy], labels, "10.100.8.21", 5432)


def test_the_secret_the_hub_reads_the_password_from_is_declared(renders):
    prod = yaml.safe_load((renders("openstack-prod") / "k8s/Secret-swan-swan-hub-db.yaml").read_text())
    assert prod["stringData"] == {"password": "[secret]"}  # the program's Secret, from `password`
    # with passwordSecret the operator's Secret is used, and the program creates none
    assert not list((renders("everything-on") / "k8s").glob("Secret-*-swan-hub-db.yaml"))
    helm = yaml.safe_load((renders("everything-on") / "helm/swan.yaml").read_text())
    env = helm["values"]["jupyterhub"]["hub"]["extraEnv"]["PGPASSWORD"]
    assert env == {"valueFrom": {"secretKeyRef": {"name": "swan-db-credentials", "key": "hub-password"}}}


def test_sqlite_stays_on_the_hub_volume_and_its_backup_runs_beside_the_hub(renders):
    render = renders("kind")
    objects = [yaml.safe_load(p.read_text()) for p in (render / "charts/swan").glob("*.yaml")]
    claim = one(objects, "PersistentVolumeClaim", hub_database.HUB_PVC)
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    hub = one(objects, "Deployment", "hub")["spec"]["template"]
    mount = next(m for m in hub["spec"]["containers"][0]["volumeMounts"] if m["name"] == "pvc")
    assert hub_database.SQLITE_URL == f"sqlite:///{mount['mountPath']}/jupyterhub.sqlite"

    cron = yaml.safe_load((render / "k8s/CronJob-swan-swan-hub-db-backup.yaml").read_text())
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {hub_database.HUB_PVC, hub_database.BACKUP_NAME}
    (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= hub["metadata"]["labels"].items(), \
        "the backup pod's affinity does not select the hub pod"
    assert (render / "k8s/PersistentVolumeClaim-swan-swan-hub-db-backup.yaml").is_file()


def test_s3_backups_take_their_keys_from_the_operators_secret(renders):
    cron = yaml.safe_load((renders("openstack-prod") / "k8s/CronJob-swan-swan-hub-db-backup.yaml").read_text())
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["BACKUP_REMOTE"] == "backup:swan-hub-backups/prod"
    assert env["RCLONE_CONFIG_BACKUP_ENDPOINT"] == "https://s3.cern.ch"
    assert env["RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY"] == {"secretKeyRef": {
        "name": "swan-hub-db-backup-s3", "key": "secretAccessKey"}}
    assert "affinity" not in cron["spec"]["jobTemplate"]["spec"]["template"]["spec"], "PostgreSQL needs no node"
