"""The CI pipelines shipped as files (GitLab CI and GitHub Actions): each passes its platform's
schema (check-jsonschema's vendored schemas) and the GitHub ones actionlint (with shellcheck on
every `run:`); every `swan`/`make` command they run exists with the options they pass; every
secret and variable they read is in the README's table; the events schedule cannot overlap; and
production is deployed only after staging verified. Nothing here reaches a CI service or a cloud:
the files are checked as the platforms would parse them."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pipelines import (
    GITHUB_ACTIONS,
    GITHUB_WORKFLOWS,
    GITLAB_FILES,
    PIPELINE_WORKFLOWS,
    RECONCILER_ENTRYPOINT,
    REPO,
    SCRIPTS,
    commands,
    github_context_names,
    github_shell,
    gitlab_jobs,
    gitlab_shell,
    load,
    logical_lines,
    readme_ci_variables,
    variables_read,
    with_called_scripts,
)
from stacks.cli.main import app

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    assert path, f"{name} is not installed: pip install -e '.[test]' (pyproject.toml pins it)"
    return str(path)


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# ---- the platforms' own schemas and linters ------------------------------------------------------

def check_jsonschema(schema: str, files: list[Path]) -> dict[str, list[str]]:
    """check-jsonschema over `files` in one run (it takes seconds to start): each file's errors."""
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", schema, "-o", "json", *map(str, files)],
                            capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)
    assert not report.get("parse_errors"), report
    errors: dict[str, list[str]] = {str(f): [] for f in files}
    for error in report.get("errors", []):
        errors[error["filename"]].append(f"{error['path']}: {error['message']}")
    assert (result.returncode == 0) == (report["status"] == "ok") == (not any(errors.values())), result.stderr
    return errors


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> dict[str, Path]:
    """One misspelt key per platform: the schema checks must refuse them, so they do look at the jobs."""
    folder = tmp_path_factory.mktemp("broken")
    gitlab, github = folder / "gitlab-events.yml", folder / "github-events.yml"
    gitlab.write_text((REPO / "ci/gitlab/events.yml").read_text().replace("  script:", "  scirpt:"))
    github.write_text((REPO / ".github/workflows/events.yml").read_text().replace("runs-on:", "run-on:"))
    return {"gitlab": gitlab, "github": github}


def test_the_pipelines_are_all_there():
    assert {p.stem for p in GITHUB_WORKFLOWS} >= set(PIPELINE_WORKFLOWS)
    assert {p.stem for p in GITLAB_FILES} >= {".gitlab-ci", "common", *PIPELINE_WORKFLOWS}
    included = {i["local"] for i in load(REPO / ".gitlab-ci.yml")["include"]}
    assert included == {rel(p) for p in GITLAB_FILES[1:]}, "every ci/gitlab file is included, and only those"


def test_github_files_pass_the_github_schemas(broken):
    errors = check_jsonschema("vendor.github-workflows", [*GITHUB_WORKFLOWS, broken["github"]])
    assert errors.pop(str(broken["github"])), "the misspelt runs-on was not refused"
    assert not any(errors.values()), errors
    errors = check_jsonschema("vendor.github-actions", GITHUB_ACTIONS)
    assert not any(errors.values()), errors


def test_gitlab_files_pass_the_gitlab_schema(broken):
    errors = check_jsonschema("vendor.gitlab-ci", [*GITLAB_FILES, broken["gitlab"]])
    assert errors.pop(str(broken["gitlab"])) == ["$['events-reconcile']: Additional properties are not allowed "
                                                 "('scirpt' was unexpected)"]
    assert not any(errors.values()), errors


