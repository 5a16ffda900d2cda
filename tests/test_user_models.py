"""Every Keras model counts: subclassed models and custom layers through ``archbench run``, ``summary``
and the report, at the closed forms of ``tests/test_tracing.py``; a count that leaves something out
is ``partial``, never ``ok``."""

import csv
import json
import os
import re
import subprocess
import sys

import keras
import pytest
from click.testing import CliRunner
from test_tracing import EXPECTED  # the closed forms of the three models

from archbench import registry, runner
from archbench.analysis import load_results, summary_table
from archbench.catalog import results_table
from archbench.cli import cli
from archbench.cost import count as count_model
from archbench.errors import UsageError
from archbench.registry import Paper, register_model
from archbench.store import read_log
from archbench.tasks import RunSettings, resolve_tasks

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_FILE = os.path.join(HERE, "data", "subclassed_models.py")
NAMES = sorted(EXPECTED)
BACKEND = keras.backend.backend()
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


class _Sort(keras.layers.Layer):
    """No counting rule, and an operation (a sort) the tracer has no rule for either."""

    def call(self, x):
        return keras.ops.sort(x, axis=-1)


def partial_net(input_shape=None, **unused):
    x = keras.Input(input_shape or (8, 8, 3))
    y = _Sort(name="sorter")(keras.layers.Conv2D(4, 3, name="conv")(x))
    return keras.Model(x, keras.layers.GlobalAveragePooling2D(name="pool")(y), name="partial_net")


PARTIAL_MACS = 6 * 6 * 3 * 3 * 3 * 4  # the convolution, the only part either count sees


@pytest.fixture(scope="module")
def user():
    """The three models of the model file, and ``partial_net``, registered for this module only."""
    names = registry.load_model_file(MODEL_FILE)
    paper = Paper("test models", "archbench tests", "none", 2026, "https://example.invalid")
    register_model(name="partial_net", display_name="partial", family="test", year=2026, paper=paper,
                   input_shape=(8, 8, 3), min_input_size=8, num_classes=4)(partial_net)  # fmt: skip
    yield names
    for name in [*names, "partial_net"]:
        registry.unregister_model(name)


def _rows(out):
    return {(r["model"], r["task"]): r for r in read_log(os.path.join(out, "results.jsonl"))}


@pytest.fixture(scope="module")
def counted(user, tmp_path_factory):
    """``params`` and ``macs`` of the four models, measured by the runner in this process."""
    out = str(tmp_path_factory.mktemp("counted"))
    summary = runner.run([*NAMES, "partial_net"], resolve_tasks("params,macs"), RunSettings(), out,
                         notify=lambda message: None)  # fmt: skip
    return out, summary, _rows(out)


def test_params_and_macs_of_models_outside_the_graph_are_exact(counted):
    _, _, rows = counted
    for name in NAMES:
        want = EXPECTED[name]
        params, macs = rows[(name, "params")], rows[(name, "macs")]
        assert (params["status"], macs["status"]) == ("ok", "ok"), (params.get("error"), macs.get("error"))
        p, m = params["result"], macs["result"]
        assert p["params_total"] == m["params_total"] == want["params"]
        assert p["params_paper"] == want["params"]
        assert (m["macs"], m["flops"], m["depth"]) == (want["macs"], 2 * want["macs"], want["depth"])
        assert f"{m['rf_size']} (jump {m['rf_jump']}, start {m['rf_start']})" == want["rf"]
        assert m["uncounted"] == "" and m["depth_reason"] == "" and m["rf_reason"] == ""
    shape = {"sequential_net": [28, 28, 1]}
    for name in NAMES:
        assert list(rows[(name, "params")]["result"]["input_shape"]) == shape.get(name, [32, 32, 3])


def test_macs_rows_say_which_count_was_used_and_why(counted):
    _, _, rows = counted
    methods = {name: (rows[(name, "macs")]["result"]["count_method"], rows[(name, "macs")]["result"]["count_reason"])
               for name in NAMES}  # fmt: skip
    assert methods["sequential_net"] == ("walker", "")
    assert methods["subclassed_resnet"] == (
        "traced", "subclassed model (ResNetLike): no functional graph for the layer walker"
    )
    assert methods["ops_conv_net"] == (
        "traced", "layer walker left conv_s2 (OpsConv), conv_g4_d2 (OpsConv), pointwise (OpsDense) and 1 more uncounted"
    )  # fmt: skip


def test_a_partial_count_is_never_ok(counted):
    out, summary, rows = counted
    row = rows[("partial_net", "macs")]
    assert row["status"] == "partial"
    assert row["error"].startswith("not counted: ") and "sorter" in row["error"]
    result = row["result"]
    assert result["count_method"] == "traced" and result["macs"] == PARTIAL_MACS
    assert "layer walker left sorter (_Sort) uncounted; the trace left" in result["count_reason"]
    assert "sorter" in result["uncounted"]
    assert any("partial_net:macs" in label for label in summary.failed)
    results = load_results(os.path.join(out, "results.csv"))
    table = summary_table(results).set_index("model")
    assert table.loc["partial_net", "G-MACs"] == ""  # left out of the table (and so of the charts)
    assert table.loc["subclassed_resnet", "G-MACs"] != ""
    line = next(x for x in results_table(os.path.join(out, "results.csv")).splitlines() if "partial_net" in x)
    assert "macs: partial" in line


