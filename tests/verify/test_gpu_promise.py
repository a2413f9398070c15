"""`hub.gpu` checks the GPU a session sees against what its flavour promised: the MIG device of its
profile, an MPS client's share (the device plugin's MPS pipe directory), or a GPU without MIG.

The session side runs in a real GPU session only; here the probe's output is recorded text in
`nvidia-smi -L`'s format (a GPU line, then one indented line per MIG device), as a T4 and an
A100 with MIG print it."""
from __future__ import annotations

import pytest

from stacks.config.loader import load_stack, stack_names
from stacks.platform_layer.gpu_flavours import flavours
from stacks.verify.hub import GpuPromise

T4 = ["GPU 0: Tesla T4 (UUID: GPU-5d1c1f7a-2b0e-4c1e-9d6f-1a2b3c4d5e6f)"]
A100_MIG = ["GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f)",
            "  MIG 1g.5gb      Device  0: (UUID: MIG-7f6e5d4c-3b2a-1908-7654-3210fedcba98)"]


def probe(gpus, mps_pipe=None) -> dict:
    return {"smi": "/usr/bin/nvidia-smi", "gpus": gpus, "devs": ["/dev/nvidia0"], "visible": "GPU-x",
            "mps_pipe": mps_pipe}


@pytest.mark.parametrize("promise, found, problem", [
    (GpuPromise("mig", profile="1g.5gb"), probe(A100_MIG), None),
    (GpuPromise("mig", memory_gb="5"), probe(A100_MIG), None),
    (GpuPromise("mig", profile="2g.10gb"), probe(A100_MIG), "no MIG 2g.10gb"),
    (GpuPromise("mig", memory_gb="10"), probe(A100_MIG), "no MIG device of 10 GB"),
    (GpuPromise("mig", profile="1g.5gb"), probe(T4), "no MIG 1g.5gb"),
    (GpuPromise("gpu"), probe(T4), None),
    (GpuPromise("gpu"), probe(A100_MIG), "a MIG device where a whole GPU was promised"),
    (GpuPromise("mps"), probe(T4, mps_pipe="/mps/nvidia.com/gpu/pipe"), None),
    (GpuPromise("mps"), probe(T4), "not an MPS client"),
    (GpuPromise("mps"), probe(A100_MIG, mps_pipe="/mps/pipe"), "a MIG device where a shared GPU was promised"),
])
def test_what_the_session_sees_against_the_promise(promise, found, problem):
    got = promise.problem(found)
    assert (got is None) if problem is None else (got is not None and problem in got), got


@pytest.mark.parametrize("resource, sharing, expected", [
    ("nvidia.com/mig-1g.5gb", "mig", GpuPromise("mig", profile="1g.5gb")),
    ("nvidia.com/gpu", "mps", GpuPromise("mps")),
    ("nvidia.com/gpu", "time-slicing", GpuPromise("gpu")),
    ("nvidia.com/gpu", "whole", GpuPromise("gpu")),
])
def test_an_event_promises_what_its_document_says(resource, sharing, expected):
    assert GpuPromise.of_event(resource, sharing) == expected


def test_every_fixture_pools_flavour_names_its_promise():
    """The flavour names the hub gives (gpu_flavours, mirrored by the hub code) parse back to the
    pool's kind of GPU, for every GPU pool of every fixture environment."""
    seen = set()
    for stack in (s for s in stack_names() if not s.startswith("event-")):
        for pool in (p for p in load_stack(stack).node_pools if p.gpu):
            for flavour, resource in flavours(pool.gpu).items():
                promise = GpuPromise.of_flavour(flavour)
                expected = "mig" if resource.startswith("nvidia.com/mig-") else \
                    "mps" if pool.gpu.sharing and pool.gpu.sharing.mode == "mps" else "gpu"
                assert promise.mode == expected, (stack, pool.name, flavour)
                if expected == "mig":
                    assert resource.endswith(f".{promise.memory_gb}gb"), (flavour, resource)
                seen.add(expected)
    assert seen == {"mig", "mps", "gpu"}
