"""The hub database: where JupyterHub keeps users, servers and tokens, and its scheduled backups (pure).

SQLite lives on the Zero-to-JupyterHub chart's hub volume (`hub-db-dir`, ReadWriteOnce); PostgreSQL is
a server the operator runs. The PostgreSQL password never enters Helm values: it sits in a Secret (the
program's `swan-hub-db`, or the operator's own) and reaches the hub as libpq's PGPASSWORD through
`hub.extraEnv` with a secretKeyRef. The chart's db type is `other`, not `postgres`: with `postgres` the
swan chart requires `jupyterhub.hub.db.password` in values (its templates/secrets.yaml copies it into
its `swan` Secret), which is exactly what must not happen.

Backups are a CronJob running the scripts in `hub_db_scripts/` (one per engine, plus `common.sh`),
mounted from a ConfigMap the program renders from those very files, so tests run the same scripts.
SQLite's file can only be read where the hub's volume is attached: its backup pod has a required pod
affinity to the hub pod (same node) and mounts the hub's claim.
"""
from __future__ import annotations

from pathlib import Path

from stacks.config.model import EnvironmentConfig, HubDatabase, S3BackupTarget

SCRIPTS_DIR = Path(__file__).with_name("hub_db_scripts")
SQLITE_DIR = "/srv/jupyterhub"  # where the chart mounts the hub volume in the hub pod
# Absolute: z2jh's relative `sqlite:///jupyterhub.sqlite` lands in the hub image's working directory,
# `/`, outside the volume (lost at every restart).
SQLITE_URL = f"sqlite:///{SQLITE_DIR}/jupyterhub.sqlite"
HUB_PVC = "hub-db-dir"  # the chart's hub volume claim (jupyterhub.hub-pvc.fullname with the swan release)
HUB_POD_LABELS = {"app": "jupyterhub", "component": "hub", "release": "swan"}  # the chart's hub matchLabels
# The driver named, not left to SQLAlchemy: 2.1 maps a bare `postgresql://` to psycopg 3, while SWAN's
# hub image ships psycopg2-binary only (tests/session/hub-image-requirements.txt).
PG_DIALECT = "postgresql+psycopg2"
PASSWORD_SECRET = "swan-hub-db"  # the Secret the program creates from `hub.database.password`
BACKUP_NAME = "swan-hub-db-backup"  # CronJob, ConfigMap and (volume target) claim
BACKUP_MOUNT = "/backups"
SCRIPTS_MOUNT = "/opt/swan-hub-db"
HUB_UID = 1000  # z2jh runs the hub as 1000:1000 with fsGroup 1000: the SQLite file is theirs


def is_postgresql(cfg: EnvironmentConfig) -> bool:
    return cfg.hub.database.type == "postgresql"


def database_url(db: HubDatabase) -> str:
    """The hub's `db_url`: no password in it (libpq takes PGPASSWORD from the environment)."""
    if db.type == "sqlite":
        return SQLITE_URL
    host = f"[{db.host}]" if ":" in str(db.host) else db.host
    return f"{PG_DIALECT}://{db.user}@{host}:{db.port}/{db.name}?sslmode={db.ssl_mode}"


def password_ref(db: HubDatabase) -> dict:
    """The secretKeyRef of the PostgreSQL password: the operator's Secret, else the program's."""
    if db.password_secret:
        return {"name": db.password_secret.name, "key": db.password_secret.key}
    return {"name": PASSWORD_SECRET, "key": "password"}


def chart_db_values(cfg: EnvironmentConfig) -> dict:
    """The `jupyterhub.hub` values for the database (merged by hub_values): the chart's db type, which
    decides whether it creates the hub volume, and the password as an environment variable from a Secret."""
    if not is_postgresql(cfg):
        # Helm keeps the database claim when the release is uninstalled or replaced (Pulumi cannot
        # protect an object a chart creates; the namespace holding it is protected too).
        return {"db": {"type": "sqlite-pvc", "pvc": {"annotations": {"helm.sh/resource-policy": "keep"}}}}
    # upgrade: migrate the schema when a new hub version starts, as the chart does for SQLite (the
    # backups are what makes that safe; JupyterHub itself only copies SQLite files first)
    return {"db": {"type": "other", "upgrade": True},
            "extraEnv": {"PGPASSWORD": {"valueFrom": {"secretKeyRef": password_ref(cfg.hub.database)}}}}


def hub_egress(cfg: EnvironmentConfig) -> list[dict]:
    """The hub NetworkPolicy's rule to reach PostgreSQL (the chart's policy admits no private address)."""
    db = cfg.hub.database
    if db.type != "postgresql":
        return []
    return [{"to": [{"ipBlock": {"cidr": c}} for c in db.egress_cidrs],
             "ports": [{"protocol": "TCP", "port": db.port}]}]


