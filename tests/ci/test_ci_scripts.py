"""The scripts the pipelines run (ci/scripts/), run for real on real renders: which stacks changed,
the merge-request comment, and the deploy plan from two commits of a git repository."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "ci" / "scripts"
GOLDEN = REPO / "tests" / "fixtures" / "golden"


def run(script: str, *args, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(["bash", str(SCRIPTS / script), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=environ, timeout=600)


@pytest.fixture
def renders(tmp_path) -> tuple[Path, Path]:
    """Two folders of renders as render-all.sh writes them, from the committed golden renders."""
    before, after = tmp_path / "before", tmp_path / "after"
    for folder in (before, after):
        for stack in ("kind", "oci-pilot", "openstack-prod"):
            shutil.copytree(GOLDEN / stack, folder / stack)
    return before, after


def edit_a_helm_value(render: Path) -> None:
    path = render / "helm" / sorted(p.name for p in (render / "helm").iterdir())[0]
    path.write_text(path.read_text() + "\n# changed\n")


def test_changed_stacks_are_those_whose_render_differs(renders):
    before, after = renders
    result = run("changed-stacks.sh", before, after)
    assert result.returncode == 0 and result.stdout == "", result.stderr
    edit_a_helm_value(after / "oci-pilot")
    shutil.copytree(GOLDEN / "t4-shared", after / "t4-shared")        # a new stack
    result = run("changed-stacks.sh", before, after)
    assert result.stdout.split() == ["oci-pilot", "t4-shared"], result.stderr
    result = run("changed-stacks.sh", before, after, "openstack-prod", "oci-pilot")
    assert result.stdout.split() == ["oci-pilot"]


def test_a_removed_stack_is_reported_not_deployed_and_an_unknown_name_refused(renders):
    before, after = renders
    shutil.rmtree(after / "kind")
    result = run("changed-stacks.sh", before, after, "kind", "oci-pilot")
    assert result.returncode == 0 and result.stdout == ""
    assert "kind: its config was removed; destroy it by hand" in result.stderr
    result = run("changed-stacks.sh", before, after, "openstack-prd")
    assert result.returncode == 2 and "openstack-prd: no such stack" in result.stderr


def test_the_comment_says_which_stacks_are_new_removed_or_unchanged(renders, tmp_path):
    before, after = renders
    comment = tmp_path / "comment.md"
    result = run("render-diff.sh", before, after, comment)
    assert result.returncode == 0, result.stderr
    assert "No stack renders differently." in comment.read_text()
    shutil.rmtree(after / "kind")
    shutil.copytree(GOLDEN / "t4-shared", after / "t4-shared")
    result = run("render-diff.sh", before, after, comment, 200)
    text = comment.read_text()
    assert result.returncode == 0, result.stderr
    assert "2 stack(s) changed" in result.stdout
    full = (tmp_path / "comment.md.full").read_text()
    assert "### t4-shared\n\nNew stack" in full and "### kind\n\nStack removed on this branch" in full
    assert len(text) < 400 and "cut here: the whole diff is in the job artifact" in text


def test_a_changed_stack_gets_its_swan_diff_in_the_comment(renders, tmp_path):
    from stacks.cli.main import app
    import typer

    if "diff" not in typer.main.get_command(app).commands:
        pytest.skip("swan diff is written by another helper; this runs once it is merged")
    before, after = renders
    edit_a_helm_value(after / "oci-pilot")
    comment = tmp_path / "comment.md"
    result = run("render-diff.sh", before, after, comment)
    assert result.returncode == 0, result.stderr
    assert "### oci-pilot" in comment.read_text() and "1 stack(s) changed" in result.stdout


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}).stdout


@pytest.fixture(scope="module")
def pushed(tmp_path_factory) -> Path:
    """A repository whose last commit changes the kind stack's culling timeout and nothing else; the
    code (stacks/) is a link to this checkout's, so the renders are real ones."""
    repo = tmp_path_factory.mktemp("repo")
    git(repo, "init", "-q", "-b", "main")
    shutil.copy(REPO / "Pulumi.yaml", repo / "Pulumi.yaml")
    (repo / "stacks").symlink_to(REPO / "stacks")
    (repo / "config").mkdir()
    kind = (REPO / "tests/fixtures/config/Pulumi.kind.yaml").read_text()
    (repo / "config/Pulumi.kind.yaml").write_text(kind)
    (repo / "config/Pulumi.kind-copy.yaml").write_text(kind)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "before")
    assert "    culling:\n      timeout: 4h\n" in kind, "update the fixture edit"
    (repo / "config/Pulumi.kind.yaml").write_text(kind.replace("      timeout: 4h\n", "      timeout: 3h\n", 1))
    git(repo, "commit", "-qam", "after")
    return repo


