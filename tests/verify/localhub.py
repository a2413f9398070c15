"""A real JupyterHub on 127.0.0.1 for the verification tests and bench/verify.py.

jupyterhub and jupyterhub-singleuser come from .venv, configurable-http-proxy from npm
(.ci/deps-hub.sh). Users get their sessions from SimpleLocalProcessSpawner with homes in a
temporary directory; a hub service `swan-verify` holds an API token with the scopes that
`swan verify` needs.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

VENV_BIN = Path(sys.executable).parent

CONFIG = """
c = get_config()
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.JupyterHub.db_url = "sqlite:///{root}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{root}/cookie_secret"
c.JupyterHub.pid_file = "{root}/jupyterhub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{root}/home/{{username}}"
c.Spawner.cmd = {cmd!r}
c.Spawner.args = ["--ServerApp.allow_root=True"]
c.Spawner.ip = "127.0.0.1"
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.Spawner.default_url = "/lab"
{options_form}
c.JupyterHub.services = [{{"name": "swan-verify", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "swan-verify",
    "scopes": ["admin:users", "admin:servers", "access:servers", "admin:groups"],
    "services": ["swan-verify"],
}}]
c.JupyterHub.log_level = "INFO"
{extra}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalHub:
    url: str
    token: str
    root: Path
    process: subprocess.Popen

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}",
                                headers={"Authorization": f"token {self.token}"}, timeout=10, **kwargs)

    def user_names(self) -> list[str]:
        return [u["name"] for u in self.api("GET", "/users").json()]

    def stop(self) -> None:
        """Stop the hub, its proxy and any single-user server it started (one process group)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        # single-user servers outlive the hub on purpose; ours share its process group
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_hub(root: Path, spawner_cmd: list[str] | None = None, options_form: str | None = None,
              extra_config: str = "", timeout: float = 60.0) -> LocalHub:
    """Start a hub under `root` and wait until its API answers; raise with its log otherwise."""
    chp = shutil.which("configurable-http-proxy")
    if not chp:
        raise RuntimeError("configurable-http-proxy not on PATH: run .ci/deps-hub.sh")
    root.mkdir(parents=True, exist_ok=True)
    (root / "home").mkdir(exist_ok=True)
    port = free_port()
    token = secrets.token_hex(16)
    cmd = spawner_cmd or [str(VENV_BIN / "jupyterhub-singleuser")]
    form = f"c.Spawner.options_form = {options_form!r}" if options_form else ""
    (root / "jupyterhub_config.py").write_text(CONFIG.format(
        port=port, hub_port=free_port(), proxy_api_port=free_port(), chp=chp, root=root,
        cmd=cmd, options_form=form, token=token, extra=extra_config))
    log = open(root / "hub.log", "wb")
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
    env.pop("JUPYTERHUB_API_TOKEN", None)
    process = subprocess.Popen(
        [str(VENV_BIN / "jupyterhub"), "-f", str(root / "jupyterhub_config.py")],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    hub = LocalHub(f"http://127.0.0.1:{port}", token, root, process)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if process.poll() is not None:
            break
        try:
            if requests.get(f"{hub.url}/hub/api/", timeout=2).status_code == 200:
                return hub
        except requests.RequestException:
            pass
        time.sleep(0.3)
    hub.stop()
    raise RuntimeError(f"local hub did not come up; log:\n{(root / 'hub.log').read_text()[-3000:]}")
