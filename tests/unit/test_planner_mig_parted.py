"""mig-parted v1 output: structure the MIG manager reads, and names usable as node label values."""
from __future__ import annotations

import re

import pytest
import yaml

from stacks.planner.geometry import MODELS, valid_layouts
from stacks.planner.mig_parted import catalog, layout_name, plan_config
from stacks.planner.pack import pack

LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def assert_v1_config(doc, model=None):
    """The mig-parted v1 shape: version, and named lists of device entries."""
    doc = yaml.safe_load(yaml.safe_dump(doc))  # survives the trip through a ConfigMap
    assert set(doc) == {"version", "mig-configs"} and doc["version"] == "v1"
    for name, entries in doc["mig-configs"].items():
        assert LABEL_VALUE.match(name), name
        assert isinstance(entries, list) and entries
        for entry in entries:
            assert entry["devices"] == "all" or (
                isinstance(entry["devices"], list) and all(isinstance(i, int) and i >= 0 for i in entry["devices"]))
            assert isinstance(entry["mig-enabled"], bool)
            if entry["mig-enabled"]:
                devices = entry["mig-devices"]
                assert devices and all(isinstance(n, int) and n > 0 for n in devices.values())
                if model:
                    assert devices in valid_layouts(model)
                    assert set(devices) <= set(MODELS[model].profiles) - {"full"}
            else:
                assert set(entry) == {"devices", "mig-enabled"}
    return doc


def test_catalog_holds_every_layout_under_a_unique_label_value():
    doc = assert_v1_config(catalog(list(MODELS)))
    configs = doc["mig-configs"]
    assert configs["all-disabled"] == [{"devices": "all", "mig-enabled": False}]
    # unique names; every model's MIG-off layout is the one shared `all-disabled`
    assert len(configs) == 1 + sum(len([l for l in valid_layouts(m) if l != {"full": 1}]) for m in MODELS)
    for model in MODELS:
        for layout in valid_layouts(model):
            (entry,) = configs[layout_name(model, layout)]
            assert entry["devices"] == "all"
            if layout == {"full": 1}:
                assert entry["mig-enabled"] is False
            else:
                assert entry["mig-enabled"] is True and entry["mig-devices"] == layout


def test_catalog_of_some_models():
    doc = catalog(["a30-24gb", "A30-24GB", "T4"])
    assert_v1_config(doc, None)
    assert len(doc["mig-configs"]) == 1 + len(valid_layouts("A30-24GB")) - 1  # T4 and A30's MIG-off: all-disabled
    assert doc["mig-configs"]["all-disabled"] == [{"devices": "all", "mig-enabled": False}]


def test_layout_name_is_readable_and_independent_of_key_order():
    a = layout_name("A100-40GB", {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1})
    assert a == layout_name("a100-40gb", {"3g.20gb": 1, "1g.5gb": 2, "2g.10gb": 1})
    assert a == "a100-40gb-1x3g.20gb-1x2g.10gb-2x1g.5gb"
    # A100-80GB and H100-80GB share profile names; the label still tells them apart.
    assert layout_name("A100-80GB", {"1g.10gb": 7}) != layout_name("H100-80GB", {"1g.10gb": 7})


def test_plan_with_one_layout_selects_it_on_all_devices():
    result = pack("A100-40GB", {"1g.5gb": 30})
    doc = assert_v1_config(result.to_json()["mig_parted"], "A100-40GB")
    assert doc["mig-configs"] == {
        "a100-40gb-7x1g.5gb": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.5gb": 7}}]}


def test_mixed_plan_gives_each_layout_its_own_devices():
    result = pack("A100-40GB", {"1g.5gb": 28, "3g.20gb": 4, "full": 1})
    assert len(result.layouts) == 3
    doc = assert_v1_config(result.mig_parted, "A100-40GB")["mig-configs"]
    for _, layout in result.layouts:
        assert layout_name("A100-40GB", layout) in doc
    (plan,) = [name for name in doc if "-plan-" in name]
    devices = [i for entry in doc[plan] for i in entry["devices"]]
    assert sorted(devices) == list(range(result.gpus)), "every GPU once"
    for (count, layout), entry in zip(result.layouts, doc[plan]):
        assert len(entry["devices"]) == count
        assert entry.get("mig-devices", {"full": 1}) == layout


@pytest.mark.parametrize("model", ["T4", "V100", "A10", "L4", "L40S"])
def test_models_without_mig_are_mig_disabled(model):
    doc = pack(model, {"full": 3}).to_json()["mig_parted"]
    assert doc == {"version": "v1", "mig-configs": {"all-disabled": [{"devices": "all", "mig-enabled": False}]}}
