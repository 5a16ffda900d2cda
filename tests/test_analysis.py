"""Loaders and figures of archbench.analysis, on small synthetic results folders (Agg, no model built)."""

import os

import numpy as np
import pandas as pd
import pytest
from matplotlib.legend import Legend

from archbench import analysis
from archbench.errors import ResultsFileError
from archbench.store import write_csv_atomic

ENV_CPU = {"backend": "tensorflow", "device": "cpu:0 (Test CPU)", "keras_version": "3.15.0",
           "tensorflow_version": "2.21.0", "cpu_count": 2}  # fmt: skip
ENV_GPU = {"backend": "jax", "device": "gpu:0 (Test GPU)", "keras_version": "3.15.0", "jax_version": "0.10.0",
           "cpu_count": 16}  # fmt: skip

# name: display, family, year, params, macs, depth, depth_paper, top1_ref, ilsvrc (year, team, place, error)
ZOO = {
    "lenet5": ("LeNet-5", "LeNet", 1998, 61_706, 416_520, 5, 5, 99.05, None),
    "alexnet": (
        "AlexNet",
        "AlexNet",
        2012,
        60_965_224,
        1_134_000_000,
        8,
        8,
        56.5,
        (2012, "SuperVision", 1, 16.4),
    ),
    "zfnet": ("ZFNet", "ZFNet", 2013, 62_357_608, 1_170_000_000, 8, 8, None, (2013, "Clarifai", 1, 11.7)),
    "vgg16": ("VGG-16", "VGG", 2014, 138_357_544, 15_470_264_320, 16, 16, 71.6, (2014, "VGG", 2, 7.3)),
    "vgg19": ("VGG-19", "VGG", 2014, 143_667_240, 19_632_062_464, 19, 19, 72.4, (2014, "VGG", 2, 7.3)),
    "googlenet": (
        "GoogLeNet",
        "GoogLeNet",
        2014,
        6_998_552,
        1_586_000_000,
        22,
        22,
        69.8,
        (2014, "GoogLeNet", 1, 6.7),
    ),
    "resnet50": ("ResNet-50", "ResNet", 2015, 25_557_032, 3_860_000_000, 50, 50, 75.3, None),
    "resnet152": (
        "ResNet-152",
        "ResNet",
        2015,
        60_192_808,
        11_500_000_000,
        152,
        152,
        77.0,
        (2015, "MSRA", 1, 3.57),
    ),
}


def model_rows(names=None):
    rows = []
    for name in names or ZOO:
        display, family, year, params, _macs, _depth, depth_paper, top1, il = ZOO[name]
        rows.append({
            "model": name, "display_name": display, "family": family, "year": year, "implementation": "archbench",
            "default_input_shape": "224x224x3", "paper_title": f"{display} paper", "paper_url": "https://example.invalid/p",
            "depth_paper": depth_paper, "top1_ref": top1, "top5_ref": None,
            "accuracy_ref_source": "torchvision weights meta" if top1 else "",
            "accuracy_ref_scope": "MNIST test set" if name == "lenet5" else "ImageNet-1k val, single centre crop" if top1 else "", "params_ref": params,
            "params_ref_source": "paper", "macs_ref": None, "macs_ref_scope": "", "macs_ref_source": "",
            "ilsvrc_year": il[0] if il else None, "ilsvrc_team": il[1] if il else "",
            "ilsvrc_place": il[2] if il else None, "ilsvrc_top5_error": il[3] if il else None,
            "ilsvrc_source": "Russakovsky et al. 2015" if il else "", "deviations": "",
        })  # fmt: skip
    return rows


