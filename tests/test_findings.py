"""Canziani's findings, the fits behind them, the measured figures and the fastest-way table, on synthetic
rows carrying the columns of the measuring side (latency intervals and noise flags, memory, energy,
runtimes and torchvision peers)."""

import os

import numpy as np
import pandas as pd
import pytest
from matplotlib.legend import Legend

from archbench import analysis
from archbench.analysis import fits
from archbench.report import write_report
from archbench.store import write_csv_atomic

ENV = {"env_backend": "tensorflow", "env_device": "cpu:0 (Test CPU)", "env_device_name": "Test CPU",
       "env_cpu_count": 2, "env_intra_op_threads": 0}  # fmt: skip
FAMILIES = ("Alpha", "Beta", "Gamma", "Delta")


def zoo(n=24, seed=0):
    """``n`` crowded models (MACs 1-4 G, top-1 70-74 %) and two tiny ones whose time is fixed overhead."""
    rng = np.random.default_rng(seed)
    models = [
        {"model": f"net{i:02d}", "display_name": f"Net-{i:02d}", "family": FAMILIES[i % 4], "year": 2015,
         "macs": float(10 ** rng.uniform(9.0, 9.6)), "params": float(10 ** rng.uniform(6.5, 8.1)),
         "top1": float(rng.uniform(70, 74))}
        for i in range(n)
    ]  # fmt: skip
    models += [
        {"model": "tiny_a", "display_name": "Tiny-A", "family": "Tiny", "year": 1998, "macs": 4.2e5,
         "params": 6.1e4, "top1": None},
        {"model": "tiny_b", "display_name": "Tiny-B", "family": "Tiny", "year": 1998, "macs": 3.3e5,
         "params": 6.0e4, "top1": None},
    ]  # fmt: skip
    return models


def model_rows(zoo_models):
    rows = []
    for m in zoo_models:
        rows.append({
            "model": m["model"], "display_name": m["display_name"], "family": m["family"], "year": m["year"],
            "implementation": "archbench", "default_input_shape": "224x224x3", "paper_title": "p",
            "paper_url": "https://example.invalid", "depth_paper": 20, "top1_ref": m["top1"], "top5_ref": None,
            "accuracy_ref_source": "torchvision weights meta" if m["top1"] else "",
            "accuracy_ref_scope": "ImageNet-1k val, single centre crop" if m["top1"] else "",
            "top1_protocol": "single centre crop at 224 px" if m["top1"] else "",
            "top1_weights": ("torchvision", "keras.applications", "paper")[int(m["model"][-1:], 36) % 3]
            if m["top1"] else "",
            "params_ref": m["params"], "ilsvrc_year": None, "ilsvrc_team": "", "ilsvrc_place": None,
            "ilsvrc_top5_error": None, "ilsvrc_source": "",
        })  # fmt: skip
    return rows


