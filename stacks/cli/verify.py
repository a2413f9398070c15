"""`swan verify`: prove end to end that users get a working session, and that the cluster
and nodes are as declared. The command only parses its options: stacks/verify/request.py checks
them, stacks/verify/session.py runs the checks. Heavy modules are imported inside the command."""
from __future__ import annotations

from typing import Optional

import typer

from stacks.cli.common import console, err_console, input_errors_exit_2


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
    from stacks.verify.request import VerifyArgs, VerifyRequest
    from stacks.verify.session import VerifySession

    args = VerifyArgs(**{name: tuple(value) if isinstance(value, list) else value
                         for name, value in locals().items() if name in VerifyArgs.__dataclass_fields__})
    request = VerifyRequest.from_args(args)
    raise typer.Exit(VerifySession(request, console, err_console, typer.echo).run())
