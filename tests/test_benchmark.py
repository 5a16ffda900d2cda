"""The latency harness: the timer's contract on a fake clock, statistics, OOM recording, honest device
labels, and the one-process-per-backend path (with a tiny model defined here)."""

import importlib.util
import json
import math
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from archbench import benchmark as bm
from archbench.benchmark.protocol import Failure, Record, decode, encode
from archbench.errors import ArchbenchError, InputTooSmallError, UnknownModelError, UsageError


def tiny_model(input_shape=(16, 16, 3), **kwargs):
    """A small CNN for the harness tests (the subprocess builds it from ``this_file.py:tiny_model``)."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(5, name="fc")(x), name="tiny")


def oom_at_32(input_shape=(16, 16, 3), **kwargs):
    """Builds ``tiny_model`` but runs 'out of memory' at 32x32, as a GPU would for a big batch."""
    import tensorflow as tf

    if input_shape[0] == 32:
        raise tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[256,64,112,112]"
        )
    return tiny_model(input_shape)


def too_small(input_shape=(16, 16, 3), **kwargs):
    """A builder that refuses its input size, as the zoo's builders do below their minimum."""
    raise InputTooSmallError("input 16x16 is smaller than too_small's minimum 32x32")


def broken(**kwargs):
    """A builder with a bug: an ordinary exception, not a user error."""
    raise ValueError("UsageError: a message that only looks like a user error")


TINY = f"{__file__}:tiny_model"


class FakeDevice:
    """A clock that only moves when the fake work or the fake sync says so, with an event log."""

    def __init__(self, durations, sync_cost=0.0):
        self.t = 0.0
        self.durations = iter(durations)
        self.sync_cost = sync_cost
        self.events = []

    def clock(self):
        self.events.append("clock")
        return self.t

    def fn(self):
        self.events.append("fn")
        self.t += next(self.durations)
        return "out"

    def sync(self, out):
        assert out == "out"
        self.events.append("sync")
        self.t += self.sync_cost


def _config(**kw):
    base = dict(warmup=0, min_iterations=1, min_time_s=0.0, max_iterations=1000)
    base.update(kw)
    return bm.LatencyConfig(**base)


# -- the timer's contract ----------------------------------------------------------------------------


