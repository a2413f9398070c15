"""What one `swan verify` run is asked to do, checked before any check runs.

`VerifyArgs` is the command line as given; `VerifyRequest.from_args` resolves it against a
stack's `verify` output and validates all of it at once (InputError with every problem, each
naming its option), so that the run itself (stacks/verify/session.py) only runs checks.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit

from stacks.errors import InputError, Problem
from stacks.verify.model import GROUPS

# The report files, each with the endings it accepts.
REPORTS = {"--json": (".json",), "--junit": (".xml",), "--markdown": (".md",), "--prometheus": (".prom", ".txt")}
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class VerifyArgs:
    """The options of `swan verify`, as typed on the command line (see its --help)."""

    stack: Optional[str] = None
    only: str = "hub,cluster,nodes"
    hub_url: Optional[str] = None
    token_env: Optional[str] = None
    kubeconfig: Optional[str] = None
    context: Optional[str] = None
    inventory: Optional[str] = None
    limit: Optional[str] = None
    expect: Optional[str] = None
    cert_days: Optional[int] = None
    profile: tuple[str, ...] = ()
    gpu_profile: tuple[str, ...] = ()
    session_options: Optional[str] = None
    events_namespace: Optional[str] = None
    event: tuple[str, ...] = ()
    event_options: Optional[str] = None
    max_sessions: int = 3
    software_path: tuple[str, ...] = ()
    software_import: tuple[str, ...] = ()
    code: Optional[str] = None
    expect_output: Optional[str] = None
    user_prefix: str = "swan-verify"
    spawn_timeout: float = 300.0
    spawn_retries: int = 2
    check_timeout: float = 60.0
    json_out: Optional[str] = None
    junit: Optional[str] = None
    markdown: Optional[str] = None
    prometheus: Optional[str] = None
    pushgateway: Optional[str] = None
    metrics_label: tuple[str, ...] = ()


@dataclass
class VerifyRequest:
    """A validated run: per group either what it needs or why it is skipped."""

    groups: list[str]
    title: str
    hub: object = None                       # stacks.verify.hub.HubOptions
    cluster: Optional[tuple[Callable, object]] = None  # (API client factory, ClusterExpectations)
    nodes: Optional[tuple[str, Optional[str]]] = None  # (inventory, --limit)
    skipped: dict[str, str] = field(default_factory=dict)  # group -> reason
    check_timeout: float = 60.0
    reports: dict[str, str] = field(default_factory=dict)  # option -> path
    pushgateway: Optional[str] = None
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: VerifyArgs, environ: Optional[dict] = None) -> "VerifyRequest":
        return _Resolver(args, os.environ if environ is None else environ).request()


def _readable(option: str, path: Optional[str], problems: list[Problem]) -> Optional[str]:
    if path is None:
        return None
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        problems.append(Problem(option, "", f"cannot read file {path}"))
        return None
    return path


def hub_url_problem(option: str, url: str) -> Optional[Problem]:
    """Why `url` cannot be a hub's public URL (None: it can): http(s), a host, no spaces."""
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


