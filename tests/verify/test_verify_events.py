"""Course events in the nightly verification: the events open now are found in the event
ConfigMaps, and each one's GPU flavour is spawned by a test user made a member of its group.

The hub is a real JupyterHub on 127.0.0.1 whose pre-spawn hook stands in for SWAN's event gate
(the flavour only for members of the event's group, with a CUDA stack); the real gate runs in
tests/session. The Kubernetes API is replaced by a local HTTP server that answers the one list
request `swan verify` makes (event ConfigMaps in the user namespace), with a kubeconfig that
points at it.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from stacks.config.loader import load_stack
from stacks.platform_layer.verification import event_session_options
from stacks.verify.events import EVENT_CONFIG_MAP_LABEL, config_maps_path, open_events
from stacks.verify.model import CheckFailed

from localhub import start_hub
from verify_support import swan_verify

NOW = dt.datetime(2026, 12, 2, 21, 0, tzinfo=dt.timezone.utc)


def event_config_map(name: str, role: str, opens: dt.datetime, closes: dt.datetime) -> dict:
    """An event's ConfigMap as the event stacks publish it (only what the verification reads)."""
    doc = {"event": name, "role": role, "flavour": f"{name} (A100 MIG 1g.5gb)",
           "opens": opens.isoformat(), "closes": closes.isoformat()}
    return {"metadata": {"name": f"swan-event-{name}", "labels": {EVENT_CONFIG_MAP_LABEL: "true"}},
            "data": {"event.json": json.dumps(doc)}}


OPEN = event_config_map("ml101", "ml101-members", NOW - dt.timedelta(hours=2), NOW + dt.timedelta(hours=5))
LATER = event_config_map("physics", "phys-course", NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=2))
PAST = event_config_map("old", "old-course", NOW - dt.timedelta(days=9), NOW - dt.timedelta(days=8))


def test_only_events_whose_window_holds_now_are_tried():
    [event] = open_events([LATER, OPEN, PAST], NOW)
    assert (event.name, event.role, event.flavour) == ("ml101", "ml101-members", "ml101 (A100 MIG 1g.5gb)")
    assert open_events([LATER, PAST], NOW) == []
    assert open_events([OPEN], NOW + dt.timedelta(hours=5)) == []  # the window's end is outside it


def test_an_event_asked_for_by_name_must_be_published_and_open():
    assert [e.name for e in open_events([OPEN, LATER], NOW, only=("ml101",))] == ["ml101"]
    with pytest.raises(CheckFailed, match=r"not open now: physics \(open 2026-12-03 21:00 to 2026-12-04 21:00 UTC\)"):
        open_events([OPEN, LATER], NOW, only=("physics",))
    with pytest.raises(CheckFailed, match="no event named ml102 is published .events: ml101, physics"):
        open_events([OPEN, LATER], NOW, only=("ml102",))


def test_a_config_map_the_hub_could_not_read_fails_naming_it():
    broken = {"metadata": {"name": "swan-event-x"}, "data": {"event.json": "{not json"}}
    with pytest.raises(CheckFailed, match="ConfigMap swan-event-x: not an event the hub can read"):
        open_events([OPEN, broken], NOW)


class _ApiServer(ThreadingHTTPServer):
    """Answers GET of the event ConfigMap list and nothing else (404), like the API server would
    for this path; counts what it was asked."""

    def __init__(self, items: list[dict]):
        self.items, self.paths = items, []
        super().__init__(("127.0.0.1", 0), _ApiHandler)


class _ApiHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.paths.append(self.path)
        ok = self.path == config_maps_path("swan-users") and self.headers.get("Authorization") == "Bearer t0ken"
        body = json.dumps({"kind": "ConfigMapList", "items": self.server.items} if ok else {"kind": "Status"}).encode()
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def api_server(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    server = _ApiServer([event_config_map("ml101", "ml101-members", now - dt.timedelta(hours=1), now + dt.timedelta(hours=5)),
                         event_config_map("physics", "phys-course", now + dt.timedelta(days=1), now + dt.timedelta(days=2))])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "current-context": "test", "contexts": [{"name": "test", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}]}))
    yield server, kubeconfig
    server.shutdown()
    server.server_close()


# SWAN's event gate in miniature (the real one: hub_side/swan_iac_hub.py, proven in tests/session)
EVENT_GATE = '''
def _event_gate(spawner):
    gpu = spawner.user_options.get("gpu", "none")
    if gpu.startswith("ml101 "):
        if "ml101-members" not in [g.name for g in spawner.user.groups]:
            raise ValueError(f"the GPU flavour '{gpu}' is not available to you")
        if "cuda" not in spawner.user_options.get("lcg", "").lower():
            raise ValueError("GPU needs a CUDA software stack")
c.Spawner.pre_spawn_hook = _event_gate
'''


