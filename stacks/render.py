"""`swan render`: run the Pulumi program under Pulumi's mock engine and write what it declares.

No Pulumi CLI, cloud or credentials are involved: the very program `pulumi up` runs registers its
resources with a recording monitor. Secrets are shown as `[secret]`; output is sorted so that two
renders of the same config are byte-identical.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from stacks import charts, yaml_text
from stacks.config.loader import display_path, read_and_validate, stack_file, to_engine_config
from stacks.config.types import SECRET_PLACEHOLDER
from stacks.errors import InputError, Problem
from stacks.events.checks import cross_stack_problems

SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Outputs the cloud computes that the program reads (mocks otherwise echo inputs only),
# rendered as placeholders naming the resource.
COMPUTED_OUTPUTS = {
    "openstack:networking/port:Port": {"allFixedIps": lambda name: [f"[{name} address]"]},
    # kubeconfigs (secret, so shown as `[secret]`): the stack outputs' contract requires a text
    "openstack:containerinfra/cluster:Cluster": {"kubeconfig": lambda name: {"raw_config": f"[{name} kubeconfig]"}},
    "pulumi-python:dynamic/kind:Cluster": {"kubeconfig": lambda name: f"[{name} kubeconfig]"},
}
# The same for invokes, by token (results in camelCase, as a provider answers).
COMPUTED_CALLS = {
    "oci:ContainerEngine/getClusterKubeConfig:getClusterKubeConfig": {"content": "[cluster kubeconfig]"},
}


@dataclass(frozen=True)
class Registered:
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict
    options: dict = field(default_factory=dict)  # only the non-default ones (`resource_options`)

    def to_json(self) -> dict:
        found = {"type": self.type, "name": self.name, "parent": self.parent, "custom": self.custom,
                 "inputs": self.inputs}
        if self.options:
            found["options"] = self.options
        return found


def _mask_leaves(value: Any) -> Any:
    """A secret's structure with every leaf masked: a Secret's keys stay visible, never its values."""
    if isinstance(value, dict):
        return {k: _mask_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(v) for v in value]
    return SECRET_PLACEHOLDER


def _mask_secrets(value: Any) -> Any:
    """Replace Pulumi's wire form of a secret with the placeholder, leaf by leaf, everywhere in a value."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return _mask_leaves(_mask_secrets(value.get("value")))
        return {k: _mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secrets(v) for v in value]
    return value


