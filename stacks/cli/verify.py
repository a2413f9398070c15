"""`swan verify`: prove end to end that users get a working session, and that the cluster
and nodes are as declared. Heavy modules are imported inside the command."""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Optional

import typer

from stacks.cli.common import console, err_console, input_errors_exit_2
from stacks.cli.outputs import check_output_files, write_atomic
from stacks.errors import InputError, Problem

GROUP_CHECKS = {
    "hub": ["hub.health", "hub.spawn", "hub.execute", "hub.software", "hub.storage", "hub.gpu", "hub.cleanup"],
    "cluster": ["cluster.nodes", "cluster.gpu", "cluster.workloads", "cluster.event-pools", "cluster.tls"],
    "nodes": ["nodes.suites"],
}


def _readable(option: str, path: Optional[str], problems: list[Problem]) -> Optional[str]:
    if path is None:
        return None
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        problems.append(Problem(option, "", f"cannot read file {path}"))
        return None
    return path


# The report files, each with the endings it accepts (checked before any check runs).
REPORTS = {"--json": (".json",), "--junit": (".xml",), "--markdown": (".md",), "--prometheus": (".prom", ".txt")}


def _hub_url_problem(option: str, url: str) -> Optional[Problem]:
    """Why `url` cannot be a hub's public URL (None: it can): http(s), a host, no spaces."""
    from urllib.parse import urlsplit

    if not url.strip():
        return Problem(option, "", "empty; give the hub's URL, e.g. https://swan.example.org")
    if any(c.isspace() for c in url):
        return Problem(option, "", f"{url!r}: a URL cannot contain spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        return Problem(option, "", f"{url!r}: not a URL ({exc})")
    if parts.scheme.lower() not in ("http", "https"):
        return Problem(option, "", f"{url!r}: must start with http:// or https://")
    if not parts.hostname:
        return Problem(option, "", f"{url!r}: has no host (expected e.g. https://swan.example.org)")
    return None


def _skipped(group: str, reason: str):
    """Checks of a group that cannot run here: each reported as skipped with the reason."""
    from stacks.verify.model import Check, CheckSkipped

    def skip(_deadline):
        raise CheckSkipped(reason)

    return [Check(name, group, skip) for name in GROUP_CHECKS[group]]


@input_errors_exit_2
def verify(
    stack: Optional[str] = typer.Argument(None, help="Read hub URL, kubeconfig, inventory and expectations "
                                          "from this stack's `verify` output (needs the pulumi CLI)."),
    only: str = typer.Option("hub,cluster,nodes", "--only", help="Comma-separated groups: hub, cluster, nodes."),
    hub_url: Optional[str] = typer.Option(None, "--hub-url", help="Public URL of the hub."),
    token_env: Optional[str] = typer.Option(None, "--token-env", help="Environment variable holding the hub API token."),
    kubeconfig: Optional[str] = typer.Option(None, "--kubeconfig", help="Kubeconfig for the cluster checks "
                                             "(inside a pod the service account is used when omitted)."),
    context: Optional[str] = typer.Option(None, "--context", help="Kubeconfig context (default: current)."),
    inventory: Optional[str] = typer.Option(None, "--inventory", help="Ansible inventory for the node suites."),
    limit: Optional[str] = typer.Option(None, "--limit", help="Ansible host pattern for the node suites."),
    expect: Optional[str] = typer.Option(None, "--expect", help="Cluster expectations file (YAML/JSON)."),
    cert_days: Optional[int] = typer.Option(None, "--cert-days", min=0, help="Fail TLS certificates expiring within N days (default 14)."),
    profile: list[str] = typer.Option([], "--profile", help="Session option to test (repeat); default: the hub's options form."),
    gpu_profile: list[str] = typer.Option([], "--gpu-profile", help="Session option that promises a GPU (repeat)."),
    session_options: Optional[str] = typer.Option(
        None, "--session-options", help="YAML/JSON mapping of session option name to the user options the hub API "
                                        "spawns it with (SWAN's form fields); names not in it are sent as a profile."),
    events_namespace: Optional[str] = typer.Option(
        None, "--events-namespace", help="Also spawn each course event open now (read from this namespace's event "
                                         "ConfigMaps) as a member of its group; needs cluster access."),
    event: list[str] = typer.Option([], "--event", help="Only this course event, which must be open now (repeat)."),
    event_options: Optional[str] = typer.Option(
        None, "--event-options", help="YAML/JSON user options an event session is spawned with (its gpu "
                                      "becomes the event's flavour)."),
    max_sessions: int = typer.Option(3, "--max-sessions", min=1, help="Test at most this many session options."),
    software_path: list[str] = typer.Option([], "--software-path", help="Path that must exist in a session, e.g. a CVMFS view (repeat)."),
    software_import: list[str] = typer.Option([], "--software-import", help="Python module that must import in a session (repeat)."),
    code: Optional[str] = typer.Option(None, "--code", help="Code hub.execute runs (default prints 6*7 and expects 42)."),
    expect_output: Optional[str] = typer.Option(None, "--expect-output", help="Text the code must print."),
    user_prefix: str = typer.Option("swan-verify", "--user-prefix", help="Test users are named PREFIX-<run>-<n>."),
    spawn_timeout: float = typer.Option(300.0, "--spawn-timeout", min=1, help="Seconds for hub.spawn, retries included."),
    spawn_retries: int = typer.Option(2, "--spawn-retries", min=0, help="Retries when a session times out (node scale-up)."),
    check_timeout: float = typer.Option(60.0, "--check-timeout", min=1, help="Seconds for every other check."),
    json_out: Optional[str] = typer.Option(None, "--json", help="Write results as JSON."),
    junit: Optional[str] = typer.Option(None, "--junit", help="Write results as JUnit XML."),
    markdown: Optional[str] = typer.Option(None, "--markdown", help="Write a Markdown summary."),
    prometheus: Optional[str] = typer.Option(None, "--prometheus", help="Write Prometheus text (textfile collector)."),
    pushgateway: Optional[str] = typer.Option(None, "--pushgateway", help="Push metrics to this Prometheus Pushgateway URL."),
    metrics_label: list[str] = typer.Option([], "--metrics-label", help="KEY=VALUE added to every metric and the push group (repeat)."),
) -> None:
    """Verify a SWAN deployment end to end; exit 0 all passed, 1 a check failed, 2 bad arguments, 130 interrupted.

    Every argument is checked before any check runs: a target is needed (STACK, --hub-url,
    --kubeconfig or --inventory), the hub URL must be http(s) with a host, the kubeconfig and
    inventory must be what they claim, and each report file must be writable with its extension
    (.json, .xml, .md, .prom or .txt). A report that still cannot be written at the end (disk
    full, permissions changed) loses nothing: its content goes to stdout and the file is named on
    stderr; the exit code stays the checks' (1 or 130) and is 2 when every check passed."""
    from stacks.verify import report
    from stacks.verify.model import GROUPS, Summary
    from stacks.verify.runner import Interrupted, run_checks

    problems: list[Problem] = []
    groups = [g.strip() for g in only.split(",") if g.strip()]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown or not groups:
        problems.append(Problem("--only", "", f"unknown group(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(GROUPS)}"))
    explicit = only != "hub,cluster,nodes"

    settings: dict = {}
    if stack:
        from stacks.verify.stack import read_stack_outputs, verify_settings

        settings = verify_settings(read_stack_outputs(stack), stack)
    hub_url_option, inventory_option, kubeconfig_option = hub_url is not None, inventory is not None, kubeconfig is not None
    hub_url = hub_url if hub_url is not None else settings.get("hub_url")
    inventory = inventory or settings.get("inventory")
    kubeconfig = kubeconfig or _kubeconfig_file(settings.get("kubeconfig"))

    token = None
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            problems.append(Problem("--token-env", "", f"environment variable {token_env} is not set or empty"))
    elif hub_url and "hub" in groups:
        problems.append(Problem("--token-env", "", "needed with --hub-url: name the environment variable holding the hub API token"))
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists()
    if not explicit and not (stack or hub_url_option or kubeconfig or inventory or in_cluster):
        problems.append(Problem("swan verify", "", "nothing to verify: give a STACK or --hub-url/--kubeconfig/--inventory"))
    if hub_url is not None:
        problem = _hub_url_problem("--hub-url" if hub_url_option else f"STACK: {stack}: verify.hub_url", hub_url)
        if problem:
            problems.append(problem)
    kubeconfig_ok = _readable("--kubeconfig", kubeconfig, problems)
    if kubeconfig_ok:
        from stacks.verify.cluster import read_kubeconfig

        try:
            read_kubeconfig(kubeconfig, context, shown=f"--kubeconfig: {kubeconfig}" if kubeconfig_option
                            else f"STACK: {stack}: kubeconfig")
        except InputError as exc:
            problems += exc.problems
    inventory_ok = inventory is not None and os.path.isdir(inventory) or _readable("--inventory", inventory, problems)
    if inventory_ok and inventory_option and "nodes" in groups:
        from stacks.nodes.inventory import inventory_hosts

        try:  # Ansible reads it; a --limit matching no host stays a failed check (the nightly alert)
            inventory_hosts(inventory, option="--inventory")
        except InputError as exc:
            problems += exc.problems
    _readable("--expect", expect, problems)
    _readable("--session-options", session_options, problems)
    _readable("--event-options", event_options, problems)
    reports = {"--json": json_out, "--junit": junit, "--markdown": markdown, "--prometheus": prometheus}
    check_output_files([(opt, path, REPORTS[opt]) for opt, path in reports.items()], problems)
    labels = {}
    for pair in metrics_label:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            problems.append(Problem("--metrics-label", "", f"{pair!r} is not KEY=VALUE"))
        labels[key] = value
    if explicit:
        if "hub" in groups and not hub_url:
            problems.append(Problem("--hub-url", "", "needed for the hub checks (or give a STACK)"))
        if "cluster" in groups and not kubeconfig and not in_cluster:
            problems.append(Problem("--kubeconfig", "", "needed for the cluster checks (or run inside a pod)"))
        if "nodes" in groups and not inventory:
            problems.append(Problem("--inventory", "", "needed for the node checks (or give a STACK)"))
    events_namespace = events_namespace or settings.get("events_namespace")
    if "hub" in groups and hub_url:
        if event and not events_namespace:
            problems.append(Problem("--event", "", "needs --events-namespace (where the event stacks publish events)"))
        if events_namespace and not kubeconfig and not in_cluster:
            problems.append(Problem("--events-namespace", "", "reading the events needs --kubeconfig (or run inside a pod)"))
        if events_namespace and not event_options and not settings.get("event_options"):
            problems.append(Problem("--event-options", "", "needed with --events-namespace: the user options of an "
                                                           "event session"))
    if problems:
        raise InputError(problems)
    options_by_name = dict(settings.get("session_options") or {})
    if session_options:
        options_by_name.update(_session_options_file(session_options))

    expectations = None
    if "cluster" in groups and (kubeconfig or in_cluster):
        import yaml

        from stacks.verify.cluster import ClusterExpectations, load_expectations

        if expect:
            try:
                doc = yaml.safe_load(Path(expect).read_text()) or {}
            except yaml.YAMLError as exc:
                raise InputError(Problem("--expect", "", f"{expect}: not YAML/JSON: {exc}")) from None
            expectations = load_expectations(doc, expect)
        elif settings.get("expectations"):
            expectations = load_expectations(settings["expectations"], f"{stack}:verify.expectations")
        else:
            expectations = ClusterExpectations()
        if cert_days is not None:
            expectations.cert_days = cert_days

    hub = None
    checks = []
    # SIGTERM (a CronJob hitting its deadline) gets the same treatment as Ctrl-C: clean up first.
    previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)
    results = None
    try:
        if "hub" in groups:
            if hub_url:
                from stacks.verify.hub import DEFAULT_CODE, DEFAULT_EXPECT, HubOptions, HubVerification

                hub = HubVerification(HubOptions(
                    url=hub_url, token=token or "", user_prefix=user_prefix,
                    profiles=list(profile) or list(settings.get("profiles") or []),
                    gpu_profiles=list(gpu_profile) or list(settings.get("gpu_profiles") or []),
                    session_options=options_by_name,
                    max_sessions=max_sessions,
                    software_paths=list(software_path) or list(settings.get("software_paths") or []),
                    software_imports=list(software_import) or list(settings.get("software_imports") or []),
                    code=code or DEFAULT_CODE,
                    expect_output=expect_output if (expect_output is not None or code) else DEFAULT_EXPECT,
                    spawn_timeout=spawn_timeout, spawn_retries=spawn_retries, check_timeout=check_timeout,
                    events=_event_reader(events_namespace, tuple(event), kubeconfig, context),
                    event_options=(_options_file("--event-options", event_options) if event_options
                                   else dict(settings.get("event_options") or {}))))
                checks += hub.plan()
            else:
                checks += _skipped("hub", "no --hub-url given")
        if "cluster" in groups:
            if expectations is not None:
                from stacks.verify.cluster import ClusterVerification, KubeApi

                api = KubeApi.from_kubeconfig(kubeconfig, context) if kubeconfig else KubeApi.in_cluster()
                checks += ClusterVerification(api, expectations, timeout=check_timeout).checks()
            else:
                checks += _skipped("cluster", "no --kubeconfig given")
        if "nodes" in groups:
            if inventory:
                from stacks.verify.nodes import node_checks

                checks += node_checks(inventory, limit=limit)
            else:
                checks += _skipped("nodes", "no --inventory given")

        with report.LiveTable(console, checks) as table:
            try:
                results = run_checks(checks, on_start=table.started, on_result=table.finished)
            except Interrupted as exc:
                results = exc.results
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        if hub is not None and not hub.cleaned:
            left = hub.cleanup()
            if left:
                console.print(f"[bold red]could not remove test users: {', '.join(left)}[/]")
    interrupted = any(r.detail == "interrupted (Ctrl-C)" for r in results)

    metrics = report.to_prometheus(results, labels)
    contents = {
        "--json": lambda: report.to_json_text(results),
        "--junit": lambda: report.to_junit(results),
        "--markdown": lambda: report.to_markdown(results, title=f"swan verify {stack or hub_url or ''}".strip()),
        "--prometheus": lambda: metrics,
    }
    unwritten = _write_reports({opt: (path, contents[opt]) for opt, path in reports.items() if path})
    summary = Summary.of(results)
    console.print(f"{summary.passed} passed, {summary.failed} failed, {summary.skipped} skipped")
    code_ = 130 if interrupted else summary.exit_code
    for option, path, reason in unwritten:
        err_console.print(f"{option}: could not write {path} ({reason}); its content is on stdout above",
                          markup=False, highlight=False)
    if unwritten and code_ == 0:
        code_ = 2
    if pushgateway:
        import requests

        try:
            report.push_to_gateway(pushgateway, metrics, grouping=labels)
        except requests.RequestException as exc:
            console.print(f"[bold red]could not push metrics to {pushgateway}: {exc}[/]")
            code_ = code_ or 1
    raise typer.Exit(code_)


