"""`archbench run --runtime ... --peers ...`: one latency unit per way of running a model, keyed by
framework, runtime and mode; models and runtimes that cannot be measured give rows saying why."""

import importlib.util
import os

import pytest
from click.testing import CliRunner

from archbench import runner
from archbench.benchmark.config import DEFAULT
from archbench.cli import cli
from archbench.store import read_log
from archbench.tasks import TASKS, RunSettings

LATENCY = [TASKS["latency"]]
QUICK = DEFAULT.replace(min_time_s=0.05, max_time_s=0.2)


def _installed(*modules):
    return all(importlib.util.find_spec(m) is not None for m in modules)


def _ways(unit):
    s = unit.settings
    return (s["framework"], s["runtime"], s.get("backend") or s.get("mode") or "", s["batch_size"])


def _rows(out):
    """The latency rows in force (a noisy row measured again on a busy machine is superseded)."""
    return [r for r in read_log(os.path.join(out, "results.jsonl")) if r["task"] == "latency" and not r.get("superseded")]


def test_one_unit_per_backend_runtime_and_peer_mode_each_with_its_own_key():
    settings = RunSettings(
        backends=("tensorflow", "jax"),
        batches=(1, 8),
        latency=DEFAULT.replace(device="cpu"),
        runtimes=("keras", "onnxruntime"),
        peers=("torchvision",),
    )
    units = runner.plan(["resnet18"], LATENCY, settings)
    assert [_ways(u) for u in units] == [
        ("archbench", "keras", "tensorflow", 1), ("archbench", "keras", "tensorflow", 8),
        ("archbench", "keras", "jax", 1), ("archbench", "keras", "jax", 8),
        ("archbench", "onnxruntime", "", 1), ("archbench", "onnxruntime", "", 8),
        ("torchvision", "torch", "eager", 1), ("torchvision", "torch", "eager", 8),
        ("torchvision", "torch", "compile", 1), ("torchvision", "torch", "compile", 8),
    ]  # fmt: skip
    assert len({u.key for u in units}) == 10
    gpu = runner.plan(["resnet18"], LATENCY, RunSettings(latency=DEFAULT.replace(device="gpu"), runtimes=(), peers=("torchvision",)))
    assert [u.settings["mode"] for u in gpu] == ["eager", "compile", "reduce-overhead"]
    chosen = RunSettings(latency=DEFAULT.replace(device="gpu"), runtimes=(), peers=("torchvision",), peer_modes=("compile",))
    assert [u.settings["mode"] for u in runner.plan(["resnet18"], LATENCY, chosen)] == ["compile"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--runtime", "keras,tensorrt", "error: unknown runtime 'tensorrt'; choose from keras, onnxruntime, openvino, litert"),
        ("--runtime", " , ", "error: no runtime given; choose from keras, onnxruntime, openvino, litert"),
        ("--peers", "pytorch", "error: unknown peer 'pytorch'; choose from torchvision (or none)"),
        ("--peer-modes", "eager,max-autotune", "error: unknown peer mode 'max-autotune'; choose from eager, compile, reduce-overhead"),
    ],
)  # fmt: skip
def test_unknown_runtimes_and_peers_are_one_line_usage_errors(tmp_path, option, value, message):
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["run", "--models", "lenet5", "--tasks", "latency", option, value,
                                      "--out", str(out), "--no-report"])  # fmt: skip
    assert result.exit_code == 2
    assert [ln for ln in result.output.splitlines() if ln.strip()] == [message]
    assert not out.exists()


def test_models_without_a_counterpart_get_rows_saying_so_and_do_not_fail_the_run(tmp_path):
    out = str(tmp_path / "o")
    settings = RunSettings(latency=QUICK.replace(device="cpu"), runtimes=(), peers=("torchvision",))
    summary = runner.run(["lenet5", "zfnet"], LATENCY, settings, out, notify=lambda m: None)
    assert summary.failed == [] and summary.measured == 0 and len(summary.not_applicable) == 4
    rows = _rows(out)
    assert [(r["model"], r["status"], r["result"]["framework"], r["result"]["mode"]) for r in rows] == [
        ("lenet5", "skipped", "torchvision", "eager"),
        ("lenet5", "skipped", "torchvision", "compile"),
        ("zfnet", "skipped", "torchvision", "eager"),
        ("zfnet", "skipped", "torchvision", "compile"),
    ]
    assert rows[0]["error"] == "no torchvision counterpart: torchvision has no LeNet-5"
    assert rows[2]["error"] == "no torchvision counterpart: torchvision has no ZFNet"
    assert {r["result"]["runtime"] for r in rows} == {"torch"}


