"""The bad-input contract, shared by the table-driven suites (test_bad_*.py).

Every bad input, whatever the command: exit code 2, no traceback, the file (or option) and key
named on stderr, and nothing outside the command's own output changed. A case is one line of
data; `assert_refused` runs it in a throw-away copy of the project and checks all four.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from typer.testing import CliRunner

from stacks.cli.main import app

runner = CliRunner()


@dataclass(frozen=True)
class Case:
    """One bad input: the command line, the files it needs (written before the snapshot), and
    the text stderr must hold (the file or option, the key, what is wrong)."""

    id: str
    argv: list[str]
    expect: str
    files: dict[str, str | bytes] = field(default_factory=dict)


def tree(root: Path) -> dict[str, str]:
    """Every file and folder under root, with a content hash: what 'nothing changed' compares."""
    state = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            state[rel] = "link:" + str(path.readlink())
        elif path.is_dir():
            state[rel] = "dir"
        else:
            state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def assert_refused(root: Path, case: Case) -> str:
    """Run the case in `root` (the project, also the cwd) and check the contract; returns stderr."""
    write_files(root, case.files)
    before = tree(root)
    result = runner.invoke(app, case.argv)
    output = result.stdout + result.stderr
    assert "Traceback" not in output and not (result.exception and not isinstance(result.exception, SystemExit)), \
        f"{case.id}: crashed: {result.exception!r}\n{output}"
    assert result.exit_code == 2, f"{case.id}: exit {result.exit_code}, not 2\n{output}"
    assert case.expect in result.stderr, f"{case.id}: stderr lacks {case.expect!r}\n{result.stderr}"
    assert tree(root) == before, f"{case.id}: the command changed files although it refused"
    return result.stderr
