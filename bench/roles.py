"""First-run and re-run time of every role on a fresh disposable Debian host (root needed).

Each role gets its own freshly booted host and is applied alone (playbooks/role.yml)
with the variables the role tests use; the re-run must change nothing.
Run: .venv/bin/python bench/roles.py [ROLE ...]"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "hosts"), str(REPO / "tests" / "roles")]

from disposable_hosts import lab_session  # noqa: E402
from fleet import FLEET, ROLE_HOSTS  # noqa: E402

from stacks.nodes import apply_playbook, build_inventory, write_inventory  # noqa: E402
from stacks.nodes.inventory import ROLES  # noqa: E402


def main(roles: list[str]) -> int:
    rows = []
    started = time.monotonic()
    with lab_session() as lab, tempfile.TemporaryDirectory() as tmp:
        print(f"lab ready in {time.monotonic() - started:.1f}s (image cached after the first build)", flush=True)
        for role in roles:
            groups, variables = FLEET[ROLE_HOSTS[role][0]]
            booted = time.monotonic()
            host = lab.boot(role.replace("_", "-"))
            boot_seconds = time.monotonic() - booted
            inventory = write_inventory(build_inventory([lab.inventory_host(host, [], variables)]), Path(tmp) / f"{role}.yml")
            first = apply_playbook("role", inventory, extravars={"swan_role": role})
            second = apply_playbook("role", inventory, extravars={"swan_role": role})
            rows.append((role, boot_seconds, first.seconds, first.changed, second.seconds, second.changed))
            print(f"{role:<14} boot {boot_seconds:5.1f}s  first {first.seconds:6.1f}s ({first.changed} changed)  "
                  f"re-run {second.seconds:6.1f}s ({second.changed} changed)", flush=True)
            lab.stop(host)
    print()
    print(f"{'role':<14} {'boot s':>7} {'first s':>8} {'changed':>8} {'re-run s':>9} {'changed':>8}")
    for role, boot, first, first_changed, rerun, rerun_changed in rows:
        print(f"{role:<14} {boot:7.1f} {first:8.1f} {first_changed:8d} {rerun:9.1f} {rerun_changed:8d}")
    print(f"total {time.monotonic() - started:.0f}s")
    return 1 if any(row[5] for row in rows) else 0


if __name__ == "__main__":
    wanted = sys.argv[1:] or list(ROLES)
    unknown = sorted(set(wanted) - set(ROLES))
    if unknown:
        sys.exit(f"unknown role(s): {', '.join(unknown)} (known: {', '.join(ROLES)})")
    sys.exit(main(wanted))
