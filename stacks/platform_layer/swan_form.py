"""SWAN's session form, generated from the stack config (pure, no Pulumi).

SWAN's spawner (`swanspawner` 1.2.48, SwanSpawner.options_form_config) renders its form from a
YAML document: `lcg_options` lists the software stacks (one `selection` per LCG release, with
its platforms and the cores, memory, Spark clusters and HTCondor pools offered with it), and it
validates every submitted choice against that same document. The swan chart ships such a file
in an older format that this spawner no longer reads, so the stack writes its own.

GPUs are not in this document: the spawner discovers GPU flavours from the cluster's nodes,
and its form offers them only with a release whose name contains `cuda`.
"""
from __future__ import annotations

from stacks.config.model import EnvironmentConfig, SessionSize

FORM_PATH = "/srv/jupyterhub/swan-iac/options_form_config.yaml"
SPARK_CLUSTER = "k8s"  # the form value of "Spark on this cluster" (SWAN's name for Spark on Kubernetes)


def default_size(cfg: EnvironmentConfig) -> SessionSize:
    return next((s for s in cfg.hub.sessions if s.default), cfg.hub.sessions[0])


def _ordered(values: list[int], first: int) -> list[int]:
    """Distinct values, the default first (the form preselects the first option)."""
    return [first, *sorted(set(values) - {first})]


def cores_options(cfg: EnvironmentConfig) -> list[dict]:
    first = default_size(cfg).cores
    return [{"value": str(c), "text": str(c)} for c in _ordered([s.cores for s in cfg.hub.sessions], first)]


def memory_options(cfg: EnvironmentConfig) -> list[dict]:
    first = default_size(cfg).memory_gib
    return [{"value": str(m), "text": f"{m} GB"}
            for m in _ordered([s.memory_gib for s in cfg.hub.sessions], first)]


def cluster_options(cfg: EnvironmentConfig) -> list[dict]:
    clusters = [{"value": "none", "text": "None"}]
    if cfg.spark.enabled:
        clusters.append({"value": SPARK_CLUSTER, "text": "Spark on this cluster"})
    return clusters


def options_form(cfg: EnvironmentConfig) -> dict:
    """The spawner's form document: one selection per LCG release, in the config's order."""
    releases: dict[str, list] = {}
    for sw in cfg.hub.software:
        releases.setdefault(sw.release, []).append(sw)
    selections = [{"type": "label", "label": {"value": "software-stacks", "text": "Software stacks"}}]
    for release, stacks in releases.items():
        selections.append({
            "type": "selection",
            "lcg": {"value": release, "text": stacks[0].label or release},
            "platforms": [{"value": sw.platform, "text": sw.label or sw.platform} for sw in stacks],
            "cores": cores_options(cfg),
            "memory": memory_options(cfg),
            "clusters": cluster_options(cfg),
            "condor": [{"value": "none", "text": "None"}],
        })
    return {
        "lcg_options": selections,
        "customenv_options": [],
        "enable_customenv_form": "false",
        "enable_generate_url_form": "false",
        "enable_network_form": "false",
    }


def form_fields(cfg: EnvironmentConfig, release: str, platform: str, size: SessionSize | None = None,
                gpu: str = "none", spark: bool = False) -> dict[str, str]:
    """The fields the form's page posts for one choice (what a browser sends, and what
    `swan verify` sends to the hub API as user options)."""
    size = size or default_size(cfg)
    return {"software_source": "lcg", "lcg": release, "platforms": platform, "cores": str(size.cores),
            "memory": str(size.memory_gib), "clusters": SPARK_CLUSTER if spark else "none", "condor": "none",
            "scriptenv": "", "gpu": gpu}


def api_user_options(cfg: EnvironmentConfig, release: str, platform: str, size: SessionSize | None = None,
                     gpu: str = "none") -> dict:
    """The same choice as user options for the hub API (`POST /users/<name>/server`), which hands
    its body to the spawner unconverted: what SwanSpawner.options_from_form would have made."""
    size = size or default_size(cfg)
    return {"software_source": "lcg", "lcg": release, "platforms": platform, "cores": size.cores,
            "memory": f"{size.memory_gib}G", "clusters": "none", "condor": "none", "scriptenv": "",
            "use-jupyterlab": "unchecked", "use-local-packages": "unchecked", "gpu": gpu, "file": "",
            "rucio": "none", "rucioRSE": "none", "rse_mount_path": "", "path_begins_at": "0"}