def _normalise(value: Any) -> Any:
    """Numbers come back from the wire as floats: show whole ones as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def resource_options(request) -> dict:
    """The options of one RegisterResource request that decide how `pulumi up` changes the resource
    (protection, ignored and replacing properties, ordering, timeouts), only those not at their default,
    so that a render shows them and `swan diff` can use them.

    `dependsOn` is the explicit part of the request's dependencies: the SDK sends the union of
    `depends_on` and every input's own dependencies, so those found in `propertyDependencies` are left out.
    """
    found: dict = {}
    if request.protect:
        found["protect"] = True
    if request.retainOnDelete:
        found["retainOnDelete"] = True
    if request.deleteBeforeReplace:
        found["deleteBeforeReplace"] = True
    if request.ignoreChanges:
        found["ignoreChanges"] = sorted(request.ignoreChanges)
    if request.replaceOnChanges:
        found["replaceOnChanges"] = sorted(request.replaceOnChanges)
    timeouts = {k: getattr(request.customTimeouts, k) for k in ("create", "update", "delete")
                if getattr(request.customTimeouts, k)}
    if timeouts:
        found["customTimeouts"] = timeouts
    implicit = {urn for deps in request.propertyDependencies.values() for urn in deps.urns}
    explicit = sorted({_type_and_name(urn) for urn in request.dependencies if urn not in implicit} - {None})
    if explicit:
        found["dependsOn"] = explicit
    return found


def _type_and_name(urn: str) -> str | None:
    """'type::name' of a parent URN; None for the root stack."""
    if not urn:
        return None
    parts = urn.split("::")
    type_ = parts[2].split("$")[-1]
    if type_ == "pulumi:pulumi:Stack":
        return None
    return f"{type_}::{parts[3]}"


@dataclass(frozen=True)
class Rendered:
    """Everything one offline run of the program declared: resources and stack outputs."""

    resources: list[Registered]
    outputs: dict[str, Any]
    kubernetes_version: str = "1.31"  # what charts are templated for
    charts: list[charts.ReleaseTemplate] = field(default_factory=list)  # filled by `render`


def run_program(stack: str) -> Rendered:
    """Validate the stack's config, then run the program under mocks and return what it declared.

    Stacks the program references (an event's environment) are rendered first, so that a
    StackReference sees the outputs that stack would export.
    """
    import pulumi
    from pulumi.runtime import mocks, settings

    path = stack_file(stack)
    raw, cfg = read_and_validate(path)  # operator-facing errors before any Pulumi machinery
    if problems := cross_stack_problems(cfg, display_path(path)):
        raise InputError(problems)
    references = {name: run_program(name).outputs for name in getattr(cfg, "referenced_stacks", lambda: [])()}
    config, secret_keys = to_engine_config(raw)

    recorded: list[Registered] = []
    exported: dict[str, Any] = {}

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            if args.typ == "pulumi:pulumi:StackReference":
                referenced = str(args.inputs["name"]).rsplit("/", 1)[-1]
                return referenced, {"name": args.inputs["name"], "outputs": references[referenced],
                                    "secretOutputNames": []}
            inputs = dict(args.inputs)
            known_after_apply = {k: v(args.name) for k, v in COMPUTED_OUTPUTS.get(args.typ, {}).items()
                                 if inputs.get(k) is None}
            return f"{args.name}-id", {**inputs, **known_after_apply}

        def call(self, args: pulumi.runtime.MockCallArgs):
            # Invokes with a computed result above; look-ups by name (OpenStack's external network) get a
            # stable id; other invokes return {}.
            if args.token in COMPUTED_CALLS:
                return dict(COMPUTED_CALLS[args.token])
            name = args.args.get("name")
            return {"id": f"{name}-id", "name": name} if isinstance(name, str) else {}

    class RecordingMonitor(mocks.MockMonitor):
        def RegisterResource(self, request):
            if request.type != "pulumi:pulumi:Stack":
                inputs = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
                recorded.append(Registered(request.type, request.name, _type_and_name(request.parent),
                                           bool(request.custom), _normalise(_mask_secrets(inputs)),
                                           resource_options(request)))
            return super().RegisterResource(request)

    from stacks import program

    loop = asyncio.new_event_loop()  # the SDK runs on the current loop; start clean, close when done
    asyncio.set_event_loop(loop)
    settings.set_root_resource(None)  # set_mocks keeps the first root stack otherwise
    pulumi.runtime.set_all_config(config, secret_keys)
    monitor = RecordingMonitor(Mocks())
    mocks.set_mocks(monitor.mocks, project="swan", stack=stack, preview=False, monitor=monitor)

    @pulumi.runtime.test
    def _program():
        program.run()
        outputs = {name: pulumi.Output.from_input(value) for name, value in settings.get_root_resource().outputs.items()}

        async def keep() -> None:
            for name, output in outputs.items():
                secret = await output.is_secret()
                exported[name] = SECRET_PLACEHOLDER if secret else _normalise(await output.future())

        return asyncio.ensure_future(keep())

    try:
        _program()
    finally:
        loop.close()
    return Rendered(sorted(recorded, key=lambda r: (r.type, r.name)), dict(sorted(exported.items())),
                    kubernetes_version=getattr(cfg, "kubernetes_version", "1.31"))


def manifest(resource: Registered) -> dict | None:
    """The complete Kubernetes object for a directly declared resource (not Helm, not providers)."""
    if not resource.type.startswith("kubernetes:") or resource.type == HELM_RELEASE:
        return None
    inputs = resource.inputs
    if "apiVersion" not in inputs or "kind" not in inputs:
        return None
    return {"apiVersion": inputs["apiVersion"], "kind": inputs["kind"],
            **{k: v for k, v in inputs.items() if k not in ("apiVersion", "kind")}}


def helm_release(resource: Registered) -> dict:
    inputs = resource.inputs
    return {"chart": inputs.get("chart"), "version": inputs.get("version"),
            "repository": (inputs.get("repositoryOpts") or {}).get("repo"),
            "namespace": inputs.get("namespace"), "values": inputs.get("values", {})}


def release_specs(resources: list[Registered]) -> list[charts.ReleaseSpec]:
    """The Helm releases of a render, as `helm template` needs them."""
    specs = []
    for resource in resources:
        if resource.type == HELM_RELEASE:
            release = helm_release(resource)
            specs.append(charts.ReleaseSpec(
                release=resource.inputs.get("name", resource.name), namespace=release["namespace"],
                ref=charts.ChartRef(release["chart"], str(release["version"]), release["repository"]),
                values=release["values"] if isinstance(release["values"], dict) else {}))
    return specs


def api_versions(resources: list[Registered]) -> list[str]:
    """API versions of the custom resources the program creates: the cluster serves them (their CRDs
    come with a release or are documented prerequisites), so charts may rely on them."""
    found = set()
    for resource in resources:
        obj = manifest(resource)
        if obj is not None and "." in obj["apiVersion"].split("/")[0] and "/" in obj["apiVersion"]:
            found.add(obj["apiVersion"])
    return sorted(found)


def template_charts(rendered: Rendered, dirs: list[Path]) -> list[charts.ReleaseTemplate]:
    """Every release of the render through its real chart (problems reported per release)."""
    return charts.template_all(release_specs(rendered.resources), dirs, f"{rendered.kubernetes_version}.0",
                               api_versions(rendered.resources))


MARKER = ".swan-render"  # marks a folder `swan render` wrote, so it may replace it next time


def check_out_folder(out: Path) -> None:
    """Refuse, before any work, a place that is not ours to replace: a file, a folder holding
    anything but an earlier render, or a place this user cannot write."""
    shown = str(out)
    if out.exists() and not out.is_dir():
        raise InputError(Problem(shown, "--out", "is a file, not a folder"))
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise InputError(Problem(shown, "--out", "holds files that are not an earlier `swan render`; "
                                                 "nothing was changed (choose a new or empty folder)"))
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(Problem(shown, "--out", f"cannot write under {existing}"))


def _write_tree(rendered: Rendered, out: Path, stack: str) -> dict[str, int]:
    resources = rendered.resources
    (out / "k8s").mkdir(parents=True)
    (out / "helm").mkdir()
    (out / "charts").mkdir()
    (out / MARKER).write_text(f"swan render {stack}\n")
    (out / "resources.json").write_text(json.dumps([r.to_json() for r in resources], indent=2, sort_keys=True) + "\n")
    (out / "outputs.json").write_text(json.dumps(rendered.outputs, indent=2, sort_keys=True) + "\n")
    counts = {"resources": len(resources), "k8s": 0, "helm": 0, "charts": 0}
    for resource in resources:
        if resource.type == HELM_RELEASE:
            release = resource.inputs.get("name", resource.name)
            (out / "helm" / f"{release}.yaml").write_text(yaml_text.dump(helm_release(resource)))
            counts["helm"] += 1
        elif (obj := manifest(resource)) is not None:
            meta = obj.get("metadata", {})
            file = f"{obj['kind']}-{meta.get('namespace', 'cluster')}-{meta.get('name', resource.name)}"
            if (out / "k8s" / f"{file}.yaml").exists():  # the same object in a second cluster (an event
                file = f"{file}--{resource.name}"          # spanning environments): keep both
            (out / "k8s" / f"{file}.yaml").write_text(yaml_text.dump(obj))
            counts["k8s"] += 1
    index = {}
    for done in rendered.charts:
        index[done.release] = {"chart": done.ref.folder, "objects": len(done.objects or [])}
        if done.problem:
            index[done.release]["problem"] = done.problem
            continue
        folder = out / "charts" / done.release
        folder.mkdir()
        for obj in done.objects or []:
            (folder / charts.file_name(obj)).write_text(yaml_text.dump(charts.redacted(obj, SECRET_PLACEHOLDER)))
            counts["charts"] += 1
    (out / "charts.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return counts


def write(rendered: Rendered, out: Path, stack: str = "") -> dict[str, int]:
    """Write the render under `out` atomically: into a folder beside it, then swapped in, so an
    error or a full disk leaves the previous render as it was. Only an earlier render is replaced."""
    check_out_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        counts = _write_tree(rendered, staging, stack)
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            old.rmdir()
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old)
        else:
            staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return counts


def render(stack: str, out: Path | None = None, chart_dirs: list[Path] | None = None) -> tuple[Path, Rendered]:
    """Run the program for STACK, template its releases' charts and write it all under `out`."""
    out = out or Path("build") / "render" / stack
    check_out_folder(out)  # before any work
    rendered = run_program(stack)
    rendered.charts.extend(template_charts(rendered, chart_dirs if chart_dirs is not None else charts.chart_dirs()))
    write(rendered, out, stack)
    return out, rendered
