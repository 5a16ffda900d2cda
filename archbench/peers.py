"""Peers: the same architecture as torchvision ships it, timed by archbench's timer in its own process.

A latency row of archbench answers "how fast does this network run here"; a reader asks next how that
compares with what PyTorch users get. :func:`peer_rows` answers it for the zoo models that torchvision
also builds (:data:`TORCHVISION_PEERS`, the architectures whose torchvision weights
:mod:`archbench.convert` imports); every other model gets a row saying why it has no counterpart
(:data:`NO_COUNTERPART`), never nothing.

How a peer is timed
-------------------
- One fresh process per (model, mode): ``torch`` is imported first there (TensorFlow imported before
  it crashes the process) and nothing of Keras is imported at all. A crash or a run past ``timeout_s``
  becomes an ``error`` row for that (model, mode) only.
- The network is ``torchvision.models.<builder>(weights=None, ...)`` in ``eval()`` mode; the input is
  one batch of uniform random numbers in [0, 1) of archbench's input size for that model (3 channels),
  generated on the device before timing. Tensors are channels-last (NHWC, Keras' layout), the layout
  oneDNN and cuDNN run fastest; ``memory_format`` in the row says so.
- Modes: ``eager`` runs the module under ``torch.inference_mode()``; ``compile`` runs
  ``torch.compile(module)`` (default mode) under ``inference_mode``; ``reduce-overhead`` runs
  ``torch.compile(module, mode="reduce-overhead")``, which replays CUDA graphs on a GPU (on a CPU
  there are no CUDA graphs and it runs the default compiled code; the row notes it).
- ``dtype``: ``float32``, or ``mixed_bfloat16`` / ``mixed_float16`` (archbench's policy names), which
  run under ``torch.autocast`` with that compute dtype and float32 weights, as Keras' mixed policies.
- The timer is archbench's (:func:`archbench.benchmark.time_function`): the first call (compilation
  included) timed apart, warm-up, a minimum number of iterations *and* of measuring time, then
  sampling until the median's 95 % interval is within ``ci_target`` or the time cap, every sample kept
  and summarised by :func:`archbench.benchmark.summarize`. On a GPU
  ``torch.cuda.synchronize()`` runs inside every timed region; on a CPU PyTorch returns only when
  the result is computed.
- Threads as archbench sets them: with ``threads=n`` the process is pinned to ``n`` cores and
  ``OMP_NUM_THREADS`` set before torch starts, then ``torch.set_num_threads(n)``.
- On a GPU cuDNN's autotuner is on and float32 matmuls and convolutions may use TF32, as JAX does
  by default there (noted in the row). A GPU asked for where torch sees none runs on the CPU and the
  row says ``cpu`` with the note ``gpu requested, none visible: ran on cpu``; the GPU's name is only
  asked of torch when CUDA is available.

Every row repeats its settings: ``framework="torchvision"``, ``framework_version``, ``torch_version``,
``peer_model``, ``mode``, ``path``, ``device`` (``cpu:0 (<CPU model>)`` or ``gpu:0 (<GPU name>)``),
``dtype``, ``batch_size``, ``input_size``, ``threads`` and ``intra_op_threads``, the timer settings, then
``stop_reason``, the statistics of :func:`~archbench.benchmark.summarize`, ``images_per_s``, the
machine's load around the unit and ``noisy`` (as archbench's rows), and the energy of the timed window
(:mod:`archbench.energy`; ``energy_available=False`` with the reason where no counter is readable). ``status`` is ``ok``,
``oom``, ``error`` or ``skipped`` (no counterpart; ``message`` says why).
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .convert import TORCHVISION_MODELS
from .errors import UsageError

__all__ = [
    "DEVICES",
    "DTYPES",
    "FRAMEWORKS",
    "MODES",
    "NO_COUNTERPART",
    "TORCHVISION_PEERS",
    "Peer",
    "default_modes",
    "parse_modes",
    "parse_peers",
    "peer_for",
    "peer_rows",
]

MODES = ("eager", "compile", "reduce-overhead")
FRAMEWORKS = ("torchvision",)
"""The peer frameworks ``archbench run --peers`` knows."""
DEVICES = ("cpu", "gpu", "auto")
DTYPES = {"float32": None, "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
_DTYPE_ALIASES = {
    "fp32": "float32",
    "bfloat16": "mixed_bfloat16",
    "bf16": "mixed_bfloat16",
    "float16": "mixed_float16",
}
_PATHS = {
    "eager": "torch eager (inference_mode)",
    "compile": "torch.compile (inference_mode)",
    "reduce-overhead": "torch.compile(mode=reduce-overhead) (inference_mode)",
}


@dataclass(frozen=True)
class Peer:
    """A torchvision builder that constructs the same network as an archbench model."""

    builder: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def qualified(self) -> str:
        return f"torchvision.models.{self.builder}"


# Inference without auxiliary heads, and no truncated-normal initialisation (seconds per build, and
# irrelevant to timing: random weights either way).
_NO_AUX = {"aux_logits": False, "init_weights": False}
_PEER_NOTES = {
    "alexnet_onetower": "torchvision's AlexNet is the one-tower network of 'One weird trick' (arXiv 1404.5997)",
    "googlenet_bn": "torchvision's GoogLeNet: batch norm, and 3x3 convolutions in the '5x5' branch",
    "inception_v3": "torchvision's average pools count the zero padding, keras' do not (same cost)",
}

#: archbench name -> its torchvision counterpart (the mapping :mod:`archbench.convert` imports weights by).
TORCHVISION_PEERS: dict[str, Peer] = {
    name: Peer(
        builder, _NO_AUX if builder in ("googlenet", "inception_v3") else {}, _PEER_NOTES.get(name, "")
    )
    for name, builder in TORCHVISION_MODELS.items()
}

_V1 = "torchvision's ResNet-{0} is v1.5 (stride 2 in the 3x3 convolution, not the 1x1): its counterpart is resnet{0}_v1_5"

#: archbench name -> why torchvision builds no network equal to it.
NO_COUNTERPART: dict[str, str] = {
    "lenet5": "torchvision has no LeNet-5",
    "lenet5_modern": "torchvision has no LeNet-5",
    "zfnet": "torchvision has no ZFNet",
    "nin": "torchvision has no Network in Network",
    "bn_nin": "torchvision has no Network in Network",
    "alexnet": "torchvision's AlexNet is the one-tower 'One weird trick' network (alexnet_onetower), "
    "not the paper's two towers with LRN",
    "bn_alexnet": "torchvision's AlexNet has no batch norm",
    "inception_v4": "torchvision has no Inception-v4",
    "googlenet": "torchvision's GoogLeNet has batch norm and 3x3 convolutions in the '5x5' branch "
    "(its counterpart is googlenet_bn)",
    "resnet50": _V1.format(50),
    "resnet101": _V1.format(101),
    "resnet152": _V1.format(152),
}


def peer_for(model: str) -> tuple[Peer | None, str]:
    """``(peer, "")`` for a model with a torchvision counterpart, else ``(None, reason)``."""
    if model in TORCHVISION_PEERS:
        return TORCHVISION_PEERS[model], ""
    if model in NO_COUNTERPART:
        return None, NO_COUNTERPART[model]
    if model.startswith("keras/"):
        return None, "a keras.applications wrapper; its archbench builder, where one exists, has the peer"
    return None, "not in archbench's table of torchvision peers"


def default_modes(device: str) -> tuple[str, ...]:
    """``eager`` and ``compile``; on a GPU also ``reduce-overhead`` (CUDA graphs): for ``gpu``, and for
    ``auto`` where the machine has a GPU device node (on a CPU it would time the compiled code twice)."""
    return MODES if device == "gpu" or (device == "auto" and _gpu_node()) else MODES[:2]


def _gpu_node() -> bool:
    """Whether an NVIDIA or AMD GPU device node exists (asked without importing a framework)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")


