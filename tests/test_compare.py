"""archbench.analysis.compare and `archbench compare`: machines side by side, from synthetic results folders."""

import os

import pandas as pd
import pytest
from click.testing import CliRunner

from archbench import analysis
from archbench.analysis.compare import compare_figure, compare_results, speedups
from archbench.analysis.hover import inline_svg, tagged_count
from archbench.cli import cli


def _row(model, ms, *, backend="tensorflow", device="cpu:0", batch=1, dtype="float32", **extra):
    return {"model": model, "task": "latency", "status": "ok", "run_id": "r", "key": f"{model}{backend}{batch}{dtype}",
            "backend": backend, "device": device, "dtype": dtype, "batch_size": batch, "median_ms": ms,
            "ci_low_ms": ms * 0.99, "ci_high_ms": ms * 1.01, **extra}  # fmt: skip


def _folder(path, rows):
    os.makedirs(path, exist_ok=True)
    pd.DataFrame(rows).to_csv(os.path.join(path, "results.csv"), index=False)
    return str(path)


@pytest.fixture
def folders(tmp_path):
    cpu = _folder(tmp_path / "cpu", [
        _row("vgg16", 200.0, fraction_of_peak=0.5),
        _row("resnet18", 40.0, fraction_of_peak=0.25),
        _row("lenet5", 0.5, fraction_of_peak=0.01),
    ])  # fmt: skip
    gpu = _folder(tmp_path / "gpu", [
        _row("vgg16", 10.0, backend="jax", device="gpu:0", energy_j_per_image=0.2),
        _row("resnet18", 8.0, backend="jax", device="gpu:0", energy_j_per_image=0.05),
        _row("resnet18", 2.0, backend="jax", device="gpu:0", batch=8, dtype="mixed_bfloat16"),
        _row("alexnet", 1.0, backend="jax", device="gpu:0"),
    ])  # fmt: skip
    return cpu, gpu


def _compare(*paths):
    return compare_results({os.path.basename(p): analysis.load_results(p) for p in paths})


def test_speedups_against_the_first_folder(folders):
    comp = _compare(*folders)
    assert comp.machines == ["cpu", "gpu"]
    # each machine ran its own way: one row per way, and a row comparing each one's fastest
    rows = comp.table.set_index(["model", "way"])
    assert rows.loc[("vgg16", "fastest: tensorflow / jax"), "gpu: speed-up"] == 20.0
    assert rows.loc[("resnet18", "fastest: tensorflow / jax"), "gpu: speed-up"] == 5.0
    assert pd.isna(rows.loc[("vgg16", "jax"), "cpu: median (ms)"])
    assert rows.loc[("vgg16", "tensorflow"), "cpu: fraction of peak"] == 0.5
    assert rows.loc[("resnet18", "jax"), "gpu: energy (mJ/image)"] == 50.0
    assert rows.loc[("vgg16", "tensorflow"), "cpu: 95 % CI (ms)"] == "198–202"
    assert sorted(comp.table["model"].unique()) == ["resnet18", "vgg16"]
    assert speedups(comp).to_dict() == {"resnet18": 5.0, "vgg16": 20.0}
    # a measure no row of a machine has is left out, with a note
    assert (
        "gpu: fraction of peak" not in comp.table.columns
        and "cpu: energy (mJ/image)" not in comp.table.columns
    )
    assert (
        "gpu: no fraction of peak (rows written before archbench measured the machine's peaks)" in comp.notes
    )


def test_same_way_on_both_machines_needs_no_fastest_row(tmp_path):
    a = _folder(tmp_path / "a", [_row("vgg16", 300.0)])
    b = _folder(tmp_path / "b", [_row("vgg16", 100.0)])
    comp = _compare(a, b)
    assert comp.table[
        ["model", "way", "a: median (ms)", "b: median (ms)", "b: speed-up"]
    ].values.tolist() == [["vgg16", "tensorflow", 300.0, 100.0, 3.0]]


def test_rows_of_other_settings_are_left_out_with_the_reason(folders):
    comp = _compare(*folders)
    assert comp.left_out[["machine", "model", "batch", "precision", "reason"]].values.tolist() == [
        ["cpu", "lenet5", 1, "float32", "only cpu measured this model"],
        ["gpu", "alexnet", 1, "float32", "only gpu measured this model"],
        ["gpu", "resnet18", 8, "mixed_bfloat16", "settings differ: cpu measured it at batch 1, float32"],
    ]


def test_chart_has_a_title_on_every_point(folders):
    comp = _compare(*folders)
    fig = compare_figure(comp)
    svg = inline_svg(fig, "c-")
    # two models, each at each machine's fastest way: four points, four hover texts
    assert tagged_count(fig) == 4 and svg.count("<title>") == 4
    assert (
        "<title>vgg16: 10 ms [9.9–10.1] per batch (gpu: jax, batch 1, float32 (results.csv))</title>" in svg
    )


def test_cli_writes_the_three_files(folders, tmp_path):
    out = tmp_path / "cmp"
    result = CliRunner().invoke(cli, ["compare", *folders, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out)) == ["compare.csv", "compare.html", "compare.md"]
    table = pd.read_csv(out / "compare.csv")
    assert len(table) == 6 and set(table["model"]) == {"vgg16", "resnet18"}
    md = (out / "compare.md").read_text(encoding="utf-8")
    assert (
        "| gpu | resnet18 | 8 | mixed_bfloat16 | jax | settings differ: cpu measured it at batch 1, float32 |"
        in md
    )
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert page.count("<title>") == 1 + 4  # the page's own, then one per point of the chart
    assert (
        '<th colspan="3">cpu</th>' in page
        and "settings differ" in page
        and "http" not in page.split("<svg")[0]
    )


def test_bad_input_is_one_line_exit_2(folders, tmp_path):
    result = CliRunner().invoke(
        cli, ["compare", folders[0], str(tmp_path / "empty"), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "results.csv: no such file" in lines[0]
    result = CliRunner().invoke(cli, ["compare", folders[0]])
    assert (
        result.exit_code == 2 and result.output.strip() == "error: compare needs two results folders or more"
    )


def test_three_machines_speedups_against_the_first_only(tmp_path):
    a = _folder(tmp_path / "a", [_row("vgg16", 300.0)])
    b = _folder(tmp_path / "b", [_row("vgg16", 150.0), _row("resnet18", 40.0)])
    c = _folder(tmp_path / "c", [_row("vgg16", 30.0, backend="jax"), _row("resnet18", 4.0, backend="jax")])
    comp = _compare(a, b, c)
    table = comp.table.set_index(["model", "way"])
    assert table.loc[
        ("vgg16", "fastest: tensorflow / tensorflow / jax"), ["b: speed-up", "c: speed-up"]
    ].tolist() == [2.0, 10.0]
    # resnet18: measured by b and c, not by the first: compared, with no speed-up against it
    fastest = table.loc[("resnet18", "fastest: – / tensorflow / jax")]
    assert fastest["b: median (ms)"] == 40.0 and fastest["c: median (ms)"] == 4.0
    assert pd.isna(fastest["b: speed-up"]) and pd.isna(fastest["c: speed-up"])
    assert comp.left_out.empty
