"""GPU latency of the zoo on the JAX backend, with torchvision (eager and torch.compile) as the peer.

Issue 5, item 7. Run on a GPU machine through ``benchmarks/gpu_run.sh`` (which installs Keras from
carried wheels where it is missing). In priority order, until ``--budget-s`` is spent, for each model:

1. archbench's builder on the JAX backend (``archbench.benchmark.measure_in_subprocess``, the default
   path: ``jax.jit``, weights frozen into the program for models with batch norm) at batch 1 in
   float32, and for the ``--sweep-models`` a ``mixed_bfloat16`` sweep over ``--batches``;
2. the same architecture from torchvision, in its own process, eager (``torch.inference_mode``) and
   ``torch.compile`` (default mode), channels-last, cuDNN autotuning on, TF32 allowed (as JAX uses it for
   float32 by default), bfloat16 through ``torch.autocast``; timed by the same
   :func:`archbench.benchmark.time_function` contract with ``torch.cuda.synchronize()`` inside each
   timed region.

Rows go to ``<out-dir>/gpu_<card>.csv`` (one per model, framework, path, dtype and batch) and a summary
is printed: at batch 1 archbench's median over the best peer's; at the largest batch in bf16 the
throughput ratio. Goals from the issue: batch-1 ratio <= 1 for every architecture; batch-256 bf16
throughput >= 1.2 x the best peer (ResNet-50: >= 30k images/s on an H200).

    python benchmarks/gpu_run.py --models resnet50_v1_5 --sweep-models resnet50_v1_5 --batches 1,256
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

# archbench name -> (torchvision builder, its keyword arguments, note on the correspondence)
TORCHVISION = {
    "alexnet": ("alexnet", {}, "torchvision's AlexNet is the one-tower 'weird trick' variant"),
    "alexnet_onetower": ("alexnet", {}, ""),
    "vgg11": ("vgg11", {}, ""),
    "vgg11_bn": ("vgg11_bn", {}, ""),
    "vgg13": ("vgg13", {}, ""),
    "vgg13_bn": ("vgg13_bn", {}, ""),
    "vgg16": ("vgg16", {}, ""),
    "vgg16_bn": ("vgg16_bn", {}, ""),
    "vgg19": ("vgg19", {}, ""),
    "vgg19_bn": ("vgg19_bn", {}, ""),
    "googlenet": (
        "googlenet",
        {"aux_logits": False, "init_weights": False},
        "torchvision's GoogLeNet has BN",
    ),
    "inception_v3": ("inception_v3", {"aux_logits": False, "init_weights": False}, ""),
    "resnet18": ("resnet18", {}, ""),
    "resnet34": ("resnet34", {}, ""),
    "resnet50": (
        "resnet50",
        {},
        "torchvision's ResNet-50 is v1.5 (stride on the 3x3); archbench resnet50 is v1",
    ),
    "resnet50_v1_5": ("resnet50", {}, ""),
    "resnet101": ("resnet101", {}, "torchvision is v1.5"),
    "resnet101_v1_5": ("resnet101", {}, ""),
    "resnet152": ("resnet152", {}, "torchvision is v1.5"),
    "resnet152_v1_5": ("resnet152", {}, ""),
}
DEFAULT_MODELS = "resnet50_v1_5,vgg16,googlenet,inception_v3,alexnet,resnet152_v1_5,resnet18"
COLUMNS = [
    "model", "framework", "peer_model", "path", "dtype", "batch_size", "input_size", "status", "message",
    "median_ms", "p90_ms", "p99_ms", "min_ms", "iqr_ms", "iterations", "images_per_s", "first_call_ms",
    "macs", "gflops_per_s", "mfu", "peak_tflops", "device", "device_name", "versions", "notes",
]  # fmt: skip


def _jax_rows(model: str, dtypes_batches: list[tuple[str, int]], args, timeout_s: float) -> list[dict]:
    from archbench.benchmark import LatencyConfig, measure_in_subprocess

    configs = [
        LatencyConfig(
            backend="jax",
            device="gpu",
            dtype=dtype,
            batch_size=batch,
            warmup=args.warmup,
            warmup_s=args.warmup_s,
            min_iterations=args.iterations,
            min_time_s=args.min_time,
        )
        for dtype, batch in dtypes_batches
    ]
    rows = measure_in_subprocess(model, configs, timeout_s)
    out = []
    for r in rows:
        row = {k: r.get(k) for k in COLUMNS}
        row.update(
            framework="archbench-keras-jax",
            peer_model="",
            versions=f"keras {r.get('keras_version')}, jax {r.get('jax_version')}",
        )
        out.append(row)
    return out


def _peer_child(jobs_path: str, out_path: str, deadline: float, warmup: int, warmup_s: float, iters: int,
                min_time: float) -> None:  # fmt: skip
    """Time torchvision models (runs in its own process; appends JSON lines to ``out_path``)."""
    import torch
    import torchvision

    from archbench.benchmark import LatencyConfig, is_oom, summarize, time_function

    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("high")
    name = torch.cuda.get_device_name(0)
    versions = f"torch {torch.__version__}, torchvision {torchvision.__version__}"
    cfg = LatencyConfig(warmup=warmup, warmup_s=warmup_s, min_iterations=iters, min_time_s=min_time)
    with open(jobs_path, encoding="utf-8") as f:
        jobs = json.load(f)
    with open(out_path, "a", encoding="utf-8") as out:
        for job in jobs:
            builder, kwargs, note = TORCHVISION[job["model"]]
            size, dtype, batch = job["input_size"], job["dtype"], job["batch_size"]
            for path in ("torch eager", "torch.compile"):
                row = {
                    "model": job["model"], "framework": "torchvision", "peer_model": f"torchvision.models.{builder}",
                    "path": path, "dtype": dtype, "batch_size": batch, "input_size": size, "device": "gpu:0",
                    "device_name": name, "versions": versions, "notes": note,
                }  # fmt: skip
                if time.time() > deadline:
                    row.update(status="error", message="skipped: time budget spent")
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                    continue
                try:
                    net = getattr(torchvision.models, builder)(weights=None, **kwargs)
                    net = net.eval().cuda().to(memory_format=torch.channels_last)
                    x = torch.rand(batch, 3, size, size, device="cuda").to(memory_format=torch.channels_last)
                    fn = torch.compile(net) if path == "torch.compile" else net
                    grad_off = torch.no_grad if path == "torch.compile" else torch.inference_mode
                    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype != "float32")

                    def run(fn=fn, x=x, grad_off=grad_off, autocast=autocast):
                        with grad_off(), autocast:
                            return fn(x)

                    timing = time_function(run, cfg, sync=lambda out: torch.cuda.synchronize())
                    samples = [s * 1e3 for s in timing.samples_s]
                    stats = summarize(samples)
                    row.update(
                        status="ok",
                        message="",
                        first_call_ms=timing.first_call_s * 1e3,
                        images_per_s=batch / (stats["median_ms"] / 1e3),
                        **{
                            k: stats[k]
                            for k in ("median_ms", "p90_ms", "p99_ms", "min_ms", "iqr_ms", "iterations")
                        },
                    )
                except Exception as exc:  # recorded in the row; the sweep goes on
                    row.update(
                        status="oom" if is_oom(exc) else "error", message=f"{type(exc).__name__}: {exc}"[:400]
                    )
                finally:
                    net = fn = x = None
                    torch.cuda.empty_cache()
                out.write(json.dumps(row) + "\n")
                out.flush()


def _peer_rows(jobs: list[dict], args, timeout_s: float) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        jobs_path, out_path = os.path.join(tmp, "jobs.json"), os.path.join(tmp, "rows.jsonl")
        with open(jobs_path, "w", encoding="utf-8") as f:
            json.dump(jobs, f)
        cmd = [sys.executable, __file__, "--peer-child", jobs_path, "--peer-out", out_path,
               "--deadline", str(time.time() + timeout_s - 5), "--warmup", str(args.warmup),
               "--warmup-s", str(args.warmup_s), "--iterations", str(args.iterations),
               "--min-time", str(args.min_time)]  # fmt: skip
        try:
            env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")  # keras imports jax there too
            subprocess.run(cmd, check=False, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            print("torchvision child timed out", file=sys.stderr)
        rows = []
        if os.path.exists(out_path):
            with open(out_path, encoding="utf-8") as f:
                rows = [json.loads(line) for line in f if line.strip()]
    return rows


def _summary(rows: list[dict]) -> list[str]:
    ok = [r for r in rows if r.get("status") == "ok"]
    lines = []
    keys = sorted(
        {(r["model"], r["dtype"], int(r["batch_size"])) for r in ok}, key=lambda k: (k[0], k[1], k[2])
    )
    for model, dtype, batch in keys:
        same = [r for r in ok if (r["model"], r["dtype"], int(r["batch_size"])) == (model, dtype, batch)]
        ours = [r for r in same if r["framework"].startswith("archbench")]
        peers = [r for r in same if r["framework"] == "torchvision"]
        if not ours or not peers:
            continue
        best = min(peers, key=lambda r: r["median_ms"])
        o = ours[0]
        lines.append(
            f"{model:16s} {dtype:15s} bs{batch:<4d} archbench {o['median_ms']:8.3f} ms {o['images_per_s']:10.0f} img/s"
            f" | best peer ({best['path']}) {best['median_ms']:8.3f} ms {best['images_per_s']:10.0f} img/s"
            f" | latency ratio {o['median_ms'] / best['median_ms']:.3f}"
            f", throughput ratio {o['images_per_s'] / best['images_per_s']:.3f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help="archbench names, in priority order")
    parser.add_argument("--sweep-models", default="resnet50_v1_5", help="models also swept in mixed_bfloat16")
    parser.add_argument("--batches", default="1,64,256", help="batch sizes of the bf16 sweep")
    parser.add_argument("--budget-s", type=float, default=480.0, help="stop starting new work after this")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--warmup-s", type=float, default=1.0, help="minimum warm-up time (GPU clocks ramp)")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--min-time", type=float, default=2.0)
    parser.add_argument("--no-peers", action="store_true", help="skip torchvision")
    parser.add_argument("--out-dir", default=os.path.join(ROOT, "results"))
    parser.add_argument("--peer-child", help=argparse.SUPPRESS)
    parser.add_argument("--peer-out", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_child:
        _peer_child(args.peer_child, args.peer_out, args.deadline, args.warmup, args.warmup_s, args.iterations,
                    args.min_time)  # fmt: skip
        return

    from archbench.registry import get_spec

    start = time.time()
    models = [m for m in args.models.split(",") if m]
    sweep_models = {m for m in args.sweep_models.split(",") if m}
    batches = [int(b) for b in args.batches.split(",") if b]
    if sweep_models - set(models):
        models += sorted(sweep_models - set(models))
    rows: list[dict] = []
    for model in models:
        left = args.budget_s - (time.time() - start)
        if left < 30:
            print(f"budget spent: skipping {model} and later models", file=sys.stderr)
            break
        size = get_spec(model).input_shape[0]
        work = [("float32", 1)] + ([("mixed_bfloat16", b) for b in batches] if model in sweep_models else [])
        share = left if args.no_peers or model not in TORCHVISION else left * 0.45
        print(f"[{time.time() - start:6.0f} s] {model}: archbench on JAX, {len(work)} configs", flush=True)
        rows += _jax_rows(model, work, args, share)
        if not args.no_peers and model in TORCHVISION:
            left = args.budget_s - (time.time() - start)
            jobs = [{"model": model, "input_size": size, "dtype": d, "batch_size": b} for d, b in work]
            print(f"[{time.time() - start:6.0f} s] {model}: torchvision eager + torch.compile", flush=True)
            rows += _peer_rows(jobs, args, max(left, 30))
    on_gpu = [r for r in rows if str(r.get("device") or "").startswith("gpu") and r.get("device_name")]
    card = on_gpu[0]["device_name"] if on_gpu else "no GPU"
    slug = re.sub(r"[^a-z0-9]+", "_", card.lower()).strip("_")
    if not on_gpu:
        print("warning: nothing ran on a GPU; the rows say cpu", file=sys.stderr)
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, f"gpu_{slug}.csv" if on_gpu else "gpu_run_without_gpu.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow(
                {k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items() if k in COLUMNS}
            )
    print(f"wrote {path} ({len(rows)} rows, card: {card}, {time.time() - start:.0f} s)")
    print("\n".join(_summary(rows)) or "no comparable rows")


if __name__ == "__main__":
    main()
