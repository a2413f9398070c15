"""The CI pipeline files read as data: which files, the shell they run (with the scripts it calls),
the `swan`/`make` commands in that shell, and the variables it reads. Shared by tests/ci."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
GITHUB_WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
GITHUB_ACTIONS = sorted((REPO / ".github" / "actions").glob("*/action.yml"))
GITLAB_FILES = [REPO / ".gitlab-ci.yml", *sorted((REPO / "ci" / "gitlab").glob("*.yml"))]
SCRIPTS = sorted((REPO / "ci" / "scripts").glob("*.sh"))
RECONCILER_ENTRYPOINT = REPO / "images" / "events-reconciler" / "swan-events-reconcile"
# The pipelines this project ships (images.yml is the image build, not one of them).
PIPELINE_WORKFLOWS = ("merge-request", "deploy", "nightly", "events")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def github_shell(path: Path) -> list[str]:
    """Every `run:` of a workflow's jobs or a composite action's steps."""
    doc = load(path)
    steps = [s for job in (doc.get("jobs") or {}).values() for s in job.get("steps") or []]
    steps += (doc.get("runs") or {}).get("steps") or []
    return [s["run"] for s in steps if "run" in s]


def gitlab_jobs(path: Path) -> dict[str, dict]:
    """The jobs and templates of one GitLab file (everything that has a script or extends)."""
    doc = load(path) or {}
    return {name: job for name, job in doc.items()
            if isinstance(job, dict) and ({"script", "before_script", "extends"} & set(job))}


def gitlab_shell(path: Path) -> list[str]:
    lines = []
    for job in gitlab_jobs(path).values():
        for key in ("before_script", "script", "after_script"):
            value = job.get(key) or []
            lines += [value] if isinstance(value, str) else list(value)
    return lines


SCRIPT_CALL = re.compile(r"(?:ci/scripts/[\w.-]+\.sh|\.ci/run|\$here/[\w.-]+\.sh)")


def with_called_scripts(shell: list[str], seen: set[Path] | None = None) -> list[tuple[Path | None, str]]:
    """The shell texts, plus the text of every repository script they call (recursively), each with
    the script it comes from (None for a pipeline file's own text)."""
    seen = set() if seen is None else seen
    out: list[tuple[Path | None, str]] = [(None, text) for text in shell]
    for text in shell:
        for call in SCRIPT_CALL.findall(text):
            path = REPO / "ci" / "scripts" / call.split("/")[-1] if call.startswith("$here") else REPO / call
            if path in seen:
                continue
            assert path.is_file(), f"a pipeline calls {call}, which does not exist"
            seen.add(path)
            out += [(path, t) for _, t in with_called_scripts([path.read_text()], seen)]
    return out


def logical_lines(text: str) -> list[str]:
    """Shell text as logical lines: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lines.append(re.sub(r"\s+#\s.*$", "", stripped))
    return lines


@dataclass(frozen=True)
class Command:
    program: str            # swan or make
    words: tuple[str, ...]  # the words after it, up to the first option or variable
    options: tuple[str, ...]
    text: str
    source: str


# `swan`/`make` where a command starts: line start, after && || ; | ( or `exec`, or `$(`.
COMMAND = re.compile(r"(?:^|&&|\|\||;|\||\(|\bexec\s|\$\()\s*(swan|make)\s+([^;&|)]*)")


def commands(sources: list[tuple[Path | None, str]], origin: str) -> list[Command]:
    found = []
    for path, text in sources:
        for line in logical_lines(text):
            if re.match(r"^(swan|make)\s*\(\)", line):   # a shell function named swan
                continue
            for program, rest in COMMAND.findall(line):
                words = []
                for word in rest.split():
                    if not re.fullmatch(r"[a-z][a-z0-9.-]*", word):
                        break
                    words.append(word)
                options = tuple(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest))
                where = str(path.relative_to(REPO)) if path else origin
                found.append(Command(program, tuple(words), options, f"{program} {rest}".strip(), where))
    return found


# Variables a shell text reads: $NAME or ${NAME...}, upper case (lower case names are the scripts' locals).
READ = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)")
ASSIGNED = re.compile(r"(?:^|\s|export\s+|read\s+-r?a?\s+)([A-Z][A-Z0-9_]*)=")


def variables_read(text: str) -> set[str]:
    assigned = set(ASSIGNED.findall(text))
    return {name for name in READ.findall(text) if name not in assigned}


GITHUB_CONTEXT = re.compile(r"\$\{\{\s*(secrets|vars)\.([A-Za-z0-9_]+)\s*\}\}")


def github_context_names(text: str) -> set[tuple[str, str]]:
    return set(GITHUB_CONTEXT.findall(text))


def readme_ci_variables(readme: str) -> set[str]:
    """The names in the first column of the table under the README's "Running it from CI" section."""
    section = readme.split("## Running it from CI", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", line.split("|")[1]))
    return names