def parse_modes(value: str | None) -> tuple[str, ...] | None:
    """``"eager,compile"`` -> ``("eager", "compile")``; ``None`` or ``""`` -> ``None`` (the device's
    :func:`default_modes`). An unknown mode raises :class:`UsageError`."""
    names = [n.strip().lower() for n in (value or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in MODES]
    if unknown:
        raise UsageError(f"unknown peer mode {unknown[0]!r}; choose from {', '.join(MODES)}")
    return tuple(dict.fromkeys(names)) or None


def parse_peers(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"torchvision"`` (or a list) -> the peer frameworks, in order, without repeats; ``None``, ``""``
    and ``"none"`` are none. An unknown name raises :class:`UsageError`."""
    names = (value or "").split(",") if isinstance(value, str) or value is None else list(value)
    out: list[str] = []
    for name in (str(n).strip().lower() for n in names):
        if not name or name == "none":
            continue
        if name not in FRAMEWORKS:
            raise UsageError(f"unknown peer {name!r}; choose from {', '.join(FRAMEWORKS)} (or none)")
        if name not in out:
            out.append(name)
    return tuple(out)


def _normalize_dtype(dtype: str) -> str:
    key = _DTYPE_ALIASES.get(dtype.strip().lower(), dtype.strip().lower())
    if key not in DTYPES:
        raise UsageError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return key


def peer_rows(
    models: str | Sequence[str],
    *,
    device: str = "cpu",
    batch: int = 1,
    dtype: str = "float32",
    threads: int | None = None,
    modes: Sequence[str] | None = None,
    input_size: int | None = None,
    warmup: int = 3,
    warmup_s: float = 0.0,
    min_iterations: int = 10,
    min_time_s: float = 1.0,
    max_iterations: int = 10_000,
    ci_target: float = 0.02,
    max_time_s: float | None = None,
    seed: int = 0,
    channels_last: bool = True,
    timeout_s: float = 900.0,
    samples: bool = False,
    on_row: Callable[[dict[str, Any]], Any] | None = None,
    python: str = sys.executable,
) -> list[dict[str, Any]]:
    """Time the torchvision counterpart of each model in each mode, one process per (model, mode).

    ``models`` are archbench names; ``input_size=None`` takes each model's input size from its
    registry spec (archbench's own latency input). ``modes=None`` is :func:`default_modes`. The timer
    settings are :class:`~archbench.benchmark.LatencyConfig`'s (``max_time_s=None``: its default cap).
    Returns
    one row per (model, mode), models first; a model without a counterpart gives one ``skipped``
    row. ``on_row(row)`` sees each row as it is finished.
    """
    from .benchmark import LatencyConfig
    from .benchmark.config import max_time_for
    from .registry import get_spec

    names = [models] if isinstance(models, str) else list(models)
    if device not in DEVICES:
        raise UsageError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    dtype = _normalize_dtype(dtype)
    modes = tuple(default_modes(device) if modes is None else modes)
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise UsageError(f"peer modes must be among {', '.join(MODES)}, got {', '.join(unknown) or 'none'}")
    if threads is not None and threads < 1:
        raise UsageError(f"threads must be at least 1, got {threads}")
    timer = LatencyConfig(
        batch_size=batch,
        input_size=input_size,
        threads=threads,
        warmup=warmup,
        warmup_s=warmup_s,
        min_iterations=min_iterations,
        min_time_s=min_time_s,
        max_iterations=max_iterations,
        ci_target=ci_target,
        max_time_s=max_time_for(min_time_s, max_time_s),
        seed=seed,
    )
    settings = {
        "framework": "torchvision",
        "device_requested": device,
        "dtype": dtype,
        "batch_size": batch,
        "threads": threads,
        **{k: getattr(timer, k) for k in _TIMER_FIELDS},
    }
    missing = next((p for p in ("torch", "torchvision") if importlib.util.find_spec(p) is None), None)
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        if on_row:
            on_row(row)

    for name in names:
        spec = get_spec(name)
        size = timer.input_size or spec.input_shape[0]
        peer, reason = peer_for(spec.name)
        base = {"model": spec.name, **settings, "input_size": size}
        if peer is None:
            message = f"no torchvision counterpart: {reason}"
            emit({**base, "mode": "", "peer_model": "", "status": "skipped", "message": message})
            continue
        for mode in modes:
            job = {
                **base,
                "mode": mode,
                "peer_model": peer.qualified,
                "builder": peer.builder,
                "builder_kwargs": dict(peer.kwargs),
                "peer_note": peer.note,
                "channels_last": channels_last,
                "samples": samples,
            }
            if missing:
                emit(_error_row(job, f"{missing} is not installed (pip install torch torchvision)"))
            else:
                emit(_spawn(job, timeout_s, python))
    return rows


# ``-c`` rather than ``-m``: the module then exists once in the child, not also as __main__.
_CHILD = "import sys; from archbench.peers import _child_main; sys.exit(_child_main(sys.argv[1:]))"
_TIMER_FIELDS = (
    "warmup",
    "warmup_s",
    "min_iterations",
    "min_time_s",
    "max_iterations",
    "ci_target",
    "max_time_s",
    "seed",
)
_JOB_ONLY = ("builder", "builder_kwargs", "channels_last", "samples", "peer_note")


def _error_row(job: Mapping[str, Any], message: str) -> dict[str, Any]:
    row = {k: v for k, v in job.items() if k not in _JOB_ONLY}
    return {**row, "path": _PATHS[job["mode"]], "status": "error", "message": message}


def _spawn(job: Mapping[str, Any], timeout_s: float, python: str) -> dict[str, Any]:
    """Run one (model, mode) in a fresh interpreter; its row, or an error row saying why there is none."""
    with tempfile.TemporaryDirectory(prefix="archbench-peer-") as tmp:
        job_path, out_path = os.path.join(tmp, "job.json"), os.path.join(tmp, "row.json")
        with open(job_path, "w", encoding="utf-8") as f:
            json.dump(job, f)
        try:
            proc = subprocess.run(
                [python, "-c", _CHILD, job_path, out_path],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return _error_row(job, f"timed out after {timeout_s:g} s")
        if os.path.exists(out_path) and os.path.getsize(out_path):
            with open(out_path, encoding="utf-8") as f:
                return json.load(f)
    tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
    return _error_row(job, f"subprocess exited with code {proc.returncode}: {tail}")


def _limit_threads(threads: int | None) -> None:
    """Before torch starts: pin this process to ``threads`` cores and size OpenMP's pool (as archbench)."""
    if threads is None:
        return
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    except (AttributeError, OSError):
        pass


def _child_main(argv: Sequence[str]) -> int:
    """The child's entry: ``job.json out.json``; writes one row (any failure becomes an error row)."""
    job_path, out_path = argv
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    _limit_threads(job["threads"])
    import torch  # before anything that might import TensorFlow

    try:
        row = _measure(job, torch)
    except Exception as exc:
        from .benchmark import is_oom

        row = _error_row(job, f"{type(exc).__name__}: {exc}"[:500])
        row["status"] = "oom" if is_oom(exc) else "error"
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(row, f)
    return 0


def _place(job: Mapping[str, Any], torch: Any, notes: list[str]) -> tuple[Any, str]:
    """The device to run on and its name; the GPU's name is asked only where CUDA is available."""
    from .environment import cpu_model

    cuda = torch.cuda.is_available()
    if job["device_requested"] == "gpu" and not cuda:
        notes.append("gpu requested, none visible: ran on cpu")
    if cuda and job["device_requested"] in ("gpu", "auto"):
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
        notes.append("cuDNN autotuning on; float32 may run as TF32 (as JAX's default)")
        return torch.device("cuda:0"), torch.cuda.get_device_name(0)
    if job["mode"] == "reduce-overhead":
        notes.append(
            "reduce-overhead replays CUDA graphs on a GPU only; on the CPU it is the default compiled code"
        )
    return torch.device("cpu"), cpu_model()


def _inference(job: Mapping[str, Any], torch: Any, where: Any) -> Callable[[], Any]:
    """The zero-argument call that is timed: the network in its mode, on its input, under its dtype."""
    import contextlib

    import torchvision

    fmt = torch.channels_last if job["channels_last"] else torch.contiguous_format
    net = getattr(torchvision.models, job["builder"])(weights=None, **job["builder_kwargs"])
    net = net.eval().to(where, memory_format=fmt)
    size, batch = job["input_size"], job["batch_size"]
    generator = torch.Generator(device=where).manual_seed(job["seed"])
    x = torch.rand((batch, 3, size, size), generator=generator, device=where).contiguous(memory_format=fmt)
    if job["mode"] == "eager":
        call = net
    else:
        call = torch.compile(net, mode="reduce-overhead" if job["mode"] == "reduce-overhead" else None)
    compute = DTYPES[job["dtype"]]

    def autocast() -> Any:
        if compute is None:
            return contextlib.nullcontext()
        return torch.autocast(where.type, dtype=getattr(torch, compute))

    def fn() -> Any:
        with torch.inference_mode(), autocast():
            return call(x)

    return fn


def _measure(job: Mapping[str, Any], torch: Any) -> dict[str, Any]:
    import torchvision

    from .benchmark import LatencyConfig, summarize, time_function
    from .benchmark.load import LoadMonitor
    from .benchmark.result import NOISY_CI_REL
    from .energy import EnergyMeter

    notes = [job["peer_note"]] if job["peer_note"] else []
    if job["threads"] is not None:
        torch.set_num_threads(job["threads"])
    where, name = _place(job, torch, notes)
    on_gpu = where.type == "cuda"
    fn = _inference(job, torch, where)

    def sync(out: Any) -> None:
        if on_gpu:
            torch.cuda.synchronize(where)

    batch = job["batch_size"]
    config = LatencyConfig(batch_size=batch, **{k: job[k] for k in _TIMER_FIELDS})
    meter = EnergyMeter("gpu" if on_gpu else "cpu")
    monitor = LoadMonitor()
    monitor.before()
    timing = time_function(fn, config, sync=sync, window=lambda: meter)
    load = monitor.after()
    samples_ms = [s * 1e3 for s in timing.samples_s]
    stats = summarize(samples_ms)
    noisy = load.busy or stats["ci_rel"] is None or stats["ci_rel"] > NOISY_CI_REL
    row = {k: v for k, v in job.items() if k not in _JOB_ONLY}
    row.update(
        {
            "framework_version": torchvision.__version__,
            "torch_version": torch.__version__,
            "path": _PATHS[job["mode"]],
            "status": "ok",
            "message": "",
            "device": f"{'gpu' if on_gpu else 'cpu'}:0 ({name})",
            "device_type": "gpu" if on_gpu else "cpu",
            "device_name": name,
            "memory_format": "channels_last" if job["channels_last"] else "contiguous",
            "input_shape": f"3x{job['input_size']}x{job['input_size']}",
            "intra_op_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "first_call_ms": timing.first_call_s * 1e3,
            "warmup_iterations": timing.warmup_iterations,
            "measured_s": sum(timing.samples_s),
            "stop_reason": timing.stop_reason,
            **stats,
            "images_per_s": batch / (stats["median_ms"] / 1e3) if stats["median_ms"] else None,
            **load.as_row(),
            "noisy": noisy,
            **meter.reading(images=batch * len(timing.samples_s)).as_row(),
            "notes": "; ".join(notes),
        }
    )
    if job["samples"]:
        row["samples_ms"] = samples_ms
    return row
