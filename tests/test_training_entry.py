"""Each registered model's training entry (its trainer module's ``TRAINING``), found from its spec alone."""
from dataclasses import fields

import pytest

from engine.commands import train_command as train
from engine.model_registry import get_model, list_models
from engine.training.recipes import SCRATCH_RECIPES
from engine.training.training_entry import TrainingEntry, training_entry


@pytest.mark.parametrize("name", list_models())
def test_the_spec_names_a_trainer_with_the_shared_recipes(name):
    entry = training_entry(get_model(name))
    assert isinstance(entry, TrainingEntry)
    assert {"released", "cpu", "demo"} <= set(entry.recipes) and entry.recipes["released"] == {}
    assert all("run_dir" in entry.recipes[recipe] for recipe in SCRATCH_RECIPES)  # a scratch recipe owns its folder
    config_fields = {f.name for f in fields(entry.config)}
    assert {entry.image_side, "batch_size"} <= config_fields  # what gpu_sized_warning reads
    assert set(entry.field_arguments) <= config_fields


@pytest.mark.parametrize("name", list_models())
def test_train_py_reads_every_setting_of_a_models_recipes_and_lists_its_flags(name):
    entry, parser = training_entry(get_model(name)), train.build_parser()
    arguments = {action.dest for action in parser._actions}
    for recipe, values in entry.recipes.items():
        assert set(values) <= arguments, f"{name} recipe {recipe} sets what no flag does"
    assert set(entry.field_arguments.values()) <= arguments
    assert get_model(name).label in [group.title for group in parser._action_groups]
    assert name in parser._option_string_actions["--model"].choices
