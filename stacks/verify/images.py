"""The container images the stacks deploy, as declared in `images/matrix.yaml`, and the checks
that keep Dockerfiles and image references honest.

`load_matrix()` reads what images/ builds (`builds`: image, tag, base, platforms, Dockerfile)
and which upstream images are deployed unchanged (`upstream`: image, tag). `image_ref_problems`
tells whether image references used by the stacks (e.g. every `image:` of a render) are
exactly ones the matrix declares; `dockerfile_problems` lints a Dockerfile: base pinned by
digest or exact version tag, a non-root (numeric) USER, the OCI labels.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

REPO = Path(__file__).resolve().parents[2]
MATRIX = REPO / "images" / "matrix.yaml"

PLATFORMS = {"linux/amd64", "linux/arm64", "linux/ppc64le", "linux/s390x"}
OCI_LABELS = (
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.created",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
)


@dataclass(frozen=True)
class ImageBuild:
    image: str
    tag: str
    base: str
    platforms: tuple[str, ...]
    dockerfile: str
    context: str = "."

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.tag}"


@dataclass(frozen=True)
class UpstreamImage:
    image: str
    tag: str
    purpose: str = ""

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.tag}"


@dataclass
class Matrix:
    builds: list[ImageBuild] = field(default_factory=list)
    upstream: list[UpstreamImage] = field(default_factory=list)

    def tags_by_image(self) -> dict[str, str]:
        return {e.image: e.tag for e in [*self.builds, *self.upstream]}


def load_matrix(path: Path = MATRIX) -> Matrix:
    import yaml

    doc = yaml.safe_load(Path(path).read_text()) or {}
    builds = [ImageBuild(image=b["image"], tag=str(b["tag"]), base=b["base"], platforms=tuple(b["platforms"]),
                         dockerfile=b["dockerfile"], context=b.get("context", ".")) for b in doc.get("builds") or []]
    upstream = [UpstreamImage(image=u["image"], tag=str(u["tag"]), purpose=u.get("purpose", ""))
                for u in doc.get("upstream") or []]
    return Matrix(builds, upstream)


def split_ref(ref: str) -> tuple[str, Optional[str], Optional[str]]:
    """`registry:5000/a/b:tag@sha256:..` -> (name, tag, digest); a port is not a tag."""
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest or None


def image_ref_problems(refs: Iterable[str], matrix: Optional[Matrix] = None) -> list[str]:
    """Every image reference must be `name:tag` exactly as images/matrix.yaml declares it."""
    matrix = matrix or load_matrix()
    known = matrix.tags_by_image()
    problems = []
    for ref in sorted(set(refs)):
        name, tag, _ = split_ref(ref)
        if name not in known:
            problems.append(f"{ref}: image not declared in images/matrix.yaml")
        elif tag != known[name]:
            problems.append(f"{ref}: tag {tag or '(none)'} but images/matrix.yaml has {known[name]}")
    return problems


def is_pinned(base: str) -> bool:
    """Pinned = a digest, or an exact version tag (digits with a dot; never `latest`)."""
    name, tag, digest = split_ref(base)
    if digest:
        return bool(re.fullmatch(r"sha256:[0-9a-f]{64}", digest))
    return bool(tag) and tag != "latest" and re.search(r"\d+\.\d+", tag) is not None


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        joined.append(current + stripped)
        current = ""
    if current:
        joined.append(current)
    out = []
    for line in joined:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _label_keys(args: str) -> set[str]:
    return set(re.findall(r'([A-Za-z0-9_.\-]+)=(?:"[^"]*"|\S+)', args))


def dockerfile_problems(text: str, expected_base: Optional[str] = None) -> list[str]:
    """What is wrong with a Dockerfile for images we publish (empty when fine)."""
    problems = []
    steps = dockerfile_instructions(text)
    args = {}
    for word, rest in steps:
        if word == "ARG" and "=" in rest:
            k, v = rest.split("=", 1)
            args[k.strip()] = v.strip().strip('"')
    froms = [rest.split()[0] for word, rest in steps if word == "FROM"]
    if not froms:
        return ["no FROM"]
    stage_names = {rest.split()[-1] for word, rest in steps if word == "FROM" and " as " in rest.lower()}
    for base in froms:
        resolved = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), base)
        if resolved in stage_names:
            continue
        if not is_pinned(resolved):
            problems.append(f"FROM {base}: base image not pinned (use a digest or an exact version tag)")
    final_base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), froms[-1])
    if expected_base and final_base != expected_base:
        problems.append(f"FROM {final_base}: images/matrix.yaml says base {expected_base}")
    last_from = max(i for i, (w, _) in enumerate(steps) if w == "FROM")
    users = [rest for word, rest in steps[last_from:] if word == "USER"]
    if not users:
        problems.append("no USER in the final stage: the image would run as root")
    else:
        user = users[-1].split(":")[0]
        if user in ("root", "0"):
            problems.append(f"USER {users[-1]}: runs as root")
        elif not user.isdigit():
            problems.append(f"USER {users[-1]}: use a numeric UID so Kubernetes runAsNonRoot can verify it")
    labels = set()
    for word, rest in steps:
        if word == "LABEL":
            labels |= _label_keys(rest)
    missing = [k for k in OCI_LABELS if k not in labels]
    if missing:
        problems.append(f"missing OCI labels: {', '.join(missing)}")
    return problems
