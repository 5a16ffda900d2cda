"""The logistic-regression baseline beside measured accuracies, and the end-of-run table showing both."""

from types import SimpleNamespace

import numpy as np
import pytest

from archbench import baselines, catalog, data
from archbench.baselines import BASELINE_MODEL, NotCheap, logistic_regression_row, record_baselines
from archbench.errors import UsageError
from archbench.store import ResultStore, measurement_key


def test_the_baseline_sees_the_models_split_as_raw_pixels():
    row = logistic_regression_row("digits")
    model_view = data.load_dataset("digits", "lenet5")
    pixels = data.load_pixels("digits")
    np.testing.assert_array_equal(pixels.split("heldout").labels, model_view.split("heldout").labels)
    np.testing.assert_array_equal(pixels.split("train").labels, model_view.split("train").labels)
    assert row["model"] == BASELINE_MODEL and (row["dataset"], row["split"]) == ("digits", "heldout")
    assert (row["n"], row["n_train"], row["input_size"], row["resize_mode"]) == (359, 1438, 8, "none")
    assert (row["scale"], row["mean"], row["std"]) == (1 / 255, [0.0], [1.0])
    assert 90.0 < row["top1"] <= row["top5"] <= 100.0
    assert "LogisticRegression" in row["baseline"]


def test_a_large_training_split_is_not_a_cheap_baseline():
    with pytest.raises(NotCheap, match="more than the 1,000"):
        logistic_regression_row("digits", max_values=1_000)
    with pytest.raises(UsageError, match="no fixed size"):
        data.load_pixels("imagefolder", data_dir="/nonexistent")


def unit(task, **settings):
    return SimpleNamespace(task=SimpleNamespace(name=task), settings=settings)


def test_a_sweep_writes_one_baseline_per_cheap_dataset_and_resumes_it(tmp_path):
    units = [
        unit("accuracy", dataset="digits", data_dir=None, weights=None, train_epochs=0, input_size=None),
        unit("accuracy", dataset="digits", data_dir=None, weights=None, train_epochs=3, input_size=None),
        unit("accuracy", dataset="imagefolder", data_dir=str(tmp_path), weights=None, train_epochs=0,
             input_size=None),
        unit("latency", backend="tensorflow", batch_size=1),
    ]
    env = {"hostname": "test"}
    with ResultStore(tmp_path / "out") as store:
        assert record_baselines(units, store, run_id="r1", env=env, done=set()) == 1
        (row,) = store.rows()
        key = measurement_key(BASELINE_MODEL, "accuracy", baselines.baseline_settings(units[0].settings))
        assert (row["model"], row["task"], row["status"], row["key"]) == (BASELINE_MODEL, "accuracy", "ok", key)
        assert row["result"]["dataset"] == "digits" and row["result"]["n"] == 359
        assert record_baselines(units, store, run_id="r2", env=env, done={key}) == 0
        assert len(store.rows()) == 1


def test_the_end_of_run_table_shows_measured_accuracy_and_the_baseline(tmp_path):
    with ResultStore(tmp_path) as store:
        record_baselines([unit("accuracy", dataset="digits", data_dir=None)], store, run_id="r", env={},
                         done=set())
        store.append({"model": "lenet5", "task": "accuracy", "run_id": "r", "key": "k", "status": "ok",
                      "error": "", "timestamp": "2026-01-01T00:00:00+00:00", "settings": {}, "env": {},
                      "result": {"dataset": "digits", "split": "heldout", "n": 359, "top1": 99.16,
                                 "trained": True}})
        path = store.write_csv()
    text = catalog.results_table(path)
    lines = {line.split()[0]: line for line in text.splitlines()[2:]}
    assert "measured top-1 (%)" in text.splitlines()[0] and "measured on" in text.splitlines()[0]
    assert "99.2" in lines["lenet5"] and "digits, 359 held out" in lines["lenet5"]
    assert "digits, 359 held out" in lines[BASELINE_MODEL]