def test_plan_deploy_deploys_the_changed_staging_stack(pushed, tmp_path):
    """Four real `swan render`s (two stacks at two commits); the unchanged one is not deployed."""
    result = run("plan-deploy.sh", "0" * 40, tmp_path / "deploy", cwd=pushed,
                 env={"SWAN_STAGING_STACKS": "kind", "SWAN_PRODUCTION_STACKS": "kind-copy",
                      "SWAN_CHARTS": os.environ.get("SWAN_CHARTS", "")})
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert json.loads(outputs["staging"]) == ["kind"]
    assert json.loads(outputs["production"]) == []
    assert json.loads(outputs["staging_all"]) == ["kind"] and outputs["any"] == "true"
    assert (tmp_path / "deploy/deploy.env").read_text().splitlines() == [
        "SWAN_DEPLOY_STAGING=kind", "SWAN_DEPLOY_PRODUCTION=", "SWAN_DEPLOY_ANY=true"]
    assert not (tmp_path / "deploy/before").exists(), "the worktree of the earlier commit is removed"


def test_plan_deploy_refuses_production_stacks_without_a_staging_stack(pushed, tmp_path):
    result = run("plan-deploy.sh", "", tmp_path / "deploy", cwd=pushed,
                 env={"SWAN_STAGING_STACKS": "", "SWAN_PRODUCTION_STACKS": "kind",
                      "SWAN_CHARTS": os.environ.get("SWAN_CHARTS", "")})
    assert result.returncode == 2
    assert "SWAN_PRODUCTION_STACKS (kind) is set but SWAN_STAGING_STACKS names no staging stack" in result.stderr
    assert not (tmp_path / "deploy").exists(), "refused before any work"


def test_stacks_json_refuses_what_is_not_a_stack_name():
    assert run("stacks-json.sh", "a", "b-1").stdout.strip() == '["a","b-1"]'
    assert run("stacks-json.sh").stdout.strip() == "[]"
    result = run("stacks-json.sh", 'x"]')
    assert result.returncode == 2 and "is not a stack name" in result.stderr


@pytest.fixture
def stand_in_pulumi(tmp_path) -> Path:
    """A `pulumi` on PATH that logs its arguments and fails `preview` of stacks named drift-*, `up` of
    stacks named broken-*, and `stack output` always (no backend here). Stands in for the real CLI,
    which cannot run here (no backend, no cloud); only what the scripts pass to it is checked."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pulumi = bin_dir / "pulumi"
    pulumi.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {tmp_path}/pulumi.log
stack="${{@: -1}}"
case "$1" in
  preview) [[ "$stack" != drift-* ]] ;;
  up) [[ "$stack" != broken-* ]] ;;
  *) echo "error: no backend here" >&2; exit 1 ;;
esac
""")
    pulumi.chmod(0o755)
    return bin_dir


def with_path(bin_dir: Path, **env) -> dict:
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", **env}


def test_pulumi_up_deploys_each_stack_in_turn_and_stops_at_a_failure(stand_in_pulumi):
    log = stand_in_pulumi.parent / "pulumi.log"
    result = run("pulumi-up.sh", "a", "broken-b", "c", env=with_path(stand_in_pulumi))
    assert result.returncode == 1
    assert log.read_text().splitlines() == ["up --yes --diff --suppress-progress -s a",
                                            "up --yes --diff --suppress-progress -s broken-b"]
    assert run("pulumi-up.sh", env=with_path(stand_in_pulumi)).stdout.startswith("pulumi-up: no stack changed")


def test_verify_reads_the_token_of_the_stack_and_runs_the_real_swan_verify(stand_in_pulumi, tmp_path):
    """The real `swan verify STACK` runs; it stops at reading the stack's outputs (exit 2, its bad-input
    code), since the stand-in pulumi has no backend."""
    result = run("verify.sh", tmp_path / "out", "kind", "oci-pilot",
                 env=with_path(stand_in_pulumi, HUB_TOKEN_KIND="t1", HUB_TOKEN="t2"))
    assert "== swan verify kind (token from $HUB_TOKEN_KIND)" in result.stdout
    assert "== swan verify oci-pilot (token from $HUB_TOKEN)" in result.stdout
    assert "pulumi stack output failed" in result.stderr
    assert result.returncode == 2
    assert run("verify.sh", tmp_path / "out").returncode == 0


def test_nightly_reports_drift_and_still_verifies(stand_in_pulumi, tmp_path):
    log = stand_in_pulumi.parent / "pulumi.log"
    result = run("nightly.sh", tmp_path / "out", "drift-a", "b", env=with_path(stand_in_pulumi, HUB_TOKEN="t"))
    assert result.returncode == 1
    assert (tmp_path / "out/drifted.txt").read_text() == "drift-a\n"
    previews = [line for line in log.read_text().splitlines() if line.startswith("preview")]
    assert previews == [f"preview --refresh --expect-no-changes --diff --suppress-progress -s {s}" for s in ("drift-a", "b")]
    assert result.stdout.count("== swan verify") == 2


def test_the_reconciler_entry_point_refuses_to_start_without_a_repository(tmp_path):
    entry = REPO / "images" / "events-reconciler" / "swan-events-reconcile"
    env = {k: v for k, v in os.environ.items() if k != "SWAN_GIT_URL"}
    result = subprocess.run(["bash", str(entry)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0 and "set SWAN_GIT_URL" in result.stderr
