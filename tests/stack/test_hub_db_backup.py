"""Hub database backups and restores, for real: the scripts a render's ConfigMap carries, run with its
CronJob's command and environment, against a hub database JupyterHub itself created (the hub image's
packages), then the database destroyed and restored, and the users and their API tokens checked.

Replaced here, and only these: the cluster paths (the backup volume `/backups`, the hub volume
`/srv/jupyterhub`) become temp folders and the database server a PostgreSQL 15 of the test's own
on loopback, and CERN's S3 a moto S3 server on loopback (rclone, the real client, talks to it).
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import boto3
import yaml
from moto.server import ThreadedMotoServer

from hub_db_support import BackupJob, free_port, hub_db, postgres_server, require

STORED = re.compile(r"stored (\S+) in ")


def stored_name(done) -> str:
    (name,) = STORED.findall(done.stderr)
    return name


def backup_n_times(job: BackupJob, n: int, env: dict) -> list[str]:
    return [stored_name(job.run(**env)) for _ in range(n)]


def test_sqlite_backup_is_restored_with_users_and_tokens_and_keeps_the_newest_n(renders, tmp_path):
    require("sqlite3", "rclone", "gzip")
    job = BackupJob.from_render(renders("kind"), tmp_path)
    assert job.env["BACKUP_REMOTE"] == "/backups" and job.env["HUB_DB_FILE"] == "/srv/jupyterhub/jupyterhub.sqlite"
    keep = int(job.env["KEEP"])
    backups, hub_volume = tmp_path / "backups", tmp_path / "srv-jupyterhub"
    backups.mkdir(), hub_volume.mkdir()
    db = hub_volume / "jupyterhub.sqlite"
    env = {"BACKUP_REMOTE": str(backups), "HUB_DB_FILE": str(db)}
    url = f"sqlite:///{db}"
    tokens = hub_db(url, "add", ["alice", "bob"])

    made = backup_n_times(job, keep + 2, env)
    assert sorted(p.name for p in backups.iterdir()) == sorted(made[-keep:]), "retention keeps the newest N"

    hub_db(url, "add", ["mallory"])  # after the last backup: a restore undoes it
    job.run(script="restore-sqlite.sh", **env)
    state = hub_db(url, "read", list(tokens.values()) + ["not-a-token"])
    assert state["users"] == ["alice", "bob"]
    assert state["token_owners"] == {tokens["alice"]: "alice", tokens["bob"]: "bob", "not-a-token": None}
    (kept,) = hub_volume.glob("jupyterhub.sqlite.before-restore-*")
    assert "mallory" in hub_db(f"sqlite:///{kept}", "read", [])["users"], "the replaced database is kept"

    db.unlink()  # the hub volume lost: restore the oldest backup kept, by name
    job.run(made[-keep], script="restore-sqlite.sh", **env)
    assert hub_db(url, "read", [tokens["alice"]])["token_owners"] == {tokens["alice"]: "alice"}


def test_postgresql_backup_is_restored_with_users_and_tokens_and_keeps_the_newest_n(renders, tmp_path):
    require("rclone")
    job = BackupJob.from_render(renders("everything-on"), tmp_path)
    # the job reaches the server the config names, with the password only by reference
    assert {k: job.env[k] for k in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSSLMODE")} == {
        "PGHOST": "swan-db.example.org", "PGPORT": "6432", "PGDATABASE": "jupyterhub", "PGUSER": "jupyterhub",
        "PGSSLMODE": "prefer"}
    assert "PGPASSWORD" not in job.env
    assert job.secret_refs["PGPASSWORD"] == {"name": "swan-db-credentials", "key": "hub-password"}
    keep = int(job.env["KEEP"])
    backups = tmp_path / "backups"
    backups.mkdir()
    with postgres_server() as pg:
        env = {**pg.libpq_env(), "BACKUP_REMOTE": str(backups)}
        password = {"PGPASSWORD": pg.password}
        tokens = hub_db(pg.url(), "add", ["alice", "bob"], password)

        made = backup_n_times(job, keep + 1, env)
        assert sorted(p.name for p in backups.iterdir()) == sorted(made[-keep:]), "retention keeps the newest N"

        hub_db(pg.url(), "add", ["mallory"], password)
        pg.admin(f"DROP DATABASE {pg.database}")  # destroyed; the operator recreates it empty
        pg.admin(f"CREATE DATABASE {pg.database} OWNER {pg.user}")
        job.run(script="restore-postgresql.sh", **env)
        state = hub_db(pg.url(), "read", list(tokens.values()), password)
        assert state["users"] == ["alice", "bob"]
        assert state["token_owners"] == {tokens["alice"]: "alice", tokens["bob"]: "bob"}

        hub_db(pg.url(), "add", ["carol"], password)  # restoring over a live database replaces it whole
        job.run(script="restore-postgresql.sh", **env)
        assert hub_db(pg.url(), "read", [], password)["users"] == ["alice", "bob"]


def test_a_restore_with_no_backup_fails_and_leaves_the_database_alone(renders, tmp_path):
    require("sqlite3", "rclone")
    job = BackupJob.from_render(renders("kind"), tmp_path)
    (tmp_path / "backups").mkdir()
    db = tmp_path / "jupyterhub.sqlite"
    url = f"sqlite:///{db}"
    hub_db(url, "add", ["alice"])
    before = db.read_bytes()
    done = subprocess.run(["/bin/sh", str(job.scripts / "restore-sqlite.sh")], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **job.env, "BACKUP_REMOTE": str(tmp_path / "backups"),
                               "HUB_DB_FILE": str(db)})
    assert done.returncode != 0 and "no backup" in done.stderr
    assert db.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("jupyterhub"))\
        == ["jupyterhub.sqlite"]


def test_the_configmap_carries_the_scripts_of_the_engine_in_use(renders):
    for stack, engine in (("kind", "sqlite"), ("everything-on", "postgresql")):
        (cm,) = (renders(stack) / "k8s").glob("ConfigMap-*-swan-hub-db-backup.yaml")
        names = sorted(yaml.safe_load(cm.read_text())["data"])
        assert names == sorted(["common.sh", f"backup-{engine}.sh", f"restore-{engine}.sh"]), stack
        here = Path(__file__).parents[2] / "stacks/platform_layer/hub_db_scripts"
        for name in names:
            assert yaml.safe_load(cm.read_text())["data"][name] == (here / name).read_text()


def test_postgresql_backups_go_to_an_s3_bucket_and_come_back(renders, tmp_path):
    """openstack-prod's S3 target, unchanged except the endpoint and the keys (a moto S3 server on loopback
    stands in for CERN's S3; the keys stand in for the operator's Secret)."""
    require("rclone")
    job = BackupJob.from_render(renders("openstack-prod"), tmp_path)
    assert job.env["BACKUP_REMOTE"] == "backup:swan-hub-backups/prod"
    assert set(job.secret_refs) == {"PGPASSWORD", "RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID",
                                    "RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY"}
    keep = int(job.env["KEEP"])
    port = free_port()
    s3_server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    s3_server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test-key", aws_secret_access_key="test-secret")
        s3.create_bucket(Bucket="swan-hub-backups")
        with postgres_server() as pg:
            env = {**pg.libpq_env(), "RCLONE_CONFIG_BACKUP_ENDPOINT": endpoint,
                   "RCLONE_CONFIG_BACKUP_ACCESS_KEY_ID": "test-key",
                   "RCLONE_CONFIG_BACKUP_SECRET_ACCESS_KEY": "test-secret"}
            password = {"PGPASSWORD": pg.password}
            tokens = hub_db(pg.url(), "add", ["alice"], password)
            made = backup_n_times(job, keep + 1, env)
            listed = s3.list_objects_v2(Bucket="swan-hub-backups", Prefix="prod/")["Contents"]
            assert sorted(o["Key"] for o in listed) == sorted(f"prod/{name}" for name in made[-keep:])
            pg.admin(f"DROP DATABASE {pg.database}")
            pg.admin(f"CREATE DATABASE {pg.database} OWNER {pg.user}")
            job.run(script="restore-postgresql.sh", **env)
            assert hub_db(pg.url(), "read", [tokens["alice"]], password)["token_owners"] == {tokens["alice"]: "alice"}
    finally:
        s3_server.stop()
