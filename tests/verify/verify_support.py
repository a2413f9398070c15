"""Helpers for the verification tests: paths of the recorded fixtures, running the real
`swan verify`, and TLS secrets with certificates valid for a chosen number of days."""
from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
RECORDED = HERE / "recorded" / "cluster-event-ml101.json"
EXPECT = HERE / "recorded" / "expect-event-ml101.yaml"
SWAN = Path(sys.executable).parent / "swan"

# A form like KubeSpawner's profile list: three session options, one with a GPU.
PROFILE_FORM = """
<div class="form-group">
  <input type="radio" name="profile" id="profile-item-cpu" value="cpu" checked>
  <label for="profile-item-cpu">Python 3, 2 CPU</label>
  <input type="radio" name="profile" id="profile-item-bigmem" value="bigmem">
  <label for="profile-item-bigmem">Python 3, 16 GB</label>
  <input type="radio" name="profile" id="profile-item-gpu-a100" value="gpu-a100">
  <label for="profile-item-gpu-a100">A100 MIG 1g.5gb</label>
</div>
"""


def swan_verify(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the installed `swan verify` as an operator would."""
    return subprocess.run([str(SWAN), "verify", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def fresh_tls_secret(days: int, namespace: str = "jupyterhub", name: str = "swan-tls") -> dict:
    """A kubernetes.io/tls Secret whose certificate expires `days` from now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "swan.example.org")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"tls.crt": base64.b64encode(pem).decode(), "tls.key": ""}}


def free_port_for_test() -> int:
    """A loopback port nothing listens on (bound and released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