def result_rows(
    zoo_models,
    *,
    exponent=0.9,
    noise=0.03,
    overhead_ms=0.3,
    batches=(1, 2, 4, 8),
    memory=True,
    energy=True,
    power=lambda model_index, batch: 60.0,
    latency=None,
    peers=True,
    seed=1,
):
    """Rows as results.csv holds them: params and macs per model, latency (with interval, load stamps,
    memory, energy) per model and batch, runtime and peer rows for three models."""
    rng = np.random.default_rng(seed)
    rows = []
    t = 0

    def add(model, task, **cols):
        nonlocal t
        t += 1
        rows.append({"model": model, "task": task, "status": cols.pop("status", "ok"), "error": "", "run_id": "r1",
                     "timestamp": f"2026-01-01T00:{t // 60:02d}:{t % 60:02d}+00:00", "key": f"k{t}", **ENV, **cols})  # fmt: skip

    for i, m in enumerate(zoo_models):
        add(m["model"], "params", params_paper=m["params"], params_total=m["params"], input_shape="224x224x3")
        add(m["model"], "macs", macs=m["macs"], params_paper=m["params"], depth=20, input_shape="224x224x3",
            batch_size=1, dtype="float32")  # fmt: skip
        tiny = m["macs"] < 1e7
        for bs in batches:
            if latency is not None:
                ms = latency(i, m, bs)
            else:
                ms = overhead_ms * bs if tiny else 2e-8 * m["macs"] ** exponent * bs**0.8
                ms *= float(np.exp(rng.normal(0, noise)))
            cols = {"backend": "tensorflow", "device": "cpu:0 (Test CPU)", "batch_size": bs, "dtype": "float32",
                    "median_ms": ms, "ci_low_ms": ms * 0.98, "ci_high_ms": ms * 1.02, "ci_rel": 0.02,
                    "iterations": 40, "stop_reason": "precision", "load_before": 0.4, "load_after": 0.5,
                    "cpu_count": 2, "noisy": i == 3 and bs == 1, "remeasured": False, "profile": "full",
                    "min_time_s": 1.0, "runtime": "keras", "framework": "archbench", "mode": "tensorflow xla"}  # fmt: skip
            if memory:
                cols.update(mem_method="rss-hwm (clear_refs)", mem_baseline_mb=400.0,
                            mem_model_mb=4.0 * m["params"] / 1e6,
                            mem_peak_mb=150.0 + 4.2 * m["params"] / 1e6 + 2e-8 * m["macs"] * bs,
                            mem_params_mb=4.0 * m["params"] / 1e6)  # fmt: skip
            if energy:
                w = power(i, bs)
                cols.update(energy_available=True, energy_method="rapl", power_w=w, energy_j=w * ms / 1000,
                            energy_j_per_image=w * ms / 1000 / bs)  # fmt: skip
            else:
                cols.update(
                    energy_available=False, energy_reason="no readable RAPL counter (/sys/class/powercap)"
                )
            add(m["model"], "latency", **cols)
    if peers:
        for m in zoo_models[:3]:
            base = next(r["median_ms"] for r in rows if r["model"] == m["model"] and r["task"] == "latency")
            common = {
                "device": "cpu:0 (Test CPU)",
                "batch_size": 1,
                "dtype": "float32",
                "backend": "tensorflow",
            }
            add(m["model"], "latency", runtime="onnxruntime", framework="archbench", median_ms=base * 0.6,
                ci_low_ms=base * 0.59, ci_high_ms=base * 0.61, precision="float32", max_abs_diff=2.7e-6,
                tolerance=1e-4, **common)  # fmt: skip
            add(m["model"], "latency", runtime="openvino", framework="archbench", median_ms=base * 0.3,
                precision="float32", max_abs_diff=3.3e-3, tolerance=1e-4, status="failed", **common)  # fmt: skip
            add(m["model"], "latency", framework="torchvision", mode="eager", median_ms=base * 1.1, **common)
            add(
                m["model"], "latency", framework="torchvision", mode="compile", median_ms=base * 0.9, **common
            )
    return rows


def write_folder(folder, results, models):
    os.makedirs(folder, exist_ok=True)
    write_csv_atomic(os.path.join(folder, "results.csv"), results)
    write_csv_atomic(os.path.join(folder, "models.csv"), models)
    return str(folder)


def load(folder):
    return analysis.load_results(folder), analysis.load_models(folder)


def crowded_folder(folder, **kwargs):
    z = zoo()
    return write_folder(folder, result_rows(z, **kwargs), model_rows(z))


def by_claim(items, word):
    return next(f for f in items if word in f.claim)


# ---------------------------------------------------------------------------------------------- fits


def test_power_law_recovers_a_known_exponent_with_a_calibrated_interval():
    rng = np.random.default_rng(7)
    x = np.geomspace(1, 100, 12)
    inside = 0
    for _ in range(400):
        y = 3.0 * x**0.85 * np.exp(rng.normal(0, 0.1, x.size))
        fit = fits.power_law(x, y)
        inside += fit.low <= 0.85 <= fit.high
    assert 0.92 <= inside / 400 <= 0.98, inside  # a 95 % interval holds the truth about 95 % of the time
    exact = fits.power_law(x, 3.0 * x**0.85)
    assert exact.exponent == pytest.approx(0.85) and exact.coefficient == pytest.approx(3.0)
    assert exact.r == pytest.approx(1.0)


def test_line_interval_matches_the_textbook():
    # y = 1 + 2x + e, e = (+1, -1, -1, +1): slope 2.0, SE(slope) = sqrt(4/2 / 5) (s^2 = 2, Sxx = 5)
    x = np.array([0.0, 1.0, 2.0, 3.0])
    fit = fits.line(x, 1 + 2 * x + np.array([1.0, -1.0, -1.0, 1.0]))
    half = 4.302652729911275 * np.sqrt(2.0 / 5.0)  # t(0.975, 2)
    assert fit.slope == pytest.approx(2.0)
    assert (fit.slope_low, fit.slope_high) == (pytest.approx(2.0 - half), pytest.approx(2.0 + half))
    with pytest.raises(ValueError, match="3 points"):
        fits.line([1, 2], [1, 2])


def test_fixed_overhead_rule():
    macs = pd.Series([4e5, 3e5, 1e9, 2e9, 4e9, 1.5e7])
    assert fits.fixed_overhead(macs).tolist() == [True, True, False, False, False, False]


# ---------------------------------------------------------------------------------------------- findings


