"""The sharing planner: exact against exhaustive search in every mode, sound plans, the isolation
tie-break, device-plugin configs, and errors naming the option."""
from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.errors import InputError
from stacks.planner.geometry import MODELS
from stacks.planner.pack import pack
from stacks.planner.sharing import (
    ISOLATION,
    SessionClass,
    device_plugin_config,
    gpus_per_mode,
    max_replicas,
    mig_profile,
    modes,
    parse_sharing_demand,
    plan_sharing,
)

try:
    import planner_reference as ref
    import sharing_reference as oracle
except ImportError:  # tests laid out as a package
    from . import planner_reference as ref
    from . import sharing_reference as oracle

MODEL_NAMES = list(oracle.MEMORY_GB)


def key(cls: SessionClass):
    """The oracle's view of a session class."""
    return (cls.memory_gb, cls.compute, cls.isolation, cls.profile)


def as_oracle(demand: dict[SessionClass, int]) -> dict:
    return {key(c): n for c, n in demand.items()}


def assert_sound(plan, model: str, demand: dict[SessionClass, int]) -> None:
    """Every plan: valid layouts, each session in a mode and on a GPU it may use, all sessions placed."""
    assert plan.gpu == model
    assert plan.gpus == sum(l.count for l in plan.layouts) and all(l.count > 0 for l in plan.layouts)
    assert plan.lower_bound <= plan.gpus
    by_label = {c.label: c for c in demand}
    placed = dict.fromkeys(by_label, 0)
    for layout in plan.layouts:
        assert layout.mode in oracle.offered(model)
        assert sum(layout.sessions.values()) <= layout.count * layout.replicas
        for label, n in layout.sessions.items():
            cls = by_label[label]
            assert layout.mode in oracle.accepts(cls.isolation), (label, layout.mode)
            placed[label] += n
        if layout.mode == "mig":
            assert ref.fits(model, layout.mig_devices), layout.mig_devices
            assert layout.replicas == sum(layout.mig_devices.values())
            assert oracle.mig_layout_carries(model, layout.mig_devices, layout.count,
                                             {key(by_label[l]): n for l, n in layout.sessions.items()})
        else:
            assert layout.mig_devices == {"full": 1}
            for label in layout.sessions:
                assert oracle.fits_count(model, layout.mode, layout.replicas, key(by_label[label])), \
                    (label, layout.mode, layout.replicas)
    assert placed == {c.label: n for c, n in demand.items()}


def assert_isolation_tie_break(plan, model: str, demand: dict[SessionClass, int]) -> None:
    """No plan with as few GPUs keeps every session in a mode stronger than the plan's weakest."""
    weakest = max(ISOLATION.index(l.mode) for l in plan.layouts)
    if weakest > 0:
        stronger = list(ISOLATION[:weakest])
        assert oracle.min_gpus(model, as_oracle(demand), levels=stronger) > plan.gpus, stronger


def small_demands(model: str) -> list[dict[SessionClass, int]]:
    """For each isolation the model offers: one class at several memories, shares and counts, and pairs."""
    g = MODELS[model].memory_gb
    memories = [Fraction(g, 8), Fraction(g, 5), Fraction(g, 3), Fraction(g * 3, 10), Fraction(g, 2), Fraction(g)]
    out = []
    for isolation in modes(model):
        for memory, count in itertools.product(memories, (1, 3, 5)):
            out.append({SessionClass(memory, None, isolation): count})
        out.append({SessionClass(Fraction(g, 8), Fraction(1, 4), isolation): 5})
        out.append({SessionClass(Fraction(g, 10), Fraction(1, 3), isolation): 4})
    levels = modes(model)
    for a, b in itertools.combinations(levels, 2):
        out.append({SessionClass(Fraction(g, 4), None, a): 3, SessionClass(Fraction(g, 8), None, b): 4})
        out.append({SessionClass(Fraction(g, 3), Fraction(1, 5), a): 2, SessionClass(Fraction(g, 5), None, b): 3})
    return out


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_exact_minimum_against_exhaustive_search(model):
    for demand in small_demands(model):
        plan = plan_sharing(model, demand)
        assert plan.gpus == oracle.min_gpus(model, as_oracle(demand)), [c.label for c in demand]
        assert_sound(plan, model, demand)
        assert_isolation_tie_break(plan, model, demand)