def result_rows(*, with_latency=True, with_accuracy=True, skip_macs=("zfnet",)):
    """Rows in the runner's nested form (settings / result / env), as the store writes them."""
    rows = []
    t = 0

    def add(model, task, settings, result, env=ENV_CPU, status="ok", error=""):
        nonlocal t
        t += 1
        rows.append({"model": model, "task": task, "status": status, "error": error, "run_id": "run1",
                     "timestamp": f"2026-01-01T00:00:{t:02d}+00:00", "key": f"k{t}", "settings": settings,
                     "result": result, "env": env})  # fmt: skip

    for name, (_d, _f, _y, params, macs, depth, *_rest) in ZOO.items():
        add(name, "params", {"input_size": None}, {"input_shape": [224, 224, 3], "params_total": params,
                                                     "params_paper": params})  # fmt: skip
        if name not in skip_macs:
            add(name, "macs", {"input_size": None}, {"input_shape": [224, 224, 3], "batch_size": 1,
                "dtype": "float32", "macs": macs, "flops": 2 * macs, "depth": depth, "keras_depth": depth,
                "params_paper": params})  # fmt: skip
    if with_latency:
        for name in ("lenet5", "alexnet", "vgg16", "resnet50", "googlenet"):
            macs = ZOO[name][4]
            for backend, env, speed in (("tensorflow", ENV_CPU, 1.0), ("jax", ENV_GPU, 0.05)):
                for bs in (1, 8):
                    ms = speed * (0.2 + macs / 1e9 * 12.0) * bs**0.6
                    add(name, "latency", {"backend": backend, "batch_size": bs, "dtype": "float32"},
                        {"median_ms": ms, "p90_ms": ms * 1.1, "images_per_s": bs * 1000 / ms,
                         "device": env["device"]}, env=env)  # fmt: skip
    if with_accuracy:
        add("resnet50", "accuracy", {"dataset": "imagenet"}, {"dataset": "imagenet", "top1": 76.1, "top5": 92.9,
            "trained": True})  # fmt: skip
        add("lenet5", "accuracy", {"dataset": "digits"}, {"dataset": "digits", "top1": 98.0, "trained": True})
    add(
        "vgg19",
        "latency",
        {"backend": "tensorflow", "batch_size": 64, "dtype": "float32"},
        {},
        status="oom",
        error="ResourceExhaustedError: out of memory",
    )
    return rows


def write_folder(folder, *, results=None, models=None, layers=None):
    os.makedirs(folder, exist_ok=True)
    write_csv_atomic(os.path.join(folder, "results.csv"), results if results is not None else result_rows())
    if models is not False:
        write_csv_atomic(os.path.join(folder, "models.csv"), models if models is not None else model_rows())
    for name, table in (layers or {}).items():
        path = os.path.join(folder, "layers", f"{name}.csv")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pd.DataFrame(table).to_csv(path, index=False)
    return str(folder)


def alexnet_layers():
    """A per-layer table in the form of `archbench summary alexnet --format csv` (AlexNet one-tower)."""
    spec = [("input", "InputLayer", 0, 0), ("conv1", "Conv2D", 23_296, 70_276_800), ("pool1", "MaxPooling2D", 0, 0),
            ("conv2", "Conv2D", 307_392, 223_948_800), ("conv3", "Conv2D", 663_936, 112_140_288),
            ("conv4", "Conv2D", 884_992, 149_520_384), ("conv5", "Conv2D", 590_080, 99_680_256),
            ("flatten", "Flatten", 0, 0), ("fc6", "Dense", 37_752_832, 37_748_736),
            ("fc7", "Dense", 16_781_312, 16_777_216), ("fc8", "Dense", 4_097_000, 4_096_000)]  # fmt: skip
    return [{"name": n, "type": t, "output_shape": "", "params": p, "macs": m, "macs_pct": 0.0, "ops_other": 0,
             "receptive_field": None, "depth": 0, "counted": True} for n, t, p, m in spec]  # fmt: skip


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path / "res", layers={"alexnet": alexnet_layers()})


@pytest.fixture
def data(folder):
    return analysis.load_results(folder), analysis.load_models(folder)


# ---------------------------------------------------------------------------------------------- loaders


def test_loaders_read_runner_output(data):
    results, models = data
    assert {"model", "task", "status", "macs", "median_ms", "env_device"} <= set(results.columns)
    assert len(models) == len(ZOO)
    assert set(results["task"]) == {"params", "macs", "latency", "accuracy"}


@pytest.mark.parametrize(
    "loader, file", [(analysis.load_results, "results.csv"), (analysis.load_models, "models.csv")]
)
def test_missing_and_empty_files_are_named(tmp_path, loader, file):
    with pytest.raises(ResultsFileError, match=rf"{file}: no such file"):
        loader(tmp_path)
    (tmp_path / file).write_text("")
    with pytest.raises(ResultsFileError, match=rf"{file}: the file is empty"):
        loader(tmp_path)


