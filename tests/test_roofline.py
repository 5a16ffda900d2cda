"""Roofline columns of a latency row, checked against numbers worked out by hand, and the roofline figure
drawn from rows that carry them (labels on their own points)."""

import math
import os

import pandas as pd
import pytest
from test_labels import label_problems, point_labels

from archbench.errors import UsageError
from archbench.roofline import COLUMNS, OVERHEAD_FACTOR, Peak, roofline_columns

PEAK = Peak(device="cpu:0 (Test CPU)", device_type="cpu", device_name="Test CPU", dtype="float32",
            flops_per_s=1e12, bandwidth_bytes_per_s=1e11, peak_source="measured (matmul probe)", method="timed")  # fmt: skip


def row(**changes):
    base = {"status": "ok", "macs": 1e9, "batch_size": 4, "median_ms": 10.0, "mem_params_mb": 100.0,
            "mem_activations_mb": 50.0, "device_type": "cpu", "device_name": "Test CPU", "dtype": "float32"}  # fmt: skip
    return {**base, **changes}


def test_compute_bound_row_by_hand():
    # FLOPs = 2 x 1e9 x 4 = 8e9 in 10 ms -> 8e11 FLOP/s = 0.8 of 1e12; bytes = (100 + 2 x 50) MB = 2e8
    # -> 40 FLOP/byte; compute time 8e9 / 1e12 = 8 ms >= traffic time 2e8 / 1e11 = 2 ms; 10 ms <= 10 x 8 ms
    c = roofline_columns(row(), PEAK)
    assert list(c) == list(COLUMNS)
    assert c["flops_per_s"] == pytest.approx(8e11)
    assert c["fraction_of_peak"] == pytest.approx(0.8)
    assert c["arithmetic_intensity"] == pytest.approx(40.0)
    assert c["compute_time_ms"] == pytest.approx(8.0) and c["traffic_time_ms"] == pytest.approx(2.0)
    assert c["bound"] == "compute" and c["roofline_reason"] == ""
    assert c["peak_flops_per_s"] == 1e12 and c["peak_bandwidth_bytes_per_s"] == 1e11
    assert c["peak_source"] == "measured (matmul probe)"


def test_memory_and_overhead_bound_rows_by_hand():
    # bytes = (1000 + 2 x 50) MB = 1.1e9 -> traffic 11 ms > compute 8 ms; 12 ms is within 10 x 11 ms
    memory = roofline_columns(row(mem_params_mb=1000.0, median_ms=12.0), PEAK)
    assert memory["traffic_time_ms"] == pytest.approx(11.0) and memory["bound"] == "memory"
    assert memory["arithmetic_intensity"] == pytest.approx(8e9 / 1.1e9)
    assert memory["fraction_of_peak"] == pytest.approx(8e9 / 12e-3 / 1e12)
    # the roof allows 8 ms; a row 10 x 8 ms = 80 ms is still compute, one above it is overhead
    assert roofline_columns(row(median_ms=OVERHEAD_FACTOR * 8.0), PEAK)["bound"] == "compute"
    overhead = roofline_columns(row(median_ms=100.0), PEAK)
    assert overhead["bound"] == "overhead" and overhead["fraction_of_peak"] == pytest.approx(0.08)


def test_fraction_of_peak_is_exactly_the_stated_formula():
    r = row(macs=1_814_073_000, batch_size=8, median_ms=93.7)
    assert roofline_columns(r, PEAK)["fraction_of_peak"] == 2 * 1_814_073_000 * 8 / (93.7 / 1e3) / 1e12


def test_missing_inputs_give_none_and_a_reason():
    failed = roofline_columns(row(status="oom", median_ms=None), PEAK)
    assert all(failed[c] is None for c in COLUMNS if c != "roofline_reason")
    assert "oom" in failed["roofline_reason"]
    no_mem = roofline_columns(row(mem_activations_mb=math.nan), PEAK)
    assert no_mem["fraction_of_peak"] == pytest.approx(0.8)
    assert (
        no_mem["arithmetic_intensity"] is None
        and no_mem["traffic_time_ms"] is None
        and no_mem["bound"] is None
    )
    assert "mem_params_mb/mem_activations_mb" in no_mem["roofline_reason"]
    no_peak = roofline_columns(row(), None)
    assert no_peak["flops_per_s"] == pytest.approx(8e11) and no_peak["fraction_of_peak"] is None
    assert no_peak["bound"] is None and "no peak known for cpu Test CPU float32" in no_peak["roofline_reason"]
    no_macs = roofline_columns(row(macs=None), PEAK)
    assert no_macs["flops_per_s"] is None and no_macs["fraction_of_peak"] is None
    assert no_macs["roofline_reason"].startswith("no macs")


