"""Bad command-line arguments, as data: every command refuses each one with exit 2, the option
(or file) and what is wrong named on stderr in one line, no traceback, nothing on disk changed.

A case is one line: `Case(id, argv, expected stderr text, files written before the run)`; the
harness (bad_input.py) runs it in a throw-away copy of the project (also the cwd). Below the
table: what happens when a report or chart cannot be written at the end, and names on an
80-column terminal.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from rich.cells import cell_len
from typer.testing import CliRunner

from bad_input import Case, assert_refused
from stacks.cli import common
from stacks.cli.main import app

CONFIG = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "config"
INVENTORY = "all:\n  hosts:\n    node-1:\n      ansible_host: 127.0.0.1\n"
MANY_HOSTS = "all:\n  hosts:\n" + "".join(f"    node-{i:02d}:\n" for i in range(12))
KUBECONFIG = yaml.safe_dump({
    "apiVersion": "v1", "kind": "Config", "current-context": "swan",
    "clusters": [{"name": "swan", "cluster": {"server": "http://127.0.0.1:9"}}],
    "users": [{"name": "verify", "user": {"token": "t"}}],
    "contexts": [{"name": "swan", "context": {"cluster": "swan", "user": "verify"}}]})
KC = {"kc.yaml": KUBECONFIG}  # a good kubeconfig: the run gets as far as the report paths
PLAN = ["event", "plan", "event-ml-workshop"]
REPORT = ["event", "report", "event-ml-workshop"]
PACK = ["gpu", "pack", "--gpu", "A100-40GB", "--demand"]

CASES = [
    # -- swan nodes apply: Ansible reads the inventory before anything runs ----------------------
    Case("inventory: YAML syntax error", ["nodes", "apply", "--inventory", "notinv.yaml"],
         "--inventory: notinv.yaml: not an Ansible inventory (yaml plugin: YAML parsing failed", {"notinv.yaml": "hello: [\n"}),
    Case("inventory: YAML that is not one", ["nodes", "apply", "-i", "notinv.yaml"],
         "--inventory: notinv.yaml: not an Ansible inventory (Skipping 'a'", {"notinv.yaml": "{a: 1}\n"}),
    Case("inventory: INI that is not one", ["nodes", "apply", "-i", "hosts.ini"],
         "--inventory: hosts.ini: not an Ansible inventory (ini plugin:", {"hosts.ini": "[web\nx = = y\n"}),
    Case("inventory: empty folder", ["nodes", "apply", "-i", "inv"], "--inventory: inv: an empty folder, not an Ansible inventory",
         {"inv/": ""}),
    Case("inventory: no hosts", ["nodes", "apply", "-i", "inv.yml"], "--inventory: inv.yml: holds no hosts",
         {"inv.yml": "all:\n  children: {}\n"}),
    Case("inventory: missing", ["nodes", "apply", "-i", "none.yml"], "--inventory: none.yml: inventory file not found"),
    Case("--limit matches no host", ["nodes", "apply", "-i", "inv.yml", "--limit", "nope"],
         "--limit: 'nope' matches no host of inv.yml (hosts: node-1)", {"inv.yml": INVENTORY}),
    Case("--limit: many hosts, shortened", ["nodes", "apply", "-i", "inv.yml", "-l", "gpu*"],
         "(hosts: node-00, node-01, node-02, node-03, node-04, node-05, node-06, node-07 and 4 more)", {"inv.yml": MANY_HOSTS}),
    Case("--extra-vars not KEY=VALUE", ["nodes", "apply", "-i", "inv.yml", "-e", "novalue"],
         "--extra-vars: novalue: expected KEY=VALUE or @FILE", {"inv.yml": INVENTORY}),
    Case("--playbook unknown", ["nodes", "apply", "-i", "inv.yml", "--playbook", "sight"],
         "--playbook: sight: not found (known: ", {"inv.yml": INVENTORY}),
    Case("STACK and --inventory", ["nodes", "apply", "prod", "-i", "inv.yml"],
         "give exactly one of STACK or --inventory", {"inv.yml": INVENTORY}),

    # -- swan verify: every argument before any check ------------------------------------------
    Case("verify: nothing to verify", ["verify"], "swan verify: nothing to verify: give a STACK or --hub-url/--kubeconfig/--inventory"),
    Case("--hub-url: wrong scheme", ["verify", "--hub-url", "htp:/x", "--token-env", "PATH"],
         "--hub-url: 'htp:/x': must start with http:// or https://"),
    Case("--hub-url: no host", ["verify", "--hub-url", "http:/x", "--token-env", "PATH"], "--hub-url: 'http:/x': has no host"),
    Case("--hub-url: spaces", ["verify", "--hub-url", "https://swan example.org", "--token-env", "PATH"],
         "--hub-url: 'https://swan example.org': a URL cannot contain spaces"),
    Case("--hub-url: bad port", ["verify", "--hub-url", "https://swan.example.org:99999", "--token-env", "PATH"],
         "--hub-url: 'https://swan.example.org:99999': not a URL"),
    Case("--kubeconfig: YAML syntax error", ["verify", "--kubeconfig", "kc.yaml"],
         "--kubeconfig: kc.yaml: not a kubeconfig: YAML syntax error at line 2 column 1: ", {"kc.yaml": "a: [\n"}),
    Case("--kubeconfig: YAML without clusters", ["verify", "--kubeconfig", "kc.yaml"],
         "--kubeconfig: kc.yaml: not a kubeconfig: no clusters and no contexts", {"kc.yaml": "a: 1\n"}),
    Case("--kubeconfig: a list", ["verify", "--kubeconfig", "kc.yaml"], "--kubeconfig: kc.yaml: not a kubeconfig: expected a mapping",
         {"kc.yaml": "- 1\n"}),
    Case("--context unknown", ["verify", "--kubeconfig", "kc.yaml", "--context", "prod"],
         "--kubeconfig: kc.yaml: context 'prod' not found (contexts: swan)", KC),
    Case("--inventory: not one (verify)", ["verify", "--inventory", "notinv.yaml"],
         "--inventory: notinv.yaml: not an Ansible inventory", {"notinv.yaml": "hello: [\n"}),
    Case("--json: a folder", ["verify", "--kubeconfig", "kc.yaml", "--json", "reports"],
         "--json: reports: is a folder; name a file (ending in .json) to write", {**KC, "reports/": ""}),
    Case("--json: wrong extension", ["verify", "--kubeconfig", "kc.yaml", "--json", "out.xml"], "--json: out.xml: must end in .json", KC),
    Case("--junit: wrong extension", ["verify", "--kubeconfig", "kc.yaml", "--junit", "out.json"], "--junit: out.json: must end in .xml", KC),
    Case("--markdown: missing folder", ["verify", "--kubeconfig", "kc.yaml", "--markdown", "nowhere/out.md"],
         "--markdown: nowhere/out.md: folder nowhere does not exist", KC),
    Case("--markdown: under a file", ["verify", "--kubeconfig", "kc.yaml", "--markdown", "Pulumi.yaml/out.md"],
         "--markdown: Pulumi.yaml/out.md: Pulumi.yaml is not a folder", KC),
    Case("--prometheus: wrong extension", ["verify", "--kubeconfig", "kc.yaml", "--prometheus", "m.json"],
         "--prometheus: m.json: must end in .prom or .txt", KC),
    Case("--prometheus: unwritable place", ["verify", "--kubeconfig", "kc.yaml", "--prometheus", "/proc/swan.prom"],
         "--prometheus: /proc/swan.prom: cannot write in folder /proc", KC),
    Case("--junit: a name ending in /", ["verify", "--kubeconfig", "kc.yaml", "--junit", "new/"],
         "--junit: new/: is a folder; name a file (ending in .xml) to write", KC),

    # -- swan gpu pack --------------------------------------------------------------------------
    Case("--demand zero", PACK + ["1g.5gb=0"], "--demand: '1g.5gb=0': count must be a positive integer (1 to 10000"),
    Case("--demand negative", PACK + ["1g.5gb=-3"], "--demand: '1g.5gb=-3': count must be a positive integer"),
    Case("--demand full-width digit", PACK + ["1g.5gb=３"], "--demand: '1g.5gb=３': count must be a positive integer (1 to 10000, digits 0-9)"),
    Case("--demand not a number", PACK + ["1g.5gb=abc"], "--demand: '1g.5gb=abc': count must be a positive integer"),
    Case("--demand absurdly large", PACK + ["1g.5gb=99999999999999"], "--demand: '1g.5gb=99999999999999': at most 10000 sessions per profile"),
    Case("--demand 5000 digits", PACK + ["1g.5gb=" + "9" * 5000], "at most 10000 sessions per profile"),
    Case("--demand over the bound in all", PACK + ["1g.5gb=6000", "--demand", "1g.5gb=6000"],
         "--demand: 1g.5gb: 12000 sessions in all; at most 10000 per profile"),
    Case("--demand not PROFILE=N", PACK + ["1g.5gb"], "--demand: '1g.5gb' is not PROFILE=N"),
    Case("--demand unknown profile", PACK + ["9g.1gb=3"],
         "--demand: profile '9g.1gb' cannot run on A100-40GB; its profiles are: 1g.5gb, 1g.10gb, 2g.10gb"),
    Case("--gpu unknown model", ["gpu", "pack", "--gpu", "A100", "--demand", "1g.5gb=1"],
         "--gpu: unknown GPU model 'A100'; valid models: A100-40GB, A100-80GB, H100-80GB"),
    Case("--sharing unknown", ["gpu", "pack", "--gpu", "T4", "--demand", "4gb=40", "--sharing", "best"],
         "--sharing: unknown isolation 'best'; one of: whole, mig, mps, time-slicing"),
    Case("--sharing the model cannot give", ["gpu", "pack", "--gpu", "T4", "--demand", "4gb=40", "--sharing", "mig"],
         "--sharing: T4 cannot give mig isolation (it has no MIG); it offers: whole, mps, time-slicing"),
    Case("--demand memory over the GPU's", ["gpu", "pack", "--gpu", "T4", "--demand", "24gb=2"],
         "--demand: 24gb:time-slicing: asks 24 GB of GPU memory; one T4 has 16 GB"),
    Case("--demand compute share over 1", ["gpu", "pack", "--gpu", "T4", "--demand", "4gb@1.5=2"],
         "--demand: 4gb@1.5:time-slicing: compute share must be more than 0 and at most 1"),
    Case("--demand compute share 0", ["gpu", "pack", "--gpu", "T4", "--demand", "4gb@0=2"],
         "--demand: 4gb@0:time-slicing: compute share must be more than 0 and at most 1"),
    Case("--demand compute share not a number", ["gpu", "pack", "--gpu", "T4", "--demand", "4gb@half=2"],
         "--demand: '4gb@half': compute share must be a fraction like @0.25 or a percentage like @25%"),
    Case("--demand own isolation unknown", ["gpu", "pack", "--gpu", "T4", "--demand", "4gb:fast=2"],
         "--demand: '4gb:fast': unknown isolation 'fast'"),
    Case("--demand own isolation the model cannot give", ["gpu", "pack", "--gpu", "L4", "--demand", "4gb:mig=2"],
         "--demand: L4 cannot give mig isolation (it has no MIG)"),
    Case("--demand MIG profile beside memory on T4", ["gpu", "pack", "--gpu", "T4", "--demand", "4gb=2", "--demand", "1g.5gb=1"],
         "--demand: '1g.5gb' is neither memory (like 4gb) nor a profile of T4; its profiles are: full"),

    # -- swan event plan / timeline --------------------------------------------------------------
    Case("--chart: a folder", PLAN + ["--chart", "charts"], "--chart: charts: is a folder; name a file (ending in .png)", {"charts/": ""}),
    Case("--chart: wrong extension", PLAN + ["--chart", "plan.jpg"], "--chart: plan.jpg: must end in .png"),
    Case("--chart: missing folder", PLAN + ["--chart", "nowhere/plan.png"], "--chart: nowhere/plan.png: folder nowhere does not exist"),
    Case("event plan: environment stack", ["event", "plan", "kind"],
         "config/Pulumi.kind.yaml: swan:kind: 'kind' is an environment stack, not an event"),
    Case("event plan: unknown stack", ["event", "plan", "nope"], "config/Pulumi.nope.yaml: no such stack config"),
    Case("event status --at: not a time", ["event", "status", "--at", "tomorrow"], "--at: 'tomorrow' is not an ISO 8601 time"),
    Case("event status --at: no zone", ["event", "status", "--at", "2026-12-01T07:00"], "--at: '2026-12-01T07:00' has no time zone"),
    Case("event status --deployed-from: unknown", ["event", "status", "--deployed-from", "cloud"],
         "--deployed-from: 'cloud': choose none or pulumi"),
    Case("event reconcile --at: no zone", ["event", "reconcile", "--at", "2026-12-01 07:00"], "--at: '2026-12-01 07:00' has no time zone"),
    Case("event reconcile --markdown: wrong extension", ["event", "reconcile", "--markdown", "r.txt"], "--markdown: r.txt: must end in .md"),
    Case("event reconcile --prometheus: missing folder", ["event", "reconcile", "--prometheus", "nowhere/r.prom"],
         "--prometheus: nowhere/r.prom: folder nowhere does not exist"),
    Case("event reconcile --pushgateway: not a URL", ["event", "reconcile", "--pushgateway", "gateway:9091"],
         "--pushgateway: 'gateway:9091': must start with http:// or https://"),
    Case("event reconcile --token-env: unset", ["event", "reconcile", "--token-env", "SWAN_TEST_NO_SUCH_VARIABLE"],
         "--token-env: environment variable SWAN_TEST_NO_SUCH_VARIABLE is not set or empty"),
    Case("timeline --out: a folder", ["event", "timeline", "--out", "emptydir"], "--out: emptydir: is a folder", {"emptydir/": ""}),
    Case("timeline --out: the project", ["event", "timeline", "--out", "."], "--out: .: is a folder"),
    Case("timeline --out: wrong extension", ["event", "timeline", "--out", "t.svg"], "--out: t.svg: must end in .png"),
    Case("timeline --out: missing folder", ["event", "timeline", "--out", "nowhere/t.png"], "--out: nowhere/t.png: folder nowhere does not exist"),
    Case("timeline --out: unwritable place", ["event", "timeline", "--out", "/proc/t.png"], "--out: /proc/t.png: cannot write in folder /proc"),
    Case("event report: no source", REPORT, "swan event report: no source: give --prometheus URL, --kubeconfig FILE"),
    Case("event report: two sources", REPORT + ["--prometheus", "http://prom:9090", "--from", "s.json"],
         "--from: give one source: --prometheus or --from, not both", {"s.json": "{}"}),
    Case("event report --prometheus: not http", REPORT + ["--prometheus", "prom:9090"], "--prometheus: 'prom:9090': must start with http:// or https://"),
    Case("event report --prometheus: unknown environment", REPORT + ["--prometheus", "oci-pilot=http://prom:9090"],
         "--prometheus: 'oci-pilot=http://prom:9090': oci-pilot is not an environment of this event (openstack-prod)"),
    Case("event report --prometheus: twice", REPORT + ["--prometheus", "http://a:9090", "--prometheus", "openstack-prod=http://b:9090"],
         "--prometheus: given twice for environment openstack-prod"),
    Case("event report --kubeconfig: missing", REPORT + ["--kubeconfig", "nope.yaml"], "--kubeconfig: nope.yaml: cannot read kubeconfig"),
    Case("event report --kubeconfig: unknown context", REPORT + ["--kubeconfig", "kc.yaml", "--context", "other"],
         "--kubeconfig: kc.yaml: context 'other' not found (contexts: swan)", KC),
    Case("event report --from: missing", REPORT + ["--from", "nope.json"], "--from: nope.json: no such file"),
    Case("event report --from: not JSON", REPORT + ["--from", "s.json"], "--from: s.json: not a JSON samples file", {"s.json": "hello"}),
    Case("event report --grace: typo", REPORT + ["--from", "s.json", "--grace", "1 hour"], "--grace: '1 hour' is not a duration (examples: 30m, 4h, 2d)", {"s.json": "{}"}),
    Case("event report --out: a file", REPORT + ["--from", "s.json", "--out", "Pulumi.yaml"], "--out: Pulumi.yaml: is a file, not a folder", {"s.json": "{}"}),
    Case("event report --out: report.md a folder", REPORT + ["--from", "s.json", "--out", "r"], "--out: r/report.md: is a folder",
         {"s.json": "{}", "r/report.md/": ""}),
    Case("event report --context without --kubeconfig", REPORT + ["--from", "s.json", "--context", "x"], "--context: only with --kubeconfig",
         {"s.json": "{}"}),
    Case("event report: environment stack", ["event", "report", "kind", "--from", "s.json"],
         "config/Pulumi.kind.yaml: swan:kind: 'kind' is an environment stack, not an event", {"s.json": "{}"}),

    # -- swan render / check ---------------------------------------------------------------------
    Case("render --out: the project", ["render", "kind", "--out", "."], ".: --out: holds files that are not an earlier `swan render`"),
    Case("render --out: config", ["render", "kind", "--out", "config"], "config: --out: holds files that are not an earlier `swan render`"),
    Case("render --out: a file", ["render", "kind", "--out", "Pulumi.yaml"], "Pulumi.yaml: --out: is a file, not a folder"),
    Case("render: unknown stack", ["render", "nope"], "config/Pulumi.nope.yaml: no such stack config"),
    Case("check: unknown stack", ["check", "nope"], "config/Pulumi.nope.yaml: no such stack config"),
    Case("check --against: two stacks", ["check", "kind", "openstack-prod", "--against", "config"],
         "--against: config: compares one stack with its earlier render; name exactly one stack (got 2)"),
    Case("check --against: not a render", ["check", "kind", "--against", "config"],
         "config: has no resources.json: not a `swan render` output folder"),
    # -- swan diff: both folders must be renders; --markdown a writable file -------------------------
    Case("diff: missing folder", ["diff", "nowhere", "config"],
         "nowhere: not a folder (expected a `swan render` output folder)"),
    Case("diff: not renders, both listed", ["diff", "config", "nowhere"], "config: has no resources.json"),
    Case("diff: resources.json not a list", ["diff", "r", "r"], "r/resources.json: is not a render's resource list",
         {"r/resources.json": "{\"a\": 1}\n"}),
    Case("diff: --markdown into a folder", ["diff", "r", "r", "--markdown", "config"],
         "--markdown: config: is a folder", {"r/resources.json": "[]\n"}),
    Case("diff: --markdown in a missing folder", ["diff", "r", "r", "--markdown", "no/where.md"],
         "--markdown: no/where.md: folder no does not exist", {"r/resources.json": "[]\n"}),
    Case("charts pull --charts: a file", ["charts", "pull", "kind", "--charts", "Pulumi.yaml"],
         "--charts: Pulumi.yaml: is a file, not a folder"),
    Case("charts pull --charts: unwritable, charts missing", ["charts", "pull", "kind", "--charts", "/proc/swan-charts"],
         "--charts: /proc/swan-charts: cannot write in folder /proc"),
]

DOUBLED = re.compile(r"(?:^|\s)(\S+:) \1")  # "--json: --json: ..." or "file: file: ..."


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_argument_is_refused(project, case, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    stderr = assert_refused(project.root, case)
    assert not DOUBLED.search(stderr), f"{case.id}: doubled prefix in\n{stderr}"
    if "no such stack config" in stderr:  # the stacks listed are the ones that exist, not the missing one
        listed = stderr.split("(stacks here: ", 1)[1].split(")", 1)[0].split(", ")
        assert "nope" not in listed and "kind" in listed


def test_the_table_covers_every_command():
    commands = {" ".join(c.argv[:2]) if c.argv[0] in ("nodes", "gpu", "event", "charts") else c.argv[0] for c in CASES}
    assert commands >= {"nodes apply", "verify", "gpu pack", "event plan", "event timeline", "event status",
                        "event reconcile", "event report", "render", "check", "charts pull", "diff"}
    assert len(CASES) >= 30


# -- a report or chart that cannot be written at the end -------------------------------------------
runner = CliRunner()


def test_verify_results_survive_a_report_that_cannot_be_written(project, monkeypatch):
    """The checks ran; the disk filled up before --json was written: the results go to stdout,
    stderr names the file, the earlier report is untouched, and the checks' exit code stays."""
    import stacks.verify.session as verify_session

    (project.root / "kc.yaml").write_text(KUBECONFIG)
    (project.root / "out.json").write_text('{"earlier": "report"}\n')
    real = verify_session.write_atomic

    def disk_full(path, content):
        if str(path).endswith(".json"):
            raise OSError(28, "No space left on device")
        real(path, content)

    monkeypatch.setattr(verify_session, "write_atomic", disk_full)
    result = runner.invoke(app, ["verify", "--only", "cluster", "--kubeconfig", "kc.yaml", "--check-timeout", "5",
                                 "--json", "out.json", "--markdown", "out.md"])
    assert result.exit_code == 1, result.output  # cluster.nodes failed (nothing listens): the checks' code
    assert "--json: could not write out.json (No space left on device); its content is on stdout" in result.stderr
    printed = result.stdout.split("----- --json out.json (not written) -----\n", 1)[1].split("----- end of --json -----")[0]
    report = json.loads(printed)
    assert [c["name"] for c in report["checks"]][0] == "cluster.nodes" and report["failed"] >= 1
    assert (project.root / "out.json").read_text() == '{"earlier": "report"}\n'
    assert "cluster.nodes" in (project.root / "out.md").read_text()  # the other report was written
    assert "Traceback" not in result.output


