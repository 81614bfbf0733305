"""Recipes mnist_mlp, mnist_cnn, cifar10_cnn, cifar10_fc, jhui_mlp, cs4487_table, autoencoder in quick mode,
the honest "data not available" rows, the CS4487 early-stopping count, and the markdown report.

Quick mode needs no files: the MNIST recipes use the embedded ``mnist_small`` and every run gets an empty
``data_dir``, so CIFAR-10 is reported missing unless the synthetic stand-in is asked for.
"""
import json
import os

import numpy as np
import pytest

import fnnet
from fnnet import cli, report
from fnnet.data import load_mnist_small

import recipes
from recipes import cs4487_table


def run_quick(name, tmp_path, data_dir, **overrides):
    return recipes.run(name, quick=True, overrides=overrides, data_dir=data_dir, out_dir=tmp_path / name,
                       verbose=False)


def fraction(cell: str) -> float:
    """'97.50%' or '0.9750' as a fraction."""
    return float(cell[:-1]) / 100 if cell.endswith("%") else float(cell)


def check_rows_and_plots(results):
    assert results["rows"], "a recipe returns at least one row"
    for row in results["rows"]:
        assert {"experiment", "seed", "fnnet"} <= set(row)
    for plot in results["plots"]:
        with open(plot, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # a recipe run end to end: the slow tier
def test_mnist_mlp_quick_learns_and_labels_its_validation_set(tmp_path, no_data):
    results = run_quick("mnist_mlp", tmp_path, no_data, repeats=2)
    check_rows_and_plots(results)
    assert results["validation_accuracy"] > 0.6 and results["test_accuracy"] > 0.6
    assert "last 1,000 training images" in results["rows"][0]["experiment"]
    assert results["data"].startswith("mnist_small")
    assert results["config"]["epochs"] == recipes.mnist_mlp.QUICK["epochs"]
    # repeats: each run (other keys, other draws), the median, mean ± sample sd.
    vals = results["runs"]["validation_accuracy"]
    assert len(vals) == 2 and vals[0] != vals[1] and results["validation_accuracy"] == np.median(vals)
    row = results["rows"][0]
    assert row["experiment"].endswith("median of 2 runs") and row["fnnet runs"].count("%") == 2
    mean, sd = np.mean(vals), np.std(vals, ddof=1)
    assert row["fnnet mean ± sd"] == f"{100 * mean:.2f}% ± {100 * sd:.2f}% (2 runs)"
    # The seed's "> 97.5%" gets a plain yes/no row naming the settings it was measured under.
    target = results["rows"][-1]
    assert target["experiment"].startswith("is the seed's \"> 97.5%\" validation accuracy met? (2 epochs, mnist_small")
    assert target["fnnet"].startswith("no: ") and "median of 2 runs" in target["fnnet"]
    assert results["target_met"] is False
    assert recipes.mnist_mlp.target_verdict([0.9746, 0.9734, 0.9733]).startswith("no: 97.34% is at or below 97.5%")
    assert recipes.mnist_mlp.target_verdict([0.976]) == "yes: 97.60% is above 97.5% (one run)"
    with pytest.raises(ValueError, match="setting repeats expects an int >= 1, got 0"):
        run_quick("mnist_mlp", tmp_path, no_data, repeats=0)


@pytest.mark.slow  # a recipe run end to end: the slow tier
def test_mnist_cnn_quick_reports_the_seeds_parameter_count(tmp_path, no_data):
    results = run_quick("mnist_cnn", tmp_path, no_data)
    check_rows_and_plots(results)
    params = {r["experiment"]: r["fnnet"] for r in results["rows"] if "parameters" in r["experiment"]}
    assert params["Dense(100, relu) -> Dense(10): parameters"] == "79,510"
    # 26*26*25 conv features -> 100 -> 10: (9+1)*25 + (16900+1)*100 + (100+1)*10
    assert params["Conv(25, 3x3, valid) -> MaxPool(1) -> Dense(100) -> Dense(10): parameters"] == "1,691,360"
    assert min(results["test_accuracy"].values()) > 0.5


@pytest.mark.slow  # a recipe run end to end: the slow tier
def test_jhui_mlp_quick_trains_exactly_the_configured_iterations(tmp_path, no_data):
    results = run_quick("jhui_mlp", tmp_path, no_data, repeats=2)
    check_rows_and_plots(results)
    assert results["steps"] == recipes.jhui_mlp.QUICK["iterations"]
    accuracies = results["runs"]["test_accuracy"]
    assert len(accuracies) == 2 and min(accuracies) > 0.8 and results["test_accuracy"] == np.median(accuracies)
    row = results["rows"][0]
    assert row["seed"] == "98.16%" and row["experiment"].endswith("median of 2 runs")
    assert row["fnnet runs"] == " / ".join(f"{100 * a:.2f}%" for a in accuracies)


def test_repeat_keys_start_with_the_given_key_and_differ():
    import jax

    from recipes import _support as S

    key = jax.random.key(3)
    keys = S.repeat_keys(key, 3)
    assert len(keys) == 3 and keys[0] is key
    data = [tuple(np.asarray(jax.random.key_data(k)).ravel()) for k in keys]
    assert len(set(data)) == 3
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="repeats must be >= 1"):
            S.repeat_keys(key, bad)
    assert S.add_spread({"experiment": "x", "fnnet": "1"}, [0.5]) == {"experiment": "x", "fnnet": "1"}