def test_bad_input_is_a_one_line_error():
    with pytest.raises(UsageError, match="row must map column names to values, got list"):
        roofline_columns([1, 2], PEAK)
    with pytest.raises(UsageError, match="peaks must be a Peak, a dict of its fields or None, got float"):
        roofline_columns(row(), 1e12)
    bad = roofline_columns(row(macs="many"), PEAK)
    assert bad["flops_per_s"] is None and bad["roofline_reason"].startswith(
        "macs 'many' is not a number; no macs"
    )


def test_a_datasheet_peak_gives_a_fraction_but_no_bound():
    spec = Peak(device="gpu:0 (NVIDIA H200)", device_type="gpu", device_name="NVIDIA H200", dtype="bfloat16",
                flops_per_s=989e12, bandwidth_bytes_per_s=None, peak_source="datasheet: NVIDIA H200 SXM",
                reason="not measured yet; datasheet FLOP/s, no bandwidth")  # fmt: skip
    c = roofline_columns(
        row(device_type="gpu", device_name="NVIDIA H200", dtype="mixed_bfloat16"), spec.as_dict()
    )
    assert c["peak_source"] == "datasheet: NVIDIA H200 SXM" and c["fraction_of_peak"] == pytest.approx(8e11 / 989e12)
    assert c["bound"] is None and "no bandwidth" in c["roofline_reason"]


# (model, G-MACs per image, weights MB, live activations MB per image, ms per image at batch 1, sweep)
ZOO = [("lenet5", 0.000327, 0.24, 0.04, 0.19, False), ("alexnet", 0.724, 244.0, 2.3, 14.4, True),
       ("nin", 1.10, 30.4, 2.3, 7.5, False), ("googlenet", 1.58, 28.0, 6.5, 14.4, False),
       ("resnet18", 1.81, 46.8, 6.5, 13.9, True), ("resnet50", 3.86, 102.4, 9.6, 27.2, False),
       ("vgg11", 7.61, 531.5, 16.1, 60.8, True), ("vgg16", 15.5, 553.4, 25.7, 90.1, False)]  # fmt: skip
MACHINE = Peak(device="cpu:0 (Test CPU)", device_type="cpu", device_name="Test CPU", dtype="float32",
               flops_per_s=1.9e11, bandwidth_bytes_per_s=4.5e10, peak_source="measured (matmul probe)", method="timed")  # fmt: skip


def synthetic_results():
    """Latency rows of a made-up 2-core CPU (a sweep to batch 16 for three models, where the time per image
    falls by a third), with their roofline columns."""
    rows = []
    for model, gmacs, params_mb, act_mb, ms, sweep in ZOO:
        for batch in (1, 4, 16) if sweep else (1,):
            rows.append({"model": model, "task": "latency", "status": "ok", "backend": "tensorflow",
                         "device": "cpu:0 (Test CPU)", "device_type": "cpu", "device_name": "Test CPU",
                         "dtype": "float32", "batch_size": batch, "macs": gmacs * 1e9,
                         "median_ms": ms * batch * (1.0 if batch == 1 else 0.67), "mem_params_mb": params_mb,
                         "mem_activations_mb": act_mb * batch})  # fmt: skip
    rows.append({**rows[-1], "status": "oom", "batch_size": 64, "median_ms": None})
    return pd.DataFrame([{**r, **roofline_columns(r, MACHINE)} for r in rows])


