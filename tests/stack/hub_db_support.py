"""Real databases for the hub database backup tests: a throw-away PostgreSQL server, JupyterHub's own
database code (the hub image's packages, in .venv-hub) to fill and read a hub database, and the
backup scripts exactly as a render's ConfigMap and CronJob carry them.

Tools come from `.ci/deps-postgres.sh` (PostgreSQL 15, sqlite3, rclone); a missing one fails the
test with that hint instead of skipping it.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

HUB_PYTHON = Path(os.environ.get("SWAN_HUB_VENV", "/work/main/.venv-hub")) / "bin" / "python"
PG_BIN = Path(os.environ.get("SWAN_PG_BIN", "/usr/lib/postgresql/15/bin"))
DEPS = "run `sudo bash .ci/deps-postgres.sh`"


def require(*tools: str) -> None:
    missing = [t for t in tools if not (shutil.which(t) or Path(t).is_file())]
    assert not missing, f"{', '.join(missing)} missing: {DEPS}"
    assert HUB_PYTHON.is_file(), f"{HUB_PYTHON} missing: the hub image's packages (`make .venv-hub/.installed`)"


# -- the hub database, through JupyterHub's own ORM ------------------------------------------------
_HUB_CODE = r"""
import json, sys
from jupyterhub import orm
url, action, arg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
db = orm.new_session_factory(url)()
if action == "add":
    if db.query(orm.OAuthClient).filter_by(identifier="jupyterhub").first() is None:  # the hub adds it at start
        db.add(orm.OAuthClient(identifier="jupyterhub"))
        db.commit()
    out = {}
    for name in arg:
        user = orm.User(name=name)
        db.add(user)
        db.commit()
        out[name] = orm.APIToken.new(user=user, note="backup test")
    print(json.dumps(out))
elif action == "read":
    users = sorted(u.name for u in db.query(orm.User))
    owners = {t: (lambda f: f.user.name if f is not None and f.user is not None else None)(orm.APIToken.find(db, t))
              for t in arg}
    print(json.dumps({"users": users, "token_owners": owners}))
"""


def hub_db(url: str, action: str, arg, env: dict | None = None) -> dict:
    """Run JupyterHub's ORM (hub image packages) on `url`: `add` users with a token each, or `read`."""
    done = subprocess.run([str(HUB_PYTHON), "-c", _HUB_CODE, url, action, json.dumps(arg)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- a PostgreSQL server of the test's own -----------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Postgres:
    port: int
    user: str
    password: str
    database: str

    def libpq_env(self) -> dict[str, str]:
        return {"PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": self.user,
                "PGPASSWORD": self.password, "PGDATABASE": self.database, "PGSSLMODE": "disable"}

    def url(self) -> str:
        """The URL the program gives the hub for this server: no password in it (libpq reads PGPASSWORD)."""
        from stacks.config.model import HubDatabase
        from stacks.platform_layer.hub_database import database_url
        return database_url(HubDatabase(type="postgresql", host="127.0.0.1", port=self.port, name=self.database,
                                        user=self.user, password="unused", ssl_mode="disable"))

    def admin(self, sql: str, database: str = "postgres") -> None:
        """SQL as the server's superuser (creating and dropping databases)."""
        _as_postgres([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-d", database,
                      "-v", "ON_ERROR_STOP=1", "-c", sql])


def _as_postgres(cmd: list[str]) -> str:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    done = subprocess.run(prefix + cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{cmd[0]}: {done.stderr}"
    return done.stdout


@contextmanager
def postgres_server(user: str = "swan_hub", database: str = "swan_hub", password: str = "pg-backup-test-pw",
                    ssl: bool = False):
    """initdb + pg_ctl as the postgres user in a temp dir, on a free loopback port; stopped and removed after.
    ssl: also accept TLS (a throw-away self-signed certificate), for clients that require it."""
    require(str(PG_BIN / "initdb"), str(PG_BIN / "pg_ctl"), "pg_dump", "pg_restore")
    root = Path(tempfile.mkdtemp(prefix="swan-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    started = False
    try:
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                      "--auth-host=trust", "-E", "UTF8"])
        with open(data / "pg_hba.conf", "w") as hba:  # the test role logs in with its password
            hba.write("local all postgres trust\nhost all postgres 127.0.0.1/32 trust\n"
                      "host all all 127.0.0.1/32 scram-sha-256\n")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock}"
        if ssl:
            cert, key = data / "server.crt", data / "server.key"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=swan-hub-db",
                            "-days", "2", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
            key.chmod(0o600)
            if os.geteuid() == 0:
                shutil.chown(cert, "postgres")
                shutil.chown(key, "postgres")
            options += f" -c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}"
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o",
                      options, "start"])
        started = True
        server = Postgres(port=port, user=user, password=password, database=database)
        server.admin(f"CREATE ROLE {server.user} LOGIN PASSWORD '{server.password}'")
        server.admin(f"CREATE DATABASE {server.database} OWNER {server.user}")
        yield server
    finally:
        if started:
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)


# -- the backup job, as rendered ---------------------------------------------------------------------
@dataclass
class BackupJob:
    """A render's backup CronJob run here: its ConfigMap's scripts, its command and its environment,
    with the cluster paths (the backup volume or bucket, the hub volume, the database server) moved
    to local ones."""

    scripts: Path
    command: list[str]
    env: dict[str, str]
    secret_refs: dict[str, dict]  # variable -> secretKeyRef, filled by the test

    @classmethod
    def from_render(cls, render: Path, workdir: Path) -> "BackupJob":
        k8s = render / "k8s"
        (cm_file,) = k8s.glob("ConfigMap-*-swan-hub-db-backup.yaml")
        (cron_file,) = k8s.glob("CronJob-*-swan-hub-db-backup.yaml")
        scripts = workdir / "scripts"
        scripts.mkdir()
        for name, text in yaml.safe_load(cm_file.read_text())["data"].items():
            (scripts / name).write_text(text)
        cron = yaml.safe_load(cron_file.read_text())
        (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "scripts")
        command = [part.replace(mount, str(scripts)) for part in container["command"]]
        env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
        env["SCRIPTS"] = str(scripts)
        return cls(scripts, command, env, refs)

    def run(self, *args: str, script: str | None = None, **env: str) -> subprocess.CompletedProcess:
        cmd = self.command if script is None else ["/bin/sh", str(self.scripts / script)]
        done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300,
                              env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
                                   **self.env, **env})
        assert done.returncode == 0, f"{cmd}: {done.stderr}"
        return done
