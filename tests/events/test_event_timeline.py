"""`swan event timeline`: a PNG of every event, and the stretches over capacity named on the console."""
from __future__ import annotations

from typer.testing import CliRunner

from stacks.cli.main import app

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def test_timeline_of_the_examples(project, tmp_path):
    out = tmp_path / "timeline.png"
    result = runner.invoke(app, ["event", "timeline", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 events" in result.stdout and "over capacity" not in result.stdout
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 20000


def test_timeline_names_overlaps_beyond_capacity(project, write_event, tmp_path):
    write_event("event-a", name="a")
    write_event("event-b", name="b", start="2026-12-02T09:00:00+01:00", end="2026-12-04T18:00:00+01:00")
    result = runner.invoke(app, ["event", "timeline", "--out", str(tmp_path / "t.png")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "over capacity openstack-prod: overlapping events event-a, event-b, event-ml-workshop" in text


def test_timeline_refuses_a_broken_event(project, write_event, tmp_path):
    write_event("event-bad", participants=500)
    result = runner.invoke(app, ["event", "timeline", "--out", str(tmp_path / "t.png")])
    assert result.exit_code == 2
    assert "config/Pulumi.event-bad.yaml: swan:event.environments:" in result.stderr


def test_timeline_without_events(project, tmp_path):
    for path in project.config.glob("Pulumi.event-*.yaml"):
        path.unlink()
    result = runner.invoke(app, ["event", "timeline", "--out", str(tmp_path / "t.png")])
    assert result.exit_code == 2
    assert "no event stacks" in result.stderr