@pytest.fixture(scope="module")
def event_hub(tmp_path_factory):
    h = start_hub(tmp_path_factory.mktemp("event-hub"), extra_config=EVENT_GATE)
    yield h
    h.stop()


@pytest.mark.hub
def test_the_open_event_is_spawned_as_a_member_and_the_group_removed_after(event_hub, api_server, tmp_path):
    server, kubeconfig = api_server
    options = tmp_path / "event-session.yaml"  # what the CronJob mounts for openstack-prod
    options.write_text(yaml.safe_dump(event_session_options(load_stack("openstack-prod"))))
    out = tmp_path / "out.json"
    proc = swan_verify("--only", "hub", "--hub-url", event_hub.url, "--token-env", "HUB_TOKEN", "--profile", "cpu",
                       "--session-options", str(_default_session(tmp_path)), "--events-namespace", "swan-users",
                       "--kubeconfig", str(kubeconfig), "--event-options", str(options),
                       "--spawn-timeout", "90", "--check-timeout", "30", "--json", str(out),
                       env={"HUB_TOKEN": event_hub.token})
    checks = {c["name"]: c for c in json.loads(out.read_text())["checks"]}
    assert checks["hub.events"]["status"] == "pass" and "ml101 (group ml101-members" in checks["hub.events"]["detail"]
    assert "physics" not in checks["hub.events"]["detail"]  # tomorrow's event is not tried
    assert checks["hub.spawn[event:ml101]"]["status"] == "pass", checks["hub.spawn[event:ml101]"]
    assert checks["hub.execute[event:ml101]"]["status"] == "pass"
    # this machine has no GPU: the event session's GPU check is what fails, and it is the only failure
    assert checks["hub.gpu[event:ml101]"]["status"] == "fail" and "no GPU visible" in checks["hub.gpu[event:ml101]"]["detail"]
    assert [n for n, c in checks.items() if c["status"] == "fail"] == ["hub.gpu[event:ml101]"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "group ml101-members" in checks["hub.cleanup"]["detail"]
    assert event_hub.api("GET", "/groups/ml101-members").status_code == 404  # created by the run, removed by it
    assert not [u for u in event_hub.user_names() if u.startswith("swan-verify")]
    assert server.paths == [config_maps_path("swan-users")]


@pytest.mark.hub
def test_a_group_that_existed_keeps_its_members(event_hub, api_server, tmp_path):
    server, kubeconfig = api_server
    event_hub.api("POST", "/users/instructor")
    event_hub.api("POST", "/groups/ml101-members/users", json={"users": ["instructor"]})
    assert event_hub.api("POST", "/groups/ml101-members").status_code in (201, 409)
    event_hub.api("POST", "/groups/ml101-members/users", json={"users": ["instructor"]})
    options = tmp_path / "event-session.yaml"
    options.write_text(yaml.safe_dump(event_session_options(load_stack("openstack-prod"))))
    out = tmp_path / "out.json"
    swan_verify("--only", "hub", "--hub-url", event_hub.url, "--token-env", "HUB_TOKEN", "--profile", "cpu",
                "--session-options", str(_default_session(tmp_path)), "--events-namespace", "swan-users",
                "--event", "ml101", "--kubeconfig", str(kubeconfig), "--event-options", str(options),
                "--spawn-timeout", "90", "--check-timeout", "30", "--json", str(out), env={"HUB_TOKEN": event_hub.token})
    checks = {c["name"]: c for c in json.loads(out.read_text())["checks"]}
    assert checks["hub.spawn[event:ml101]"]["status"] == "pass"
    group = event_hub.api("GET", "/groups/ml101-members")
    assert group.status_code == 200 and group.json()["users"] == ["instructor"]


def test_an_event_asked_for_that_is_not_open_fails_the_run(api_server, tmp_path):
    _, kubeconfig = api_server
    out, options = tmp_path / "out.json", tmp_path / "event-session.yaml"
    options.write_text(yaml.safe_dump(event_session_options(load_stack("openstack-prod"))))
    proc = swan_verify("--only", "hub", "--hub-url", "http://127.0.0.1:1", "--token-env", "PATH",
                       "--events-namespace", "swan-users", "--event", "physics", "--kubeconfig", str(kubeconfig),
                       "--event-options", str(options), "--profile", "cpu", "--check-timeout", "2",
                       "--spawn-timeout", "2", "--json", str(out))
    checks = {c["name"]: c for c in json.loads(out.read_text())["checks"]}
    assert proc.returncode == 1
    assert checks["hub.events"]["status"] == "fail" and "not open now: physics" in checks["hub.events"]["detail"]


def _default_session(tmp_path):
    path = tmp_path / "sessions.yaml"
    path.write_text(yaml.safe_dump({"cpu": {}}))
    return path
