"""The recipes' declared settings (recipes._settings): every Config field has a rule, the defaults and the
--quick values obey them, and a bad --set fails before anything runs. Bad values themselves are rows of
tests/test_bad_inputs.py."""
import dataclasses
from typing import ClassVar

import pytest

from fnnet import cli

import recipes
from recipes import _settings as V


@pytest.mark.parametrize("name", recipes.names())
def test_every_setting_is_declared_and_the_defaults_obey_their_rules(name):
    module = recipes.load(name)
    fields = [f.name for f in dataclasses.fields(module.Config)]
    assert set(module.SETTINGS) == set(fields)
    for quick in (False, True):
        recipes.make_config(module, quick=quick)  # raises when a default or a QUICK value breaks a rule
    table = recipes.settings_table(name)
    assert [row.name for row in table] == fields and all(row.allowed for row in table)


def test_settings_table_gives_default_quick_value_and_rule():
    rows = {row.name: row for row in recipes.settings_table("planar")}
    assert rows["iterations"] == V.SettingRow("iterations", 10_000, 1_000, "an int >= 1")
    assert rows["sweep_sizes"].allowed == "a tuple of 1 or more items, each an int >= 1"
    assert [r.text for r in recipes.load("planar").RELATIONS] == ["iterations is a multiple of log_every"]


def test_command_line_text_is_parsed_by_the_rule():
    module = recipes.load("planar")
    config = recipes.make_config(module, overrides={"n_h": "5", "sweep_sizes": "2, 3", "float64": "no",
                                                    "learning_rate": "1e-1"})
    assert (config.n_h, config.sweep_sizes, config.float64, config.learning_rate) == (5, (2, 3), False, 0.1)
    grid = recipes.make_config(recipes.load("grid_search"), overrides={"learning_rates": "1e-3,1e-1,3"})
    assert grid.learning_rates == (1e-3, 1e-1, 3.0)


def test_a_recipe_without_a_complete_table_is_refused():
    class Incomplete:
        __name__ = "recipes.fake"

        @dataclasses.dataclass(frozen=True)
        class Config:
            a: int = 1
            b: int = 2

        SETTINGS: ClassVar = {"a": V.integer(1), "c": V.integer(1)}

    with pytest.raises(TypeError, match=r"missing \['b'\], unknown \['c'\]"):
        recipes.make_config(Incomplete)


def test_bad_setting_on_the_command_line_fails_before_the_recipe_runs(tmp_path, capsys, monkeypatch):
    module = recipes.load("planar")
    monkeypatch.setattr(module, "run", lambda *a, **k: pytest.fail("the recipe must not start"))
    for setting, words in [("iterations=0", "setting iterations expects an int >= 1, got 0"),
                           ("log_every=300", "iterations=1000 is not a multiple of log_every=300")]:
        assert cli.main(["run", "planar", "--quick", "--set", setting, "--out", str(tmp_path)]) == 2
        assert words in capsys.readouterr().err