def script_files(db_type: str) -> dict[str, str]:
    """The ConfigMap's files: the engine's backup and restore scripts and what they share."""
    return {name: (SCRIPTS_DIR / name).read_text()
            for name in ("common.sh", f"backup-{db_type}.sh", f"restore-{db_type}.sh")}


def backup_remote(cfg: EnvironmentConfig) -> str:
    target = cfg.hub.database.backup.target
    if isinstance(target, S3BackupTarget):
        return f"backup:{target.bucket}/{target.prefix}".rstrip("/")
    return BACKUP_MOUNT


def backup_env(cfg: EnvironmentConfig) -> list[dict]:
    """What the scripts read: where backups go, how many to keep, the database; secrets by reference only."""
    db, backup = cfg.hub.database, cfg.hub.database.backup
    env = [{"name": "BACKUP_REMOTE", "value": backup_remote(cfg)}, {"name": "KEEP", "value": str(backup.keep)},
           {"name": "SCRIPTS", "value": SCRIPTS_MOUNT}]
    if db.type == "postgresql":
        env += [{"name": "PGHOST", "value": str(db.host)}, {"name": "PGPORT", "value": str(db.port)},
                {"name": "PGDATABASE", "value": db.name}, {"name": "PGUSER", "value": db.user},
                {"name": "PGSSLMODE", "value": db.ssl_mode},
                {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": password_ref(db)}}]
    else:
        env.append({"name": "HUB_DB_FILE", "value": SQLITE_URL.removeprefix("sqlite:///")})
    target = backup.target
    if isinstance(target, S3BackupTarget):
        creds = target.credentials_secret
        env += [{"name": "RCLONE_CONFIG_BACKUP_TYPE", "value": "s3"},
                {"name": "RCLONE_CONFIG_BACKUP_PROVIDER", "value": "Other"},
                {"name": "RCLONE_CONFIG_BACKUP_ENDPOINT", "value": target.endpoint},
                {"name": "RCLONE_CONFIG_BACKUP_REGION", "value": target.region},
                {"name": "RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID",
                 "valueFrom": {"secretKeyRef": {"name": creds, "key": "accessKeyId"}}},
                {"name": "RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY",
                 "valueFrom": {"secretKeyRef": {"name": creds, "key": "secretAccessKey"}}}]
    return env


def backup_volume_claim(cfg: EnvironmentConfig) -> dict | None:
    """The claim backups go to with the `volume` target (spec only)."""
    target = cfg.hub.database.backup.target
    if isinstance(target, S3BackupTarget):
        return None
    spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": target.size}}}
    if target.storage_class:
        spec["storageClassName"] = target.storage_class
    return spec


def backup_cronjob_spec(cfg: EnvironmentConfig) -> dict:
    db, backup = cfg.hub.database, cfg.hub.database.backup
    mounts = [{"name": "scripts", "mountPath": SCRIPTS_MOUNT, "readOnly": True}]
    volumes: list[dict] = [{"name": "scripts", "configMap": {"name": BACKUP_NAME}}]
    pod: dict = {"restartPolicy": "Never", "automountServiceAccountToken": False,
                 "securityContext": {"runAsNonRoot": True, "runAsUser": HUB_UID, "runAsGroup": HUB_UID,
                                     "fsGroup": HUB_UID, "seccompProfile": {"type": "RuntimeDefault"}}}
    if db.type == "sqlite":
        # The hub's volume is ReadWriteOnce: only a pod on the hub's node can mount it.
        mounts.append({"name": "hub-db", "mountPath": SQLITE_DIR})
        volumes.append({"name": "hub-db", "persistentVolumeClaim": {"claimName": HUB_PVC}})
        pod["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": HUB_POD_LABELS}, "topologyKey": "kubernetes.io/hostname"}]}}
    if backup_volume_claim(cfg) is not None:
        mounts.append({"name": "backups", "mountPath": BACKUP_MOUNT})
        volumes.append({"name": "backups", "persistentVolumeClaim": {"claimName": BACKUP_NAME}})
    container = {
        "name": "backup",
        "image": f"{backup.image.name}:{backup.image.tag}",
        "command": ["/bin/sh", f"{SCRIPTS_MOUNT}/backup-{db.type}.sh"],
        "env": backup_env(cfg),
        "volumeMounts": mounts,
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": False},
    }
    return {
        "schedule": backup.schedule,
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {"spec": {"backoffLimit": 2, "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": BACKUP_NAME}},
            "spec": {**pod, "containers": [container], "volumes": volumes}}}},
    }