def test_the_per_scope_table_of_a_traced_count_is_written_for_the_report(counted):
    out, _, _ = counted
    with open(os.path.join(out, "layers", "subclassed_resnet.csv"), encoding="utf-8") as f:
        layers = list(csv.DictReader(f))
    by_name = {r["name"].split("/", 1)[-1] if BACKEND == "tensorflow" else r["name"]: r for r in layers}
    assert int(by_name["block/conv1"]["macs"]) == int(by_name["block/conv2"]["macs"]) == 32 * 32 * 9 * 16 * 16
    assert sum(int(r["macs"]) for r in layers) == EXPECTED["subclassed_resnet"]["macs"]


def test_summary_says_how_a_model_was_counted_and_what_was_not(user):
    cmd = [sys.executable, "-m", "archbench.cli", "summary", "subclassed_resnet", "--model-file", MODEL_FILE]
    run = subprocess.run(cmd, env={**ENV, "KERAS_BACKEND": BACKEND}, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    text = run.stdout
    assert "counted by: traced program" in text and "subclassed model (ResNetLike)" in text
    assert f"{EXPECTED['subclassed_resnet']['macs']:,}" in text
    assert "receptive field: 7 (jump 1, start 0)" in text and "PARTIAL" not in text
    invoke = CliRunner().invoke
    result = invoke(cli, ["summary", "partial_net"])
    assert result.exit_code == 0, result.output
    assert "PARTIAL: these figures leave out" in result.output and "sorter" in result.output
    totals = json.loads(invoke(cli, ["summary", "partial_net", "--format", "json"]).output)["totals"]
    assert totals["status"] == "partial" and totals["macs"] == PARTIAL_MACS


def test_input_size_reaches_a_subclassed_model(user, tmp_path):
    out = str(tmp_path / "o")
    runner.run(["subclassed_resnet"], resolve_tasks("params,macs"), RunSettings(input_size=40), out,
               notify=lambda message: None)  # fmt: skip
    rows = _rows(out)
    assert list(rows[("subclassed_resnet", "params")]["result"]["input_shape"]) == [40, 40, 3]
    macs = rows[("subclassed_resnet", "macs")]["result"]
    assert macs["macs"] == 40 * 40 * 27 * 16 + 2 * 40 * 40 * 9 * 16 * 16 + 16 * 10
    assert macs["input_shape"] == "40x40x3"


def test_depth_and_field_not_available_say_why(user):
    module = registry.get_spec("subclassed_resnet").builder.__globals__  # the model file, as loaded
    loop, _ = module["control_flow_models"]()
    row = count_model(loop).totals()
    kind = "while loop" if BACKEND == "tensorflow" else "scan"
    assert row["depth"] is None and re.fullmatch(rf"weight operations inside a {kind} \(loop\S*\)", row["depth_reason"])
    assert row["rf_size"] is None and row["rf_reason"].startswith("no convolution or pooling window")


def test_without_a_shape_a_subclassed_model_is_a_one_line_error(user):
    model = registry.get_model("subclassed_resnet")
    with pytest.raises(UsageError, match=r"input shape of 'subclassed_resnet' is unknown.*--input-size"):
        count_model(model)
    from archbench.benchmark import LatencyConfig
    from archbench.benchmark.compilers import input_batch_shape

    assert input_batch_shape(model, LatencyConfig()) == (1, 32, 32, 3)  # the shape it was built with
    unbuilt = type(model)(16, 10, name="unbuilt")
    with pytest.raises(UsageError, match="input shape of 'unbuilt' is unknown"):
        input_batch_shape(unbuilt, LatencyConfig())


def _run_cli(out, backend):
    cmd = [sys.executable, "-m", "archbench.cli", "run", "--model-file", MODEL_FILE, "--models", ",".join(NAMES),
           "--tasks", "params,macs,latency", "--backend", backend, "--min-time", "0", "--max-time", "0.3",
           "--out", out, "--no-report"]  # fmt: skip
    run = subprocess.run(cmd, env={**ENV, "KERAS_BACKEND": backend}, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return _rows(out)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", pytest.param("jax", marks=pytest.mark.jax)])
def test_run_measures_params_macs_and_latency_of_each_model(tmp_path, backend):
    """The issue's acceptance: ``archbench run --model-file ... --tasks params,macs,latency`` (60-90 s)."""
    if backend == "jax":
        pytest.importorskip("jax")
    rows = _run_cli(str(tmp_path / "o"), backend)
    for name in NAMES:
        want = EXPECTED[name]
        assert rows[(name, "params")]["result"]["params_total"] == want["params"]
        macs = rows[(name, "macs")]
        assert macs["status"] == "ok" and macs["result"]["macs"] == want["macs"]
        assert macs["env"]["backend"] == backend
        latency = rows[(name, "latency")]
        assert latency["status"] == "ok", latency.get("error")
        assert latency["result"]["backend"] == backend and latency["result"]["median_ms"] > 0
        assert latency["result"]["macs"] == want["macs"]
