"""Wall time of `swan verify --only hub` against a real local JupyterHub: one full run, then
N runs at once (N = 1, 4, 16 by default), each with its own test user and session.

Prints numbers, asserts nothing. Needs what the hub tests need (.ci/deps-hub.sh).
    .venv/bin/python bench/verify.py [--sizes 1,4,16]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "verify"))
from localhub import start_hub  # noqa: E402

SWAN = Path(sys.executable).parent / "swan"


def launch(hub, out: Path, n: int) -> subprocess.Popen:
    return subprocess.Popen(
        [str(SWAN), "verify", "--only", "hub", "--hub-url", hub.url, "--token-env", "HUB_TOKEN",
         "--software-path", sys.executable, "--user-prefix", f"bench{n}", "--spawn-timeout", "300",
         "--check-timeout", "120", "--json", str(out)],
        env={**os.environ, "HUB_TOKEN": hub.token}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def concurrent(hub, n: int, tmp: Path) -> dict:
    outs = [tmp / f"n{n}-{i}.json" for i in range(n)]
    started = time.monotonic()
    procs = [launch(hub, out, i) for i, out in enumerate(outs)]
    codes = [p.wait(timeout=900) for p in procs]
    wall = time.monotonic() - started
    reports = [json.loads(o.read_text()) for o in outs if o.exists()]
    seconds = lambda name: [c["seconds"] for r in reports for c in r["checks"] if c["name"] == name]  # noqa: E731
    return {"n": n, "wall": wall, "ok": codes.count(0), "spawn": seconds("hub.spawn"),
            "execute": seconds("hub.execute"), "cleanup": seconds("hub.cleanup"),
            "left": [u for u in hub.user_names() if u.startswith("bench")]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,16")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="swan-bench-verify-") as tmp:
        tmp = Path(tmp)
        t0 = time.monotonic()
        hub = start_hub(tmp / "hub")
        print(f"local hub up in {time.monotonic() - t0:.1f}s at {hub.url} (cores: {os.cpu_count()}, "
              f"load: {os.getloadavg()[0]:.1f})")
        try:
            first = concurrent(hub, 1, tmp)
            print(f"full hub verification (first run): {first['wall']:.2f}s wall, spawn {first['spawn'][0]:.2f}s, "
                  f"execute {first['execute'][0]:.2f}s, cleanup {first['cleanup'][0]:.2f}s, exit 0: {first['ok'] == 1}")
            print(f"{'N':>3} {'wall s':>8} {'per run s':>10} {'passed':>7} {'spawn median s':>15} "
                  f"{'spawn max s':>12} {'execute median s':>17} {'users left':>10}")
            for n in sizes:
                r = concurrent(hub, n, tmp)
                med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
                print(f"{n:>3} {r['wall']:>8.2f} {r['wall'] / n:>10.2f} {r['ok']:>4}/{n:<2} {med(r['spawn']):>15.2f} "
                      f"{max(r['spawn'], default=float('nan')):>12.2f} {med(r['execute']):>17.2f} {len(r['left']):>10}")
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
