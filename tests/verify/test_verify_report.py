"""Reports: the JSON contract, JUnit that CI viewers load, Markdown and Prometheus text."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from stacks.verify.model import CheckResult, Status
from stacks.verify.report import to_json, to_junit, to_markdown, to_prometheus

RESULTS = [
    CheckResult("hub.health", "hub", Status.PASS, 0.01, "JupyterHub 5.4.6"),
    CheckResult("hub.spawn", "hub", Status.FAIL, 3.2, 'session did not start: "quota" <exceeded> & more'),
    CheckResult("hub.gpu", "hub", Status.SKIP, 0.0, "needs hub.spawn (fail)"),
    CheckResult("cluster.nodes", "cluster", Status.PASS, 0.4, "4 nodes Ready"),
]


def test_json_has_exactly_the_documented_shape():
    doc = json.loads(json.dumps(to_json(RESULTS)))
    assert set(doc) == {"checks", "passed", "failed", "skipped"}
    assert (doc["passed"], doc["failed"], doc["skipped"]) == (2, 1, 1)
    assert doc["checks"][1] == {"name": "hub.spawn", "group": "hub", "status": "fail", "seconds": 3.2,
                                "detail": 'session did not start: "quota" <exceeded> & more'}


def test_junit_parses_with_one_testcase_per_check_and_the_failure_detail():
    root = ET.fromstring(to_junit(RESULTS))
    assert root.tag == "testsuites" and root.get("tests") == "4" and root.get("failures") == "1"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"swan-verify.hub", "swan-verify.cluster"}
    hub = suites["swan-verify.hub"]
    assert (hub.get("tests"), hub.get("failures"), hub.get("skipped")) == ("3", "1", "1")
    [failure] = root.findall(".//failure")
    assert failure.text == 'session did not start: "quota" <exceeded> & more'
    assert [c.get("name") for c in root.findall(".//testcase")] == [r.name for r in RESULTS]


def test_markdown_leads_with_the_verdict_and_lists_failures_first():
    md = to_markdown(RESULTS)
    lines = md.splitlines()
    assert lines[0] == "### swan verify: FAILED"
    rows = [line for line in lines if line.startswith("| `")]
    assert rows[0].startswith("| `hub.spawn` | **FAIL**")
    assert len(rows) == 4


def test_prometheus_text_is_well_formed_with_one_sample_per_check():
    text = to_prometheus(RESULTS, labels={"env": "prod"}, now=1700000000)
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    assert 'swan_verify_success{env="prod"} 0' in text
    assert 'swan_verify_check_success{env="prod",check="hub.spawn",group="hub"} 0' in text
    assert 'swan_verify_check_success{env="prod",check="hub.health",group="hub"} 1' in text
    assert 'check="hub.gpu"' not in text.split("swan_verify_check_skipped")[0]  # skipped: no success sample
    assert 'swan_verify_checks{env="prod",status="fail"} 1' in text
    assert 'swan_verify_last_run_timestamp_seconds{env="prod"} 1700000000' in text


def test_all_passed_is_success_one():
    text = to_prometheus([RESULTS[0]])
    assert "swan_verify_success 1" in text.splitlines()