def test_header_only_file(tmp_path):
    (tmp_path / "results.csv").write_text("model,task,status,error,run_id\n")
    with pytest.raises(ResultsFileError, match="header but no rows"):
        analysis.load_results(tmp_path)


@pytest.mark.parametrize("drop", ["status", "task"])
def test_missing_required_column_is_named(tmp_path, drop):
    df = pd.DataFrame(result_rows(with_latency=False, with_accuracy=False)).drop(columns=[drop])
    df[["model", *[c for c in ("task", "status", "run_id", "key") if c in df.columns]]].to_csv(
        tmp_path / "results.csv", index=False
    )
    with pytest.raises(ResultsFileError, match=rf"results.csv: missing required column '{drop}'"):
        analysis.load_results(tmp_path)


def test_foreign_csv_is_refused(tmp_path):
    (tmp_path / "results.csv").write_text("city,temperature\nOldenburg,12\n")
    with pytest.raises(ResultsFileError, match="not an archbench results file"):
        analysis.load_results(tmp_path)
    (tmp_path / "models.csv").write_text("city,temperature\nOldenburg,12\n")
    with pytest.raises(ResultsFileError, match="not an archbench models file"):
        analysis.load_models(tmp_path)


def test_models_missing_column(tmp_path):
    pd.DataFrame(model_rows()).drop(columns=["family"]).to_csv(tmp_path / "models.csv", index=False)
    with pytest.raises(ResultsFileError, match="models.csv: missing required column 'family'"):
        analysis.load_models(tmp_path)


def test_layer_tables_found_and_checked(folder, tmp_path):
    found = analysis.find_layer_tables(folder)
    assert list(found) == ["alexnet"]
    assert len(analysis.load_layers(found["alexnet"])) == 11
    bad = tmp_path / "bad.csv"
    bad.write_text("name,params\nconv1,10\n")
    with pytest.raises(ResultsFileError, match="missing required column 'macs'"):
        analysis.load_layers(bad)


# ---------------------------------------------------------------------------------------------- tables


def test_model_table(data):
    results, models = data
    t = analysis.model_table(results, models).set_index("model")
    assert t.at["vgg16", "macs"] == 15_470_264_320
    assert t.at["vgg16", "params"] == 138_357_544
    assert t.at["vgg19", "depth"] == 19
    assert (t.at["resnet50", "top1"], t.at["resnet50", "top1_kind"]) == (76.1, "measured")
    assert (t.at["vgg16", "top1"], t.at["vgg16", "top1_kind"]) == (71.6, "reference")
    assert pd.isna(t.at["lenet5", "top1"]), "digits accuracy is not ImageNet top-1"
    assert any("digits" in n for n in t.attrs["notes"])
    assert "lenet5: reference top-1 is not ImageNet (MNIST test set), not used" in t.attrs["notes"]
    assert t.at["alexnet", "latency_setting"] == "jax, gpu:0 (Test GPU), batch 1, float32", (
        "the fastest at batch 1"
    )


def test_untrained_accuracy_is_not_plotted(data):
    results, models = data
    untrained = results.copy()
    untrained.loc[untrained["task"] == "accuracy", "trained"] = False
    t = analysis.model_table(untrained, models).set_index("model")
    assert t.at["resnet50", "top1_kind"] == "reference"
    assert any("untrained" in n for n in t.attrs["notes"])


def test_summary_markdown(data):
    md = analysis.summary_markdown(*data)
    header, rule, *rows = md.splitlines()
    assert header.startswith("| model | name | family | year | params | G-MACs | depth |")
    vgg16 = next(r for r in rows if r.startswith("| vgg16 |"))
    assert "| 138,357,544 |" in vgg16 and "| 15.470 |" in vgg16 and "| reference |" in vgg16
    assert "| measured |" in next(r for r in rows if r.startswith("| resnet50 |"))


def test_environments_and_measurements(data):
    results, _ = data
    envs = analysis.environments(results)
    assert list(envs["env_id"]) == ["E1", "E2"]
    assert set(envs["env_device"]) == {"cpu:0 (Test CPU)", "gpu:0 (Test GPU)"}
    m = analysis.measurements(results, "latency")
    assert set(m["env_id"]) == {"E1", "E2"} and not any(
        c.startswith("env_") and c != "env_id" for c in m.columns
    )
    f = analysis.failures(results)
    assert list(f["status"]) == ["oom"] and f.at[0, "model"] == "vgg19"


