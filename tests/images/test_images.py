"""images/: Dockerfiles pinned, non-root, labelled; the build matrix consistent with them; and
every image tag the stack config declares is one images/matrix.yaml declares."""
from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pytest
import yaml

from stacks.verify.images import (
    MATRIX,
    PLATFORMS,
    REPO,
    dockerfile_problems,
    image_ref_problems,
    is_pinned,
    load_matrix,
    split_ref,
)

MATRIX_DATA = load_matrix()


@pytest.mark.parametrize("build", MATRIX_DATA.builds, ids=lambda b: b.image)
def test_every_build_has_a_clean_dockerfile_matching_the_matrix(build):
    dockerfile = REPO / build.dockerfile
    assert dockerfile.is_file(), f"{build.dockerfile} missing"
    assert dockerfile_problems(dockerfile.read_text(), expected_base=build.base) == []
    assert is_pinned(build.base)
    assert set(build.platforms) <= PLATFORMS and build.platforms
    assert (REPO / build.context).is_dir()


def test_every_dockerfile_in_images_is_built_by_the_matrix():
    built = {b.dockerfile for b in MATRIX_DATA.builds}
    found = {str(p.relative_to(REPO)) for p in (REPO / "images").rglob("Dockerfile")}
    assert found == built


def test_verify_image_requirements_pin_what_pyproject_pins():
    pins = dict(line.split("==") for line in (REPO / "images/verify/requirements.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pyproject = dict(re.match(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", d).groups() for d in declared)
    for name, version in pins.items():
        # cryptography is not a direct dependency: pin what the project environment resolves
        expected = pyproject.get(name) or metadata.version(name)
        assert version == expected, f"{name}: image pins {version}, project has {expected}"


def _collect_images(value, refs: set[str]) -> None:
    """`image`/`userImage` blocks ({name, tag}) and `nodeImage`-like strings anywhere in a stack file."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("image", "userImage") and isinstance(v, dict) and "name" in v and "tag" in v:
                refs.add(f"{v['name']}:{v['tag']}")
            elif k in ("nodeImage", "nodeLabelerImage") and isinstance(v, str):
                refs.add(v)
            else:
                _collect_images(v, refs)
    elif isinstance(value, list):
        for v in value:
            _collect_images(v, refs)


def _declared_image_refs() -> set[str]:
    """Image references in the typed config: model defaults plus every fixture stack file's overrides."""
    from stacks.config import model
    from stacks.infra.kind.config import KindCluster
    from stacks.infra.openstack.config import OpenStack

    refs = {
        "{0.name}:{0.tag}".format(model.Hub.model_fields["image"].default),
        "{0.name}:{0.tag}".format(model.Hub.model_fields["user_image"].default),
        "{0.name}:{0.tag}".format(model.Verification.model_fields["image"].default),
        KindCluster.model_fields["node_image"].default,
        OpenStack.model_fields["node_labeler_image"].default,
    }
    for path in (REPO / "tests" / "fixtures" / "config").glob("Pulumi.*.yaml"):
        doc = yaml.safe_load(path.read_text()) or {}
        _collect_images(doc.get("config") or {}, refs)
    return refs


def test_every_image_tag_the_stacks_declare_is_in_the_matrix():
    refs = _declared_image_refs()
    assert len(refs) >= 5
    assert image_ref_problems(refs) == []


def test_a_drifted_or_unknown_image_reference_is_reported():
    problems = image_ref_problems(["registry.example.org/swan/verify:0.2.0", "docker.io/library/busybox:1.36",
                                   "kindest/node:v1.31.2"])
    assert problems == [
        "docker.io/library/busybox:1.36: image not declared in images/matrix.yaml",
        "registry.example.org/swan/verify:0.2.0: tag 0.2.0 but images/matrix.yaml has 0.1.0",
    ]


def test_image_references_split_with_registry_ports_and_digests():
    assert split_ref("registry:5000/swan/verify:0.1.0") == ("registry:5000/swan/verify", "0.1.0", None)
    assert split_ref("registry:5000/swan/verify") == ("registry:5000/swan/verify", None, None)
    digest = "sha256:" + "a" * 64
    assert split_ref(f"python:3.11@{digest}") == ("python", "3.11", digest)
    assert is_pinned(f"python@{digest}") and is_pinned("python:3.11.13-slim-bookworm")
    assert not is_pinned("python:latest") and not is_pinned("python") and not is_pinned("python:3-slim")


GOOD = """
FROM python:3.11.13-slim-bookworm
LABEL org.opencontainers.image.title="t" org.opencontainers.image.description="d" \\
      org.opencontainers.image.version=1 org.opencontainers.image.revision=r \\
      org.opencontainers.image.created=c org.opencontainers.image.source=s org.opencontainers.image.licenses=MIT
USER 10001
"""


@pytest.mark.parametrize("change, problem", [
    (("FROM python:3.11.13-slim-bookworm", "FROM python:latest"), "base image not pinned"),
    (("FROM python:3.11.13-slim-bookworm", "FROM python:3-slim"), "base image not pinned"),
    (("USER 10001", "USER root"), "runs as root"),
    (("USER 10001", "USER 0:0"), "runs as root"),
    (("USER 10001", "USER app"), "numeric UID"),
    (("USER 10001", ""), "no USER in the final stage"),
    (("org.opencontainers.image.source=s ", ""), "missing OCI labels: org.opencontainers.image.source"),
])
def test_dockerfile_lint_catches_each_problem(change, problem):
    assert dockerfile_problems(GOOD) == []
    bad = GOOD.replace(*change)
    assert any(problem in p for p in dockerfile_problems(bad)), dockerfile_problems(bad)


def test_user_in_an_earlier_stage_does_not_count():
    multi = "FROM golang:1.23.4 AS build\nUSER 10001\n" + GOOD.replace("USER 10001", "")
    assert "no USER in the final stage: the image would run as root" in dockerfile_problems(multi)


def test_matrix_file_is_where_the_module_reads_it():
    assert MATRIX == REPO / "images" / "matrix.yaml" and MATRIX.is_file()
