"""torchvision peers: every zoo model maps to a torchvision builder or says why not; peers are a way of the
one pipeline (the ``torchvision`` target through :func:`archbench.benchmark.measure_way`), timed in their
own processes (torch is never imported here, where TensorFlow may already be) with archbench's timer and
archbench's count of the counterpart; a GPU asked for on a CPU machine is recorded as the CPU it ran on."""

import importlib.util
import os
import subprocess
import sys

import pytest

from archbench.benchmark import measure_way
from archbench.benchmark.config import DEFAULT
from archbench.benchmark.targets import Way
from archbench.environment import cpu_model
from archbench.errors import UsageError
from archbench.peers import MODES, NO_COUNTERPART, TORCHVISION_PEERS, default_modes, peer_for
from archbench.registry import list_models

HAS_TORCH = (
    importlib.util.find_spec("torch") is not None and importlib.util.find_spec("torchvision") is not None
)
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs torch and torchvision")
NO_GPU = not os.path.exists("/dev/nvidia0")
QUICK = DEFAULT.replace(warmup=1, min_iterations=3, min_time_s=0.05, threads=1, batch_size=2, input_size=64)
STATS = ("median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "mean_ms", "std_ms", "iqr_ms")


def peer_rows(models, config, modes=("eager",), **settings):
    """One row per model and mode, models first, through the one call of every way."""
    return [measure_way(m, config, Way("torchvision", "torch", mode), **settings) for m in models for mode in modes]


def test_every_zoo_model_has_a_peer_or_a_reason():
    zoo = set(list_models("*"))
    assert set(TORCHVISION_PEERS) | set(NO_COUNTERPART) == zoo
    assert not set(TORCHVISION_PEERS) & set(NO_COUNTERPART)
    for name in sorted(zoo):
        peer, reason = peer_for(name)
        assert (peer is None) == bool(reason), name
    assert len(TORCHVISION_PEERS) == 25 and len(NO_COUNTERPART) == 15
    assert peer_for("resnet50_v1_5")[0].builder == "resnet50"
    assert peer_for("googlenet_bn")[0].kwargs == {"aux_logits": False, "init_weights": False}
    assert peer_for("inception_v3")[0].kwargs == {"aux_logits": False, "init_weights": False}
    assert "v1.5" in peer_for("resnet50")[1]
    assert peer_for("keras/ResNet50")[0] is None


def test_models_without_a_counterpart_get_a_row_not_a_process():
    rows = peer_rows(["lenet5", "alexnet", "inception_v4", "resnet152"], DEFAULT, python="/nonexistent/python")
    assert [r["model"] for r in rows] == ["lenet5", "alexnet", "inception_v4", "resnet152"]
    assert {r["status"] for r in rows} == {"skipped"} and {r["reason"] for r in rows} == {"no torchvision counterpart"}
    assert rows[0]["message"] == "no torchvision counterpart: torchvision has no LeNet-5"
    assert rows[3]["message"].startswith("no torchvision counterpart: torchvision's ResNet-152 is v1.5")
    assert all(r["framework"] == "torchvision" for r in rows)


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="peer modes"):
        peer_rows(["resnet18"], DEFAULT, modes=["fastest"])
    with pytest.raises(UsageError, match="device"):
        peer_rows(["resnet18"], DEFAULT.replace(device="tpu"))
    with pytest.raises(UsageError, match="dtype"):
        peer_rows(["resnet18"], DEFAULT.replace(dtype="int8"))
    with pytest.raises(UsageError, match="threads"):
        peer_rows(["resnet18"], DEFAULT.replace(threads=0))
    assert default_modes("cpu") == ("eager", "compile") and default_modes("gpu") == MODES


@needs_torch
def test_a_child_past_its_timeout_gives_an_error_row():
    rows = peer_rows(["resnet18"], DEFAULT, modes=["eager"], timeout_s=0.01)
    assert len(rows) == 1
    assert (rows[0]["status"], rows[0]["reason"]) == ("failed", "timeout")
    assert rows[0]["message"] == "count timed out after 0.01 s"  # archbench's count of the counterpart, first


