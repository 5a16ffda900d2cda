"""The report's training figures from synthetic rows: drawn only when training rows exist (skipped with the
command otherwise), each label on its own point, the ratio figure pairing a training row with the inference
row of the same model, stack and batch size."""

import numpy as np
import pytest
from test_findings import model_rows, result_rows, write_folder, zoo
from test_labels import label_problems, point_labels

from archbench import analysis
from archbench.report import draw_figures

TRAIN_FIGURES = ("train_throughput", "train_vs_inference", "train_memory_vs_batch")
BATCHES = (1, 2, 4, 8)


def train_rows(models, latency, seed=3):
    """A training row per model, stack and batch: each model's own measured time ratio over inference
    (between 2.5 and 4.5), counted MACs about 3x forward, memory growing with the batch."""
    rng = np.random.default_rng(seed)
    ratios = {m["model"]: float(rng.uniform(2.5, 4.5)) for m in models}
    rows = []
    for r in latency:
        if r["task"] != "latency" or r.get("framework") != "archbench" or r.get("runtime") != "keras":
            continue
        m = next(m for m in models if m["model"] == r["model"])
        train_macs = int(m["macs"] * (3 - 0.02 * (int(m["model"][-1:], 36) % 5)))
        ms = r["median_ms"] * ratios[m["model"]]
        rows.append({**r, "task": "train", "key": r["key"] + "t", "median_ms": ms, "ci_low_ms": ms * 0.98,
                     "ci_high_ms": ms * 1.02, "images_per_s": r["batch_size"] * 1000 / ms,
                     "mode": "tensorflow xla train step", "task_kind": "train", "train_macs": train_macs,
                     "train_forward_macs": int(m["macs"]), "train_mac_ratio": train_macs / m["macs"],
                     "mem_peak_mb": r["mem_peak_mb"] * 2.5})  # fmt: skip
    return rows, ratios


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    models = zoo(n=8)
    latency = result_rows(models, batches=BATCHES, energy=False, peers=False)
    train, ratios = train_rows(models, latency)
    path = write_folder(tmp_path_factory.mktemp("train") / "res", latency + train, model_rows(models))
    return path, ratios


@pytest.fixture(scope="module")
def figures(folder):
    return {name: (fig, skipped) for name, _title, fig, skipped in draw_figures(folder[0])}


def test_training_figures_are_drawn_with_every_label_on_its_point(figures):
    for name in TRAIN_FIGURES:
        fig, skipped = figures[name]
        assert fig is not None, (name, skipped)
        assert label_problems(fig) == [], name
    labelled = {name for name in TRAIN_FIGURES if any(point_labels(ax) for ax in figures[name][0].axes)}
    assert labelled == {"train_throughput", "train_vs_inference"}


def test_ratio_figure_pairs_training_with_inference_of_the_same_setting_and_batch(folder, figures):
    path, ratios = folder
    results = analysis.load_results(path)
    pairs = analysis.training.ratio_points(results)
    assert len(pairs) == 10 * len(BATCHES)  # 8 crowded models and the two tiny ones, at every batch
    for row in pairs.itertuples():
        assert row.time_ratio == pytest.approx(ratios[row.model], rel=1e-9)
    labels = [lab for ax in figures["train_vs_inference"][0].axes for lab in point_labels(ax)]
    assert sorted(lab.get_text() for lab in labels) == sorted(ratios)  # one point per model and stack
    for lab in labels:
        model = lab.get_text()
        counted = results[(results["model"] == model) & (results["task"] == "train")]["train_mac_ratio"].iloc[0]
        assert lab.xy == pytest.approx((counted, ratios[model]), rel=1e-9)


def test_throughput_labels_sit_on_the_largest_batch_of_each_model(folder, figures):
    results = analysis.load_results(folder[0])
    train = results[(results["task"] == "train") & (results["batch_size"] == max(BATCHES))].set_index("model")
    labels = [lab for ax in figures["train_throughput"][0].axes for lab in point_labels(ax)]
    assert {lab.get_text() for lab in labels} == set(train.index)
    for lab in labels:
        row = train.loc[lab.get_text()]
        assert lab.xy == pytest.approx((row["train_macs"] / 1e9, row["images_per_s"]), rel=1e-9)


def test_inference_memory_figure_leaves_training_rows_out(folder):
    results = analysis.load_results(folder[0])
    mem = analysis.tables.measured_rows(results, "mem_peak_mb")
    assert len(mem) == len(results[results["task"] == "latency"]) and set(mem["task"]) == {"latency"}


def test_without_training_rows_the_figures_are_skipped_with_the_command(tmp_path):
    models = zoo(n=3)
    path = write_folder(tmp_path / "res", result_rows(models, energy=False, peers=False), model_rows(models))
    skipped = {name: why for name, _title, fig, why in draw_figures(path) if name in TRAIN_FIGURES}
    assert set(skipped) == set(TRAIN_FIGURES)
    for why in skipped.values():
        assert "no training-step rows" in why and "--tasks latency,train" in why


def test_one_batch_size_is_named_for_training_memory(tmp_path):
    models = zoo(n=3)
    latency = result_rows(models, batches=(4,), energy=False, peers=False)
    train, _ = train_rows(models, latency)
    path = write_folder(tmp_path / "res", latency + train, model_rows(models))
    skipped = {name: why for name, _title, fig, why in draw_figures(path)}
    assert "one batch size only" in skipped["train_memory_vs_batch"]
    assert skipped["train_vs_inference"] == "" and skipped["train_throughput"] == ""
