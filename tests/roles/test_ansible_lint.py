"""ansible-lint (profile and rules in .ansible-lint) over roles/ and playbooks/, offline;
every role has the galaxy metadata the linter and Galaxy expect. No hosts, no root."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent.name for p in (REPO / "roles").glob("*/tasks/main.yml"))
LINT = Path(sys.executable).parent / "ansible-lint"


def lint(*paths: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    """Run ansible-lint the way a developer would, but with no way out: --offline (no
    collection installs, no galaxy, no version check), proxies pointing at a closed port,
    and as root its own empty network namespace. Its cache goes to `home`, not the checkout."""
    assert LINT.exists(), f"{LINT} missing: pip install -e '.[test]' (ansible-lint is a test dependency)"
    env = {
        **os.environ,
        "PATH": f"{LINT.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LINT_SKIP_SCHEMA_UPDATE": "1",
        "NO_COLOR": "1",
        "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
    }
    env.pop("ANSIBLE_CONFIG", None)
    command = [str(LINT), "--offline", "--nocolor", *paths]
    if os.geteuid() == 0 and shutil.which("unshare"):
        command = ["unshare", "--net", "--"] + command
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_roles_and_playbooks_pass_ansible_lint(tmp_path):
    cache_existed = (REPO / ".ansible").exists()
    done = lint("roles", "playbooks", cwd=REPO, home=tmp_path / "ansible-home")
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"ansible-lint failed (exit {done.returncode}):\n{output}"
    assert "Profile 'production' was required, and it passed" in output, output
    processed = re.search(r"in (\d+) files processed", output)
    assert processed and int(processed.group(1)) >= 6 * len(ROLES), output  # the run saw the roles
    assert cache_existed or not (REPO / ".ansible").exists(), "ansible-lint wrote a cache into the checkout"


def test_ansible_lint_reports_a_bad_role_with_the_project_config(tmp_path):
    """The configuration lints for real: a role breaking production rules fails, named
    (in a copy of the project's config: ansible-lint reads the config of the folder it runs in)."""
    shutil.copy(REPO / ".ansible-lint", tmp_path / ".ansible-lint")
    tasks = tmp_path / "roles" / "bad_role" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text("---\n- shell: echo hi\n- name: fetch\n  get_url: {url: 'http://x', dest: /tmp/x}\n")
    done = lint("roles", cwd=tmp_path, home=tmp_path / "ansible-home")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    for rule in ("name[missing]", "fqcn[action-core]", "no-changed-when", "risky-file-permissions"):
        assert rule in output, f"{rule} not reported:\n{output}"
    assert "roles/bad_role/tasks/main.yml" in output


@pytest.mark.parametrize("role", ROLES)
def test_role_has_galaxy_metadata(role):
    meta = yaml.safe_load((REPO / "roles" / role / "meta" / "main.yml").read_text())
    info = meta["galaxy_info"]
    for key in ("author", "description", "license", "min_ansible_version"):
        assert str(info.get(key) or "").strip(), f"{role}: galaxy_info.{key} missing"
    assert info["platforms"] == [{"name": "Debian", "versions": ["bookworm"]}]
    assert isinstance(meta.get("dependencies"), list)
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    assert specs["argument_specs"]["main"]["options"], f"{role}: no argument_specs"


def test_every_vendor_repository_goes_through_the_internal_role():
    """No role keeps its own copy of the vendor repository steps."""
    for role in ROLES:
        if role == "vendor_repo":
            continue
        for path in (REPO / "roles" / role).rglob("*"):
            if path.is_file() and path.suffix in (".yml", ".yaml", ".j2"):  # what Ansible runs, not READMEs
                text = path.read_text()
                assert "sources.list.d" not in text and "/etc/apt/keyrings" not in text, f"{path} writes apt sources itself"
                assert "vendor.sources" not in path.name
