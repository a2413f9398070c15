"""One `swan verify` run: plan the checks of each group, run them with a live table, remove the
test users whatever happens (failure, Ctrl-C, SIGTERM from a CronJob's deadline), write the
reports and push the metrics. Returns the exit code; the arguments were checked before
(stacks/verify/request.py)."""
from __future__ import annotations

import signal
from typing import Callable

from rich.console import Console

from stacks.output_files import write_atomic
from stacks.verify import report
from stacks.verify.model import Check, CheckResult, CheckSkipped, Summary
from stacks.verify.request import VerifyRequest
from stacks.verify.runner import Interrupted, run_checks

INTERRUPTED = 130


def group_check_names() -> dict[str, tuple[str, ...]]:
    """Each group's checks, as the group's module declares them (listed also when skipped)."""
    from stacks.verify import cluster, hub, nodes

    return {"hub": hub.CHECK_NAMES, "cluster": cluster.CHECK_NAMES, "nodes": nodes.CHECK_NAMES}


def skipped(group: str, reason: str) -> list[Check]:
    """The checks of a group that cannot run here, each reported as skipped with the reason."""
    def skip(_deadline):
        raise CheckSkipped(reason)

    return [Check(name, group, skip) for name in group_check_names()[group]]


class VerifySession:
    def __init__(self, request: VerifyRequest, console: Console, err_console: Console, echo: Callable[..., None]):
        self.request, self.console, self.err_console, self.echo = request, console, err_console, echo
        self.hub = None

    def plan(self) -> list[Check]:
        r = self.request
        checks: list[Check] = []
        for group in r.groups:
            if group in r.skipped:
                checks += skipped(group, r.skipped[group])
            elif group == "hub":
                from stacks.verify.hub import HubVerification

                self.hub = HubVerification(r.hub)
                checks += self.hub.plan()
            elif group == "cluster":
                from stacks.verify.cluster import ClusterVerification

                api, expectations = r.cluster
                checks += ClusterVerification(api(), expectations, timeout=r.check_timeout).checks()
            elif group == "nodes":
                from stacks.verify.nodes import node_checks

                inventory, limit = r.nodes
                checks += node_checks(inventory, limit=limit)
        return checks

    def run(self) -> int:
        # SIGTERM (a CronJob hitting its deadline) gets the same treatment as Ctrl-C: clean up first.
        previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)
        results: list[CheckResult] = []
        try:
            checks = self.plan()
            with report.LiveTable(self.console, checks) as table:
                try:
                    results = run_checks(checks, on_start=table.started, on_result=table.finished)
                except Interrupted as exc:
                    results = exc.results
        finally:
            signal.signal(signal.SIGTERM, previous_sigterm)
            if self.hub is not None and not self.hub.cleaned:
                left = self.hub.cleanup()
                if left:
                    self.console.print(f"[bold red]could not remove test users: {', '.join(left)}[/]")
        interrupted = any(r.detail == "interrupted (Ctrl-C)" for r in results)
        return self.finish(results, INTERRUPTED if interrupted else Summary.of(results).exit_code)

    def finish(self, results: list[CheckResult], code: int) -> int:
        """Reports, summary line and metrics; a report that cannot be written is printed instead."""
        r = self.request
        metrics = report.to_prometheus(results, r.labels)
        contents = {
            "--json": lambda: report.to_json_text(results),
            "--junit": lambda: report.to_junit(results),
            "--markdown": lambda: report.to_markdown(results, title=r.title),
            "--prometheus": lambda: metrics,
        }
        unwritten = self._write_reports({opt: (path, contents[opt]) for opt, path in r.reports.items()})
        summary = Summary.of(results)
        self.console.print(f"{summary.passed} passed, {summary.failed} failed, {summary.skipped} skipped")
        for option, path, reason in unwritten:
            self.err_console.print(f"{option}: could not write {path} ({reason}); its content is on stdout above",
                                   markup=False, highlight=False)
        if unwritten and code == 0:
            code = 2
        if r.pushgateway:
            import requests

            try:
                report.push_to_gateway(r.pushgateway, metrics, grouping=r.labels)
            except requests.RequestException as exc:
                self.console.print(f"[bold red]could not push metrics to {r.pushgateway}: {exc}[/]")
                code = code or 1
        return code

    def _write_reports(self, reports: dict) -> list[tuple[str, str, str]]:
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
                self.echo(f"----- {option} {path} (not written) -----")
                self.echo(text, nl=not text.endswith("\n"))
                self.echo(f"----- end of {option} -----")
        return failed