@pytest.mark.slow  # a recipe run end to end: the slow tier
def test_autoencoder_quick_beats_the_mean_image(tmp_path, no_data):
    results = run_quick("autoencoder", tmp_path, no_data)
    check_rows_and_plots(results)
    data = load_mnist_small()
    x_train = data.x_train.reshape(len(data.x_train), -1) / 255.0
    x_test = data.x_test.reshape(len(data.x_test), -1) / 255.0
    p = np.clip(x_train.mean(0), 1e-7, 1 - 1e-7)  # the best constant reconstruction, per pixel
    baseline = -np.mean(x_test * np.log(p) + (1 - x_test) * np.log(1 - p))
    assert results["test_bce"] < baseline
    assert results["test_mse"] < np.mean((x_test - x_train.mean(0)) ** 2)


@pytest.mark.parametrize("name", ["cifar10_cnn", "cifar10_fc"])
def test_cifar_recipes_say_the_data_is_missing_and_train_nothing(tmp_path, no_data, name):
    results = run_quick(name, tmp_path, no_data)
    (row,) = results["rows"]
    assert row["fnnet"].startswith("not run: CIFAR-10 was not found")
    assert str(no_data) in row["fnnet"] and "cifar-10-python.tar.gz" in row["fnnet"]
    assert results["data"] == "not available" and results["plots"] == []


@pytest.mark.slow  # a recipe run end to end: the slow tier
@pytest.mark.parametrize("name", ["cifar10_cnn", "cifar10_fc"])
def test_cifar_recipes_run_on_the_synthetic_stand_in_only_when_asked_and_say_so(tmp_path, no_data, name):
    results = run_quick(name, tmp_path, no_data, synthetic=True, epochs=2)
    check_rows_and_plots(results)
    accuracy_row = results["rows"][-1]
    assert "SYNTHETIC stand-in, not CIFAR-10" in accuracy_row["experiment"]
    assert accuracy_row["seed"] == "n/a (synthetic data)"
    assert results["data"].startswith("SYNTHETIC stand-in")
    assert 0.0 <= results["test_accuracy"] <= 1.0