def test_lecture_formulas():
    assert analysis.fc_params(512, 512, 1, 64) == 16_777_280
    assert analysis.conv_params(7, 1, 64) == 3_200


def test_pareto_frontier():
    pts = pd.DataFrame({"macs": [1, 2, 3, 4], "top1": [50, 60, 55, 70]}, index=list("abcd"))
    assert list(analysis.pareto_frontier(pts).index) == ["a", "b", "d"]


# ---------------------------------------------------------------------------------------------- figures


def _texts(fig):
    out = [fig.caption]
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts] + [ax.get_title()]
        out += [t.get_text() for t in ax.get_xticklabels()]
        for leg in [c for c in ax.get_children() if isinstance(c, Legend)]:
            out += [t.get_text() for t in leg.get_texts()]
    for leg in fig.legends:
        out += [t.get_text() for t in leg.get_texts()]
    return "\n".join(out)


def test_top1_vs_operations(data):
    results, models = data
    fig = analysis.top1_vs_operations(results, models)
    text = _texts(fig)
    for name in ("AlexNet", "VGG-16", "VGG-19", "GoogLeNet", "ResNet-50", "ResNet-152"):
        assert name in text
    assert "zfnet" in fig.caption and "no MACs row" in fig.caption
    assert "reference (published)" in text and "measured (archbench)" in text
    assert "Pareto" in text
    fig.savefig(os.devnull, format="png")


def test_top1_vs_operations_notes_a_non_default_input(data):
    results, models = data
    r = results.copy()
    r.loc[(r["task"] == "macs") & (r["model"] == "vgg16"), "input_shape"] = "64x64x3"
    assert "non-default input: vgg16 (64x64x3)" in analysis.top1_vs_operations(r, models).caption


def test_top1_vs_operations_without_macs(data):
    results, models = data
    with pytest.raises(ResultsFileError, match="'macs' in results.csv"):
        analysis.top1_vs_operations(results.drop(columns=["macs"]), models)
    no_top1 = models.drop(columns=["top1_ref"])
    fig = analysis.top1_vs_operations(results, no_top1)
    assert "ResNet-50" in _texts(fig) and "VGG-16" not in _texts(fig)
    with pytest.raises(ResultsFileError, match="top1_ref"):
        analysis.top1_vs_operations(results[results["task"] != "accuracy"], no_top1)


def test_top1_charts_tell_the_2018_update_apart(data):
    results, models = data
    assert "Ringed" not in analysis.top1_vs_operations(results, models).caption, "a folder without 'sets'"
    m = models.copy()
    m["sets"] = ["canziani2018" if name == "resnet50" else "lecture;canziani2016" for name in m["model"]]
    fig = analysis.top1_vs_operations(results, m)
    assert "Ringed: the 1 network after ResNet" in fig.caption
    text = _texts(fig)
    assert "Pareto frontier to ResNet" in text and "the 2018 update" in text
    assert "Orange edge: after ResNet (the 2018 update, 1 network)" in analysis.top1_density(results, m).caption


def test_evolution_of_depth(data):
    results, models = data
    fig = analysis.evolution_of_depth(results, models)
    text = " ".join(_texts(fig).split())
    for label in ("NEC-UIUC", "XRCE", "SuperVision, 5 CNNs, 16.4 %", "Clarifai", "VGG, 2nd, 7 ConvNets, 7.3 %",
                  "GoogLeNet, 7 CNNs, 144 crops, 6.67 %", "MSRA, 6 ResNets, 3.57 %", "shallow", "8 layers",
                  "19 layers", "22 layers", "152 layers", "28.2 %", "3.57 %"):  # fmt: skip
        assert label in text, label
    assert "zoo: VGG-16" not in text and "zoo: VGG-19" in text, "one zoo model per entry: the deepest"
    assert "8 layers (paper)" in text, "zfnet has no macs row: its paper depth, marked"
    assert "15.3 %" in fig.caption, "the winning SuperVision submission is named beside the 5-CNN entry"
    bars = [p.get_height() for p in fig.axes[0].patches]
    assert bars == [28.2, 25.8, 16.4, 11.7, 6.67, 7.3, 3.57, 2.99, 3.03, 2.251]
    assert "ILSVRC 2016" in text and "ILSVRC 2017" in text and "ensemble" in text
    assert "no model of this results folder stands for ResNeXt 2016, WMW 2017" in fig.caption
    assert "Trimps-Soushen 2016" not in fig.caption.split("Notes:")[-1], "an ensemble of existing nets has no builder"
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    sources = dict(s.split("] ", 1) for s in fig.caption.split("Sources: [")[1].split(" [") if "] " in s)
    cited_2015 = ticks[6].split("[")[1].split("]")[0].split(",")
    assert all("He, Zhang, Ren, Sun" in sources[n] and "Russakovsky" not in sources[n] for n in cited_2015)
    cited_2010 = ticks[0].split("[")[1].split("]")[0].split(",")
    assert all("Russakovsky" in sources[n] for n in cited_2010)


