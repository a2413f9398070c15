"""MIG geometry: models, profiles, and the set of valid layouts of one GPU."""
from __future__ import annotations

import pytest

from stacks.errors import InputError
from stacks.planner import geometry
from stacks.planner.geometry import MODELS, canonical_model, check_demand, parse_demand, valid_layouts

try:
    import planner_reference as ref
except ImportError:  # tests laid out as a package
    from . import planner_reference as ref


def as_set(layouts):
    return {tuple(sorted(l.items())) for l in layouts}


def test_models_are_the_ones_design_names():
    assert list(MODELS) == ref.ALL_MODELS
    for name, model in MODELS.items():
        assert model.name == name
        assert model.mig == (name in ref.REFERENCE)
        assert list(model.profiles) == ref.profiles(name)


@pytest.mark.parametrize("model", ref.ALL_MODELS)
def test_valid_layouts_are_exactly_the_placeable_ones(model):
    layouts = valid_layouts(model)
    assert as_set(layouts) == set(ref.all_layouts(model))
    assert len(as_set(layouts)) == len(layouts), "no layout listed twice"
    assert all(all(n > 0 for n in l.values()) and l for l in layouts)
    assert valid_layouts(model) == layouts, "same order every time"


@pytest.mark.parametrize("model", list(ref.REFERENCE))
def test_placement_returned_is_a_real_placement(model):
    for layout in valid_layouts(model):
        if "full" in layout:
            continue
        placed = geometry.placement(model, layout)
        assert placed is not None
        assert sorted(p for p, _ in placed) == sorted(p for p, n in layout.items() for _ in range(n))
        assert ref.placement_ok(model, placed)


@pytest.mark.parametrize("layout, valid", [
    ({"3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 2}, True),
    ({"4g.20gb": 1, "3g.20gb": 1}, True),
    ({"4g.20gb": 2}, False),
    ({"1g.10gb": 4}, True),
    ({"1g.10gb": 5}, False),
    ({"1g.5gb": 7}, True),
    ({"1g.5gb": 8}, False),
    ({"7g.40gb": 1, "1g.5gb": 1}, False),
    ({"3g.20gb": 2}, True),
    ({"3g.20gb": 2, "1g.5gb": 1}, False),
    ({"2g.10gb": 3, "1g.10gb": 1}, True),
    ({"2g.10gb": 3, "1g.5gb": 2}, False),  # 1g.5gb cannot start at slice 7
    ({"full": 1, "1g.5gb": 1}, False),
])
def test_reference_examples_a100_40gb(layout, valid):
    assert (layout in valid_layouts("A100-40GB")) is valid
    assert (geometry.placement("A100-40GB", layout) is not None) is valid
    assert ref.fits("A100-40GB", layout) is valid


@pytest.mark.parametrize("model", list(ref.REFERENCE))
def test_no_layout_exceeds_compute_slices(model):
    table = ref.REFERENCE[model][2]
    for layout in valid_layouts(model):
        if "full" not in layout:
            assert sum(table[p][0] * n for p, n in layout.items()) <= ref.REFERENCE[model][1]


@pytest.mark.parametrize("model", list(ref.NVIDIA_UNIFORM))
def test_uniform_layouts_match_nvidia(model):
    for profile, count in ref.NVIDIA_UNIFORM[model].items():
        assert geometry.max_per_gpu(model, profile) == count
        assert {profile: count} in valid_layouts(model)


@pytest.mark.parametrize("model, balanced", [
    ("A100-40GB", {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}),
    ("A100-80GB", {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}),
    ("H100-80GB", {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}),
    ("H200-141GB", {"1g.18gb": 2, "2g.35gb": 1, "3g.71gb": 1}),
    ("A30-24GB", {"1g.6gb": 2, "2g.12gb": 1}),
])
def test_nvidia_all_balanced_is_valid(model, balanced):
    assert balanced in valid_layouts(model)


@pytest.mark.parametrize("model", ref.NO_MIG)
def test_models_without_mig_take_only_full(model):
    assert valid_layouts(model) == [{"full": 1}]
    with pytest.raises(InputError) as err:
        check_demand(model, {"1g.5gb": 1})
    assert "its profiles are: full" in str(err.value)


def test_canonical_model_ignores_case_and_lists_models_when_unknown():
    assert canonical_model("a100-40gb") == "A100-40GB"
    assert canonical_model(" l40s ") == "L40S"
    with pytest.raises(InputError) as err:
        canonical_model("A100")
    (problem,) = err.value.problems
    assert problem.key == "--gpu" and "'A100'" in problem.message
    assert all(m in problem.message for m in ref.ALL_MODELS)


def test_caller_chooses_path_and_key_of_problems():
    with pytest.raises(InputError) as err:
        canonical_model("B100", path="config/Pulumi.event-x.yaml", key="swan:session.gpu_model")
    assert str(err.value).startswith("config/Pulumi.event-x.yaml: swan:session.gpu_model: ")
    with pytest.raises(InputError) as err:
        check_demand("T4", {"1g.5gb": 3}, path="f.yaml", key="swan:session.profile")
    assert err.value.problems[0].path == "f.yaml" and err.value.problems[0].key == "swan:session.profile"


def test_check_demand_reports_every_problem_with_profiles_listed():
    with pytest.raises(InputError) as err:
        check_demand("A30-24GB", {"1g.5gb": 1, "2g.12gb": 0, "4g.24gb": -2, "1g.6gb": True, "full": "3"})
    messages = [p.message for p in err.value.problems]
    assert len(messages) == 5
    assert all(p.key == "--demand" for p in err.value.problems)
    assert "1g.6gb, 2g.12gb, 4g.24gb, full" in messages[0]
    with pytest.raises(InputError):
        check_demand("A30-24GB", {})


def test_check_demand_sums_spellings_and_orders_by_profile():
    assert check_demand("A100-40GB", {"3G.20GB": 1, "1g.5gb": 2, "3g.20gb": 4}) == {"1g.5gb": 2, "3g.20gb": 5}


@pytest.mark.parametrize("items", [["1g.5gb"], ["=3"], ["1g.5gb="], ["1g.5gb=x"], ["1g.5gb=0"],
                                   ["1g.5gb=-1"], ["1g.5gb=1.5"], ["1g.5gb=3=4"]])
def test_parse_demand_rejects_malformed(items):
    with pytest.raises(InputError) as err:
        parse_demand(items)
    assert err.value.problems[0].key == "--demand"
    assert repr(items[0]) in err.value.problems[0].message


def test_parse_demand_sums_duplicates_and_checks_profiles_with_model():
    assert parse_demand(["1g.5gb=2", " 1g.5gb = 3", "7g.40gb=1"]) == {"1g.5gb": 5, "7g.40gb": 1}
    with pytest.raises(InputError) as err:
        parse_demand(["bad", "2g.20gb=1"], model="A100-40GB")
    assert len(err.value.problems) == 2
    assert "2g.20gb" in err.value.problems[1].message and "1g.5gb, 1g.10gb" in err.value.problems[1].message