@pytest.mark.slow  # a recipe run end to end: the slow tier
def test_cs4487_table_quick_rows_and_weight_figures(tmp_path, no_data):
    # The quick rows minus the shallow CNN, and the noise row's epochs cut to 1 (the test checks the wiring;
    # test_cs4487_table_quick_settings_learn below runs --quick's own settings).
    rows = ("lr", "mlp_50", "deep_cnn_dropout_aug_noise")
    results = run_quick("cs4487_table", tmp_path, no_data, rows=",".join(rows), noise_epochs=1, repeats=2)
    check_rows_and_plots(results)
    assert [r["experiment"] for r in results["rows"]] == [cs4487_table.ROWS[k].label for k in rows]
    for row in results["rows"]:
        assert row["data"] == "mnist_small" and row["seed"] == "-"  # the seed's numbers are MNIST's only
    # Each row says what it ran: the noise row 1 epoch (not the seed's 100), the others their stopping rule.
    settings = [r["settings"] for r in results["rows"]]
    quick = cs4487_table.QUICK
    assert settings[0] == (f"900 training images, at most {quick['max_epochs']} epochs, early stopping after "
                           f"{quick['patience'] + 1} without improvement, 2 runs")
    assert settings[2] == "900 training images, 1 epoch, 2 runs"
    assert "100 epochs" not in results["rows"][2]["experiment"]
    # The repeats are members of one population: two runs per row, with their own accuracies and epochs.
    assert all(len(results["runs"]["mnist_small"][k]) == 2 for k in rows)
    assert results["epochs"]["mnist_small"]["deep_cnn_dropout_aug_noise"] == [1, 1]
    assert results["accuracy"]["mnist_small"]["lr"] > 0.6 and results["accuracy"]["mnist_small"]["mlp_50"] > 0.6
    names = {p.rsplit("/", 1)[-1] for p in results["plots"]}
    assert {"mnist_small_lr_weights.png", "mnist_small_mlp50_output_weights_5.png",
            "mnist_small_mlp50_filters_for_5.png", "mnist_small_augmentation.png",
            "mnist_small_mlp50_histograms.png"} <= names
    best = max(rows, key=lambda r: results["accuracy"]["mnist_small"][r])  # its errors are shown
    assert {f"mnist_small_confusion_{best}.png", f"mnist_small_misclassified_{best}.png"} <= names
    (table,) = results["tables"].values()
    assert [r["seed MNIST (text)"] for r in table] == [cs4487_table.ROWS[k].seed_text for k in rows]
    assert "fnnet mnist_small" in table[0] and table[2]["fnnet settings"] == settings[2]


@pytest.mark.slow
def test_cs4487_table_quick_settings_learn(tmp_path, no_data):
    # --quick must not put a row at chance under a label it did not run (it once showed 0.1000 as "100 epochs").
    results = run_quick("cs4487_table", tmp_path, no_data)
    for name, accuracy in results["accuracy"]["mnist_small"].items():
        assert accuracy > 0.4, name


def test_cs4487_table_reports_each_missing_dataset(tmp_path, no_data):
    results = run_quick("cs4487_table", tmp_path, no_data, dataset="mnist,fashion_mnist", rows="lr,deep_cnn")
    assert [(r["data"], r["seed"]) for r in results["rows"]] == [
        ("MNIST", "0.8921"), ("MNIST", "0.9687"), ("Fashion-MNIST", "-"), ("Fashion-MNIST", "-")]
    assert all(r["fnnet"].startswith("not run: MNIST was not found") for r in results["rows"][:2])
    assert all(r["fnnet"].startswith("not run: Fashion-MNIST was not found") for r in results["rows"][2:])


def test_cs4487_seed_table_matches_the_reference_numbers():
    # ../shared/reference/seed_results.md, table 002: (text, summary table) per row.
    expected = [("0.8921", "0.8890"), ("0.9373", "0.9373"), ("0.9434", "0.9431"), ("0.9454", "0.9453"),
                ("0.9517", "0.9523"), ("0.9449", "0.9537"), ("0.9687", "0.9693"), ("0.9726", "0.9756"),
                ("0.9637", "-"), ("0.9807", "0.9843"), ("0.9851", "0.9911")]
    assert [(r.seed_text, r.seed_summary) for r in cs4487_table.ROWS.values()] == expected
    assert cs4487_table.Config().shear_degrees == pytest.approx(5.729578, abs=1e-6)
    # Keras 2.0's ImageDataGenerator: shear 0.1 rad, nearest-neighbour resampling (scipy order=0).
    augment = cs4487_table.augmenter(cs4487_table.ROWS["deep_cnn_dropout_aug"], cs4487_table.Config())
    assert (augment.shear, augment.order, augment.noise_std) == (cs4487_table.Config().shear_degrees, 0, 0.0)


def keras_2_0_stop_epoch(values, patience, min_delta):
    """Keras 2.0.x ``EarlyStopping.on_epoch_end`` (mode max), literally: the 0-based epoch it stops at."""
    best, wait = -np.inf, 0
    for epoch, current in enumerate(values):
        if current - min_delta > best:
            best, wait = current, 0
        else:
            if wait >= patience:
                return epoch
            wait += 1
    return None