@st.composite
def sharing_demands(draw, max_count=4, max_classes=3):
    model = draw(st.sampled_from(MODEL_NAMES))
    g = MODELS[model].memory_gb
    gpu = MODELS[model]
    classes = {}
    for _ in range(draw(st.integers(1, max_classes))):
        if gpu.mig and draw(st.integers(0, 4)) == 0:  # now and then a MIG profile by name
            cls = SessionClass.for_profile(model, draw(st.sampled_from(gpu.profiles)))
        else:
            memory = Fraction(g) * draw(st.sampled_from([Fraction(1, 16), Fraction(1, 8), Fraction(1, 7), Fraction(1, 5),
                                                         Fraction(1, 4), Fraction(1, 3), Fraction(2, 5),
                                                         Fraction(1, 2), Fraction(3, 4), Fraction(1)]))
            share = draw(st.sampled_from([None, None, Fraction(1, 10), Fraction(1, 5), Fraction(1, 4),
                                          Fraction(33, 100), Fraction(1, 2), Fraction(3, 4)]))
            cls = SessionClass(memory, share, draw(st.sampled_from(modes(model))))
        classes[cls] = classes.get(cls, 0) + draw(st.integers(1, max_count))
    return model, classes


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sharing_demands())
def test_random_small_demands_are_optimal(case):
    model, demand = case
    plan = plan_sharing(model, demand)
    assert plan.gpus == oracle.min_gpus(model, as_oracle(demand))
    assert_sound(plan, model, demand)
    assert_isolation_tie_break(plan, model, demand)


@settings(max_examples=40, deadline=None)
@given(sharing_demands(max_count=400, max_classes=6))
def test_large_demands_give_sound_plans(case):
    model, demand = case
    plan = plan_sharing(model, demand)
    assert_sound(plan, model, demand)
    assert plan_sharing(model, dict(reversed(demand.items()))) == plan, "same input, same plan"


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([m for m in MODEL_NAMES if MODELS[m].mig]), st.data())
def test_mig_profiles_alone_need_what_the_mig_packer_needs(model, data):
    profiles = data.draw(st.lists(st.sampled_from(MODELS[model].profiles), min_size=1, max_size=3, unique=True))
    demand = {p: data.draw(st.integers(1, 30)) for p in profiles}
    plan = plan_sharing(model, {SessionClass.for_profile(model, p): n for p, n in demand.items()})
    assert plan.gpus == pack(model, demand).gpus
    assert set(plan.modes) <= {"whole", "mig"}


# -- the course examples and single modes ---------------------------------------------------------

