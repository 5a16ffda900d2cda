"""Deployment runtimes: names, conformance, timing rows, missing runtimes and the memory guard.

LeNet-5 is exported once per route in this process (seconds); one test runs the whole child-process
path (export, run) for LiteRT, the cheapest runtime.
"""

import importlib.util
import sys

import numpy as np
import pytest

from archbench.errors import UsageError
from archbench.runtimes import (
    RUNTIMES,
    Loaded,
    compare_outputs,
    normalize_runtime,
    parse_runtimes,
    route_for,
    tolerance_for,
)
from archbench.runtimes.base import missing_requirement
from archbench.runtimes.child import conformance, loader

_RUNTIMES = [r for r in RUNTIMES if r != "keras"]


def measure_runtime(model, runtime, config, **settings):
    """``model`` exported to ``runtime``, through the one call of every way."""
    from archbench.benchmark import measure_way
    from archbench.benchmark.targets import Way

    return measure_way(model, config, Way("exported", "tensorflow", runtime), **settings)


def _config(**changes):
    from archbench.benchmark.config import DEFAULT

    return DEFAULT.replace(**{"warmup": 1, "min_iterations": 5, "min_time_s": 0.05, **changes})


def test_normalize_runtime_names_and_aliases():
    assert normalize_runtime("ORT") == "onnxruntime"
    assert normalize_runtime(" tflite ") == "litert"
    assert normalize_runtime("OpenVINO") == "openvino"
    assert parse_runtimes("keras, ort,onnxruntime,ov") == ["keras", "onnxruntime", "openvino"]


@pytest.mark.parametrize("bad", ["tensorrt", "", "onnx-runtime-gpu"])
def test_normalize_runtime_rejects_unknown_names_in_one_line(bad):
    with pytest.raises(UsageError) as info:
        normalize_runtime(bad)
    message = str(info.value)
    assert "\n" not in message
    assert "choose from keras, onnxruntime, openvino, litert" in message


def test_parse_runtimes_and_routes_reject_bad_input():
    with pytest.raises(UsageError, match="no runtime given"):
        parse_runtimes(" , ")
    with pytest.raises(UsageError, match="unknown route 'jax2onnx' for onnxruntime"):
        route_for("onnxruntime", "jax2onnx")
    with pytest.raises(UsageError, match="runs the Keras model itself"):
        route_for("keras")


def test_compare_outputs_and_tolerance():
    ref = np.array([[0.5, -2.0, 0.0]], dtype=np.float32)
    out = ref + np.array([[0.0, 0.001, -0.0005]], dtype=np.float32)
    max_abs, max_rel = compare_outputs(out, ref)
    assert max_abs == pytest.approx(0.001, rel=1e-3)
    assert max_rel == pytest.approx(0.0005, rel=1e-3)
    assert tolerance_for("float32", 0.3) == pytest.approx(3e-5)
    assert tolerance_for("float32", -20.0) == pytest.approx(2e-3)
    assert tolerance_for("float32", 0.0) == pytest.approx(1e-4)
    assert tolerance_for("bfloat16", 2.0) == pytest.approx(6e-2)
    with pytest.raises(UsageError, match="no tolerance for precision 'int8'"):
        tolerance_for("int8", 1.0)
    with pytest.raises(ValueError, match="differs from the reference"):
        compare_outputs(out[:, :2], ref)


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """LeNet-5 (seeded), its reference on random batches of 2, and one export per available route."""
    from archbench.runtimes.exporting import build, export, reference

    model = build("lenet5", seed=0)
    inputs, outputs = reference(model, 2, seed=0)
    artifacts = {}
    for runtime in _RUNTIMES:
        route = route_for(runtime)
        if missing_requirement(route) is None:
            directory = tmp_path_factory.mktemp(runtime)
            artifacts[runtime] = export(model, route, str(directory), 2)[0]
    return model, inputs, outputs, artifacts


@pytest.mark.parametrize("runtime", _RUNTIMES)
def test_each_installed_runtime_conforms_and_gives_a_timing_row(lenet, runtime):
    _, inputs, outputs, artifacts = lenet
    if runtime not in artifacts:
        pytest.skip(missing_requirement(route_for(runtime)))
    from archbench.benchmark import measure_function

    loaded = loader(runtime)(artifacts[runtime], precision="float32", threads=1)
    row = conformance(loaded, inputs, outputs, precision="float32")
    assert row["status"] == "ok", row["error"]
    assert loaded.precision == "float32"
    assert row["conformance_draws"] == 3
    assert row["tolerance"] == pytest.approx(1e-4 * np.max(np.abs(outputs)))
    assert 0.0 <= row["max_abs_diff"] < row["tolerance"]
    assert 0.0 <= row["max_rel_diff"] < 1e-4
    x = np.ascontiguousarray(inputs[0])
    row = measure_function(lambda: loaded.run(x), _config(batch_size=2), sync=lambda out: None).as_row()
    assert row["iterations"] >= 5
    assert row["warmup_iterations"] >= 1
    assert 0.0 < row["min_ms"] <= row["median_ms"] <= row["max_ms"]
    assert row["images_per_s"] == pytest.approx(2 / (row["median_ms"] / 1e3))
    if runtime in ("openvino", "litert"):
        assert loaded.threads_used == 1