def test_verify_with_every_check_passing_exits_2_when_a_report_is_lost(project, monkeypatch):
    import stacks.verify.session as verify_session
    from stacks.verify.cluster import ClusterVerification
    from stacks.verify.model import Check

    (project.root / "kc.yaml").write_text(KUBECONFIG)
    monkeypatch.setattr(ClusterVerification, "checks", lambda self: [Check("cluster.nodes", "cluster", lambda d: "3 nodes Ready")])

    def denied(path, content):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(verify_session, "write_atomic", denied)
    result = runner.invoke(app, ["verify", "--only", "cluster", "--kubeconfig", "kc.yaml", "--prometheus", "m.prom"])
    assert "1 passed, 0 failed" in result.stdout
    assert "swan_verify_success 1" in result.stdout  # the metrics themselves, on stdout
    assert "--prometheus: could not write m.prom (Permission denied)" in result.stderr
    assert result.exit_code == 2
    assert not (project.root / "m.prom").exists()


PNG = b"\x89PNG\r\n\x1a\n" + b"an earlier, good chart"


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), RuntimeError("matplotlib crashed")],
                         ids=["disk full", "drawing crashed"])
@pytest.mark.parametrize("command, drawer", [(["event", "timeline", "--out", "charts/t.png"], "timeline_chart"),
                                             (PLAN + ["--chart", "charts/t.png"], "plan_chart")],
                         ids=["timeline", "plan"])