def test_a_runtime_that_is_not_installed_gives_a_row_with_the_reason(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a)
    )
    out = str(tmp_path / "o")
    summary = runner.run(["lenet5"], LATENCY, RunSettings(runtimes=("openvino",)), out, notify=lambda m: None)
    assert summary.failed == [] and len(summary.not_applicable) == 1
    (row,) = _rows(out)
    assert row["status"] == "skipped"
    assert row["error"] == "not installed: openvino is not installed (pip install openvino)"
    assert (row["result"]["framework"], row["result"]["runtime"]) == ("archbench", "openvino")
    assert row["result"]["median_ms"] is None


@pytest.mark.skipif(
    not _installed("onnxruntime", "tf2onnx", "tensorflow"), reason="needs onnxruntime + tf2onnx"
)
@pytest.mark.slow
def test_an_exported_runtime_row_has_its_conformance_and_resumes(tmp_path):
    """Export, conversion and conformance of LeNet-5 take 30-60 s on the 2-core development machine."""
    out = str(tmp_path / "o")
    settings = RunSettings(runtimes=("onnxruntime",), latency=QUICK)
    first = runner.run(["lenet5"], LATENCY, settings, out, notify=lambda m: None)
    assert first.measured == 1 and first.failed == []
    (row,) = _rows(out)
    r = row["result"]
    assert row["status"] == "ok" and r["runtime"] == "onnxruntime" and r["framework"] == "archbench"
    assert r["precision"] == "float32" and r["device"].startswith("cpu:0 (") and r["device_type"] == "cpu"
    assert 0 <= r["max_abs_diff"] <= r["tolerance"] and r["max_rel_diff"] >= 0
    assert r["export_route"].startswith("keras export(") and r["export_s"] > 0
    assert r["runtime_version"].startswith("onnxruntime ") and r["median_ms"] > 0
    again = runner.run(["lenet5"], LATENCY, settings, out, notify=lambda m: None)
    assert (again.measured, again.skipped) == (0, 1)


@pytest.mark.torch
@pytest.mark.skipif(not _installed("torch", "torchvision"), reason="needs torch and torchvision")
def test_a_peer_unit_records_what_ran_it_and_where():
    from archbench.registry import get_spec
    from archbench.tasks import TaskContext

    settings = RunSettings(input_size=64, latency=QUICK.replace(device="gpu"), runtimes=(), peers=("torchvision",))
    (unit,) = [u for u in runner.plan(["resnet18"], LATENCY, settings) if u.settings["mode"] == "eager"]
    ctx = TaskContext(
        spec=get_spec("resnet18"), unit=unit.settings, settings=settings, _model_factory=lambda: None
    )
    (row,) = TASKS["latency"].measure(ctx)
    assert row["status"] == "ok", row["error"]
    assert (row["framework"], row["runtime"], row["mode"]) == ("torchvision", "torch", "eager")
    assert row["peer_model"] == "torchvision.models.resnet18" and row["median_ms"] > 0
    assert row["device_requested"] == "gpu" and row["profile"] == "quick" and "model" not in row
    if not os.path.exists("/dev/nvidia0"):
        assert row["device"].startswith("cpu:0 (") and row["device_type"] == "cpu"
        assert "gpu requested, none visible: ran on cpu" in row["notes"]


def test_auto_device_adds_cuda_graphs_only_where_a_gpu_node_exists(monkeypatch):
    from archbench import peers

    monkeypatch.setattr(peers, "_gpu_node", lambda: False)
    assert peers.default_modes("auto") == ("eager", "compile")
    monkeypatch.setattr(peers, "_gpu_node", lambda: True)
    assert peers.default_modes("auto") == ("eager", "compile", "reduce-overhead")
    assert peers.default_modes("cpu") == ("eager", "compile")
    assert (
        peers.parse_peers("torchvision, torchvision,none") == ("torchvision",)
        and peers.parse_peers(None) == ()
    )
    assert peers.parse_modes("") is None and peers.parse_modes("compile,eager") == ("compile", "eager")
