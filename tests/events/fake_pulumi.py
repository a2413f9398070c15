"""A stand-in `pulumi` executable for the reconcile tests (installed on PATH by `tests/events/test_event_reconcile.py`).

The real CLI is not installable here (npm's `pulumi` package only downloads the binary from github.com,
which is unreachable). This answers the commands Pulumi's Automation API runs, as read in
`pulumi/automation/_local_workspace.py`, `_stack.py` and `_cmd.py` of the pinned SDK: `version`;
`--non-interactive stack select --stack S` (stderr "no stack named 'S' found" when absent, which the SDK
turns into StackNotFoundError), `stack init S`, `stack export --show-secrets`, `stack tag ls --json`,
`stack tag set K V`, `up --yes --skip-preview ... --exec-kind auto.local`, `destroy --skip-preview --yes ...`,
`stack output --json [--show-secrets]`, `stack history --json --show-secrets --page-size 1 --page 1`.
Every call is appended to $FAKE_PULUMI_LOG (argv, cwd); stacks live in $FAKE_PULUMI_STATE (JSON:
{stack: {"resources": [...], "tags": {...}}}); `outputs` of a stack there is what `stack output` prints.
$FAKE_PULUMI_FAIL="up:STACK" (or destroy:STACK) makes that operation fail like the CLI does (exit 255).
"""
import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    log = Path(os.environ["FAKE_PULUMI_LOG"])
    with log.open("a") as f:
        f.write(json.dumps({"argv": argv, "cwd": os.getcwd()}) + "\n")
    args = [a for a in argv if a != "--non-interactive"]
    if args == ["version"]:
        print("v3.211.0")
        return 0
    state_file = Path(os.environ["FAKE_PULUMI_STATE"])
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    stack = None
    for flag in ("--stack", "-s"):
        if flag in args:
            stack = args[args.index(flag) + 1]
    head = args[:2]

    def save() -> None:
        state_file.write_text(json.dumps(state))

    def missing() -> int:
        print(f"error: no stack named '{stack}' found", file=sys.stderr)
        return 255

    if head == ["stack", "init"]:
        name = args[2]
        state.setdefault(name, {"resources": [], "tags": {}})
        save()
        return 0
    if stack not in state:
        return missing()
    entry = state[stack]
    failing = os.environ.get("FAKE_PULUMI_FAIL", "")
    if head == ["stack", "select"]:
        return 0
    if head == ["stack", "export"]:
        print(json.dumps({"version": 3, "deployment": {"manifest": {}, "resources": entry["resources"]}}))
        return 0
    if args[:3] == ["stack", "tag", "ls"]:
        print(json.dumps(entry["tags"]))
        return 0
    if args[:3] == ["stack", "tag", "set"]:
        entry["tags"][args[3]] = args[4]
        save()
        return 0
    if head == ["stack", "output"]:
        print(json.dumps(entry.get("outputs", {})))
        return 0
    if head == ["stack", "history"]:
        print(json.dumps([{"kind": "update", "startTime": "2026-12-01T00:00:00.000Z", "message": "",
                           "environment": {}, "config": {}, "result": "succeeded",
                           "endTime": "2026-12-01T00:01:00.000Z"}]))
        return 0
    if args[0] in ("up", "destroy"):
        if failing == f"{args[0]}:{stack}":
            print(f"error: {args[0]} of {stack} failed: quota exceeded", file=sys.stderr)
            return 255
        print(f"{'Updating' if args[0] == 'up' else 'Destroying'} ({stack})")
        entry["resources"] = [] if args[0] == "destroy" else [
            {"urn": f"urn:pulumi:{stack}::swan::pulumi:pulumi:Stack::swan-{stack}", "type": "pulumi:pulumi:Stack"},
            {"urn": f"urn:pulumi:{stack}::swan::pulumi:providers:kubernetes::default", "type": "pulumi:providers:kubernetes"},
            {"urn": f"urn:pulumi:{stack}::swan::oci:ContainerEngine/nodePool:NodePool::pool", "type": "oci:ContainerEngine/nodePool:NodePool"},
        ]
        save()
        return 0
    print(f"error: the stand-in does not know {args}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