def test_evolution_of_depth_missing_column(data):
    results, models = data
    with pytest.raises(ResultsFileError, match="'ilsvrc_year' in models.csv"):
        analysis.evolution_of_depth(results, models.drop(columns=["ilsvrc_year"]))


def test_fc_vs_conv(data, folder):
    results, models = data
    layers = {m: analysis.load_layers(p) for m, p in analysis.find_layer_tables(folder).items()}
    fig = analysis.fc_vs_conv(results, models, layers)
    text = _texts(fig)
    assert "16,777,280" in text and "3,200" in text
    assert "96 % FC" in text  # AlexNet: 58.6 M of 61.1 M parameters in its three dense layers
    bare = analysis.fc_vs_conv(results, models)
    assert "per-model split skipped" in bare.caption


def test_fc_vs_conv_from_result_columns(data):
    results, models = data
    r = results.copy()
    r.loc[(r["task"] == "macs") & (r["model"] == "vgg16"), ["params_conv", "params_dense"]] = [
        14_714_688,
        123_642_856,
    ]
    assert "89 % FC" in _texts(analysis.fc_vs_conv(r, models))


def test_latency_figures(data):
    results, _ = data
    fig = analysis.latency_vs_macs(results)
    text = _texts(fig)
    assert "cpu:0 (Test CPU) · tensorflow · float32, batch 1: 4 models, too few for a fit" in text
    assert "gpu:0 (Test GPU) · jax · float32" in text
    assert "lenet5 (cpu:0 (Test CPU) · tensorflow · float32)" in fig.caption, (
        "fixed overhead, left out of the fit"
    )
    assert "googlenet" in text
    fig = analysis.time_vs_batch(results)
    assert len(fig.axes) == 2
    fig = analysis.backend_comparison(results)
    assert len(fig.axes[0].patches) == 10


def test_latency_fit_states_exponent_interval_and_rule(data):
    results, _ = data
    r = results.copy()
    extra = []
    for i, gmacs in enumerate((0.5, 1.0, 2.0, 4.0, 8.0)):
        row = r[(r["task"] == "latency") & (r["model"] == "alexnet") & (r["batch_size"] == 1)].iloc[0].copy()
        row["model"], row["macs"], row["median_ms"] = f"x{i}", gmacs * 1e9, 10.0 * gmacs**0.75
        extra.append(row)
    r = pd.concat([r, pd.DataFrame(extra)], ignore_index=True)
    legend = _texts(analysis.latency_vs_macs(r))
    assert "ms ∝ MACs^" in legend and "n = 9" in legend and "[" in legend


def test_latency_figures_need_latency_rows(data):
    results, _ = data
    no_latency = results[results["task"] != "latency"]
    for fn in (analysis.latency_vs_macs, analysis.time_vs_batch, analysis.backend_comparison):
        with pytest.raises(ResultsFileError, match="median_ms"):
            fn(no_latency.drop(columns=["median_ms"]))
        with pytest.raises(ResultsFileError, match="median_ms"):
            fn(no_latency)
    one_backend = results[results["env_backend"] != "jax"]
    with pytest.raises(
        analysis.NotDrawn, match="one backend/runtime/device measured.*--runtime keras,onnxruntime"
    ):
        analysis.backend_comparison(one_backend)
    one_batch = results[results["batch_size"].fillna(1) == 1]
    with pytest.raises(analysis.NotDrawn, match="one batch size.*--profile full"):
        analysis.time_vs_batch(one_batch)