def _write_reports(reports: dict) -> list[tuple[str, str, str]]:
    """Write each report atomically; one that cannot be written is printed on stdout instead
    (between marker lines), so the run's results are never lost. Returns (option, path, reason)
    of those."""
    failed = []
    for option, (path, content) in reports.items():
        text = content()
        try:
            write_atomic(path, text)
        except OSError as exc:
            failed.append((option, path, exc.strerror or str(exc)))
            typer.echo(f"----- {option} {path} (not written) -----")
            typer.echo(text, nl=not text.endswith("\n"))
            typer.echo(f"----- end of {option} -----")
    return failed


def _event_reader(namespace: Optional[str], only: tuple[str, ...], kubeconfig: Optional[str],
                  context: Optional[str]):
    """What the hub checks call to find the course events open now (None: events not asked for)."""
    if not namespace:
        return None

    def read():
        from stacks.verify.cluster import KubeApi
        from stacks.verify.events import read_open_events

        api = KubeApi.from_kubeconfig(kubeconfig, context) if kubeconfig else KubeApi.in_cluster()
        return read_open_events(api, namespace, only)
    return read


def _options_file(option: str, path: str) -> dict:
    """A mapping of user options from a YAML/JSON file, or exit 2 naming the file."""
    import yaml

    try:
        document = yaml.safe_load(Path(path).read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(Problem(option, "", f"{path}: not YAML/JSON: {exc}")) from None
    if not isinstance(document, dict) or not document:
        raise InputError(Problem(option, "", f"{path}: must be a mapping of user options"))
    return document


def _session_options_file(path: str) -> dict[str, dict]:
    """name -> user options (a mapping of mappings), or exit 2 naming the file."""
    import yaml

    try:
        document = yaml.safe_load(Path(path).read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(Problem("--session-options", "", f"{path}: not YAML/JSON: {exc}")) from None
    if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
        raise InputError(Problem("--session-options", "", f"{path}: must map each session name to its user options"))
    return {str(k): v for k, v in document.items()}


def _kubeconfig_file(value: Optional[str]) -> Optional[str]:
    """A stack output holds either a kubeconfig path or the kubeconfig itself (written to a private file)."""
    if not value:
        return None
    if "\n" not in value and os.path.exists(value):
        return value
    import atexit
    import tempfile

    fd, path = tempfile.mkstemp(prefix="swan-verify-kubeconfig-")  # mode 0600: it holds credentials
    with os.fdopen(fd, "w") as f:
        f.write(value)
    atexit.register(os.remove, path)
    return path