def test_an_export_that_no_longer_matches_the_model_fails_conformance(lenet):
    """The exported file keeps the weights it was exported with; the Keras model is then changed."""
    from archbench.runtimes.exporting import build, reference

    _, inputs, _, artifacts = lenet
    runtime = next(iter(artifacts), None)
    if runtime is None:
        pytest.skip("no runtime installed")
    changed = build("lenet5", seed=0)
    kernel = changed.trainable_weights[0]
    kernel.assign(kernel * 1.5)
    _, wrong = reference(changed, 2, seed=0)
    loaded = loader(runtime)(artifacts[runtime], precision="float32", threads=1)
    row = conformance(loaded, inputs, wrong, precision="float32")
    assert row["status"] == "failed"
    assert row["reason"] == "conformance"
    assert row["max_abs_diff"] > row["tolerance"]
    assert row["error"].startswith("max abs diff ")
    assert row.get("median_ms") is None


def test_a_runtime_returning_wrong_outputs_or_precision_is_not_ok():
    inputs = np.random.default_rng(0).random((2, 1, 4), dtype=np.float32)
    reference = inputs * 2.0
    honest = Loaded(lambda x: x * 2.0, "fake 1", "float32", 1, "")
    off = Loaded(lambda x: x * 2.0 + 1e-3, "fake 1", "float32", 1, "")
    lower = Loaded(lambda x: x * 2.0, "fake 1", "bfloat16", 1, "")
    assert conformance(honest, inputs, reference, precision="float32")["status"] == "ok"
    row = conformance(off, inputs, reference, precision="float32")
    assert (row["status"], row["reason"]) == ("failed", "conformance")
    assert row["max_abs_diff"] == pytest.approx(1e-3, rel=1e-3)
    row = conformance(lower, inputs, reference, precision="float32")
    assert (row["status"], row["reason"]) == ("failed", "precision")


def test_a_runtime_that_is_not_installed_gives_a_skipped_row(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    assert importlib.util.find_spec("onnxruntime") is None
    row = measure_runtime("lenet5", "onnxruntime", _config())
    assert row["status"] == "skipped"
    assert row["reason"] == "not installed"
    assert row["message"] == "onnxruntime is not installed (pip install onnxruntime)"
    assert row["median_ms"] is None and row.get("export_s") is None


def test_measure_runtime_rejects_bad_arguments_before_any_work():
    with pytest.raises(UsageError, match="unknown model"):
        measure_runtime("lenet6", "litert", _config())
    with pytest.raises(UsageError, match="unknown runtime"):
        measure_runtime("lenet5", "tensorrt", _config())
    with pytest.raises(UsageError, match="batch_size must be at least 1"):
        measure_runtime("lenet5", "litert", _config(batch_size=0))


def test_a_precision_the_runtime_does_not_offer_is_skipped():
    row = measure_runtime("lenet5", "litert", _config(dtype="mixed_bfloat16"))
    assert (row["status"], row["reason"]) == ("skipped", "dtype")


@pytest.mark.skipif(missing_requirement(route_for("litert")) is not None, reason="LiteRT not installed")
def test_measure_runtime_runs_export_and_run_in_child_processes():
    from archbench.benchmark.launcher import Launcher

    row = measure_runtime("lenet5", "litert", _config(batch_size=2, threads=1))
    assert row["status"] == "ok", row["message"]
    assert row["runtime"] == "litert" and row["export_format"] == "litert"
    assert row["input_shape"] == "32x32x1"
    assert row["export_s"] > 0 and row["load_s"] > 0
    assert row["export_peak_rss_mb"] > 0 and row["mem_peak_mb"] is not None
    assert row["max_abs_diff"] < row["tolerance"]
    from archbench import count, get_model

    assert row["macs"] == count(get_model("lenet5")).macs and row["gflops_per_s"] > 0
    assert row["macs_source"] == "archbench count of lenet5, the model exported"
    assert row["mem_params_mb"] > 0 and row["mem_activations_mb"] > 0
    assert row["iterations"] >= 5 and row["median_ms"] > 0
    # the same columns as every latency row: stop rule, interval, load, noisy, memory, energy
    for column in ("stop_reason", "ci_low_ms", "ci_high_ms", "load_before", "noisy", "mem_peak_mb", "energy_available"):
        assert column in row
    too_small = measure_runtime("lenet5", "litert", _config(input_size=4))
    assert (too_small["status"], too_small["reason"]) == ("failed", "export")
    assert too_small["message"].startswith("export failed: InputTooSmallError: ")
    assert "\n" not in too_small["message"]
    with Launcher(memory_limit_mb=150) as small:
        limited = measure_runtime("lenet5", "litert", _config(), launcher=small)
    assert (limited["status"], limited["reason"]) == ("failed", "memory")
    assert limited["message"].startswith("export exceeded the memory limit of 0.146 GB resident")
    assert limited["median_ms"] is None
