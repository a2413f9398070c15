"""`swan event report`: what an event used, built from recorded data.

The Prometheus path runs against a real HTTP server on 127.0.0.1 (http.server) that answers
`/api/v1/query_range` in Prometheus's response format with the series in tests/events/recorded/
(see its README: the values are made up for a 64-seat workshop, not taken from a real event), at the
step and over the range asked for, as Prometheus does. The numbers the report prints are checked
against a separate, minute-by-minute count of the same recorded values. No Kubernetes API runs here:
the cluster source reads recorded API objects (stacks.verify.cluster.RecordedApi).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from event_support import set_event_offers
from stacks.cli.main import app
from stacks.config.loader import load_stack
from stacks.events.usage import EnvironmentSamples, Price, Series, Window, compute_usage, read_samples
from stacks.events.usage_sources import cluster_series, prometheus_queries
from stacks.verify.cluster import RecordedApi

runner = CliRunner()
RECORDED = Path(__file__).parent / "recorded" / "ml-workshop-prometheus.json"
A100_OFFER = {"model": "A100-40GB", "flavor": "g3.8xlarge.a100", "gpusPerNode": 4, "maxGpus": 16}
UTC = dt.timezone.utc


def ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


# -- the arithmetic, on numbers small enough to check by hand --------------------------------------

def test_usage_by_hand():
    """Event 10:00-12:00 (ready 09:00), grace 1h: sessions 0 → 4 at 10:00 → 10 at 11:00 → 2 at 11:30 → 0 at
    12:00; 2 nodes of 4 GPUs up 08:30-12:30, 5.0 EUR per GPU-hour."""
    h = 3600
    t = ts("2026-12-01T00:00:00+00:00")
    window = Window(ready_by=t + 9 * h, start=t + 10 * h, end=t + 12 * h, looked_from=t + 8 * h, looked_to=t + 13 * h)
    sessions = Series.of([(t + 8 * h, 0), (t + 10 * h, 4), (t + 11 * h, 10), (t + 11.5 * h, 2), (t + 12 * h, 0),
                          (t + 13 * h, 0)])
    nodes = Series.of([(t + 8 * h, 0), (t + 8.5 * h, 2), (t + 12.5 * h, 0), (t + 13 * h, 0)])
    usage = compute_usage(window, [EnvironmentSamples("a", 12, 4, sessions, nodes, Price(5.0, "EUR"))])
    assert usage.peak_sessions == 10 and usage.peak_at == t + 11 * h
    assert usage.session_hours == pytest.approx(4 * 1 + 10 * 0.5 + 2 * 0.5)  # 10
    assert usage.mean_sessions == pytest.approx(10 / 2)  # over the event's two hours
    assert usage.mean_share == pytest.approx(5 / 12)
    assert usage.node_hours == pytest.approx(2 * 4)
    assert usage.gpu_hours == pytest.approx(8 * 4)
    assert usage.costs == {"EUR": pytest.approx(32 * 5.0)}


def test_no_data_after_the_last_sample_and_environments_add_up():
    """A series says nothing after its last point: a report run during the event averages up to then."""
    h = 3600
    t = ts("2026-12-01T00:00:00+00:00")
    window = Window(t, t, t + 10 * h, t, t + 10 * h)
    a = EnvironmentSamples("a", 5, 1, Series.of([(t, 2), (t + 4 * h, 2)]), Series.of([(t, 1), (t + 4 * h, 1)]))
    b = EnvironmentSamples("b", 5, 2, Series.of([(t, 1), (t + h, 3), (t + 4 * h, 3)]),
                           Series.of([(t, 1), (t + 4 * h, 1)]))
    usage = compute_usage(window, [a, b])
    assert usage.seats == 10
    assert usage.peak_sessions == 5  # 2 + 3 from the first hour on
    assert usage.mean_hours == pytest.approx(4)
    assert usage.mean_sessions == pytest.approx((2 * 4 + 1 * 1 + 3 * 3) / 4)
    assert usage.gpu_hours == pytest.approx(4 * 1 + 4 * 2)
    assert usage.costs == {} and usage.unpriced == ["a", "b"]
    before = Series.of([(t - 2 * h, 7), (t - h, 7)])  # a series that ended before the range says nothing in it
    assert before.peak(t, t + h) == (0.0, None) and before.integral(t, t + h) == 0


# -- Prometheus: a real HTTP server answering query_range from the recording ------------------------

class FakePrometheus(ThreadingHTTPServer):
    """Answers GET /api/v1/query_range like Prometheus: the recorded series for the query's kind (sessions
    or nodes, told apart by the metric the query reads), evaluated at start + k*step up to end, each point
    the recorded value last seen at or before it."""

    def __init__(self, recorded: dict):
        self.recorded, self.requests, self.fail = recorded, [], None
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        server: FakePrometheus = self.server  # type: ignore[assignment]
        parts = urlsplit(self.path)
        args = {k: v[0] for k, v in parse_qs(parts.query).items()}
        server.requests.append((parts.path, args))
        if server.fail:
            status, body = server.fail
        elif parts.path != "/api/v1/query_range":
            status, body = 404, {"status": "error", "errorType": "not_found", "error": "not found"}
        else:
            kind = "nodes" if "kube_node_labels" in args["query"] else "sessions"
            (series,) = server.recorded[kind]["data"]["result"]
            points = [(float(t), v) for t, v in series["values"]]
            start, end, step = float(args["start"]), float(args["end"]), float(args["step"])
            values, k = [], 0
            while start + k * step <= end:
                at = start + k * step
                seen = [v for t, v in points if t <= at]
                if seen:
                    values.append([at, seen[-1]])
                k += 1
            status, body = 200, {"status": "success",
                                 "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]}}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def prometheus():
    server = FakePrometheus(json.loads(RECORDED.read_text()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def minute_by_minute(kind: str, a: float, b: float) -> list[float]:
    """The recorded values of `kind` at every minute of [a, b): an independent count (no intervals)."""
    (series,) = json.loads(RECORDED.read_text())[kind]["data"]["result"]
    points = [(float(t), float(v)) for t, v in series["values"]]
    out, t = [], a
    while t < b:
        out.append(max([p for p in points if p[0] <= t], key=lambda p: p[0], default=(0, 0.0))[1])
        t += 60
    return out


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def priced(project, price=2.5, currency="CHF"):
    set_event_offers(project, "openstack-prod", [{**A100_OFFER, "pricePerGpuHour": price, "currency": currency}])


def test_report_from_prometheus_matches_an_independent_count(project, prometheus, tmp_path):
    priced(project)
    out = tmp_path / "report"
    result = runner.invoke(app, ["event", "report", "event-ml-workshop", "--prometheus", prometheus.url,
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output

    event = load_stack("event-ml-workshop").event
    ready, start, end = event.ready_by.timestamp(), event.start.timestamp(), event.end.timestamp()
    # what was asked: the event's pods by PriorityClass and nodes by label, an hour either side, per minute
    asked = [args for path, args in prometheus.requests if path == "/api/v1/query_range"]
    assert len(asked) == 2
    assert {float(a["start"]) for a in asked} == {ready - 3600} and {float(a["end"]) for a in asked} == {end + 3600}
    assert {a["step"] for a in asked} == {"60"}
    assert any('priority_class="swan-event-ml-workshop"' in a["query"] and 'namespace="swan-users"' in a["query"]
               for a in asked)
    assert any('label_swan_cern_ch_event="ml-workshop"' in a["query"] for a in asked)

    sessions = minute_by_minute("sessions", ready - 3600, end + 3600)
    during = minute_by_minute("sessions", start, end)
    nodes = minute_by_minute("nodes", ready - 3600, end + 3600)
    peak, mean = max(sessions), sum(during) / len(during)
    gpu_hours = sum(nodes) * 4 / 60
    report = (out / "report.md").read_text()
    assert f"| peak sessions | {peak:g} ({100 * peak / 64:.0f}% of seats)" in report
    assert f"| mean sessions, start to end | {mean:.1f} ({100 * mean / 64:.0f}% of seats" in report
    assert f"| session-hours | {sum(sessions) / 60:.1f} |" in report
    assert f"| node-hours (event nodes) | {sum(nodes) / 60:.1f} |" in report
    assert f"| GPU-hours (A100-40GB on event nodes) | {gpu_hours:.1f} |" in report
    assert f"| estimated cost (CHF) | {gpu_hours * 2.5:,.2f} CHF |" in report
    assert (peak, round(gpu_hours)) == (61, 732)  # 3 nodes x 4 GPUs x 61 h: the recording as its README says
    assert "![sessions over time against seats](usage.png)" in report
    width, height = png_size(out / "usage.png")
    assert (width, height) == (1210, 605)  # 11 x 5.5 inches at 110 dpi
    assert (out / "usage.png").stat().st_size > 20_000
    assert f"peak {peak:g} of 64 seats" in result.stdout and "estimated cost:" in result.stdout

    # samples.json rebuilds the same report offline
    again = tmp_path / "again"
    result = runner.invoke(app, ["event", "report", "event-ml-workshop", "--from", str(out / "samples.json"),
                                 "--out", str(again)])
    assert result.exit_code == 0, result.output
    rebuilt = (again / "report.md").read_text()
    def numbers(text):
        return [line for line in text.splitlines() if line.startswith(("|", "Event:"))]

    assert numbers(rebuilt) == numbers(report) and len(numbers(report)) > 10
    assert "recorded samples" in rebuilt


def test_no_price_no_cost(project, prometheus, tmp_path):
    set_event_offers(project, "openstack-prod", [A100_OFFER])
    result = runner.invoke(app, ["event", "report", "event-ml-workshop", "--prometheus", prometheus.url,
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "report.md").read_text()
    assert "estimated cost (" not in report and "not declared" in report
    assert "estimated cost" not in result.stdout


def test_a_failing_prometheus_exits_1_and_writes_nothing(project, prometheus, tmp_path):
    prometheus.fail = (400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 7"})
    out = tmp_path / "r"
    out.mkdir()
    (out / "report.md").write_text("earlier report\n")
    result = runner.invoke(app, ["event", "report", "event-ml-workshop", "--prometheus", prometheus.url,
                                 "--out", str(out)])
    assert result.exit_code == 1
    assert f"--prometheus: {prometheus.url}: HTTP 400, query failed: parse error at char 7" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["report.md"]
    assert (out / "report.md").read_text() == "earlier report\n"


def test_queries_select_the_event_by_priority_class_and_node_label(project):
    event = load_stack("event-ml-workshop").event
    q = prometheus_queries(event, "swan-users")
    assert 'kube_pod_info{namespace="swan-users",priority_class="swan-event-ml-workshop"}' in q["sessions"]
    assert 'phase="Running"' in q["sessions"] and q["sessions"].endswith("or vector(0)")
    assert 'kube_node_labels{label_swan_cern_ch_event="ml-workshop"}' in q["nodes"]


# -- the cluster as it is now: a lower bound -------------------------------------------------------

def test_cluster_source_counts_the_event_nodes_and_running_sessions(project):
    """Recorded API objects (no Kubernetes API here): nodes with the event label, pods of the event's
    PriorityClass; a pending pod and another event's pod do not count."""
    event = load_stack("event-ml-workshop").event

    def pod(name, started, phase="Running", pc="swan-event-ml-workshop"):
        return {"metadata": {"name": name, "creationTimestamp": started}, "spec": {"priorityClassName": pc},
                "status": {"phase": phase, "startTime": started}}

    api = RecordedApi({
        "/api/v1/nodes?labelSelector=swan.cern.ch%2Fevent%3Dml-workshop": {"items": [
            {"metadata": {"name": f"n{i}", "creationTimestamp": "2026-12-01T04:40:00Z"}} for i in range(3)]},
        "/api/v1/namespaces/swan-users/pods": {"items": [
            pod("jupyter-a", "2026-12-01T08:05:00Z"), pod("jupyter-b", "2026-12-01T09:00:00Z"),
            pod("jupyter-c", "2026-12-01T09:10:00Z", phase="Pending"),
            pod("jupyter-d", "2026-12-01T08:00:00Z", pc="swan-event-other")]},
    })
    since, now = ts("2026-12-01T04:00:00+00:00"), ts("2026-12-01T10:00:00+00:00")
    series = cluster_series(api, event, "swan-users", since, now)
    assert series["nodes"].points == ((since, 0), (ts("2026-12-01T04:40:00+00:00"), 3), (now, 3))
    assert series["sessions"].points == ((since, 0), (ts("2026-12-01T08:05:00+00:00"), 1),
                                         (ts("2026-12-01T09:00:00+00:00"), 2), (now, 2))