@pytest.mark.parametrize("values", [
    [0.80, 0.85, 0.85, 0.84, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85],  # the LR row's shape: best at epoch 1
    [0.5, 0.6, 0.7, 0.7, 0.71, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7],
    [0.9, 0.9 + 5e-5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9],  # below min_delta is no improvement
])
def test_keras_2_0_early_stopping_is_fnnet_patience_plus_one(values):
    stopper = fnnet.EarlyStopping("val_accuracy", min_delta=1e-4, patience=5 + 1)
    stopped = next((e for e, v in enumerate(values) if stopper.on_epoch_end(e, {"val_accuracy": v}, None)), None)
    assert stopped == keras_2_0_stop_epoch(values, patience=5, min_delta=1e-4)
    assert stopped is not None


def make_entry(name, rows, command="fnnet run x --data-dir /d", **extra):
    results = {"rows": rows, "data": "MNIST: 60,000 train (files)", "config": {"epochs": 3}, **extra}
    machine = {"cpus": 2, "platform": "Linux", "processor": "x86_64", "python": "3.11", "jax": "0.0",
               "backend": "cpu", "device": "1 x cpu", "load_average": [1.0, 2.0, 3.0]}
    return report.make_entry(name, results, description=f"the {name} recipe", command=command, wall_seconds=61.25,
                             machine_info=machine, quick=False)


def test_report_tables_sections_and_round_trip(tmp_path):
    rows = [{"experiment": "test accuracy", "seed": "98.16%", "fnnet": "98.2%"},
            {"experiment": "a | b", "seed": "-", "fnnet": "not run: data missing", "data": "Fashion-MNIST"}]
    entry = make_entry("alpha", rows, tables={"wide": [{"model": "LR", "fnnet MNIST": "0.89"}]})
    path = report.write_report(tmp_path / "RESULTS.md", [entry])
    text = path.read_text()
    assert "| recipe | data | rows | wall time | finished | settings |" in text
    assert "| recipe | experiment | data | seed | fnnet |" in text
    assert "| alpha | test accuracy | MNIST | 98.16% | 98.2% |" in text
    assert "| alpha | a \\| b | Fashion-MNIST | - | not run: data missing |" in text
    assert "| model | fnnet MNIST |" in text and "1 min 01 s" in text
    assert "* command: `fnnet run x --data-dir /d`" in text
    assert "2 CPUs" in text and "jax 0.0" in text
    (back,) = report.read_entries(path)
    assert back == json.loads(json.dumps(entry))  # "--" in the command survives the HTML comment


def test_report_updates_named_sections_and_rewrites_for_all(tmp_path):
    path = tmp_path / "RESULTS.md"
    report.write_report(path, [make_entry("alpha", [{"experiment": "a", "seed": "1", "fnnet": "1"}]),
                               make_entry("beta", [{"experiment": "b", "seed": "2", "fnnet": "2"}])])
    report.write_report(path, [make_entry("beta", [{"experiment": "b", "seed": "2", "fnnet": "3"}])], replace=False)
    names = [e["name"] for e in report.read_entries(path)]
    assert names == ["alpha", "beta"]
    assert report.read_entries(path)[1]["rows"][0]["fnnet"] == "3"
    report.write_report(path, [make_entry("gamma", [{"experiment": "c", "seed": "-", "fnnet": "4"}])])
    assert [e["name"] for e in report.read_entries(path)] == ["gamma"]