def test_without_torchvision_the_rows_say_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    present = {"torch": object()}  # torch found, torchvision not, whatever this environment has
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda n, *a: None if n == "torchvision" else present.get(n) or real(n, *a),
    )
    rows = peer_rows(["resnet18", "zfnet"], DEFAULT, modes=["eager", "compile"], python="/nonexistent/python")
    assert [(r["model"], r["mode"], r["reason"]) for r in rows] == [
        ("resnet18", "eager", "not installed"),
        ("resnet18", "compile", "not installed"),
        ("zfnet", "eager", "no torchvision counterpart"),
        ("zfnet", "compile", "no torchvision counterpart"),
    ]
    assert {r["status"] for r in rows} == {"skipped"}
    assert rows[0]["message"] == "torchvision is not installed (pip install torch torchvision)"


def _check_timed(row, mode, path):
    assert row["status"] == "ok", row["message"]
    assert (row["framework"], row["mode"], row["path"]) == ("torchvision", mode, path)
    assert row["peer_model"] == "torchvision.models.resnet18"
    assert row["framework_version"] and row["torch_version"]
    assert row["iterations"] >= 3 and row["warmup_iterations"] == 1
    assert all(row[k] is not None for k in STATS)
    assert 0 < row["min_ms"] <= row["median_ms"] <= row["max_ms"]
    assert row["first_call_ms"] > 0 and row["images_per_s"] == pytest.approx(2e3 / row["median_ms"])
    assert (row["batch_size"], row["input_size"], row["input_shape"]) == (2, 64, "3x64x64")
    assert (row["threads"], row["intra_op_threads"]) == (1, 1)
    assert row["mem_peak_mb"] is not None and row["mem_method"]  # the one row schema: memory too
    assert row["macs"] == _archbench_macs("resnet18", 64) and row["gflops_per_s"] > 0
    assert row["macs_source"].startswith("archbench count of resnet18, the counterpart")
    assert row["mem_params_mb"] == pytest.approx(TORCH_RESNET18_BYTES / 1e6) and row["mem_activations_mb"] > 0
    assert row["stop_reason"] in ("precision", "time_cap", "max_iterations")
    assert row["ci_target"] == 0.02 and row["max_time_s"] == 8.0
    assert isinstance(row["noisy"], bool) and "load_before" in row and "steal_after" in row
    if row["energy_available"]:
        assert row["energy_j"] >= 0 and row["energy_j_per_image"] is not None
    else:
        assert row["energy_reason"] and row["energy_j"] is None


def _archbench_macs(name, size):
    from archbench import count, get_model

    return count(get_model(name, input_shape=(size, size, 3))).macs


# torchvision's ResNet-18: 11,689,512 weights and 9,600 batch-norm running statistics, float32
# (the 20 num_batches_tracked counters are int64), counted from the architecture's table.
TORCH_RESNET18_BYTES = (11_689_512 + 9_600) * 4 + 20 * 8


def _check_cpu(row):
    assert (row["device"], row["device_type"], row["device_name"]) == (
        f"cpu:0 ({cpu_model()})",
        "cpu",
        cpu_model(),
    )
    assert row["dtype"] == "float32" and row["notes"] == ""


@pytest.mark.torch
@needs_torch
def test_resnet18_eager_on_the_cpu():
    (row,) = peer_rows(["resnet18"], QUICK.replace(device="cpu"), modes=["eager"])
    _check_timed(row, "eager", "torch eager (inference_mode)")
    _check_cpu(row)