def test_latency_intervals_are_error_bars(data):
    results, _ = data
    r = results.copy()
    lat = r["task"] == "latency"
    r.loc[lat, "ci_low_ms"] = r.loc[lat, "median_ms"] * 0.9
    r.loc[lat, "ci_high_ms"] = r.loc[lat, "median_ms"] * 1.2
    r.loc[lat & (r["model"] == "vgg16"), "noisy"] = True
    fig = analysis.latency_vs_macs(r)
    segments = [
        seg
        for c in fig.axes[-1].collections
        if type(c).__name__ == "LineCollection"
        for seg in c.get_segments()
    ]
    vgg = ZOO["vgg16"][4] / 1e9
    bar = next(seg for seg in segments if np.isclose(seg[0][0], vgg) and np.isclose(seg[1][0], vgg))
    ms = r[lat & (r["model"] == "vgg16") & (r["env_backend"] == "tensorflow") & (r["batch_size"] == 1)][
        "median_ms"
    ].iloc[0]
    assert sorted([bar[0][1], bar[1][1]]) == pytest.approx([ms * 0.9, ms * 1.2])
    assert (
        "noisy" in fig.caption and "vgg16 (cpu:0 (Test CPU) · tensorflow · float32, batch 1)" in fig.caption
    )
    assert "95 % confidence interval" in fig.caption


def test_per_layer_leaves_out_batch_norm_with_a_note():
    table = pd.DataFrame(alexnet_layers())
    bn = {**table.iloc[1].to_dict(), "name": "bn1", "type": "BatchNormalization", "params": 384, "macs": 0}
    fig = analysis.per_layer(pd.concat([table, pd.DataFrame([bn])]), "alexnet")
    assert "1 layers with parameters but no MACs (BatchNormalization), 384 parameters" in fig.caption
    assert "bn1" not in _texts(fig)


def test_per_layer():
    fig = analysis.per_layer(pd.DataFrame(alexnet_layers()), "alexnet")
    assert "fc6 with 62 % of the parameters" in fig.caption
    assert "conv2" in fig.caption  # the layer with the most MACs
    with pytest.raises(ResultsFileError, match="'macs'"):
        analysis.per_layer(pd.DataFrame(alexnet_layers()).drop(columns=["macs"]))


def test_figures_do_not_touch_pyplot(data):
    import sys

    results, models = data
    analysis.top1_vs_operations(results, models)
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []


def test_reference_scope_falls_back_on_input_shape(data):
    results, models = data
    old = models.drop(columns=["accuracy_ref_scope"])
    old.loc[old["model"] == "lenet5", "default_input_shape"] = "32x32x1"
    t = analysis.model_table(results, old).set_index("model")
    assert pd.isna(t.at["lenet5", "top1"]) and t.at["vgg16", "top1"] == 71.6


def test_latency_rows_carry_their_own_macs(data):
    results, _ = data
    r = results[results["task"] != "macs"].copy()
    lat = r["task"] == "latency"
    r.loc[lat, "macs"] = r.loc[lat, "model"].map({name: z[4] for name, z in ZOO.items()})
    assert "googlenet" in _texts(analysis.latency_vs_macs(r))


def test_protocol_and_weights_read_from_old_models_files():
    from archbench.analysis.tables import protocol_of, weights_of

    assert protocol_of("ILSVRC-2012 val, average over 10 patches (4 corners + centre, flipped)") == "10-crop"
    assert protocol_of(
        "ImageNet-1k val, single centre crop Canziani et al. 2016, figure 1 (read off the chart)"
    ) == ("read off a chart")
    assert protocol_of("ILSVRC 2012 val, single frame") == "single centre crop"
    assert protocol_of("ImageNet-1k val") == "unknown"
    assert weights_of("torchvision ResNet50_Weights.IMAGENET1K_V1 meta") == "torchvision"
    assert weights_of("keras.applications ResNet50 (keras.io/api/applications)") == "keras.applications"
    assert weights_of("BVLC Caffe models/bvlc_googlenet") == "BVLC"
    assert weights_of("Krizhevsky et al. 2012, table 2") == "paper"