class _Resolver:
    """Resolves and validates the arguments in one pass, collecting every problem."""

    def __init__(self, args: VerifyArgs, environ):
        self.a, self.environ = args, environ
        self.problems: list[Problem] = []
        self.settings: dict = {}
        self.in_cluster = bool(environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_TOKEN.exists()

    def request(self) -> VerifyRequest:
        a, problems = self.a, self.problems
        groups = [g.strip() for g in a.only.split(",") if g.strip()]
        unknown = [g for g in groups if g not in GROUPS]
        if unknown or not groups:
            problems.append(Problem("--only", "", f"unknown group(s) {', '.join(unknown) or '(none)'}; "
                                                  f"choose from {', '.join(GROUPS)}"))
        explicit = a.only != "hub,cluster,nodes"
        if a.stack:
            from stacks.verify.stack import read_stack_outputs, verify_settings

            self.settings = verify_settings(read_stack_outputs(a.stack), a.stack)
        s = self.settings
        hub_url = a.hub_url if a.hub_url is not None else s.get("hub_url")
        inventory = a.inventory or s.get("inventory")
        kubeconfig = a.kubeconfig or _kubeconfig_file(s.get("kubeconfig"))

        token = None
        if a.token_env:
            token = self.environ.get(a.token_env)
            if not token:
                problems.append(Problem("--token-env", "", f"environment variable {a.token_env} is not set or empty"))
        elif hub_url and "hub" in groups:
            problems.append(Problem("--token-env", "", "needed with --hub-url: name the environment variable "
                                                       "holding the hub API token"))
        if not explicit and not (a.stack or a.hub_url is not None or kubeconfig or inventory or self.in_cluster):
            problems.append(Problem("swan verify", "", "nothing to verify: give a STACK or "
                                                       "--hub-url/--kubeconfig/--inventory"))
        if hub_url is not None:
            shown = "--hub-url" if a.hub_url is not None else f"STACK: {a.stack}: verify.hub_url"
            if problem := hub_url_problem(shown, hub_url):
                problems.append(problem)
        self._check_kubeconfig(kubeconfig)
        self._check_inventory(inventory, groups)
        for option, path in (("--expect", a.expect), ("--session-options", a.session_options),
                             ("--event-options", a.event_options)):
            _readable(option, path, problems)
        from stacks.output_files import check_output_files

        reports = {opt: path for opt, path in (("--json", a.json_out), ("--junit", a.junit),
                                                ("--markdown", a.markdown), ("--prometheus", a.prometheus)) if path}
        check_output_files([(opt, path, REPORTS[opt]) for opt, path in reports.items()], problems)
        labels = self._labels()
        if explicit:
            if "hub" in groups and not hub_url:
                problems.append(Problem("--hub-url", "", "needed for the hub checks (or give a STACK)"))
            if "cluster" in groups and not kubeconfig and not self.in_cluster:
                problems.append(Problem("--kubeconfig", "", "needed for the cluster checks (or run inside a pod)"))
            if "nodes" in groups and not inventory:
                problems.append(Problem("--inventory", "", "needed for the node checks (or give a STACK)"))
        events_namespace = a.events_namespace or s.get("events_namespace")
        if "hub" in groups and hub_url:
            self._check_events(events_namespace, kubeconfig)
        if problems:
            raise InputError(problems)

        request = VerifyRequest(groups=groups, title=f"swan verify {a.stack or hub_url or ''}".strip(),
                                check_timeout=a.check_timeout, reports=reports, pushgateway=a.pushgateway,
                                labels=labels)
        if "hub" in groups:
            if hub_url:
                request.hub = self._hub_options(hub_url, token or "", events_namespace, kubeconfig)
            else:
                request.skipped["hub"] = "no --hub-url given"
        if "cluster" in groups:
            if kubeconfig or self.in_cluster:
                request.cluster = (self._api_factory(kubeconfig), self._expectations())
            else:
                request.skipped["cluster"] = "no --kubeconfig given"
        if "nodes" in groups:
            if inventory:
                request.nodes = (inventory, a.limit)
            else:
                request.skipped["nodes"] = "no --inventory given"
        return request

    # -- the parts -------------------------------------------------------------------------
    def _check_kubeconfig(self, kubeconfig: Optional[str]) -> None:
        if not _readable("--kubeconfig", kubeconfig, self.problems):
            return
        from stacks.verify.cluster import read_kubeconfig

        shown = f"--kubeconfig: {kubeconfig}" if self.a.kubeconfig else f"STACK: {self.a.stack}: kubeconfig"
        try:
            read_kubeconfig(kubeconfig, self.a.context, shown=shown)
        except InputError as exc:
            self.problems += exc.problems

    def _check_inventory(self, inventory: Optional[str], groups: list[str]) -> None:
        ok = inventory is not None and os.path.isdir(inventory) or _readable("--inventory", inventory, self.problems)
        if ok and self.a.inventory is not None and "nodes" in groups:
            from stacks.nodes.inventory import inventory_hosts

            try:  # Ansible reads it; a --limit matching no host stays a failed check (the nightly alert)
                inventory_hosts(inventory, option="--inventory")
            except InputError as exc:
                self.problems += exc.problems

    def _labels(self) -> dict[str, str]:
        labels = {}
        for pair in self.a.metrics_label:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                self.problems.append(Problem("--metrics-label", "", f"{pair!r} is not KEY=VALUE"))
            labels[key] = value
        return labels

    def _check_events(self, events_namespace: Optional[str], kubeconfig: Optional[str]) -> None:
        if self.a.event and not events_namespace:
            self.problems.append(Problem("--event", "", "needs --events-namespace (where the event stacks "
                                                        "publish events)"))
        if events_namespace and not kubeconfig and not self.in_cluster:
            self.problems.append(Problem("--events-namespace", "", "reading the events needs --kubeconfig "
                                                                   "(or run inside a pod)"))
        if events_namespace and not self.a.event_options and not self.settings.get("event_options"):
            self.problems.append(Problem("--event-options", "", "needed with --events-namespace: the user "
                                                                "options of an event session"))

    def _api_factory(self, kubeconfig: Optional[str]) -> Callable:
        context = self.a.context

        def api():
            from stacks.verify.cluster import KubeApi

            return KubeApi.from_kubeconfig(kubeconfig, context) if kubeconfig else KubeApi.in_cluster()
        return api

    def _expectations(self):
        from stacks.verify.cluster import ClusterExpectations, load_expectations

        a = self.a
        if a.expect:
            import yaml

            try:
                doc = yaml.safe_load(Path(a.expect).read_text()) or {}
            except yaml.YAMLError as exc:
                raise InputError(Problem("--expect", "", f"{a.expect}: not YAML/JSON: {exc}")) from None
            expectations = load_expectations(doc, a.expect)
        elif self.settings.get("expectations"):
            expectations = load_expectations(self.settings["expectations"], f"{a.stack}:verify.expectations")
        else:
            expectations = ClusterExpectations()
        if a.cert_days is not None:
            expectations.cert_days = a.cert_days
        return expectations

    def _hub_options(self, hub_url: str, token: str, events_namespace: Optional[str], kubeconfig: Optional[str]):
        from stacks.verify.hub import DEFAULT_CODE, DEFAULT_EXPECT, HubOptions

        a, s = self.a, self.settings
        options_by_name = dict(s.get("session_options") or {})
        if a.session_options:
            options_by_name.update(_session_options_file(a.session_options))
        return HubOptions(
            url=hub_url, token=token, user_prefix=a.user_prefix,
            profiles=list(a.profile) or list(s.get("profiles") or []),
            gpu_profiles=list(a.gpu_profile) or list(s.get("gpu_profiles") or []),
            session_options=options_by_name,
            max_sessions=a.max_sessions,
            software_paths=list(a.software_path) or list(s.get("software_paths") or []),
            software_imports=list(a.software_import) or list(s.get("software_imports") or []),
            code=a.code or DEFAULT_CODE,
            expect_output=a.expect_output if (a.expect_output is not None or a.code) else DEFAULT_EXPECT,
            spawn_timeout=a.spawn_timeout, spawn_retries=a.spawn_retries, check_timeout=a.check_timeout,
            events=_event_reader(events_namespace, tuple(a.event), self._api_factory(kubeconfig)),
            event_options=(_options_file("--event-options", a.event_options) if a.event_options
                           else dict(s.get("event_options") or {})))


def _event_reader(namespace: Optional[str], only: tuple[str, ...], api: Callable):
    """What the hub checks call to find the course events open now (None: events not asked for)."""
    if not namespace:
        return None

    def read():
        from stacks.verify.events import read_open_events

        return read_open_events(api(), namespace, only)
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
