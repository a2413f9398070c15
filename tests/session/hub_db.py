"""The hub's PostgreSQL in the session harness: a real PostgreSQL server of the test's own.

When the render gives the hub a PostgreSQL `db_url` (`hub.database.type: postgresql`), the hub in the
pod network connects to exactly that URL: the server's host (an address put on the pod network's
loopback, or a name resolving to 127.0.0.1 there) and port are forwarded to a PostgreSQL started on
the host's loopback with the URL's user, database and TLS (sslmode=require), and the password the hub
reads from its Secret (PGPASSWORD from a secretKeyRef) is that server's. What stands in for the
production database server is only its address.
"""
from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pod_network import Forwarder, NetNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stack"))
from hub_db_support import PG_BIN, _as_postgres, postgres_server  # noqa: E402  (tests/stack: the backup tests' server)

PASSWORD = "session-hub-db-pw"


def db_url(values: dict) -> str:
    return str(values.get("jupyterhub", {}).get("hub", {}).get("config", {}).get("JupyterHub", {}).get("db_url", ""))


def password_secret(objects, namespace: str) -> tuple[str, str] | None:
    """(Secret name, key) of the hub container's PGPASSWORD, as the chart's Deployment reads it."""
    hub = objects.get("Deployment", namespace, "hub")
    for container in (hub or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        for env in container.get("env", []):
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if env.get("name") == "PGPASSWORD" and ref:
                return ref["name"], ref["key"]
    return None


def start_postgres(values: dict, objects, namespace: str, netns: NetNamespace, substitutes: dict,
                   extra_hosts: list[str], stack: ExitStack):
    """Start the database the rendered URL names (nothing for SQLite); returns the server
    (hub_db_support.Postgres), or None."""
    url = db_url(values)
    if not url.startswith("postgresql"):
        return None
    parts = urlsplit(url)
    ssl = parse_qs(parts.query).get("sslmode", ["prefer"])[0] in ("require", "verify-ca", "verify-full")
    server = stack.enter_context(postgres_server(user=parts.username, database=parts.path.lstrip("/"),
                                                 password=PASSWORD, ssl=ssl))
    ref = password_secret(objects, namespace)
    if ref is None:
        raise AssertionError(f"the hub's db_url is {url} but its container reads no PGPASSWORD from a Secret")
    if objects.get("Secret", namespace, ref[0]) is None:
        # the operator's own Secret (hub.database.passwordSecret), created before the deploy as the README says
        objects.add({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                     "metadata": {"name": ref[0], "namespace": namespace},
                     "stringData": {ref[1]: PASSWORD}})
    substitutes[f"secret/{ref[0]}/{ref[1]}"] = PASSWORD
    host, port = parts.hostname, parts.port or 5432
    try:
        address = str(ipaddress.ip_address(host))
        netns.run(lambda: subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True,
                                         capture_output=True))
    except ValueError:  # a DNS name: resolved to the pod network's loopback, as the OIDC issuer is
        address = "127.0.0.1"
        extra_hosts.append(host)
    forwarder = Forwarder(netns.listen(address, port),
                          lambda: socket.create_connection(("127.0.0.1", server.port), timeout=5), "hub-db")
    stack.callback(forwarder.close)
    return server


def hub_users(server) -> list[str]:
    """The user names in the hub's own tables, read as the server's superuser."""
    out = _as_postgres([str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(server.port), "-d", server.database,
                        "-Atc", "SELECT name FROM users ORDER BY name"])
    return out.split()