def test_findings_recover_the_rows_numbers(tmp_path):
    results, models = load(crowded_folder(tmp_path / "res", exponent=0.9, noise=0.03))
    items = analysis.findings(results, models)
    ops = by_claim(items, "operations")
    assert ops.verdict == "holds"
    low, high = (float(v) for v in ops.measured.split("[")[1].split("]")[0].split(", "))
    assert low <= 0.9 <= high and high - low < 0.1
    assert "over 24 models" in ops.measured and "excluded: tiny_a, tiny_b — fixed overhead" in ops.measured
    mem = by_claim(items, "Memory")
    assert mem.verdict == "holds"
    b = float(mem.measured.split("b = ")[1].split(" ")[0])
    # 4.2 bytes per parameter, plus the activations' share
    assert b == pytest.approx(4.2, abs=0.3), mem.measured
    assert by_claim(items, "Power").verdict == "holds"
    assert "across batch sizes at most 0%" in by_claim(items, "Power").measured
    hyper = by_claim(items, "hyperbolic")
    assert hyper.verdict in ("holds", "does not hold") and "frontier" in hyper.measured


def test_verdicts_follow_the_data(tmp_path):
    rng = np.random.default_rng(3)
    random_ms = {i: float(10 ** rng.uniform(0, 2)) for i in range(26)}
    rows = result_rows(zoo(), latency=lambda i, m, bs: random_ms[i] * bs,
                       power=lambda i, bs: 20.0 + 10.0 * bs)  # fmt: skip
    results, models = load(write_folder(tmp_path / "res", rows, model_rows(zoo())))
    items = analysis.findings(results, models)
    assert by_claim(items, "operations").verdict == "does not hold"
    power = by_claim(items, "Power")
    assert power.verdict == "does not hold" and "across batch sizes at most" in power.measured
    results.loc[results["mem_peak_mb"].notna(), "mem_peak_mb"] = rng.uniform(
        100, 2000, results["mem_peak_mb"].notna().sum()
    )
    assert by_claim(analysis.findings(results, models), "Memory").verdict == "does not hold"


def test_missing_data_says_what_to_run(tmp_path):
    z = zoo()
    rows = result_rows(z, memory=False, energy=False, batches=(1,))
    results, models = load(write_folder(tmp_path / "res", rows, model_rows(z)))
    items = analysis.findings(results, models)
    mem, power = by_claim(items, "Memory"), by_claim(items, "Power")
    assert mem.verdict == power.verdict == "cannot decide"
    assert "--profile full" in mem.run
    assert (
        "energy: not available (no readable RAPL counter" in power.measured and "--profile full" in power.run
    )
    bare = results[results["task"] != "latency"]
    ops = by_claim(analysis.findings(bare.drop(columns=["median_ms"]), models), "operations")
    assert ops.verdict == "cannot decide" and "archbench run" in ops.run
    for fn in (analysis.time_vs_batch, analysis.memory_vs_batch, analysis.power_vs_batch):
        with pytest.raises(analysis.NotDrawn, match="archbench run"):
            fn(results)
    with pytest.raises(analysis.NotDrawn, match="energy: not available"):
        analysis.top1_vs_energy(results, models)


# ---------------------------------------------------------------------------------------------- tables


def test_fastest_way_skips_failed_rows(tmp_path):
    results, _ = load(crowded_folder(tmp_path / "res"))
    fastest = analysis.fastest_runs(results).set_index(["model", "batch"])
    row = fastest.loc[("net00", 1)]
    assert row["fastest"] == "onnxruntime", "openvino was faster but failed its tolerance: not a candidate"
    assert row["ways measured"] == 4  # keras, onnxruntime, torchvision eager and compile
    assert row["max abs diff"] == pytest.approx(2.7e-6)
    assert row["default / fastest"] == pytest.approx(1 / 0.6, rel=0.01)
    assert row["archbench best / torchvision best"] == pytest.approx(0.6 / 0.9, rel=0.01)
    assert fastest.loc[("net05", 1), "ways measured"] == 1


def test_latency_table_intervals_noise_and_superseded(tmp_path):
    results, models = load(crowded_folder(tmp_path / "res"))
    lat = analysis.latency_table(results)
    assert lat["ci_low_ms"].notna().all() or lat["framework"].eq("torchvision").any()
    assert set(lat["stack"]) == {"tensorflow xla", "onnxruntime", "torchvision eager", "torchvision compile"}
    assert lat[lat["noisy"]]["model"].tolist() == ["net03"]
    summary = analysis.summary_table(results, models).set_index("model")
    assert summary.at["net03", "noisy"] == "noisy" and summary.at["net04", "noisy"] == ""
    assert summary.at["net04", "95 % CI (ms)"].count("–") == 1
    superseded = results.copy()
    superseded["superseded"] = (superseded["model"] == "net03") & (superseded["task"] == "latency")
    assert "net03" not in set(analysis.latency_table(superseded)["model"])