@pytest.mark.torch
@pytest.mark.slow
@needs_torch
def test_resnet18_eager_and_compile_on_the_cpu():
    """Inductor compiles ResNet-18 in 30-70 s on the 2-core development machine (a cold cache)."""
    rows = peer_rows(["resnet18"], QUICK.replace(device="cpu"), modes=["eager", "compile"])
    assert [r["mode"] for r in rows] == ["eager", "compile"]
    _check_timed(rows[0], "eager", "torch eager (inference_mode)")
    _check_timed(rows[1], "compile", "torch.compile (inference_mode)")
    assert rows[1]["first_call_ms"] > rows[1]["median_ms"]
    for row in rows:
        _check_cpu(row)


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
@pytest.mark.torch
@needs_torch
def test_gpu_modes_asked_on_a_cpu_machine_run_on_the_cpu_and_say_so():
    """The GPU path's bf16 autocast and reduce-overhead, asked where CUDA is absent: no crash, CPU rows."""
    rows = peer_rows(["resnet18"], QUICK.replace(device="gpu", dtype="mixed_bfloat16"), modes=["eager"], samples=True)
    (row,) = rows
    _check_timed(row, "eager", "torch eager (inference_mode)")
    assert (row["device_requested"], row["device_type"], row["device_name"]) == ("gpu", "cpu", cpu_model())
    assert row["dtype"] == "mixed_bfloat16"
    assert row["notes"] == "gpu requested, none visible: ran on cpu"
    assert len(row["samples_ms"]) == row["iterations"]


def test_torch_is_not_imported_by_the_peer_module():
    """The parent (a pytest or CLI process that may hold TensorFlow) must not import torch."""
    code = "import sys, archbench.peers; print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# Every column a timed row carries whatever ran it, and the column that says why where it may be empty.
ROW_SCHEMA = {
    **dict.fromkeys(("median_ms", "p90_ms", "min_ms", "max_ms", "images_per_s", "first_call_ms", "iterations",
                     "stop_reason", "device", "device_type", "device_name", "path", "input_shape", "framework",
                     "framework_version", "runtime", "runtime_version", "mode", "mem_method", "mem_peak_mb",
                     "mem_params_mb", "mem_activations_mb", "flops_per_s", "arithmetic_intensity",
                     "macs_source")),
    "energy_j": "energy_reason",
    "fraction_of_peak": "roofline_reason",
    "bound": "roofline_reason",
    "peak_flops_per_s": "roofline_reason",
}  # fmt: skip


@pytest.mark.torch
@pytest.mark.slow
@needs_torch
def test_one_model_through_every_way_fills_every_column(tmp_path):
    """ResNet-18 at 32x32, batch 2, as Keras, torchvision eager and compiled, ONNX Runtime and OpenVINO (latency),
    and the training step (Keras and the torchvision peer): every ok row has each column of
    :data:`ROW_SCHEMA` or the reason it is empty; its MACs are archbench's count (of the training step
    for train rows), the same for every way."""
    from archbench import count, count_training, get_model, runner
    from archbench.runtimes import route_for
    from archbench.runtimes.base import missing_requirement
    from archbench.tasks import TASKS, RunSettings

    runtimes = ("keras", *(r for r in ("onnxruntime", "openvino") if missing_requirement(route_for(r)) is None))
    config = QUICK.replace(device="cpu", max_time_s=1.0)  # batch 2: torch's batch norm trains on 2 values or more
    out = str(tmp_path)
    for task, modes in (("latency", ("eager", "compile")), ("train", ("eager",))):
        settings = RunSettings(input_size=32, batches=(2,), latency=config, runtimes=runtimes,
                               peers=("torchvision",), peer_modes=modes)  # fmt: skip
        runner.run(["resnet18"], [TASKS[task]], settings, out, notify=lambda m: None)
    rows = [r for r in runner.ResultStore(out).rows() if r["task"] in ("latency", "train")]
    ways = {(r["task"], r["result"]["runtime"], r["result"]["mode"].split()[-1]) for r in rows if r["status"] == "ok"}
    assert len(ways) == len(runtimes) + 2 + 2, ways  # latency: runtimes and two peer modes; train: Keras, peer
    model = get_model("resnet18", input_shape=(32, 32, 3))
    macs = {"latency": count(model).macs, "train": count_training(model).macs}
    for r in rows:
        row, where = r["result"], (r["task"], r["result"]["runtime"], r["result"]["mode"])
        assert r["status"] == "ok", (where, r.get("error"))
        empty = [c for c, why in ROW_SCHEMA.items() if row.get(c) is None and not (why and row.get(why))]
        assert not empty, (where, empty)
        assert row["macs"] == macs[r["task"]], where
        if r["task"] == "train":
            assert row["train_macs"] == macs["train"] and row["macs_source"].startswith("archbench count_training of")