def test_report_keeps_one_section_per_recipe_and_dataset(tmp_path):
    path = tmp_path / "RESULTS.md"

    def run(dataset, fnnet_value):
        return make_entry("table", [{"experiment": "LR", "seed": "0.89", "fnnet": fnnet_value}],
                          config={"dataset": dataset, "epochs": 3})

    report.write_report(path, [make_entry("alpha", [{"experiment": "a", "seed": "1", "fnnet": "1"}]),
                               run(["mnist"], "0.88")])
    report.write_report(path, [run(["fashion_mnist"], "0.80")], replace=False)
    entries = report.read_entries(path)
    assert [(e["name"], e["config"].get("dataset")) for e in entries] == [
        ("alpha", None), ("table", ["fashion_mnist"]), ("table", ["mnist"])]
    text = path.read_text()
    assert "## table (fashion_mnist)" in text and "## table (mnist)" in text and "## alpha\n" in text
    report.write_report(path, [run(["mnist"], "0.90")], replace=False)  # same recipe and data: replaced
    assert [e["rows"][0]["fnnet"] for e in report.read_entries(path) if e["name"] == "table"] == ["0.80", "0.90"]
    report.write_report(path, [run(["mnist", "fashion_mnist"], "0.91")], replace=False)  # overlaps both
    (table,) = [e for e in report.read_entries(path) if e["name"] == "table"]
    assert table["rows"][0]["fnnet"] == "0.91" and "## table\n" in path.read_text()
    report.write_report(path, [make_entry("alpha", [{"experiment": "a", "seed": "1", "fnnet": "2"}])], replace=False)
    assert [e["rows"][0]["fnnet"] for e in report.read_entries(path)] == ["2", "0.91"]  # no dataset: replaced


def test_text_table_pads_columns_from_all_rows():
    text = report.text_table([{"a": "1", "b": "long value"}, {"a": "22", "c": "x"}])
    assert text.splitlines() == ["a   b           c", "--  ----------  -", "1   long value", "22              x"]


def test_cli_runs_several_recipes_and_writes_the_report(tmp_path, no_data, capsys):
    path = tmp_path / "RESULTS.md"
    argv = ["run", "cifar10_cnn", "cifar10_fc", "--quick", "--quiet", "--data-dir", str(no_data),
            "--out", str(tmp_path / "out"), "--report", str(path)]
    assert cli.main(argv) == 0
    entries = report.read_entries(path)
    assert [e["name"] for e in entries] == ["cifar10_cnn", "cifar10_fc"]
    assert all(e["command"] == "fnnet " + " ".join(argv) for e in entries)
    assert all(e["quick"] and e["rows"][0]["fnnet"].startswith("not run") for e in entries)
    assert (tmp_path / "out" / "cifar10_fc" / "results.json").is_file()
    assert "Quick settings" in path.read_text()
    capsys.readouterr()
    assert cli.main(["run", "cifar10_cnn", "cifar10_fc", "--quick", "--set", "no_such=1"]) == 2
    assert "has the setting(s) no_such" in capsys.readouterr().err
    assert cli.main(["run", "all", "planar"]) == 2
    assert "'all' runs every recipe" in capsys.readouterr().err


def test_report_from_saved_runs_equals_the_report_written_by_run(tmp_path, no_data, capsys):
    direct = tmp_path / "direct.md"
    argv = ["run", "cifar10_fc", "cifar10_cnn", "--quick", "--quiet", "--data-dir", str(no_data),
            "--out", str(tmp_path / "out"), "--report", str(direct)]
    assert cli.main(argv) == 0
    assembled = tmp_path / "assembled.md"
    files = [str(tmp_path / "out" / name / "results.json") for name in ("cifar10_fc", "cifar10_cnn")]
    assert cli.main(["report", str(assembled), *files]) == 0
    assert assembled.read_text() == direct.read_text()
    saved = json.loads((tmp_path / "out" / "cifar10_fc" / "results.json").read_text())
    assert saved["recipe"] == "cifar10_fc" and saved["command"] == "fnnet " + " ".join(argv)
    assert saved["machine"]["cpus"] == os.cpu_count()

    saved.update(recipe="cifar10_cnn", note="re-labelled in this test")
    relabelled = tmp_path / "relabelled.json"
    relabelled.write_text(json.dumps(saved))
    assert cli.main(["report", str(assembled), str(relabelled)]) == 0
    entries = {e["name"]: e for e in report.read_entries(assembled)}
    assert sorted(entries) == ["cifar10_cnn", "cifar10_fc"]  # one section replaced, the other kept
    assert "* note: re-labelled in this test" in assembled.read_text()

    capsys.readouterr()
    del saved["command"]
    relabelled.write_text(json.dumps(saved))
    assert cli.main(["report", str(assembled), str(relabelled)]) == 2
    assert "missing command" in capsys.readouterr().err
    assert cli.main(["report", str(assembled), str(tmp_path / "absent.json")]) == 2
    assert "expected a results.json" in capsys.readouterr().err