def test_top1_chart_plots_single_crop_only(tmp_path):
    z = zoo()
    models = model_rows(z)
    models[0].update(top1_protocol="10-crop", top1_ref=80.0)
    models[1].update(top1_protocol="read off a chart")
    results, models = load(write_folder(tmp_path / "res", result_rows(z, memory=False, energy=False), models))
    fig = analysis.top1_vs_operations(results, models)
    assert (
        "Left out, not single-crop (not comparable with the rest): net00 80.0 (10-crop), net01" in fig.caption
    )
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert "Net-00" not in texts and "Net-01" not in texts and "Net-02" in texts
    legends = [c for c in fig.axes[1].get_children() if isinstance(c, Legend)]
    weights = next(leg for leg in legends if leg.get_title().get_text() == "weights")
    assert {t.get_text() for t in weights.get_texts()} == {"torchvision", "keras.applications", "paper"}
    shapes = {
        np.round(c.get_paths()[0].vertices, 3).tobytes()
        for c in fig.axes[0].collections
        if len(c.get_offsets())
    }
    assert len(shapes) >= 3, "one marker shape per weights source"


# ---------------------------------------------------------------------------------------------- report


def test_report_shows_findings_and_measured_figures(tmp_path):
    folder = crowded_folder(tmp_path / "res")
    paths = write_report(folder, tmp_path / "report")
    for name in ("time_vs_batch", "memory_vs_batch", "memory_vs_params", "power_vs_batch", "top1_vs_energy",
                 "top1_vs_latency", "latency_vs_macs", "backend_comparison", "top1_density"):  # fmt: skip
        assert f"{name}.png" in paths, name
    md = open(paths["markdown"], encoding="utf-8").read()
    assert "## Findings on this machine" in md and "## Fastest way to run each model here" in md
    assert "**The number of operations is a reliable estimate of the inference time** — holds" in md
    html = open(paths["html"], encoding="utf-8").read()
    assert 'id="findings"' in html and "bytes per parameter" in html
    assert "onnxruntime" in html.split('id="fastest"')[1].split('id="figures"')[0]


# ---------------------------------------------------------------------------------------------- first screen


def _timed(model, backend, ms, frac):
    return {"model": model, "task": "latency", "status": "ok", "backend": backend, "device": "cpu:0",
            "dtype": "float32", "batch_size": 1, "median_ms": ms, "fraction_of_peak": frac,
            "peak_source": "measured (matmul probe)"}  # fmt: skip


def test_headline_fastest_way_and_its_fraction_of_peak():
    from archbench.analysis.headlines import headlines

    rows = pd.DataFrame([_timed("m1", "tensorflow", 10.0, 0.2), _timed("m1", "jax", 5.0, 0.4),
                         _timed("m2", "tensorflow", 100.0, 0.5), _timed("m2", "jax", 200.0, 0.25),
                         _timed("m3", "tensorflow", 30.0, 0.1), _timed("m3", "jax", 20.0, 0.15)])  # fmt: skip
    first = headlines(rows)[0]
    assert first.title == "Fastest way per model on this machine" and first.run == ""
    assert first.text == (
        "3 models, each at its smallest batch (cpu:0): jax fastest for 2, tensorflow fastest for 1 (of 2 ways "
        "measured); from 5 ms (m1) to 100 ms (m2); fraction of this machine's peak FLOP/s (measured): median "
        "40%, from 15% (m3) to 50% (m2)"
    )
    older = headlines(rows.drop(columns=["fraction_of_peak"]))[0]
    assert older.text.endswith("fraction of the measured peak: not known (rows written before archbench measured "
                               "the machine's peaks)") and older.run  # fmt: skip


def test_headline_pareto_fronts(tmp_path):
    from test_analysis import write_folder as zoo_folder

    from archbench.analysis.headlines import headlines

    folder = zoo_folder(tmp_path / "res")
    _fastest, latency, operations, since = headlines(analysis.load_results(folder), analysis.load_models(folder))
    assert latency.text == (
        "3 of 4 models (cpu:0 (Test CPU) · tensorflow · float32, batch 1): AlexNet (13.8 ms, 56.5 %) → GoogLeNet "
        "(19.2 ms, 69.8 %) → ResNet-50 (46.5 ms, 76.1 %); every other model is slower for less top-1"
    )
    assert operations.text.startswith("4 of 6 models: AlexNet (1.13 G-MACs, 56.5 %) → GoogLeNet (1.59 G-MACs, 69.8 %)")
    assert "cannot decide" in since.text and "every network here is from 1998–2015" in since.text
