"""`swan render` and the chart cache: real helm, the pinned upstream charts, and a render folder
that never costs the operator a file."""
from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stacks import charts, render
from stacks.cli.main import app

MIRROR = Path(os.environ["SWAN_CHARTS"].split(os.pathsep)[0])


def test_missing_chart_is_reported_per_release_and_the_rest_renders(project, tmp_path):
    partial = tmp_path / "charts"
    partial.mkdir()
    shutil.copytree(MIRROR / "ingress-nginx-4.11.3", partial / "ingress-nginx-4.11.3")
    runner = CliRunner()
    out = project.root / "out"
    result = runner.invoke(app, ["render", "kind", "--out", str(out), "--charts", str(partial)])
    assert result.exit_code == 0, result.output
    index = json.loads((out / "charts.json").read_text())
    assert "problem" not in index["ingress-nginx"] and index["ingress-nginx"]["objects"] > 0
    assert "chart swan-2.3.73 not found" in index["swan"]["problem"] and "swan charts pull" in index["swan"]["problem"]
    assert "helm release swan: chart swan-2.3.73 not found" in result.stderr
    assert not (out / "charts" / "swan").exists() and (out / "helm" / "swan.yaml").is_file()
    strict = runner.invoke(app, ["render", "kind", "--out", str(out), "--charts", str(partial), "--require-charts"])
    assert strict.exit_code == 1


def test_render_refuses_a_folder_that_is_not_an_earlier_render(project):
    runner = CliRunner()
    precious = project.root / "notes"
    precious.mkdir()
    (precious / "todo.txt").write_text("mine")
    result = runner.invoke(app, ["render", "kind", "--out", str(precious)])
    assert result.exit_code == 2
    assert "holds files that are not an earlier `swan render`; nothing was changed" in result.stderr
    assert [p.name for p in precious.iterdir()] == ["todo.txt"]
    for place in (project.root / "config" / "Pulumi.kind.yaml", project.root):  # a file; the checkout itself
        result = runner.invoke(app, ["render", "kind", "--out", str(place)])
        assert result.exit_code == 2, result.output
    assert (project.root / "config" / "Pulumi.kind.yaml").is_file() and (project.root / "Pulumi.yaml").is_file()


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk full", "Ctrl-C"])
def test_a_failed_or_interrupted_render_leaves_the_previous_one_intact(project, monkeypatch, failure):
    out = project.root / "out"
    render.render("kind", out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def half_written(rendered, folder, stack):
        (folder / "half-written").write_text("x")
        raise failure

    monkeypatch.setattr(render, "_write_tree", half_written)
    with pytest.raises(type(failure)):
        render.render("kind", out)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out.")]  # no staging folder left


@pytest.fixture
def chart_repository(tmp_path):
    """A classic Helm chart repository on 127.0.0.1 (index.yaml and a packaged chart), as a
    project's own repository serves it."""
    site = tmp_path / "site"
    site.mkdir()
    subprocess.run([charts.helm_binary(), "package", str(MIRROR / "ingress-nginx-4.11.3"), "-d", str(site)],
                   check=True, capture_output=True)
    subprocess.run([charts.helm_binary(), "repo", "index", str(site)], check=True, capture_output=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_pull_fills_the_cache_with_the_pinned_version(chart_repository, tmp_path):
    cache = tmp_path / "cache"
    ref = charts.ChartRef("ingress-nginx", "4.11.3", chart_repository)
    path = charts.pull(ref, cache)
    assert path == cache / "ingress-nginx-4.11.3" and charts.find_chart(ref, [cache]) == path
    mtime = (path / "Chart.yaml").stat().st_mtime_ns
    assert charts.pull(ref, cache) == path and (path / "Chart.yaml").stat().st_mtime_ns == mtime  # already there
    with pytest.raises(charts.ChartError):
        charts.pull(charts.ChartRef("ingress-nginx", "0.0.1", chart_repository), cache)
    assert sorted(p.name for p in cache.iterdir()) == ["ingress-nginx-4.11.3"]  # nothing half-pulled


def test_a_chart_of_another_version_in_the_folder_is_not_used(tmp_path):
    copy = tmp_path / "ingress-nginx-4.11.2"
    shutil.copytree(MIRROR / "ingress-nginx-4.11.3", copy)  # folder named for another version
    assert charts.find_chart(charts.ChartRef("ingress-nginx", "4.11.2", None), [tmp_path]) is None


def test_oci_chart_addresses_carry_no_repository(tmp_path):
    ref = charts.ChartRef("oci://registry.cern.ch/swan/charts/swan", "2.3.73", None)
    assert (ref.name, ref.folder) == ("swan", "swan-2.3.73")
    assert charts.find_chart(ref, [MIRROR]) == MIRROR / "swan-2.3.73"
