"""Turn results into what people and machines read: a live table while running, and JSON,
JUnit XML, Markdown and Prometheus text afterwards. Pure functions apart from LiveTable
(which draws) and push_to_gateway (which sends)."""
from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from typing import Optional

from stacks.verify.model import GROUPS, Check, CheckResult, Status, Summary

STATUS_STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.SKIP: "yellow"}


def to_json(results: list[CheckResult]) -> dict:
    s = Summary.of(results)
    return {"checks": [r.to_dict() for r in results], "passed": s.passed, "failed": s.failed, "skipped": s.skipped}


def to_junit(results: list[CheckResult], suite: str = "swan-verify") -> str:
    """JUnit XML: one testsuite per group, one testcase per check; skips and failures carry the detail."""
    root = ET.Element("testsuites", name=suite)
    for group in [g for g in GROUPS if any(r.group == g for r in results)] + sorted(
        {r.group for r in results} - set(GROUPS)
    ):
        rows = [r for r in results if r.group == group]
        s = Summary.of(rows)
        ts = ET.SubElement(root, "testsuite", name=f"{suite}.{group}", tests=str(len(rows)),
                           failures=str(s.failed), errors="0", skipped=str(s.skipped),
                           time=f"{sum(r.seconds for r in rows):.3f}")
        for r in rows:
            tc = ET.SubElement(ts, "testcase", classname=f"{suite}.{group}", name=r.name, time=f"{r.seconds:.3f}")
            if r.status is Status.FAIL:
                ET.SubElement(tc, "failure", message=r.detail[:500], type="CheckFailed").text = r.detail
            elif r.status is Status.SKIP:
                ET.SubElement(tc, "skipped", message=r.detail)
            elif r.detail:
                ET.SubElement(tc, "system-out").text = r.detail
    s = Summary.of(results)
    root.set("tests", str(len(results)))
    root.set("failures", str(s.failed))
    root.set("skipped", str(s.skipped))
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(results: list[CheckResult], title: str = "swan verify") -> str:
    """A summary for a chat message or an issue: the verdict first, failures before the rest."""
    s = Summary.of(results)
    verdict = "FAILED" if s.failed else "OK"
    lines = [f"### {title}: {verdict}", "",
             f"{s.passed} passed, {s.failed} failed, {s.skipped} skipped", "",
             "| check | status | seconds | detail |", "|---|---|---:|---|"]
    order = {Status.FAIL: 0, Status.PASS: 1, Status.SKIP: 2}
    for r in sorted(results, key=lambda r: order[r.status]):
        mark = {Status.PASS: "pass", Status.FAIL: "**FAIL**", Status.SKIP: "skip"}[r.status]
        lines.append(f"| `{r.name}` | {mark} | {r.seconds:.1f} | {_md_cell(r.detail)} |")
    return "\n".join(lines) + "\n"


def _label_value(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_label_value(v)}"' for k, v in pairs.items()) + "}" if pairs else ""


def to_prometheus(results: list[CheckResult], labels: Optional[dict[str, str]] = None,
                  now: Optional[float] = None) -> str:
    """Prometheus text exposition (node-exporter textfile collector or Pushgateway).

    Alert on `swan_verify_success == 0`, on `swan_verify_check_success == 0` for the
    failing check, and on a stale `swan_verify_last_run_timestamp_seconds`.
    """
    base = dict(labels or {})
    s = Summary.of(results)
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[dict, float]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")
        for extra, value in samples:
            text = str(int(value)) if float(value).is_integer() else repr(float(value))
            out.append(f"{name}{_labels({**base, **extra})} {text}")

    per_check = lambda r: {"check": r.name, "group": r.group}  # noqa: E731
    metric("swan_verify_success", "gauge", "1 if no check failed in the last run, else 0.",
           [({}, 0 if s.failed else 1)])
    metric("swan_verify_last_run_timestamp_seconds", "gauge", "Unix time the last run finished.",
           [({}, round(now if now is not None else time.time()))])
    metric("swan_verify_checks", "gauge", "Checks of the last run by status.",
           [({"status": st.value}, n) for st, n in ((Status.PASS, s.passed), (Status.FAIL, s.failed),
                                                      (Status.SKIP, s.skipped))])
    metric("swan_verify_check_success", "gauge", "1 if the check passed, 0 if it failed (skipped checks absent).",
           [(per_check(r), 1 if r.status is Status.PASS else 0) for r in results if r.status is not Status.SKIP])
    metric("swan_verify_check_skipped", "gauge", "1 if the check did not apply.",
           [(per_check(r), 1 if r.status is Status.SKIP else 0) for r in results])
    metric("swan_verify_check_duration_seconds", "gauge", "Wall time of the check.",
           [(per_check(r), round(r.seconds, 3)) for r in results])
    return "\n".join(out) + "\n"


def metric_family(name: str, help_: str, samples: list[tuple[dict, float]], kind: str = "gauge") -> str:
    """One metric in Prometheus text: HELP, TYPE and a line per (labels, value) sample."""
    out = [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        text = str(int(value)) if float(value).is_integer() else repr(float(value))
        out.append(f"{name}{_labels(labels)} {text}")
    return "\n".join(out) + "\n"


def push_to_gateway(url: str, text: str, job: str = "swan_verify", grouping: Optional[dict[str, str]] = None) -> None:
    """PUT the metrics to a Prometheus Pushgateway (replacing the previous run of this group)."""
    import requests

    path = f"{url.rstrip('/')}/metrics/job/{job}"
    for k, v in (grouping or {}).items():
        path += f"/{k}/{v}"
    resp = requests.put(path, data=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4"}, timeout=30)
    resp.raise_for_status()


class LiveTable:
    """The table an operator watches: one row per planned check, updated as results arrive.

    On a terminal it redraws in place; in a log (CronJob) it prints one line per result.
    """

    def __init__(self, console, checks: list[Check]):
        self.console = console
        self.rows: dict[str, tuple[str, str, str, str]] = {
            c.name: (c.name, "[dim]waiting[/]", "", "") for c in checks}
        self.live = None

    def render(self):
        from rich.table import Table

        table = Table(title="swan verify", expand=False)
        # a check's name whole (or ending in '…' on a very narrow terminal); the detail wraps in full
        for col, kw in (("check", {"no_wrap": True, "overflow": "ellipsis"}), ("status", {"no_wrap": True}),
                        ("seconds", {"justify": "right", "no_wrap": True}), ("detail", {"overflow": "fold"})):
            table.add_column(col, **kw)
        for row in self.rows.values():
            table.add_row(*row)
        return table

    def __enter__(self) -> "LiveTable":
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self.render(), console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.__exit__(*exc)
        else:
            self.console.print(self.render())

    def started(self, check: Check) -> None:
        self.rows[check.name] = (check.name, "[cyan]running[/]", "", "")
        self._refresh()

    def finished(self, check: Check, r: CheckResult) -> None:
        if r.name != check.name:  # a check that fans out into several rows: drop its placeholder
            self.rows.pop(check.name, None)
        style = STATUS_STYLE[r.status]
        from rich.markup import escape

        self.rows[r.name] = (r.name, f"[{style}]{r.status.value}[/]", f"{r.seconds:.1f}", escape(r.detail))
        if self.live is None:
            self.console.print(f"{r.status.value:4} {r.name} ({r.seconds:.1f}s) {r.detail}", markup=False, highlight=False)
        self._refresh()

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.render())


def to_json_text(results: list[CheckResult]) -> str:
    """The `--json` file: to_json, indented, with a final newline."""
    return json.dumps(to_json(results), indent=2) + "\n"
