"""Each fixture stack renders exactly as its committed golden (tests/fixtures/golden/<stack>/):
a change to what the program creates shows up as a diff here and in review. Refresh with `make golden`."""
from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
import golden  # noqa: E402  (tests/fixtures/golden.py, the script behind `make golden`)

STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (FIXTURES / "config").glob("Pulumi.*.yaml"))
SHOWN_FILES = 3    # differing files shown in a failure
SHOWN_LINES = 30   # diff lines shown per file


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_fixture_stack_has_a_golden():
    assert sorted(p.name for p in golden.GOLDEN.iterdir() if p.is_dir()) == STACKS, "run `make golden`"


@pytest.mark.parametrize("stack", STACKS)
def test_render_matches_golden(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("SWAN_PROJECT_DIR", str(FIXTURES))
    got = _files(golden.render_to(stack, tmp_path))
    want = _files(golden.GOLDEN / stack)
    problems = [f"only in the render: {name}" for name in sorted(got.keys() - want.keys())]
    problems += [f"only in the golden: {name}" for name in sorted(want.keys() - got.keys())]
    differing = [name for name in sorted(got.keys() & want.keys()) if got[name].read_bytes() != want[name].read_bytes()]
    for name in differing[:SHOWN_FILES]:
        lines = list(difflib.unified_diff(want[name].read_text().splitlines(), got[name].read_text().splitlines(),
                                          f"golden/{stack}/{name}", f"render/{stack}/{name}", n=2, lineterm=""))
        problems += lines[:SHOWN_LINES] + ([f"... ({len(lines) - SHOWN_LINES} more diff lines)"]
                                           if len(lines) > SHOWN_LINES else [])
    if len(differing) > SHOWN_FILES:
        problems.append(f"... and {len(differing) - SHOWN_FILES} more differing files: {', '.join(differing[SHOWN_FILES:])}")
    if problems:
        pytest.fail(f"{stack}: the render differs from tests/fixtures/golden/{stack}/; if the change is "
                    f"intended, run `make golden` and commit the goldens\n" + "\n".join(problems), pytrace=False)