# -- bad input -----------------------------------------------------------------------------------

def test_a_samples_file_of_another_event_or_shape_is_refused(project, tmp_path):
    bad = tmp_path / "s.json"
    bad.write_text(json.dumps({"format": 1, "event": "other", "environments": {
        "openstack-prod": {"sessions": [[1, 2], [3, "x"]], "nodes": [[1, 1]]}, "oci-pilot": {}}}))
    result = runner.invoke(app, ["event", "report", "event-ml-workshop", "--from", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    for line in (f"--from: {bad}: event: these samples are of event 'other', not 'ml-workshop'",
                 f"--from: {bad}: environments.oci-pilot: not an environment of this event",
                 f"--from: {bad}: environments.openstack-prod.sessions[1]: expected [unix seconds, value >= 0]"):
        assert line in result.stderr
    assert not (tmp_path / "o").exists()
    _, _, _, problems = read_samples([], "f", "ml-workshop", ["openstack-prod"])
    assert problems and "not a samples file" in problems[0].message


def test_every_environment_needs_its_own_url(project, write_event, tmp_path):
    set_event_offers(project, "openstack-prod", [A100_OFFER])
    write_event("event-two", name="two", participants=60, environments=["openstack-prod", "oci-pilot"])
    swan = project.read_swan("oci-pilot")
    swan["eventGpus"] = [{"model": "A100-40GB", "flavor": "BM.GPU.A100-v2.8", "gpusPerNode": 8, "maxGpus": 16}]
    project.write_config("oci-pilot", swan)
    result = runner.invoke(app, ["event", "report", "event-two", "--prometheus", "http://prom.example.org",
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert re.search(r"--prometheus: 'http://prom.example.org': give ENV=VALUE with ENV one of the event's "
                     r"environments \(openstack-prod, oci-pilot\)", result.stderr)
    assert "--prometheus: none given for openstack-prod, oci-pilot" in result.stderr


class FakeKubernetes(ThreadingHTTPServer):
    """Answers the two GETs the cluster source makes, with recorded objects, over plain HTTP on
    127.0.0.1 (a kubeconfig may name an http:// server; the real one is HTTPS with credentials)."""

    def __init__(self, responses: dict):
        self.responses, self.paths = responses, []
        super().__init__(("127.0.0.1", 0), _KubeHandler)


class _KubeHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        server: FakeKubernetes = self.server  # type: ignore[assignment]
        server.paths.append((self.path, self.headers.get("Authorization")))
        found = server.responses.get(self.path)
        data = json.dumps(found or {"kind": "Status", "code": 404}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_report_from_the_cluster_as_it_is_now(project, tmp_path):
    """`--kubeconfig`: the real KubeApi reads nodes and pods from a local HTTP server. The sessions running
    now are the peak it can see, and the report says it is a lower bound."""
    pods = [{"metadata": {"name": f"jupyter-u{i}", "creationTimestamp": "2026-12-01T09:00:00Z"},
             "spec": {"priorityClassName": "swan-event-ml-workshop"},
             "status": {"phase": "Running", "startTime": f"2026-12-01T09:0{i}:00Z"}} for i in range(5)]
    server = FakeKubernetes({
        "/api/v1/nodes?labelSelector=swan.cern.ch%2Fevent%3Dml-workshop": {"items": [
            {"metadata": {"name": f"n{i}", "creationTimestamp": "2026-12-01T04:30:00Z"}} for i in range(3)]},
        "/api/v1/namespaces/swan-users/pods": {"items": pods}})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        kubeconfig = tmp_path / "kc.yaml"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
            "users": [{"name": "u", "user": {"token": "secret-token"}}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
        result = runner.invoke(app, ["event", "report", "event-ml-workshop", "--kubeconfig", str(kubeconfig),
                                     "--out", str(tmp_path / "o")])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    assert {auth for _, auth in server.paths} == {"Bearer secret-token"}
    report = (tmp_path / "o" / "report.md").read_text()
    assert "| peak sessions | 5 (8% of seats) at 2026-12-01 09:04 UTC |" in report
    assert "a lower bound: sessions that ended and nodes already removed are not counted" in report
    assert png_size(tmp_path / "o" / "usage.png") == (1210, 605)


def test_an_event_in_two_environments_adds_up_and_prices_each(project, write_event, prometheus, tmp_path):
    """One Prometheus per environment (ENV=URL); here both answer from the same recording, so every total is
    twice one environment's, GPU-hours follow each offer's GPUs per node, and each currency is summed apart."""
    set_event_offers(project, "openstack-prod", [{**A100_OFFER, "maxGpus": 4, "pricePerGpuHour": 2.5,
                                                  "currency": "CHF"}])
    set_event_offers(project, "oci-pilot", [{"model": "A100-40GB", "flavor": "BM.GPU4.8", "gpusPerNode": 8,
                                             "maxGpus": 16, "pricePerGpuHour": 3.0, "currency": "EUR"}])
    write_event("event-two", name="two", environments=["openstack-prod", "oci-pilot"])
    result = runner.invoke(app, ["event", "report", "event-two", "--out", str(tmp_path),
                                 "--prometheus", f"openstack-prod={prometheus.url}",
                                 "--prometheus", f"oci-pilot={prometheus.url}/"])
    assert result.exit_code == 0, result.output
    assert len([p for p, _ in prometheus.requests]) == 4
    event = load_stack("event-two").event
    nodes = minute_by_minute("nodes", event.ready_by.timestamp() - 3600, event.end.timestamp() + 3600)
    node_hours = sum(nodes) / 60
    report = (tmp_path / "report.md").read_text()
    assert "| peak sessions | 122 (" in report
    assert f"| GPU-hours (A100-40GB on event nodes) | {node_hours * (4 + 8):.1f} |" in report
    assert f"| estimated cost (CHF) | {node_hours * 4 * 2.5:,.2f} CHF |" in report
    assert f"| estimated cost (EUR) | {node_hours * 8 * 3.0:,.2f} EUR |" in report
    assert "| oci-pilot | 36 | 61 | " in report  # 64 seats: 28 on openstack-prod's 4 GPUs, the rest on oci-pilot
    assert "- sessions (oci-pilot): `" in report


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), RuntimeError("matplotlib crashed")],
                         ids=["disk full", "drawing crashed"])
def test_a_failed_write_keeps_the_earlier_report_whole(project, prometheus, tmp_path, monkeypatch, failure):
    import stacks.events.usage_report as usage_report

    out = tmp_path / "r"
    out.mkdir()
    earlier = {"report.md": "earlier\n", "usage.png": "earlier png", "samples.json": "{}\n"}
    for name, text in earlier.items():
        (out / name).write_text(text)

    def half_then_fail(plan, usage, path):
        Path(path).write_bytes(b"\x89PNG")
        raise failure

    monkeypatch.setattr(usage_report, "usage_chart", half_then_fail)
    result = runner.invoke(app, ["event", "report", "event-ml-workshop", "--prometheus", prometheus.url,
                                 "--out", str(out)])
    assert result.exit_code != 0
    assert {p.name: p.read_text() for p in out.iterdir()} == earlier  # nothing replaced, no temporary left
    if isinstance(failure, OSError):
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert f"--out: {out}: could not write the report (No space left on device)" in result.stderr