def test_roofline_figure_labels_each_model_on_its_own_point(tmp_path):
    from archbench.analysis.roofline import roofline, roofline_findings

    results = synthetic_results()
    fig = roofline(results)
    fig.savefig(tmp_path / "roofline.png", dpi=fig.dpi)
    labels = [lab for ax in fig.axes for lab in point_labels(ax)]
    ok = results[(results["status"] == "ok")].sort_values("batch_size").drop_duplicates("model")
    assert sorted(lab.get_text() for lab in labels) == sorted(ok["model"])
    for lab in labels:
        r = ok[ok["model"] == lab.get_text()].iloc[0]
        assert lab.xy == pytest.approx((r["arithmetic_intensity"], r["flops_per_s"] / 1e9), rel=1e-9)
    assert label_problems(fig) == []
    lines = roofline_findings(results)
    assert len(lines) == len(ZOO)
    lenet = next(x for x in lines if x.startswith("lenet5 ("))
    assert "overhead-bound" in lenet
    vgg11 = next(x for x in lines if x.startswith("vgg11 ("))
    assert "batch 1 compute-bound" in vgg11 and "at batch 16:" in vgg11


def test_roofline_is_skipped_with_its_reason_without_the_columns():
    from archbench.analysis.load import NotDrawn
    from archbench.analysis.roofline import roofline

    old = synthetic_results().drop(columns=["fraction_of_peak"])
    with pytest.raises(NotDrawn, match="no fraction_of_peak .*`archbench run "):
        roofline(old)


def test_the_report_draws_the_roofline_and_names_each_models_bound(tmp_path):
    from archbench.report import draw_figures, write_report

    synthetic_results().to_csv(tmp_path / "results.csv", index=False)
    drawn = {name: (fig, skipped) for name, _title, fig, skipped in draw_figures(tmp_path)}
    fig, skipped = drawn["roofline"]
    assert fig is not None and skipped == ""
    paths = write_report(tmp_path, tmp_path / "report")
    md = open(paths["markdown"], encoding="utf-8").read()
    section = md.split("## How close to the machine's limit")[1].split("## Fastest way")[0]
    assert section.count("\n- ") == len(ZOO) and "- lenet5 (cpu:0 (Test CPU) · float32, tensorflow): batch 1 " \
        "overhead-bound" in section  # fmt: skip
    assert os.path.getsize(paths["roofline.png"]) > 1000


def test_older_results_folders_load_with_one_set_of_peak_columns(tmp_path):
    from archbench.analysis.load import load_results

    sheet = "NVIDIA H200 SXM datasheet via REFERENCES.md: dense (no sparsity) BF16/FP16 989 TFLOP/s"
    old = pd.DataFrame([
        {"model": "vgg16", "task": "latency", "status": "ok", "peak_tflops": 989.0, "peak_source": sheet, "mfu": 0.25},
        {"model": "vgg16", "task": "latency", "status": "ok", "peak_tflops": 67.0, "peak_source": "spec",
         "peak_flops_per_s": 67e12, "peak_method": sheet, "fraction_of_peak": 0.5, "mfu": 0.5},
        {"model": "lenet5", "task": "latency", "status": "ok", "peak_tflops": None, "peak_source": "measured",
         "peak_flops_per_s": 1.9e11, "peak_method": "timed", "fraction_of_peak": 0.01, "mfu": None},
    ])  # fmt: skip
    old.to_csv(tmp_path / "results.csv", index=False)
    rows = load_results(tmp_path)
    assert not {"peak_tflops", "mfu"} & set(rows.columns)
    assert list(rows["peak_source"]) == ["datasheet: NVIDIA H200 SXM", "datasheet: NVIDIA H200 SXM", "measured"]
    assert list(rows["peak_flops_per_s"]) == [989e12, 67e12, 1.9e11]
    assert list(rows["fraction_of_peak"]) == [0.25, 0.5, 0.01]
    assert list(rows["peak_method"]) == [sheet, sheet, "timed"]
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results", "reference",
                          "gpu-nvidia-h200")  # fmt: skip
    reference = load_results(folder)
    raw = pd.read_csv(os.path.join(folder, "results.csv"))
    assert not {"peak_tflops", "mfu"} & set(reference.columns) and "peak_tflops" in raw.columns
    assert (reference["fraction_of_peak"].dropna() == raw["mfu"].dropna()).all()