def actionlint(*files: Path, cwd: Path = REPO) -> subprocess.CompletedProcess:
    assert shutil.which("shellcheck"), "shellcheck is not installed: sudo bash .ci/deps-ci.sh"
    return subprocess.run([tool("actionlint"), "-no-color", *map(str, files)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_github_workflows_pass_actionlint_with_shellcheck():
    result = actionlint(*GITHUB_WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_a_shell_mistake(tmp_path):
    """actionlint runs shellcheck on `run:` scripts here: an unquoted variable is reported."""
    (tmp_path / ".github/workflows").mkdir(parents=True)
    bad = tmp_path / ".github/workflows/events.yml"
    text = (REPO / ".github/workflows/events.yml").read_text()
    assert 'cat build/events/reconcile.md >> "$GITHUB_STEP_SUMMARY"' in text
    bad.write_text(text.replace('>> "$GITHUB_STEP_SUMMARY"', ">> $GITHUB_STEP_SUMMARY"))
    (tmp_path / ".github/actions").symlink_to(REPO / ".github/actions")
    result = actionlint(bad, cwd=tmp_path)
    assert result.returncode != 0 and "SC2086" in result.stdout, result.stdout


def test_ci_scripts_pass_shellcheck():
    assert shutil.which("shellcheck"), "shellcheck is not installed: sudo bash .ci/deps-ci.sh"
    files = [*SCRIPTS, RECONCILER_ENTRYPOINT, REPO / ".ci/deps-ci.sh"]
    result = subprocess.run(["shellcheck", "-x", *map(str, files)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout


# ---- the commands they run ------------------------------------------------------------------------

def all_commands():
    found = []
    for path in [*GITHUB_WORKFLOWS, *GITHUB_ACTIONS]:
        found += commands(with_called_scripts(github_shell(path)), rel(path))
    for path in GITLAB_FILES:
        found += commands(with_called_scripts(gitlab_shell(path)), rel(path))
    found += commands([(RECONCILER_ENTRYPOINT, RECONCILER_ENTRYPOINT.read_text())], rel(RECONCILER_ENTRYPOINT))
    return found


COMMANDS = all_commands()
# Commands other helpers are writing at the same time, with the options their contract promises:
# checked against that contract while the command is missing here, against the real command (and the
# contract against it) once it exists.
CONTRACTS = {
    ("diff",): {"--markdown", "--fail-on-replace"},
    # --token-env: seen in the helper's branch (the readiness proof's hub token), not in the brief
    ("event", "reconcile"): {"--at", "--dry-run", "--prometheus", "--pushgateway", "--markdown", "--token-env"},
}


def swan_command(words: tuple[str, ...]) -> tuple[tuple[str, ...], object | None]:
    """The longest command path of `words` in the typer app, and the command (None if missing)."""
    command = typer.main.get_command(app)   # typer's click: groups are told by their `commands`
    path: tuple[str, ...] = ()
    for word in words:
        if not hasattr(command, "commands") or word not in command.commands:
            break
        command = command.commands[word]
        path += (word,)
    if hasattr(command, "commands"):
        # a group with a subcommand the app does not have (yet)
        wanted = tuple(words[:len(path) + 1])
        return wanted, None
    return path, command


def test_the_pipelines_run_swan_and_make_commands():
    run = {(c.program, *c.words[:2]) for c in COMMANDS}
    for expected in [("make", "test"), ("swan", "check"), ("swan", "render"), ("swan", "diff"),
                     ("swan", "verify"), ("swan", "event", "reconcile"), ("swan", "charts", "pull")]:
        assert any(r[:len(expected)] == expected for r in run), f"no pipeline runs {' '.join(expected)}"


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c.program == "swan"], ids=lambda c: f"{c.source}: {c.text}")
def test_every_swan_command_exists_with_its_options(cmd):
    path, command = swan_command(cmd.words)
    if command is None:
        assert path in CONTRACTS, f"{cmd.source}: `swan {' '.join(path)}` is no command of swan"
        options = CONTRACTS[path]
    else:
        options = {opt for p in command.params for opt in p.opts if opt.startswith("--")}
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, result.output
    unknown = set(cmd.options) - options
    assert not unknown, f"{cmd.source}: `{cmd.text}`: swan {' '.join(path)} has no {sorted(unknown)}"


@pytest.mark.parametrize("path", sorted(CONTRACTS), ids=" ".join)
def test_the_contract_of_a_command_being_written_holds_once_it_exists(path):
    _, command = swan_command(path)
    if command is None:
        pytest.skip(f"swan {' '.join(path)} is written by another helper; its contract is used meanwhile")
    options = {opt for p in command.params for opt in p.opts}
    assert CONTRACTS[path] <= options


@pytest.mark.parametrize("target", sorted({c.words[0] for c in COMMANDS if c.program == "make" and c.words}))
def test_every_make_target_exists(target):
    result = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "No rule to make target" not in result.stderr, result.stderr


def test_the_command_parser_sees_a_wrong_option():
    """The checks above can fail: a misspelt option and a missing command are both caught."""
    found = commands([(None, 'swan verify "$s" --junti out.xml\nexec swan nodes frobnicate')], "test")
    verify, frob = found
    path, command = swan_command(verify.words)
    assert path == ("verify",) and "--junti" not in {o for p in command.params for o in p.opts}
    assert swan_command(frob.words) == (("nodes", "frobnicate"), None)


# ---- secrets and variables ------------------------------------------------------------------------

README = (REPO / "README.md").read_text()
DOCUMENTED = readme_ci_variables(README)
# Set by the platforms themselves, or passed between jobs by the pipelines (plan-deploy.sh's dotenv).
PLATFORM = re.compile(r"^(CI_|GITHUB_|RUNNER_)|^(PATH|HOME|PWD)$")
INTERNAL = {"SWAN_DEPLOY_STAGING", "SWAN_DEPLOY_PRODUCTION", "SWAN_DEPLOY_ANY"}


def gitlab_defined() -> set[str]:
    names = set()
    for path in GITLAB_FILES:
        doc = load(path) or {}
        names |= set(doc.get("variables") or {})
        for job in gitlab_jobs(path).values():
            names |= set(job.get("variables") or {})
    return names


def github_env_names() -> set[str]:
    names = set()
    for path in GITHUB_WORKFLOWS:
        doc = load(path)
        names |= set(doc.get("env") or {})
        for job in doc["jobs"].values():
            names |= set(job.get("env") or {})
            for step in job.get("steps") or []:
                names |= set(step.get("env") or {})
    return names


def test_every_secret_and_variable_the_pipelines_read_is_documented():
    used: dict[str, str] = {}
    for path in GITHUB_WORKFLOWS + GITHUB_ACTIONS:
        if path.stem == "images":
            continue
        for _, name in github_context_names(path.read_text()):
            used.setdefault(name, rel(path))
    gitlab = [(p, t) for path in GITLAB_FILES for p, t in with_called_scripts(gitlab_shell(path))]
    github = [(p, t) for path in GITHUB_WORKFLOWS + GITHUB_ACTIONS for p, t in with_called_scripts(github_shell(path))]
    defined = gitlab_defined() | github_env_names()
    for path, text in gitlab + github + [(RECONCILER_ENTRYPOINT, RECONCILER_ENTRYPOINT.read_text())]:
        for name in variables_read(text):
            if not PLATFORM.search(name) and name not in INTERNAL and (path is not None or name not in defined):
                used.setdefault(name, rel(path) if path else "a pipeline's script")
    # a name a workflow sets from a secret or variable is documented under that secret's name
    missing = {name: where for name, where in used.items() if name not in DOCUMENTED}
    assert not missing, f"read by the pipelines but not in README's 'Running it from CI' table: {missing}"
    assert len(DOCUMENTED) >= 15


def test_every_documented_variable_is_used():
    texts = "".join(p.read_text() for p in [*GITHUB_WORKFLOWS, *GITHUB_ACTIONS, *GITLAB_FILES, *SCRIPTS,
                                             RECONCILER_ENTRYPOINT, REPO / "deploy/events-reconciler.yaml"])
    stale = {name for name in DOCUMENTED if not re.search(rf"\b{name}\b", texts)}
    assert not stale, f"documented in README but read by no pipeline: {stale}"


def test_github_secrets_keep_their_names_in_the_environment():
    """`NAME: ${{ secrets.NAME }}`: the scripts and the providers read the same names on both platforms."""
    for path in GITHUB_WORKFLOWS:
        for job in load(path)["jobs"].values():
            for name, value in (job.get("env") or {}).items():
                for _, source in github_context_names(str(value)):
                    assert name == source, f"{rel(path)}: env {name} is set from {source}"


def test_the_merge_request_pipeline_holds_no_deploy_secret():
    """Pull requests (from forks too) run it: it renders offline and needs no credentials."""
    text = (REPO / ".github/workflows/merge-request.yml").read_text()
    assert not {kind for kind, _ in github_context_names(text)}
    for path, workflow in [(REPO / "ci/gitlab/merge-request.yml", gitlab_shell),
                           (REPO / ".github/workflows/merge-request.yml", github_shell)]:
        texts = with_called_scripts(workflow(path))
        lines = [line for _, text in texts for line in logical_lines(text)]
        assert not [line for line in lines if re.search(r"(^|&&|;|\||\bexec\s)\s*pulumi\s", line)]
        assert not any("PULUMI_BACKEND_URL" in text for _, text in texts)


# ---- the order of things ---------------------------------------------------------------------------

def needs(job: dict) -> set[str]:
    value = job.get("needs") or []
    return {value} if isinstance(value, str) else {n if isinstance(n, str) else n["job"] for n in value}


def upstream(jobs: dict[str, dict], name: str) -> set[str]:
    seen, todo = set(), [name]
    while todo:
        for need in needs(jobs[todo.pop()]):
            if need not in seen:
                seen.add(need)
                todo.append(need)
    return seen


def runs_pulumi_up(shell: str) -> bool:
    return "pulumi-up.sh" in shell or re.search(r"\bpulumi up\b", shell) is not None


def test_github_production_is_deployed_only_after_staging_verified():
    jobs = load(REPO / ".github/workflows/deploy.yml")["jobs"]
    assert {"deploy-staging", "verify-staging"} <= upstream(jobs, "deploy-production")
    assert "deploy-staging" in needs(jobs["verify-staging"])
    assert "needs.verify-staging.result == 'success'" in jobs["deploy-production"]["if"]
    verify = " ".join(s.get("run", "") for s in jobs["verify-staging"]["steps"])
    assert "verify.sh" in verify
    up = {name for name, job in jobs.items() if runs_pulumi_up(" ".join(s.get("run", "") for s in job["steps"]))}
    assert up == {"deploy-staging", "deploy-production"}
    for workflow in GITHUB_WORKFLOWS:
        if workflow.stem != "deploy":
            assert not runs_pulumi_up(" ".join(github_shell(workflow))), f"{rel(workflow)} runs pulumi up"


def test_gitlab_production_is_deployed_only_after_staging_verified():
    jobs = gitlab_jobs(REPO / "ci/gitlab/deploy.yml")
    stages = load(REPO / ".gitlab-ci.yml")["stages"]
    assert {"deploy-staging", "verify-staging"} <= upstream(jobs, "deploy-production")
    order = [stages.index(jobs[j]["stage"]) for j in ("deploy-staging", "verify-staging", "deploy-production")]
    assert order == sorted(order) and len(set(order)) == 3
    assert "verify.sh" in " ".join(jobs["verify-staging"]["script"])
    up = {name for name, job in jobs.items() if runs_pulumi_up(" ".join(job.get("script", [])))}
    assert up == {"deploy-staging", "deploy-production"}
    for path in GITLAB_FILES:
        if path.stem != "deploy":
            assert not runs_pulumi_up(" ".join(gitlab_shell(path))), f"{rel(path)} runs pulumi up"


def test_the_events_schedule_cannot_overlap():
    github = load(REPO / ".github/workflows/events.yml")
    triggers = github[True] if True in github else github["on"]   # YAML 1.1 reads `on:` as true
    assert triggers["schedule"] == [{"cron": "*/10 * * * *"}]
    assert github["concurrency"]["group"] and github["concurrency"]["cancel-in-progress"] is False
    gitlab = gitlab_jobs(REPO / "ci/gitlab/events.yml")["events-reconcile"]
    assert gitlab["resource_group"]
    assert '$SWAN_SCHEDULE == "events"' in gitlab["rules"][0]["if"]
    import yaml

    cronjob = [d for d in yaml.safe_load_all((REPO / "deploy/events-reconciler.yaml").read_text())
               if d["kind"] == "CronJob"][0]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid" and cronjob["spec"]["schedule"] == "*/10 * * * *"


def test_deploys_of_one_stack_never_run_together():
    """A nightly preview and a deploy of the same stack share a concurrency group; GitLab deploys a
    resource group per tier; the deploy workflow as a whole runs one at a time."""
    deploy = load(REPO / ".github/workflows/deploy.yml")
    assert deploy["concurrency"]["cancel-in-progress"] is False
    nightly = load(REPO / ".github/workflows/nightly.yml")["jobs"]["nightly"]
    group = nightly["concurrency"]["group"]
    for name in ("deploy-staging", "deploy-production"):
        assert deploy["jobs"][name]["concurrency"]["group"] == group
    jobs = gitlab_jobs(REPO / "ci/gitlab/deploy.yml")
    assert jobs["deploy-staging"]["resource_group"] and jobs["deploy-production"]["resource_group"]


# ---- the Pulumi CLI they install ----------------------------------------------------------------------

def test_the_pulumi_cli_is_pinned_to_the_sdk_version_everywhere():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(re.match(r"([\w-]+)==(\S+)", d).groups() for d in pyproject)
    sdk = pins["pulumi"]
    found = []
    for path in GITHUB_WORKFLOWS:
        for job in load(path)["jobs"].values():
            if "PULUMI_VERSION" in (job.get("env") or {}):
                found.append(str(job["env"]["PULUMI_VERSION"]))
    found.append(str(load(REPO / "ci/gitlab/common.yml")["variables"]["PULUMI_VERSION"]))
    dockerfile = (REPO / "images/events-reconciler/Dockerfile").read_text()
    found.append(re.search(r"ARG PULUMI_VERSION=(\S+)", dockerfile).group(1))
    assert len(found) >= 6 and set(found) == {sdk}
    assert load(REPO / "ci/gitlab/common.yml")[".swan-pulumi"]["image"]["name"].endswith(":$PULUMI_VERSION")
    plugins = dict(p.split() for p in re.search(r'ARG PULUMI_PLUGINS="([^"]+)"', dockerfile).group(1).split(","))
    assert plugins == {name: pins[f"pulumi-{name}"] for name in ("kubernetes", "openstack", "oci")}