def test_warmup_and_first_call_are_excluded():
    dev = FakeDevice([100.0, 50.0, 40.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    timing = bm.time_function(dev.fn, _config(warmup=2, min_iterations=5), sync=dev.sync, clock=dev.clock)
    assert timing.first_call_s == 100.0
    assert timing.warmup_iterations == 2
    assert timing.samples_s == (1.0, 2.0, 3.0, 4.0, 5.0)


def test_sync_runs_inside_every_timed_region():
    dev = FakeDevice([10.0] + [0.25] * 6, sync_cost=0.5)
    timing = bm.time_function(dev.fn, _config(min_iterations=6), sync=dev.sync, clock=dev.clock)
    assert timing.samples_s == (0.75,) * 6
    timed = dev.events[-24:]
    assert timed == ["clock", "fn", "sync", "clock"] * 6
    assert dev.events[:4] == ["clock", "fn", "sync", "clock"]


@pytest.mark.parametrize(
    ("min_iterations", "min_time_s", "max_iterations", "expected", "reason"),
    [
        (3, 1.0, 1000, 8, "precision"),  # 1 s of identical samples: the interval has no width
        (10, 1.0, 1000, 10, "precision"),
        (1, 0.0, 1000, 6, "precision"),  # 6 samples are the fewest with a 95 % interval
        (3, 0.5, 4, 4, "max_iterations"),  # the cap counts once the minimum time is measured, not before
    ],
)
def test_min_time_and_iteration_limits(min_iterations, min_time_s, max_iterations, expected, reason):
    dev = FakeDevice([1.0] + [0.125] * 100)
    cfg = _config(
        min_iterations=min_iterations,
        min_time_s=min_time_s,
        max_iterations=max_iterations,
        max_time_s=max(min_time_s, 8.0),
    )
    timing = bm.time_function(dev.fn, cfg, sync=dev.sync, clock=dev.clock)
    assert len(timing.samples_s) == expected
    assert timing.stop_reason == reason


def test_warmup_by_time():
    dev = FakeDevice([1.0] + [0.25] * 4 + [0.5] * 6)
    timing = bm.time_function(dev.fn, _config(warmup_s=1.0, min_iterations=6), sync=dev.sync, clock=dev.clock)
    assert timing.warmup_iterations == 4
    assert timing.samples_s == (0.5,) * 6


def test_summary_statistics_on_known_samples():
    samples = [float(v) for v in range(100, 0, -1)]
    s = bm.summarize(samples)
    assert s["iterations"] == 100
    assert s["min_ms"] == 1.0 and s["max_ms"] == 100.0
    assert s["median_ms"] == pytest.approx(50.5)
    assert s["mean_ms"] == pytest.approx(50.5)
    assert s["p90_ms"] == pytest.approx(np.percentile(samples, 90)) == pytest.approx(90.1)
    assert s["p99_ms"] == pytest.approx(99.01)
    assert s["iqr_ms"] == pytest.approx(49.5)
    assert s["std_ms"] == pytest.approx(np.std(samples, ddof=1))
    assert bm.summarize([])["median_ms"] is None


def test_derived_figures():
    cfg = _config(batch_size=4)
    r = bm.LatencyResult(model="m", config=cfg, samples_ms=(2.0, 3.0, 4.0), macs=1_000_000, device_type="cpu")
    assert r.median_ms == 3.0
    assert r.images_per_s == pytest.approx(4 / 0.003)
    assert r.gflops_per_s == pytest.approx(2 * 1e6 * 4 / 0.003 / 1e9)


def test_measure_times_a_keras_model_with_a_fake_clock():
    model = tiny_model()
    dev = FakeDevice([], sync_cost=1 / 64)
    syncs = []

    def sync(out):
        syncs.append(tuple(out.shape))
        dev.sync("out")

    cfg = bm.LatencyConfig(batch_size=2, warmup=2, min_iterations=3, min_time_s=0.125)
    r = bm.measure(model, cfg, name="tiny", clock=dev.clock, sync=sync, macs=123)
    assert r.status == "ok"
    assert r.samples_ms == (1000 / 64,) * 8
    assert r.warmup_iterations == 2
    assert len(syncs) == 1 + 2 + 8 and set(syncs) == {(2, 5)}
    assert r.first_call_ms == pytest.approx(1000 / 64)
    assert r.input_shape == (16, 16, 3)
    assert r.config.jit is bm.default_jit(keras.backend.backend(), "cpu")
    assert r.config.freeze_weights is (keras.backend.backend() == "jax")  # tiny_model has batch norm
    row = r.as_row()
    assert row["model"] == "tiny" and row["batch_size"] == 2 and row["macs"] == 123
    assert row["backend"] == keras.backend.backend()
    json.dumps(row)


def test_measure_with_the_real_sync_returns_positive_samples():
    r = bm.measure(tiny_model(), _config(batch_size=3, min_iterations=5, max_time_s=2.0))
    assert r.status == "ok" and len(r.samples_ms) >= 6 and min(r.samples_ms) > 0
    assert r.stop_reason in ("precision", "time_cap", "max_iterations")
    assert r.path and "eager" not in r.path
    assert r.device.startswith(f"{r.device_type}:")


def test_prepared_inference_is_timed_repeatedly_without_recompiling():
    prepared = bm.prepare(tiny_model(), _config(min_iterations=2, max_iterations=6), name="tiny")
    first, second = prepared.measure(), prepared.measure()
    assert first.status == second.status == "ok"
    assert len(first.samples_ms) <= 6 and len(second.samples_ms) <= 6
    assert second.path == first.path and second.model == "tiny"


# -- devices: CPU is never reported as GPU -----------------------------------------------------------


def _gpus_visible():
    from archbench.environment import gpu_names

    return len(gpu_names() or [])


@pytest.mark.skipif("_gpus_visible() > 0", reason="checks the behaviour of a machine without a GPU")
def test_gpu_requested_without_gpu_is_recorded_as_cpu():
    r = bm.measure(tiny_model(), _config(device="gpu", min_iterations=2), macs=1000)
    assert r.status == "ok"
    assert r.device_type == "cpu" and r.device.startswith("cpu:0 (")
    assert "gpu" not in r.device.lower()
    assert any("gpu requested, none visible" in n for n in r.notes)
    assert r.gflops_per_s is not None
    row = r.as_row()
    assert row["device_requested"] == "gpu" and row["device_type"] == "cpu"


def test_peak_table_and_no_datasheet_columns_in_the_timers_row():
    assert bm.peak_for("NVIDIA H200", "bfloat16")[0] == 989.0
    assert bm.peak_for("NVIDIA H100 80GB HBM3", "float32")[0] == 67.0
    assert bm.peak_for("NVIDIA H100 PCIe", "bfloat16") == (None, None)
    assert bm.peak_for("AMD EPYC", "float32") == (None, None)
    cfg = _config(dtype="mixed_bfloat16", batch_size=2, min_iterations=2, max_iterations=2)
    dev = FakeDevice([1.0, 0.001, 0.001])
    gpu = {"device": "gpu:0 (NVIDIA H200)", "device_type": "gpu", "device_name": "NVIDIA H200"}
    r = bm.measure_function(dev.fn, cfg, sync=dev.sync, clock=dev.clock, macs=10**9, describe=lambda out: gpu)
    row = r.as_row()
    assert row["gflops_per_s"] == pytest.approx(2 * 10**9 * 2 / 0.001 / 1e9)
    assert not {"peak_tflops", "peak_source", "mfu"} & set(row)  # the peak is the roofline's (one set of columns)


# -- out of memory -----------------------------------------------------------------------------------


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError."""


def _oom_errors():
    import tensorflow as tf

    return [
        tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor"),
        RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 12.5GiB."),
        OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    ]


@pytest.mark.parametrize("index", range(3))
@pytest.mark.parametrize("fail_at", [0, 2, 5])
def test_oom_is_recorded_not_raised(index, fail_at):
    error = _oom_errors()[index]
    calls = []

    def fn():
        calls.append(1)
        if len(calls) > fail_at:
            raise error
        return "out"

    dev = FakeDevice([])
    r = bm.measure_function(
        fn, _config(warmup=2, min_iterations=3), sync=dev.sync, clock=dev.clock, model="m"
    )
    assert r.status == "oom"
    assert str(error) in r.message
    assert r.samples_ms == () and r.as_row()["median_ms"] is None


def test_other_errors_propagate_from_measure():
    def fn():
        raise ValueError("shapes do not match")

    with pytest.raises(ValueError):
        bm.measure_function(fn, _config(), sync=lambda out: None)
    assert not bm.is_oom(ValueError("shapes do not match"))


OOM_MESSAGES = {
    "tf": "RESOURCE_EXHAUSTED: OOM when allocating tensor with shape[256,64,112,112] and type float",
    "xla": "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 12884901888 bytes.",
    "jax": "XlaRuntimeError: RESOURCE_EXHAUSTED: Out of memory while trying to allocate 4.00GiB.",
    "torch-cuda": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.19 GiB total)",
    "torch-cpu": "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 68719476736 bytes. Error code 12 (Cannot allocate memory)",
}


@pytest.mark.parametrize("framework", sorted(OOM_MESSAGES))
def test_one_oom_classifier_for_every_framework_and_the_runner(framework):
    from archbench.runner import _status_of

    message = OOM_MESSAGES[framework]
    assert bm.is_oom(message)
    assert bm.is_oom(RuntimeError(message))
    assert _status_of(RuntimeError(message)) == "oom"
    assert Failure.of(RuntimeError(message)).status == "oom"


def test_oom_classifier_rejects_ordinary_errors():
    from archbench.runner import _status_of

    error = ValueError("Input 0 of layer 'conv' is incompatible: expected ndim=4, found ndim=2")
    assert not bm.is_oom(error) and not bm.is_oom(str(error))
    assert _status_of(error) == "error"
    assert Failure.of(error).type == "Error" and Failure.of(error).status == "error"


def test_sweep_goes_on_after_oom_and_errors():
    configs = [_config(input_size=32), _config(input_size=2), _config(input_size=16, min_iterations=2)]
    results = bm.sweep(f"{__file__}:oom_at_32", configs)
    assert [r.status for r in results] == ["oom", "error", "ok"]
    assert "OOM when allocating" in results[0].message
    assert results[2].input_shape == (16, 16, 3)


# -- configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"device": "tpu"},
        {"dtype": "float16"},
        {"batch_size": 0},
        {"backend": "mxnet"},
        {"min_iterations": 5, "max_iterations": 4},
        {"threads": 0},
    ],
)
def test_bad_config_is_a_usage_error(bad):
    with pytest.raises(UsageError):
        bm.LatencyConfig(**bad)


def test_config_round_trips_through_json_and_normalises_backend():
    cfg = bm.LatencyConfig(backend="tf", batch_size=8, jit=False)
    assert cfg.backend == "tensorflow"
    assert bm.LatencyConfig(**json.loads(json.dumps(cfg.as_dict()))) == cfg


def test_model_built_under_another_policy_is_refused():
    with pytest.raises(UsageError, match="dtype policy"):
        bm.measure(tiny_model(), _config(dtype="mixed_bfloat16"))


def test_build_model_applies_policy_and_size_and_restores_policy():
    before = keras.config.dtype_policy().name
    model = bm.build_model(TINY, _config(dtype="mixed_bfloat16", input_size=24))
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert model.input_shape == (None, 24, 24, 3)
    assert keras.config.dtype_policy().name == before


def test_histogram_and_report():
    text = bm.text_histogram([1.0, 1.0, 2.0, 3.0] * 10 + [50.0])
    assert "slower (up to 50.000 ms)" in text and text.count("\n") >= 3
    row = bm.LatencyResult(model="m", config=_config(), samples_ms=(1.0, 2.0)).as_row(samples=True)
    report = bm.format_report(row)
    assert "median" in report and "per-iteration latency" in report


# -- one process per backend -------------------------------------------------------------------------


def _subprocess_backend():
    return "jax" if importlib.util.find_spec("jax") else "tensorflow"


def sleeper(**kwargs):
    """A builder that says it started (in ``ARCHBENCH_TEST_MARKER``) and then takes a minute."""
    import time

    with open(os.environ["ARCHBENCH_TEST_MARKER"], "w") as f:
        f.write(str(os.getpid()))
    time.sleep(60)
    return tiny_model()


def killed(**kwargs):
    """A builder whose process is killed by SIGKILL, as the kernel's out-of-memory killer does."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def crash(**kwargs):
    """A builder that kills its process, as a segfault in a framework would."""
    import os

    os._exit(3)


@pytest.mark.jax
def test_measure_in_subprocess_runs_each_backend_in_its_own_process():
    backend = _subprocess_backend()
    configs = [
        bm.LatencyConfig(
            backend=backend, batch_size=n, warmup=1, min_iterations=3, max_iterations=3, min_time_s=0.0
        )
        for n in (1, 2)
    ]
    if not importlib.util.find_spec("torch"):
        configs.append(bm.LatencyConfig(backend="torch"))
    seen = []
    rows = bm.measure_in_subprocess(
        [f"{__file__}:crash", TINY], configs, 300, samples=True, on_row=seen.append
    )
    assert len(rows) == len(seen) == 2 * len(configs)
    crashed, tiny = rows[: len(configs)], rows[len(configs) :]
    assert all(r["status"] == "error" and r["model"].endswith(":crash") for r in crashed)
    assert "exited with code 3" in crashed[0]["message"]
    for row, cfg in zip(tiny[:2], configs, strict=False):
        assert row["status"] == "ok", row["message"]
        assert row["model"] == TINY and row["backend"] == backend and row["batch_size"] == cfg.batch_size
        assert row["iterations"] == 3 and len(row["samples_ms"]) == 3
        assert row["stop_reason"] == "max_iterations" and row["ci_rel"] is None and row["noisy"] is True
        assert row["mem_method"].endswith(
            bm.processes.MEMORY_CONTEXT
            if cfg.batch_size == 1
            else "after 1 earlier config(s) of this model in the same process"
        )
        assert row["mem_model_mb"] is not None and row["mem_peak_mb"] is not None
        assert row["load_before"] is not None and row["cpu_count"] >= 1
        assert row["device_type"] in ("cpu", "gpu") and row["device"].startswith(row["device_type"])
        assert row["input_size"] == 16 and row["input_shape"] == "16x16x3"
        assert row["macs"] is None or row["macs"] > 0
        assert row[f"{backend}_version"] and row["python_version"]
        assert math.isfinite(row["median_ms"]) and row["first_call_ms"] >= row["min_ms"]
    if backend == "jax":
        assert tiny[0]["path"].startswith("jax.jit")
    if len(configs) == 3:
        assert tiny[2]["status"] == "error" and "not installed" in tiny[2]["message"]


def _fresh(python):
    """A launcher starting a fresh (fake) interpreter per job: what happens to the job's process."""
    from archbench.benchmark.launcher import Launcher

    return Launcher(python=str(python), isolation="fresh")


@pytest.mark.parametrize(
    ("script", "timeout_s", "expected"),
    [("exit 3", 60, "exited with code 3"), ("sleep 30", 0.5, "timed out after 0.5 s")],
)
def test_subprocess_failure_becomes_error_rows(tmp_path, script, timeout_s, expected):
    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!/bin/sh\n{script}\n")
    fake_python.chmod(0o755)
    configs = [bm.LatencyConfig(backend="tensorflow", batch_size=n) for n in (1, 8)]
    rows = bm.measure_in_subprocess(TINY, configs, timeout_s, launcher=_fresh(fake_python))
    assert [r["status"] for r in rows] == ["error", "error"]
    assert [r["batch_size"] for r in rows] == [1, 8]
    assert all(expected in r["message"] for r in rows)


def test_a_child_killed_by_sigkill_is_out_of_memory_for_the_config_it_was_measuring(tmp_path):
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\nkill -9 $$\n")
    fake_python.chmod(0o755)
    configs = [bm.LatencyConfig(backend="tensorflow", batch_size=n) for n in (1, 8)]
    rows = bm.measure_in_subprocess(TINY, configs, 60, launcher=_fresh(fake_python))
    assert [r["status"] for r in rows] == ["oom", "error"]
    assert "SIGKILL" in rows[0]["message"] and "out of memory" in rows[0]["message"]
    assert rows[1]["message"] == "not measured: the process was killed at batch 1"


def test_the_child_is_killed_when_the_parent_stops_waiting(tmp_path, monkeypatch):
    from archbench.benchmark import launcher

    pid_file = tmp_path / "pid"
    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    fake_python.chmod(0o755)

    def interrupted(seconds):
        if pid_file.exists() and pid_file.read_text().strip():
            raise KeyboardInterrupt
        _sleep(seconds)

    _sleep = launcher.time.sleep
    monkeypatch.setattr(launcher.time, "sleep", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bm.measure_in_subprocess(TINY, bm.LatencyConfig(backend="tensorflow"), 60, launcher=_fresh(fake_python))
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_forked_jobs_that_hang_or_are_killed_give_rows_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """The pre-imported worker forks each job: a job past its timeout, one killed by SIGKILL (the OOM
    killer) and a good one after them, all through one worker."""
    from archbench.benchmark.launcher import Launcher

    monkeypatch.setenv("ARCHBENCH_TEST_MARKER", str(tmp_path / "marker"))
    config = bm.LatencyConfig(backend="tensorflow", warmup=0, min_iterations=2, max_iterations=2, min_time_s=0.0)
    with Launcher() as launcher:
        hung = bm.measure_in_subprocess(f"{__file__}:sleeper", config, 20, launcher=launcher)
        oom = bm.measure_in_subprocess(f"{__file__}:killed", [config, config.replace(batch_size=2)], 60,
                                       launcher=launcher)
        fine = bm.measure_in_subprocess(TINY, config, 120, launcher=launcher)
    assert (hung[0]["status"], hung[0]["message"]) == ("error", "timed out after 20 s")
    assert [r["status"] for r in oom] == ["oom", "error"] and "OOM killer" in oom[0]["message"]
    assert fine[0]["status"] == "ok", fine[0]["message"]
    assert fine[0]["isolation"].startswith("own process, forked from a worker that had imported keras")


def test_a_stop_request_kills_the_job_and_raises_keyboard_interrupt(monkeypatch, tmp_path):
    """What Ctrl-C in a sweep does to a unit measuring in its own process: no row, the process gone."""
    import threading

    from archbench.benchmark import launcher

    marker = tmp_path / "marker"
    monkeypatch.setenv("ARCHBENCH_TEST_MARKER", str(marker))

    def stop_once_started():
        while not (marker.exists() and marker.read_text()):
            time.sleep(0.05)
        launcher.request_stop()

    threading.Thread(target=stop_once_started, daemon=True).start()
    try:
        with launcher.Launcher() as own, pytest.raises(KeyboardInterrupt):
            bm.measure_in_subprocess(f"{__file__}:sleeper", bm.LatencyConfig(backend="tensorflow"), 300, launcher=own)
    finally:
        launcher.clear_stop()
    pid = int(marker.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_child_dies_with_its_parent(tmp_path):
    marker = tmp_path / "child_pid"
    parent_code = (
        "import sys\n"
        "from archbench.benchmark import LatencyConfig, measure_in_subprocess\n"
        f"measure_in_subprocess({f'{__file__}:sleeper'!r}, LatencyConfig(backend='tensorflow'), 300)\n"
    )
    env = {**os.environ, "ARCHBENCH_TEST_MARKER": str(marker), "TF_CPP_MIN_LOG_LEVEL": "3"}
    parent = subprocess.Popen([sys.executable, "-c", parent_code], env=env)
    try:
        deadline = time.monotonic() + 120
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        child = int(marker.read_text())
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{child}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{child}"), "the measuring process outlived the sweep"


# -- the process boundary: failures cross it as types -----------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (InputTooSmallError("input 16x16 is smaller than the minimum 32x32"), "InputTooSmallError"),
        (UnknownModelError("unknown model 'resnet5'; did you mean: resnet50"), "UnknownModelError"),
        (UsageError("dtype must be one of float32, mixed_bfloat16, mixed_float16"), "UsageError"),
        (ValueError("UsageError: a message that only looks like a user error"), "Error"),
        (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1 bytes"), "OutOfMemory"),
    ],
)
def test_failure_crosses_the_process_boundary_as_its_type(error, kind):
    record = decode(encode(Record({"status": "error", "message": "anything"}, Failure.of(error))))
    assert record.row == {"status": "error", "message": "anything"}
    assert record.failure == Failure(kind, str(error))
    if isinstance(error, UsageError):
        with pytest.raises(type(error)) as raised:
            record.failure.raise_usage_error()
        assert type(raised.value) is type(error) and str(raised.value) == str(error)
    else:
        record.failure.raise_usage_error()
    assert decode(encode(Record({"status": "ok"}))).failure is None


def test_bench_raises_a_user_error_with_its_own_type_and_message():
    with pytest.raises(InputTooSmallError) as raised:
        bm.bench(f"{__file__}:too_small", _config())
    assert str(raised.value) == "input 16x16 is smaller than too_small's minimum 32x32"
    with pytest.raises(ArchbenchError) as raised:
        bm.bench(f"{__file__}:broken", _config())
    assert not isinstance(raised.value, UsageError)
    message = "ValueError: UsageError: a message that only looks like a user error"
    assert str(raised.value) == f"{__file__}:broken: {message}"


@pytest.mark.jax
def test_bench_in_a_subprocess_raises_the_childs_user_error_type():
    if not importlib.util.find_spec("jax") or keras.backend.backend() == "jax":
        pytest.skip("needs JAX installed and another backend active")
    with pytest.raises(InputTooSmallError) as raised:
        bm.bench(f"{__file__}:too_small", _config(backend="jax"), timeout_s=300)
    assert str(raised.value) == "input 16x16 is smaller than too_small's minimum 32x32"


# -- command line ------------------------------------------------------------------------------------


def test_bench_command_prints_stats_and_histogram():
    from click.testing import CliRunner

    from archbench._cli.bench import command

    result = CliRunner().invoke(
        command, [TINY, "--batch", "2", "--iterations", "5", "--min-time", "0", "--warmup", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "median" in result.output and "per-iteration latency" in result.output
    assert "cpu:0" in result.output or "gpu:0" in result.output


def _invoke(args):
    from click.testing import CliRunner

    from archbench.cli import cli

    result = CliRunner().invoke(cli, args)
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    return result.exit_code, errors, result.output


def _run_and_bench(backend, out):
    run_args = "run --models lenet5 --tasks latency --batch 1 --min-time 0 --no-report".split()
    bench_args = "bench lenet5 --iterations 1 --min-time 0 --warmup 0 --json".split()
    run = _invoke([*run_args, "--backend", backend, "--out", out])
    bench = _invoke([*bench_args, "--backend", backend])
    return run, bench


def _latency_rows(out):
    import csv

    with open(os.path.join(out, "results.csv"), encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["task"] == "latency"]


@pytest.mark.parametrize("backend", ["foo", "pytorch"])
def test_run_and_bench_accept_and_refuse_the_same_backend_names(backend, tmp_path, monkeypatch):
    """``run`` and ``bench`` name backends through one function: both refuse an unknown name with the
    same message, and both take ``pytorch`` for ``torch``. torch is taken for absent here, so both must
    then fail for that reason with one message, and the test needs no torch and times nothing
    (:func:`test_run_and_bench_time_pytorch_alike` times it where torch is installed)."""
    from archbench.benchmark import processes

    if keras.backend.backend() == "torch":
        pytest.skip("checks the subprocess path of a backend other than the active one")
    monkeypatch.setattr(processes, "backend_installed", lambda name: name != "torch")
    out = str(tmp_path / "out")
    run, bench = _run_and_bench(backend, out)
    (run_code, run_errors, run_output), (bench_code, bench_errors, bench_output) = run, bench
    if backend == "foo":
        with pytest.raises(UsageError) as raised:
            bm.normalize_backend(backend)
        assert run_code == bench_code == 2, (run_output, bench_output)
        assert run_errors == bench_errors == [f"error: {raised.value}"]
        return
    message = bm.not_installed_message("torch")
    assert "unknown backend" not in run_output + bench_output
    assert bench_code == 2 and bench_errors == [f"error: {message}"], bench_output
    assert run_code == 1, run_output
    rows = _latency_rows(out)
    assert [(r["backend"], r["status"], r["error"]) for r in rows] == [("torch", "error", message)]


@pytest.mark.slow
@pytest.mark.torch
def test_run_and_bench_time_pytorch_alike(tmp_path):
    if not bm.backend_installed("torch") or keras.backend.backend() == "torch":
        pytest.skip("needs torch installed and another backend active")
    out = str(tmp_path / "out")
    (run_code, _, run_output), (bench_code, _, bench_output) = _run_and_bench("pytorch", out)
    assert run_code == bench_code == 0, (run_output, bench_output)
    assert [(r["backend"], r["status"]) for r in _latency_rows(out)] == [("torch", "ok")]
    assert '"backend": "torch"' in bench_output


def test_importing_the_benchmark_imports_no_tensorflow():
    code = "import sys, archbench.benchmark; print('tensorflow' in sys.modules)"
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", result.stderr
