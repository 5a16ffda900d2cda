"""What archbench tries for JAX on a GPU beyond its default, and what each try measured.

Each try is ``archbench run`` itself (ResNet-50 v1.5 on the JAX backend, ``--device gpu``) with XLA flags
set for the whole run (XLA reads them when its backend starts; every row records them in
``env_xla_flags``), at batch 1 in float32 and bfloat16 and at batch 256 in bfloat16, into a folder of
its own under ``--out``:

- ``default``: no flags;
- ``command-buffers``: command buffers with convolutions (``--keras-modes command-buffers`` sets the
  same flags for its own processes; see :mod:`archbench.benchmark.targets.keras`);
- ``autotune-4``: ``--xla_gpu_autotune_level=4`` (every cuDNN/cuBLAS algorithm tried and checked);
- ``nhwc``: ``--xla_gpu_force_conv_nhwc=true`` (convolutions in channels-last layout, Keras' own);
- ``command-buffers+autotune-4``.

It writes one line per try and setting to ``--csv`` (the flags, status, median ms, images/s and the
ratio to ``default`` in the same call), so what helps can become archbench's way of running (a
``--keras-modes`` variant). Without a GPU the tries run on the CPU with ``--dry`` settings (ResNet-18 at
64 × 64, short timings): the flags of the GPU backend do nothing there, the rows say ``cpu`` and the
ratios compare nothing but noise; it proves the script runs.

    python benchmarks/gpu_ways.py --out results/gpu-ways             # on the GPU machine
    python benchmarks/gpu_ways.py --dry --out /tmp/gpu-ways          # anywhere
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

CB = "--xla_gpu_enable_command_buffer=+CONVOLUTION --xla_gpu_graph_min_graph_size=1"
TRIES = {
    "default": "",
    "command-buffers": CB,
    "autotune-4": "--xla_gpu_autotune_level=4",
    "nhwc": "--xla_gpu_force_conv_nhwc=true",
    "command-buffers+autotune-4": f"{CB} --xla_gpu_autotune_level=4",
}
SETTINGS = (("float32", "1"), ("mixed_bfloat16", "1"), ("mixed_bfloat16", "256"))
COLUMNS = ["try", "xla_flags", "dtype", "batch_size", "status", "error", "device", "median_ms", "images_per_s",
           "vs_default", "noisy", "folder"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "results", "gpu-ways"))
    parser.add_argument("--csv", default=None, help="default: OUT/ways.csv")
    parser.add_argument("--dry", action="store_true", help="small settings, for a machine without a GPU")
    parser.add_argument("--tries", default=",".join(TRIES), help="comma-separated, from: " + ", ".join(TRIES))
    args = parser.parse_args(argv)
    model, extra = ("resnet18", ["--input-size", "64", "--min-time", "0.05", "--max-time", "0.2"]) if args.dry else (
        "resnet50_v1_5", ["--min-time", "0.5", "--max-time", "2"])
    settings = (("float32", "1"), ("mixed_bfloat16", "1"), ("mixed_bfloat16", "2")) if args.dry else SETTINGS
    rows = []
    for name in [t.strip() for t in args.tries.split(",") if t.strip()]:
        if name not in TRIES:
            print(f"error: unknown try {name!r}; choose from {', '.join(TRIES)}", file=sys.stderr)
            return 2
        folder = os.path.join(args.out, name)
        flags = " ".join(f for f in (os.environ.get("XLA_FLAGS", ""), TRIES[name]) if f)
        env = {**os.environ, "XLA_FLAGS": flags, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        for dtype, batch in settings:
            cmd = [sys.executable, "-m", "archbench.cli", "run", "--models", model, "--tasks", "latency",
                   "--backend", "jax", "--device", "gpu", "--dtype", dtype, "--batch", batch, "--out", folder,
                   "--no-report", *extra]
            t0 = time.perf_counter()
            code = subprocess.call(cmd, env=env, stdout=subprocess.DEVNULL)
            print(f"{name} {dtype} batch {batch}: exit {code} in {time.perf_counter() - t0:.0f} s")
        rows += _rows(name, flags, folder)
    _compare(rows)
    path = args.csv or os.path.join(args.out, "ways.csv")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    for r in rows:
        print(f"{r['try']:<28} {r['dtype']:<15} {r['batch_size']:>4}  {r['status']:<8} "
              f"{r['median_ms'] if r['median_ms'] != '' else '-':>10}  x{r['vs_default'] or '-'}")
    print(f"-> {path}")
    return 0


def _rows(name: str, flags: str, folder: str) -> list[dict]:
    path = os.path.join(folder, "results.csv")
    if not os.path.exists(path):
        return [{"try": name, "xla_flags": flags, "status": "error", "error": "no results.csv", "folder": folder}]
    out = []
    with open(path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r.get("task") != "latency":
                continue
            out.append({"try": name, "xla_flags": flags, "dtype": r.get("dtype"), "batch_size": r.get("batch_size"),
                        "status": r.get("status"), "error": r.get("error", ""), "device": r.get("device"),
                        "median_ms": r.get("median_ms") or "", "images_per_s": r.get("images_per_s") or "",
                        "noisy": r.get("noisy"), "folder": folder})
    return out


def _compare(rows: list[dict]) -> None:
    """``vs_default``: each try's median over the default's, same dtype and batch (below 1: faster)."""
    base = {(r.get("dtype"), r.get("batch_size")): r.get("median_ms") for r in rows if r["try"] == "default"}
    for r in rows:
        ref = base.get((r.get("dtype"), r.get("batch_size")))
        r["vs_default"] = round(float(r["median_ms"]) / float(ref), 3) if ref and r.get("median_ms") else ""
        for column in COLUMNS:
            r.setdefault(column, "")


if __name__ == "__main__":
    sys.exit(main())
