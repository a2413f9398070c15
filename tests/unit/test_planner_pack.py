"""The packer: exact optimum (against exhaustive search), valid covering plans, bounds, errors."""
from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.errors import InputError
from stacks.planner.pack import pack, uniform_layout_count, whole_gpu_count

try:
    import planner_reference as ref
except ImportError:  # tests laid out as a package
    from . import planner_reference as ref


def assert_sound(result, model, demand):
    """What every plan must satisfy, checked with the independent oracle."""
    assert result.gpu == model
    assert result.gpus == sum(count for count, _ in result.layouts)
    assert all(count > 0 for count, _ in result.layouts)
    for _, layout in result.layouts:
        assert ref.fits(model, layout), layout
        assert set(layout) <= set(demand), "spare instances only of demanded profiles"
    for profile, n in demand.items():
        assert sum(count * layout.get(profile, 0) for count, layout in result.layouts) >= n
    assert result.lower_bound <= result.gpus
    if model in ref.REFERENCE:  # compute-slice bound, computed here
        table = ref.REFERENCE[model][2]
        compute = sum((table[p][0] if p != "full" else ref.REFERENCE[model][1]) * n for p, n in demand.items())
        assert result.gpus >= math.ceil(compute / ref.REFERENCE[model][1])
    assert result.gpus <= result.uniform_gpus <= result.whole_gpus == sum(demand.values())


def small_demands(model):
    """Every demand of one or two profiles with 1..3 sessions each, plus a few of three."""
    names = ref.profiles(model)
    out = [{p: n} for p in names for n in (1, 2, 3, 5)]
    out += [{p: a, q: b} for p, q in itertools.combinations(names, 2) for a in (1, 3) for b in (1, 2)]
    out += [dict(zip(trio, (2, 1, 3))) for trio in itertools.combinations(names, 3)][:12]
    return out


@pytest.mark.parametrize("model", ref.ALL_MODELS)
def test_exact_minimum_against_exhaustive_search(model):
    for demand in small_demands(model):
        result = pack(model, demand)
        assert result.gpus == ref.min_gpus(model, demand), demand
        assert_sound(result, model, demand)


@st.composite
def demands(draw, max_count=6, max_profiles=3):
    model = draw(st.sampled_from(ref.ALL_MODELS))
    names = draw(st.lists(st.sampled_from(ref.profiles(model)), min_size=1, max_size=max_profiles, unique=True))
    return model, {p: draw(st.integers(1, max_count)) for p in names}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(demands())
def test_random_small_demands_are_optimal(case):
    model, demand = case
    result = pack(model, demand)
    assert result.gpus == ref.min_gpus(model, demand)
    assert_sound(result, model, demand)


@settings(max_examples=60, deadline=None)
@given(demands(max_count=400, max_profiles=7))
def test_large_demands_give_valid_covering_plans(case):
    model, demand = case
    result = pack(model, demand)
    assert_sound(result, model, demand)
    assert pack(model, dict(reversed(demand.items()))) == result, "same input, same plan"


def test_design_example():
    result = pack("A100-40GB", {"1g.5gb": 28, "3g.20gb": 4})
    assert (result.gpus, result.lower_bound) == (6, 6)
    assert result.layouts == [(4, {"1g.5gb": 7}), (2, {"3g.20gb": 2})]


def test_mixed_demand_beats_uniform_layouts():
    # NVIDIA's all-balanced shape: one GPU holds all four, uniform layouts need three GPUs.
    result = pack("A100-40GB", {"3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 2})
    assert result.gpus == 1 and result.uniform_gpus == 3 and result.whole_gpus == 4
    assert result.layouts == [(1, {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1})]


def test_single_profile_gets_one_uniform_layout_with_spare_seats():
    result = pack("H100-80GB", {"1g.10gb": 60})
    assert result.gpus == 9 and result.layouts == [(9, {"1g.10gb": 7})]
    assert result.spare == {"1g.10gb": 3}


def test_layouts_sorted_by_count_then_shape():
    result = pack("A30-24GB", {"4g.24gb": 5, "2g.12gb": 3, "1g.6gb": 1})
    counts = [c for c, _ in result.layouts]
    assert counts == sorted(counts, reverse=True)
    assert result.gpus == ref.min_gpus("A30-24GB", {"4g.24gb": 5, "2g.12gb": 3, "1g.6gb": 1}) == 7


def test_full_gpus_on_a_mig_model_are_mig_disabled_gpus():
    result = pack("A100-80GB", {"full": 2, "1g.10gb": 7})
    assert sorted(result.layouts, key=str) == sorted([(2, {"full": 1}), (1, {"1g.10gb": 7})], key=str)


def test_comparison_helpers():
    assert whole_gpu_count({"1g.5gb": 10, "3g.20gb": 3}) == 13
    assert uniform_layout_count("A100-40GB", {"1g.5gb": 10, "3g.20gb": 3}) == 2 + 2
    assert uniform_layout_count("T4", {"full": 4}) == 4


@pytest.mark.parametrize("model, demand, key, text", [
    ("A200", {"1g.5gb": 1}, "--gpu", "valid models: A100-40GB"),
    ("A30-24GB", {"1g.5gb": 1}, "--demand", "its profiles are: 1g.6gb"),
    ("T4", {"1g.5gb": 1}, "--demand", "its profiles are: full"),
    ("L4", {"full": 0}, "--demand", "positive integer"),
    ("L4", {"full": 2.5}, "--demand", "positive integer"),
])
def test_bad_input_names_the_argument(model, demand, key, text):
    with pytest.raises(InputError) as err:
        pack(model, demand)
    assert err.value.problems[0].key == key
    assert text in err.value.problems[0].message


def test_bad_input_with_caller_keys():
    with pytest.raises(InputError) as err:
        pack("A100-40GB", {"1g.6gb": 60}, path="config/Pulumi.event-ml.yaml", demand_key="swan:session.profile")
    assert str(err.value).startswith("config/Pulumi.event-ml.yaml: swan:session.profile: profile '1g.6gb'")
