"""Measured peaks: the float32 CPU peak (``doctor --peaks``, through the launcher) against an independent numpy
product, the probes target timed by the pipeline's timer on a fake clock, the cache (keep the highest, a busy
measurement not cached) and the peak of a latency row (its own machine, another machine, a GPU known only
from its datasheet)."""

import json
import time

import numpy as np
import pytest
from click.testing import CliRunner

from archbench.benchmark import machine_peaks as mp
from archbench.benchmark.targets.probes import Probe, probes_for
from archbench.cli import cli
from archbench.environment import cpu_model
from archbench.errors import ArchbenchError, UsageError
from archbench.roofline import Peak

ATTEMPTS = 3  # a shared machine's load changes between two timings: a ratio out of range is measured again


def doctor_peaks(*extra):
    result = CliRunner().invoke(
        cli, ["doctor", "--peaks", "--format", "json", *extra], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["peaks"]


def numpy_matmul_flops(n, repeats=5):
    rng = np.random.default_rng(0)
    a, b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
    a @ b
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        samples.append(time.perf_counter() - t0)
    return 2.0 * n**3 / float(np.median(samples))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("peaks-cache")
    with pytest.MonkeyPatch.context() as mpatch:
        mpatch.setenv("ARCHBENCH_CACHE_DIR", str(folder))
        yield folder, doctor_peaks()


def cpu_float32(peaks):
    (peak,) = [p for p in peaks if p["device_type"] == "cpu" and p["dtype"] == "float32"]
    return peak


@pytest.mark.quiet
def test_float32_cpu_peak_is_at_least_numpys_and_not_absurdly_above(cache, monkeypatch):
    folder, peaks = cache
    monkeypatch.setenv("ARCHBENCH_CACHE_DIR", str(folder))
    ratios = []
    for attempt in range(ATTEMPTS):
        if attempt:  # a cache of its own, so that the figure is this attempt's and not the best of several
            monkeypatch.setenv("ARCHBENCH_CACHE_DIR", str(folder / f"attempt{attempt}"))
        peak = cpu_float32(peaks if attempt == 0 else doctor_peaks())
        assert (
            peak["peak_source"] == f"measured ({peak['peak_probe']} probe)"
            and peak["bandwidth_bytes_per_s"] > 0
        )
        ratios.append(peak["flops_per_s"] / numpy_matmul_flops(peak["matmul_n"]))
        if 0.8 <= ratios[-1] <= 5.0:
            break
    assert 0.8 <= ratios[-1] <= 5.0, f"archbench / numpy float32 matmul FLOP/s: {ratios}"
    assert (
        peak["method"].startswith(f"{peak['backend']}; peak = the {peak['peak_probe']} probe")
        and f"best n = {peak['matmul_n']} kept" in peak["method"]
        and f"best {peak['conv_shape']} kept" in peak["method"]
        and "one process from the launcher" in peak["method"]
    )
    assert peak["flops_per_s"] == max(peak["matmul_flops_per_s"], peak["conv_flops_per_s"]) > 0
    again = cpu_float32(doctor_peaks())
    assert again["cached"] is (not peak["busy"]) and again["runs"] == 1


FAKE_SECONDS = {"matmul/64": 0.02, "matmul/128": 0.1, "conv/1x8x4x4": None, "conv/1x4x8x8": None,
                "stream/4096": 0.05}  # fmt: skip


def timed_rows(conv_s, *, load=0.1, cores=2):
    """Rows of real (tiny) probes built by the probes target and timed by the pipeline's timer on a fake
    clock that advances by each probe's seconds per synchronised call (the last conv shape twice as fast)."""
    from archbench.benchmark.config import LatencyConfig
    from archbench.benchmark.load import LoadMonitor
    from archbench.benchmark.targets import Way, make_target

    target = make_target(Way("probes", "tensorflow"))
    config = LatencyConfig(backend="tensorflow", device="cpu", **mp.PROBE_TIMING)
    seconds = {**FAKE_SECONDS, "conv/1x8x4x4": conv_s, "conv/1x4x8x8": conv_s / 2}
    rows = []
    for name, step in seconds.items():
        now = [0.0]

        def sync(out, step=step, now=now):
            now[0] += step

        def clock(now=now):
            return now[0]

        built = target.build(name, config)
        prepared = target.prepare(built, config, name)
        monitor = LoadMonitor(loadavg=lambda: load, ticks=lambda: None, cores=cores)
        macs = target.analytic(built, config, ()).macs
        result = prepared.measure(clock=clock, sync=sync, load=monitor, macs=macs)
        assert result.status == "ok" and all(s == pytest.approx(step * 1e3) for s in result.samples_ms)
        rows.append({**result.as_row(), **target.columns(prepared, result)})
    return rows


@pytest.mark.parametrize("conv_s", [1e-4, 1.0])
def test_the_peak_is_the_higher_of_the_matmul_and_conv_probes_timed_by_the_pipelines_timer(conv_s):
    rows = timed_rows(conv_s)
    assert all(
        r["stop_reason"] == "precision" and r["iterations"] >= mp.PROBE_TIMING["min_iterations"] for r in rows
    )
    assert [r["probe"] for r in rows] == ["matmul", "matmul", "conv", "conv", "stream"]
    assert rows[-1]["probe_bytes"] == 3 * 4 * 4096 and rows[0]["macs"] == 64**3
    peak = mp.peak_of_rows(rows, "cpu", "float32", "tensorflow")
    matmul = 2.0 * 128**3 / 0.1
    conv = 2.0 * 1 * 4 * 4 * 9 * 8 * 8 / (conv_s / 2)
    assert peak.matmul_n == 128 and peak.matmul_flops_per_s == pytest.approx(matmul)
    assert peak.conv_shape == "1×4×4×8 -> 8" and peak.conv_flops_per_s == pytest.approx(conv)
    assert peak.bandwidth_bytes_per_s == pytest.approx(3 * 4 * 4096 / 0.05)
    assert (
        peak.flops_per_s
        == max(peak.matmul_flops_per_s, peak.conv_flops_per_s)
        == pytest.approx(max(matmul, conv))
    )
    assert peak.busy is False
    probe = "conv" if conv > matmul else "matmul"
    assert peak.peak_probe == probe and peak.peak_source == f"measured ({probe} probe)"
    assert peak.method.startswith(
        f"tensorflow; peak = the {probe} probe ({max(matmul, conv) / 1e9:,.1f} GFLOP/s)"
    )
    assert f"best n = 128 kept ({matmul / 1e9:,.1f} GFLOP/s)" in peak.method
    assert "tf.function(jit_compile=True) 3×3 stride-1 SAME float32" in peak.method
    assert f"best 1×4×4×8 -> 8 kept ({conv / 1e9:,.1f} GFLOP/s)" in peak.method
    assert "stopped by precision" in peak.method


def test_a_busy_probe_makes_the_peak_busy_and_a_failed_kind_is_an_error():
    busy = mp.peak_of_rows(timed_rows(1.0, load=9.0, cores=2), "cpu", "float32", "tensorflow")
    assert busy.busy is True and busy.load_before == 9.0
    rows = timed_rows(1.0)
    rows[0] = {**rows[0], "status": "oom", "median_ms": None}
    assert mp.peak_of_rows(rows, "cpu", "float32", "tensorflow").matmul_n == 128
    failed = [{**r, "status": "error", "message": "no device"} if r["probe"] == "conv" else r for r in rows]
    with pytest.raises(
        ArchbenchError, match=r"the conv peak probe on cpu float32 \(tensorflow\) failed: no device"
    ):
        mp.peak_of_rows(failed, "cpu", "float32", "tensorflow")


def test_a_conv_probe_call_counts_the_direct_macs():
    assert Probe.parse("conv/1x56x256x256").macs == 56 * 56 * 9 * 256 * 256
    assert Probe.parse("matmul/2048").macs == 2048**3 and Probe.parse("stream/10").bytes_moved == 120
    assert [p.name for p in probes_for("cpu")] == ["matmul/1024", "matmul/2048", "conv/1x56x256x256",
                                                  "conv/1x28x512x512", "stream/67108864"]  # fmt: skip


def fake_measure(busy, flops=(1e11, 2e11, 1.5e11), bandwidth=(2e10, 1e10, 3e10)):
    def measure(device_type, dtype="float32", *, backend=None):
        calls.append((device_type, dtype, backend))
        i = len(calls) - 1
        return Peak(device=f"{device_type}:0 ({cpu_model()})", device_type=device_type, device_name=cpu_model(),
                    dtype=dtype, flops_per_s=flops[i], bandwidth_bytes_per_s=bandwidth[i], peak_source="measured",
                    method="fake", backend=backend, busy=busy)  # fmt: skip

    calls = []
    return measure, calls


def test_peaks_are_cached_per_machine_and_versions(tmp_path, monkeypatch):
    measure, calls = fake_measure(busy=False)
    monkeypatch.setattr(mp, "measure_peak", measure)
    (first,) = mp.machine_peaks(
        ["float32"], device_types=["cpu"], backend="tensorflow", cache_dir=str(tmp_path)
    )
    (again,) = mp.machine_peaks(
        ["float32"], device_types=["cpu"], backend="tensorflow", cache_dir=str(tmp_path)
    )
    assert len(calls) == 1 and not first.cached and again.cached and again.flops_per_s == first.flops_per_s
    (fresh,) = mp.machine_peaks(["float32"], device_types=["cpu"], backend="tensorflow", cache_dir=str(tmp_path),
                                refresh=True)  # fmt: skip
    assert len(calls) == 2 and (fresh.flops_per_s, fresh.bandwidth_bytes_per_s, fresh.runs) == (2e11, 2e10, 2)
    (third,) = mp.machine_peaks(["float32"], device_types=["cpu"], backend="tensorflow", cache_dir=str(tmp_path),
                                refresh=True)  # fmt: skip
    assert (third.flops_per_s, third.bandwidth_bytes_per_s, third.runs) == (2e11, 3e10, 3)
    key = mp.cache_key("cpu", cpu_model(), "tensorflow")
    with open(mp.cache_path(key, str(tmp_path)), encoding="utf-8") as f:
        assert json.load(f)["peaks"]["float32"]["bandwidth_bytes_per_s"] == 3e10
    row = {"device_type": "cpu", "device_name": cpu_model(), "dtype": "float32", "backend": "tensorflow"}
    from_row = mp.peaks_for_row(row, cache_dir=str(tmp_path), measure=False)
    assert from_row.cached and from_row.reason == "" and from_row.flops_per_s == 2e11 and from_row.runs == 3
    assert mp.cache_path(mp.cache_key("cpu", cpu_model(), "jax"), str(tmp_path)) != mp.cache_path(
        key, str(tmp_path)
    )
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_something_else")
    assert mp.cache_path(mp.cache_key("cpu", cpu_model(), "tensorflow"), str(tmp_path)) != mp.cache_path(
        key, str(tmp_path)
    )


def test_a_peak_measured_on_a_busy_machine_is_not_cached(tmp_path, monkeypatch):
    measure, calls = fake_measure(busy=True)
    monkeypatch.setattr(mp, "measure_peak", measure)
    for _ in range(2):
        (peak,) = mp.machine_peaks(
            ["float32"], device_types=["cpu"], backend="tensorflow", cache_dir=str(tmp_path)
        )
        assert peak.busy and not peak.cached
    assert len(calls) == 2


def test_rows_of_other_machines_get_the_datasheet_or_nothing(tmp_path):
    other = mp.peaks_for_row({"device_type": "cpu", "device_name": "Some Other CPU", "dtype": "float32"},
                             cache_dir=str(tmp_path))  # fmt: skip
    assert other.flops_per_s is None and "another machine" in other.reason
    gpu = {"device_type": "gpu", "device_name": "NVIDIA H200", "dtype": "mixed_bfloat16", "backend": "jax"}
    spec = mp.peaks_for_row(gpu, cache_dir=str(tmp_path), measure=False)
    assert spec.peak_source == "datasheet: NVIDIA H200 SXM" and spec.flops_per_s == pytest.approx(989e12)
    assert spec.bandwidth_bytes_per_s is None and "not measured yet" in spec.reason
    odd = mp.peaks_for_row({"device_type": "cpu", "device_name": cpu_model(), "dtype": "int8"})
    assert odd.flops_per_s is None and "int8" in odd.reason


def test_bad_input_is_one_line():
    with pytest.raises(UsageError, match="device type must be cpu or gpu"):
        mp.measure_peak("tpu")
    with pytest.raises(UsageError, match="dtype must be one of"):
        mp.measure_peak("cpu", "float64")
    with pytest.raises(UsageError, match="peaks are measured through tensorflow or jax, not 'torch'"):
        mp.measure_peak("cpu", backend="torch")
    with pytest.raises(UsageError, match=r"not a peak probe: 'matmul/0'"):
        Probe.parse("matmul/0")
    result = CliRunner().invoke(cli, ["doctor", "--refresh"])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        "error: --refresh and --dtype go with --peaks"
    ]