def test_a_failed_chart_leaves_the_earlier_one_intact(project, monkeypatch, command, drawer, failure):
    import stacks.events.timeline as timeline

    charts = project.root / "charts"
    charts.mkdir()
    (charts / "t.png").write_bytes(PNG)

    def half_then_fail(*args):
        Path(args[-1]).write_bytes(PNG[:5])  # half a file, in the place the command gave
        raise failure

    monkeypatch.setattr(timeline, drawer, half_then_fail)
    result = runner.invoke(app, command)
    assert result.exit_code != 0
    assert (charts / "t.png").read_bytes() == PNG
    assert sorted(p.name for p in charts.iterdir()) == ["t.png"]  # no temporary file left behind
    if isinstance(failure, OSError):
        assert result.exit_code == 2
        assert "--" in result.stderr and "charts/t.png: could not write the chart (No space left on device); nothing was changed" \
            in result.stderr
        assert "Traceback" not in result.output


def test_a_chart_replaces_the_earlier_one_whole(project):
    charts = project.root / "charts"
    charts.mkdir()
    (charts / "t.png").write_bytes(PNG)
    result = runner.invoke(app, ["event", "timeline", "--out", "charts/t.png"])
    assert result.exit_code == 0, result.output
    png = (charts / "t.png").read_bytes()
    assert png.startswith(b"\x89PNG") and png != PNG and len(png) > 10_000
    assert oct((charts / "t.png").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert sorted(p.name for p in charts.iterdir()) == ["t.png"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- names on an 80-column terminal and in a CI log (not a TTY) ------------------------------------
@pytest.fixture
def columns_80(monkeypatch):
    """The CLI's consoles at 80 columns, as COLUMNS=80 sets them (not a terminal: CliRunner)."""
    for console in (common.console, common.err_console):
        monkeypatch.setattr(console, "_width", None)
    return {"COLUMNS": "80"}


def shown(name: str, output: str) -> bool:
    """`name` appears whole, or shortened with '…' keeping a start and an end of it."""
    if name in output:
        return True
    for token in re.findall(r"\S*…\S*", output):
        head, _, tail = token.partition("…")
        head, tail = head.rsplit("─ ", 1)[-1].lstrip("│ "), tail.rstrip("│ ")
        if name.startswith(head) and name.endswith(tail) and len(head) + len(tail) < len(name):
            return True
    return False


def assert_fits(output: str, width: int = 80) -> None:
    wide = [line for line in output.splitlines() if cell_len(line) > width and not line.startswith("Wrote ")]
    assert not wide, "\n".join(wide)


def test_render_tree_keeps_names_whole_or_marked_at_80_columns(project, columns_80):
    out = project.root / "build" / "render" / "kind"
    result = runner.invoke(app, ["render", "kind", "--out", str(out)], env=columns_80)
    assert result.exit_code == 0, result.output
    resources = json.loads((out / "resources.json").read_text())
    release = "kubernetes:helm.sh/v3:Release"  # shown as "helm release NAME: chart CHART VERSION in NAMESPACE"
    names = {r["type"] for r in resources if r["type"] != release} | {r["name"] for r in resources if not r["custom"]}
    names |= {str(r["inputs"][key]) for r in resources if r["type"] == release
              for key in ("name", "chart", "version", "namespace")}
    missing = sorted(n for n in names if not shown(n, result.stdout))
    assert not missing, f"cut or missing in the tree: {missing}\n{result.stdout}"
    assert_fits(result.stdout)
    assert "…" in result.stdout  # the ValidatingAdmissionPolicyBinding type does not fit: shortened, marked
    assert "ValidatingAdmissionPolicyBinding" in result.stdout  # ...keeping its kind


@pytest.mark.parametrize("stack", sorted(p.name[len("Pulumi."):-len(".yaml")] for p in CONFIG.glob("Pulumi.event-*.yaml")))
def test_event_tables_keep_names_whole_or_marked_at_80_columns(project, columns_80, stack):
    result = runner.invoke(app, ["event", "plan", stack], env=columns_80)
    assert result.exit_code == 0, result.output
    plan = json.loads(runner.invoke(app, ["event", "plan", stack, "--json"]).stdout)
    names = {stack, plan["group"], plan["gpu_model"]}
    names |= {plan["session_profile"] if plan["sharing"] == "mig" else plan["gpu_memory"] or "whole GPUs"}
    for node in plan["nodes"]:
        names |= {node["environment"], node["pool"], node["flavor"] or "-", node["mig_config"]}
    missing = sorted(n for n in names if not shown(n, result.stdout))
    assert not missing, f"cut or missing: {missing}\n{result.stdout}"
    assert_fits(result.stdout)


def test_check_and_timeline_keep_names_whole_at_80_columns(project, columns_80):
    result = runner.invoke(app, ["check"], env=columns_80)
    assert result.exit_code == 0, result.output
    for path in CONFIG.glob("Pulumi.*.yaml"):
        assert path.name[len("Pulumi."):-len(".yaml")] in result.stdout
    assert_fits(result.stdout)
    timeline = runner.invoke(app, ["event", "timeline", "--out", "t.png"], env=columns_80)
    assert timeline.exit_code == 0, timeline.output
    assert "wrote t.png: " in timeline.stdout


def test_fit_shortens_in_the_middle_and_marks_it():
    assert common.fit("kind", 10) == "kind"
    short = common.fit("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding", 40)
    assert len(short) == 40 and "…" in short and short.endswith("ValidatingAdmissionPolicyBinding"[-26:])
    assert common.fit_words("chart oci://registry.example.org/a/very/long/path 1.0", 20).split(" ")[0] == "chart"