def test_t4_course_of_40_times_4gb_needs_10_gpus_with_mps():
    plan = plan_sharing("T4", {SessionClass(4): 40}, compare=True)
    assert (plan.gpus, plan.lower_bound, plan.sharing) == (10, 10, "mps")
    [layout] = plan.layouts
    assert (layout.mode, layout.count, layout.replicas, layout.seats) == ("mps", 10, 4, 40)
    assert layout.device_plugin_config == "mps-4"
    assert layout.resources == {"nvidia.com/gpu": 4}
    assert layout.node_labels == {"nvidia.com/mig.config": "all-disabled", "nvidia.com/device-plugin.config": "mps-4"}
    assert plan.per_mode == {"whole": 40, "mig": None, "mps": 10, "time-slicing": 10}
    assert plan.device_plugin["mps-4"] == {
        "version": "v1",
        "sharing": {"mps": {"renameByDefault": False, "failRequestsGreaterThanOne": True,
                            "resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}},
    }
    assert plan.device_plugin["default"] == {"version": "v1"}
    assert plan.mig_parted == {"version": "v1", "mig-configs": {
        "all-disabled": [{"devices": "all", "mig-enabled": False}]}}


def test_the_issue_course_60_times_4gb_on_t4_fits_15_instead_of_60():
    plan = plan_sharing("T4", {SessionClass(4): 60}, compare=True)
    assert plan.gpus == 15 and plan.per_mode["whole"] == 60


def test_asked_time_slicing_on_a_tie_gets_the_stronger_mps():
    plan = plan_sharing("T4", {SessionClass(4, isolation="time-slicing"): 40})
    assert plan.modes == {"mps": 10}


def test_time_slicing_when_it_needs_fewer_gpus_than_mps():
    # V100: MPS serves at most 16 clients (compute capability 7.0); time-slicing has no such limit
    plan = plan_sharing("V100", {SessionClass(Fraction(1, 2)): 32})
    assert plan.modes == {"time-slicing": 1}
    assert plan.layouts[0].device_plugin_config == "ts-32"
    assert plan.device_plugin["ts-32"]["sharing"] == {"timeSlicing": {
        "renameByDefault": False, "failRequestsGreaterThanOne": True,
        "resources": [{"name": "nvidia.com/gpu", "replicas": 32}]}}
    assert plan_sharing("V100", {SessionClass(Fraction(1, 2), None, "mps"): 32}).modes == {"mps": 2}
    assert plan_sharing("T4", {SessionClass(Fraction(1, 4), None, "mps"): 96}).modes == {"mps": 2}  # 48 clients


def test_time_slicing_when_mps_rounds_the_thread_share_down():
    # a third of the compute: time-slicing fits 3 per GPU, MPS only 2 (100 // 3 = 33 % < 1/3)
    share = Fraction(1, 3)
    assert plan_sharing("T4", {SessionClass(1, share): 6}).modes == {"time-slicing": 2}
    assert plan_sharing("T4", {SessionClass(1, share, "mps"): 6}).modes == {"mps": 3}
    # 30 %: both fit 3 per GPU, and then MPS, the stronger, is used
    assert plan_sharing("T4", {SessionClass(1, Fraction(3, 10)): 6}).modes == {"mps": 2}


def test_tiny_sessions_get_no_more_replicas_than_sessions():
    plan = plan_sharing("H200-141GB", {SessionClass(Fraction(1, 100), None, "time-slicing"): 10})
    assert [(l.mode, l.count, l.replicas) for l in plan.layouts] == [("mps", 1, 10)]
    plan = plan_sharing("H200-141GB", {SessionClass(Fraction(1, 100)): 1})
    assert [(l.mode, l.count, l.replicas) for l in plan.layouts] == [("whole", 1, 1)]


def test_a100_mps_beats_mig_unless_mig_is_asked():
    assert plan_sharing("A100-40GB", {SessionClass(5): 60}).modes == {"mps": 8}
    plan = plan_sharing("A100-40GB", {SessionClass(5, isolation="mig"): 60})
    assert plan.modes == {"mig": 9} and plan.layouts[0].mig_devices == {"1g.5gb": 7}
    assert plan.layouts[0].device_plugin_config == "default"
    assert plan.layouts[0].resources == {"nvidia.com/mig-1g.5gb": 7}
    # a tie (2 GPUs either way) goes to the stronger MIG
    assert plan_sharing("A100-40GB", {SessionClass(5): 12}).modes == {"mig": 2}


def test_sessions_that_cannot_share_get_whole_gpus():
    assert plan_sharing("T4", {SessionClass(16): 3}).modes == {"whole": 3}
    assert plan_sharing("T4", {SessionClass(9): 3}).modes == {"whole": 3}  # 2 x 9 GB > 16 GB
    assert plan_sharing("A100-40GB", {SessionClass(40, isolation="mig"): 2}).modes == {"whole": 2}
    assert plan_sharing("T4", {SessionClass(4, isolation="whole"): 5}).modes == {"whole": 5}


def test_mixed_isolation_plans_each_mode_on_its_own_gpus():
    demand = {SessionClass(5): 60, SessionClass(10, None, "mig"): 9, SessionClass(3, Fraction(1, 4), "mps"): 10,
              SessionClass(20, None, "whole"): 2}
    plan = plan_sharing("A100-40GB", demand, compare=True)
    assert_sound(plan, "A100-40GB", demand)
    assert plan.sharing == "mixed" and plan.modes["whole"] == 2
    # the what-if per mode ignores what each class asked: whole-asking sessions could share there
    assert plan.per_mode["mig"] <= plan.gpus <= plan.per_mode["whole"]
    assert plan.lower_bound == plan.gpus


# -- the rules each mode follows --------------------------------------------------------------------

def test_replicas_follow_memory_share_and_the_plugin_limits():
    t4 = "T4"
    assert max_replicas(t4, SessionClass(4), "mps") == 4
    assert max_replicas(t4, SessionClass(5), "time-slicing") == 3
    assert max_replicas(t4, SessionClass(Fraction(1, 10)), "mps") == 48
    assert max_replicas("V100", SessionClass(Fraction(1, 10)), "mps") == 16
    assert max_replicas(t4, SessionClass(Fraction(1, 10)), "time-slicing") == 160
    assert max_replicas(t4, SessionClass(1, Fraction(1, 4)), "mps") == 4
    # 100 // 3 = 33 % of the threads is less than a third: MPS gives 2, time-slicing 3
    assert max_replicas(t4, SessionClass(1, Fraction(1, 3)), "mps") == 2
    assert max_replicas(t4, SessionClass(1, Fraction(1, 3)), "time-slicing") == 3
    assert max_replicas(t4, SessionClass(1, 0.1), "mps") == 10  # a float share is read as its decimal


def test_smallest_mig_profile_with_memory_and_compute():
    assert mig_profile("A100-40GB", SessionClass(4)) == "1g.5gb"
    assert mig_profile("A100-40GB", SessionClass(6)) == "1g.10gb"
    assert mig_profile("A100-40GB", SessionClass(6, Fraction(2, 7))) == "2g.10gb"
    assert mig_profile("A100-40GB", SessionClass(11)) == "3g.20gb"
    assert mig_profile("A100-40GB", SessionClass(11, Fraction(1, 2))) == "4g.20gb"
    assert mig_profile("A100-40GB", SessionClass(21)) == "7g.40gb"
    assert mig_profile("A30-24GB", SessionClass(7)) == "2g.12gb"
    assert mig_profile("T4", SessionClass(4)) is None


@pytest.mark.parametrize("model", [m for m in MODEL_NAMES if m in ref.REFERENCE])
def test_the_smallest_qualifying_profile_can_replace_any_other(model):
    """Why taking the smallest profile is exact: it has no more slices and every start of any
    larger qualifying profile, so it can take that instance's place in any layout."""
    table = ref.REFERENCE[model][2]
    names = list(table)
    for i, small in enumerate(names):
        for big in names[i + 1:]:
            if oracle.instance_gb(big) >= oracle.instance_gb(small) and table[big][0] >= table[small][0]:
                c_s, m_s, starts_s = table[small]
                c_b, m_b, starts_b = table[big]
                assert c_s <= c_b and m_s <= m_b and set(starts_b) <= set(starts_s), (small, big)


def test_modes_per_model():
    assert modes("T4") == ("whole", "mps", "time-slicing")
    assert modes("a100-40gb") == ("whole", "mig", "mps", "time-slicing")
    assert all(MODELS[m].mps for m in MODELS)


def test_device_plugin_config_needs_two_replicas_or_more():
    assert device_plugin_config("time-slicing", 2)["sharing"]["timeSlicing"]["resources"][0]["replicas"] == 2
    with pytest.raises(ValueError):
        device_plugin_config("mps", 1)
    with pytest.raises(ValueError):
        device_plugin_config("mig", 4)


def test_json_of_a_mixed_plan():
    plan = plan_sharing("A100-40GB", {SessionClass(5, None, "mig"): 7, SessionClass(4, None, "mps"): 20}, compare=True)
    doc = plan.to_json()
    assert list(doc) == ["gpu", "gpus", "lower_bound", "sharing", "modes", "layouts", "mig_parted",
                         "device_plugin", "gpus_per_mode"]
    assert doc["modes"] == {"mig": 1, "mps": 2} and doc["sharing"] == "mixed"
    assert [l["sharing"] for l in doc["layouts"]] == ["mig", "mps"]
    assert doc["layouts"][1]["replicas"] == 10 and doc["layouts"][1]["node_labels"][
        "nvidia.com/device-plugin.config"] == "mps-10"
    assert set(doc["device_plugin"]) == {"default", "mps-10"}
    assert "a100-40gb-7x1g.5gb" in doc["mig_parted"]["mig-configs"]
    assert doc["mig_parted"]["mig-configs"]["all-disabled"] == [{"devices": "all", "mig-enabled": False}]


def test_gpus_per_mode_side_by_side():
    assert gpus_per_mode("A100-40GB", {SessionClass(5): 60}) == {"whole": 60, "mig": 9, "mps": 8, "time-slicing": 8}
    assert gpus_per_mode("T4", {SessionClass(16): 2}) == {"whole": 2, "mig": None, "mps": 2, "time-slicing": 2}


# -- input --------------------------------------------------------------------------------------------

def test_parse_memory_classes_and_profiles():
    demand = parse_sharing_demand(["4gb=10", "4GB=5", "2.5gb@0.25=3", "4gb@25%:mps=2", "1g.5gb=7", "full=1"],
                                  model="A100-40GB", sharing=None)
    assert {c.label: n for c, n in demand.items()} == {
        "4gb:time-slicing": 15, "2.5gb@0.25:time-slicing": 3, "4gb@0.25:mps": 2, "1g.5gb": 7, "full": 1}
    assert parse_sharing_demand(["4gb=1"], model="T4", sharing="MPS") == {SessionClass(4, None, "mps"): 1}


@pytest.mark.parametrize("items, sharing, model, key, text", [
    (["48gb=1"], None, "T4", "--demand", "48gb:time-slicing: asks 48 GB of GPU memory; one T4 has 16 GB"),
    (["0gb=1"], None, "T4", "--demand", "GPU memory must be more than 0 GB"),
    (["4gb@1.5=1"], None, "T4", "--demand", "compute share must be more than 0 and at most 1"),
    (["4gb@0=1"], None, "T4", "--demand", "compute share must be more than 0 and at most 1"),
    (["4gb@150%=1"], None, "T4", "--demand", "compute share must be more than 0 and at most 1"),
    (["4gb@lots=1"], None, "T4", "--demand", "compute share must be a fraction like @0.25"),
    (["4gb:best=1"], None, "T4", "--demand", "unknown isolation 'best'"),
    (["4gb=1"], "strong", "T4", "--sharing", "unknown isolation 'strong'; one of: whole, mig, mps, time-slicing"),
    (["4gb=1"], "mig", "T4", "--sharing", "T4 cannot give mig isolation (it has no MIG); it offers: whole, mps"),
    (["4gb:mig=1"], None, "L4", "--demand", "L4 cannot give mig isolation"),
    (["1g.5gb=1"], None, "T4", "--demand", "'1g.5gb' is neither memory (like 4gb) nor a profile of T4"),
    (["4gb=0"], None, "T4", "--demand", "count must be a positive integer"),
    (["4gb=6000", "4gb=6000"], None, "T4", "--demand", "4gb:time-slicing: 12000 sessions in all; at most 10000"),
    (["4gb"], None, "T4", "--demand", "is not MEMORYgb=N or PROFILE=N"),
])
def test_bad_input_names_the_option(items, sharing, model, key, text):
    with pytest.raises(InputError) as err:
        parse_sharing_demand(items, model=model, sharing=sharing)
    assert any(p.key == key and text in p.message for p in err.value.problems), err.value.problems


@pytest.mark.parametrize("model, demand, key, text", [
    ("A200", {SessionClass(4): 1}, "--gpu", "unknown GPU model 'A200'"),
    ("T4", {SessionClass(4, None, "mig"): 1}, "--sharing", "T4 cannot give mig isolation"),
    ("T4", {SessionClass(17): 1}, "--demand", "one T4 has 16 GB"),
    ("T4", {SessionClass(4, Fraction(0)): 1}, "--demand", "compute share must be more than 0"),
    ("T4", {SessionClass(4, Fraction(3, 2)): 1}, "--demand", "at most 1"),
    ("T4", {SessionClass(4, None, "best"): 1}, "--sharing", "unknown isolation 'best'"),
    ("T4", {SessionClass(4): 0}, "--demand", "positive integer"),
    ("T4", {}, "--demand", "no demand given"),
])
def test_plan_sharing_refuses_bad_input(model, demand, key, text):
    with pytest.raises(InputError) as err:
        plan_sharing(model, demand)
    assert err.value.problems[0].key == key and text in err.value.problems[0].message


def test_bad_input_with_caller_keys():
    with pytest.raises(InputError) as err:
        plan_sharing("T4", {SessionClass(4, None, "mig"): 3}, path="config/Pulumi.event-x.yaml",
                     sharing_key="swan:event.session.isolation")
    assert str(err.value).startswith("config/Pulumi.event-x.yaml: swan:event.session.isolation: T4 cannot give mig")