def test_top1_chart_says_what_the_resnet_gap_is_made_of(data):
    results, models = data
    m = models.copy()
    v15 = m[m["model"] == "resnet50"].copy()
    v15["model"], v15["display_name"], v15["top1_ref"] = "resnet50_v1_5", "ResNet-50 v1.5", 76.13
    v15["accuracy_ref_source"] = "torchvision ResNet50_Weights.IMAGENET1K_V1 meta"
    m.loc[m["model"] == "resnet50", "accuracy_ref_source"] = "keras.applications ResNet50"
    m = pd.concat([m, v15], ignore_index=True)
    r = results[results["task"] != "accuracy"]
    extra = r[(r["model"] == "resnet50") & (r["task"] == "macs")].assign(model="resnet50_v1_5", macs=4.09e9)
    fig = analysis.top1_vs_operations(pd.concat([r, extra], ignore_index=True), m)
    assert "ResNet-50 v1.5 +0.8" in fig.caption
    assert (
        "v1 figures come from keras.applications weights and v1.5 figures from torchvision weights"
        in fig.caption
    )
    assert "not the effect of the stride alone" in fig.caption


def test_after_resnet_findings(data):
    from archbench.analysis.after_resnet import after_resnet_findings
    from archbench.analysis.findings import FAILS, HOLDS

    results, models = data
    assert after_resnet_findings(results, models) == [], "a folder without 'sets' has no network after ResNet"
    m = models.assign(sets=["canziani2018" if n in ("googlenet", "resnet50") else "lecture" for n in models["model"]])
    per_op, rate, front = after_resnet_findings(results, m)
    assert per_op.verdict == HOLDS and "2 of 2 networks after ResNet lie above" in per_op.measured
    assert "GoogLeNet 69.8 % at 1.59 G-MACs (best before at no more: AlexNet 56.5 %)" in per_op.measured
    # G-MACs/s = MACs / (0.2 + 12 G-MACs) ms: after (GoogLeNet 82.47, ResNet-50 82.98) median 82.72 is above
    # before (AlexNet 82.13, VGG-16 83.24) median 82.68: fewer operations did not cost more time per operation
    assert rate.verdict == FAILS and "(2 networks) vs" in rate.measured and "up to it (2)" in rate.measured
    assert front.verdict == HOLDS and "2 of 3 after ResNet" in front.measured
    assert "VGG-16" not in front.measured, "VGG-16 is slower and less accurate than ResNet-50"


def test_update_time_vs_batch_draws_the_networks_after_resnet_only(data):
    from archbench.analysis.after_resnet import update_time_vs_batch

    results, models = data
    with pytest.raises(analysis.NotDrawn, match="no network after ResNet"):
        update_time_vs_batch(results, models)
    m = models.assign(sets=["canziani2018" if n in ("googlenet", "resnet50") else "lecture" for n in models["model"]])
    fig = update_time_vs_batch(results, m)
    labels = {t.get_text() for legend in fig.legends for t in legend.get_texts()}
    assert labels == {"googlenet", "resnet50"}
    assert "Bianco" in fig.texts[0].get_text() or any("Bianco" in t.get_text() for t in fig.texts)


def test_a_long_caption_makes_the_figure_taller_not_its_axes_smaller():
    from archbench.analysis.plotting import _figure, _finish

    def axes_height(notes):
        fig = _figure(8.0, 6.0)
        fig.add_subplot().plot([1, 2], [1, 2])
        fig.legend(["a way"], loc="outside upper center")
        _finish(fig, "Measured here.", [f"row {i} of a long list of noisy rows" for i in range(notes)])
        fig.draw_without_rendering()
        return fig.get_figheight(), fig.axes[0].get_position().height * fig.get_figheight()

    short, long, longer = axes_height(2), axes_height(60), axes_height(240)
    assert short[0] == 6.0 and 6.0 < long[0] < longer[0]
    assert longer[1] == pytest.approx(long[1], rel=0.02) and longer[1] > 3.0


def test_the_ways_legend_sits_above_the_axes_and_the_figure_grows_with_it(data):
    results, _ = data
    fig = analysis.backend_comparison(results)
    fig.draw_without_rendering()
    legend = fig.legends[0].get_window_extent(fig.canvas.get_renderer())
    title = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
    assert legend.y0 >= title.y1 and fig.axes[0].get_title().startswith("Ways to run each model")
