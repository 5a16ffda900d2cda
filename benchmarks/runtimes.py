"""archbench's fastest way to run each model against torchvision's best, measured in one run.

The CPU goal of issue 14: at batch 1 in float32, for every zoo model with a torchvision counterpart,
archbench's fastest runtime (the Keras model on its backend, or the model exported to ONNX Runtime,
OpenVINO or LiteRT and checked against Keras on random inputs) takes at most half the time of
torchvision's best mode (eager or ``torch.compile``), with its outputs within the tolerance.

The measurement is ``archbench run`` itself, one call (``--runtime ... --peers torchvision``, every
unit in a process of its own) into ``--out``, which a rerun resumes. The ratios are read back from its
``results.csv``: per model, device, dtype and batch size, the fastest ``ok`` archbench row (a row
whose outputs differ from Keras beyond the tolerance is ``failed``, never a candidate), the fastest
``ok`` torchvision row, and

- ``ratio``: archbench's median over torchvision's best median (goal: at most ``--goal``, 0.5);
- ``vs_compile``: archbench's median over torch.compile's (default mode);
- ``throughput_ratio``: archbench's images/s over the best peer's (the GPU goal at batch 256).

Each ratio row repeats the machine (CPU model and cores, the device), the highest 1-minute load
average seen around the two timings, whether either was ``noisy`` and the versions, and goes to
``--csv``. Models without a counterpart have no ratio (their ``skipped`` rows say why).

    python benchmarks/runtimes.py                          # the representative subset below, on the CPU
    python benchmarks/runtimes.py --models peers           # every zoo model with a torchvision counterpart
    python benchmarks/runtimes.py --summarize DIR --csv DIR/ratios.csv   # ratios of an existing run

The default subset: resnet50_v1_5, vgg16, googlenet_bn, resnet18, alexnet_onetower (the three
networks of the issue's table, the smallest ResNet and the one-tower AlexNet).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

SUBSET = "resnet50_v1_5,vgg16,googlenet_bn,resnet18,alexnet_onetower"
COLUMNS = [
    "model", "device", "dtype", "batch_size", "archbench_fastest", "archbench_ms", "archbench_ci_ms",
    "max_abs_diff", "tolerance", "keras_default_ms", "torchvision_best", "torchvision_ms", "torch_compile_ms",
    "ratio", "goal", "met", "vs_compile", "throughput_ratio", "noisy", "ways_measured", "machine",
    "load_max", "measured_from", "measured_to", "versions",
]  # fmt: skip


def measure(args: argparse.Namespace) -> int:
    """``archbench run`` with the runtimes and the torchvision peer; its exit code (1: some unit failed)."""
    from archbench.peers import TORCHVISION_PEERS

    models = ",".join(TORCHVISION_PEERS) if args.models == "peers" else args.models
    cmd = [
        sys.executable, "-m", "archbench.cli", "run", "--models", models, "--tasks", "latency",
        "--backend", args.backend, "--runtime", args.runtimes, "--peers", "torchvision",
        "--peer-modes", args.peer_modes, "--device", args.device, "--batch", args.batch, "--dtype", "float32",
        "--min-time", str(args.min_time), "--out", args.out, "--no-report",
    ]  # fmt: skip
    if args.timeout:
        cmd += ["--timeout", str(args.timeout)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    print("$ " + " ".join(cmd[1:]), flush=True)
    return subprocess.run(cmd, env=env, check=False).returncode


def _first(values) -> str:
    values = [str(v) for v in values if str(v) not in ("", "nan", "None")]
    return values[0] if values else ""


def _number(value) -> float | str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if number != number else number


def ratios(results_dir: str, goal: float) -> list[dict]:
    """One row per model, device, dtype and batch size that has both an archbench and a peer timing."""
    import pandas as pd

    from archbench.analysis import latency_table, load_results
    from archbench.analysis.tables import ci_text

    lat = latency_table(load_results(results_dir))
    # JAX and torch may spell one GPU's name differently: timings are paired by the device's kind.
    kind = lat["device_type"].fillna(lat["device"]) if "device_type" in lat.columns else lat["device"]
    lat = lat.assign(kind=kind.astype(str))
    out = []
    for (model, _, dtype, batch), g in lat.groupby(["model", "kind", "dtype", "batch_size"], sort=True):
        own, peers = g[g["framework"] == "archbench"], g[g["framework"] != "archbench"]
        if own.empty or peers.empty:
            continue
        best, peer = own.loc[own["median_ms"].idxmin()], peers.loc[peers["median_ms"].idxmin()]
        variant = own["variant"].fillna("default") if "variant" in own else pd.Series("default", index=own.index)
        default = own[(own["runtime"] == "keras") & (variant == "default")]["median_ms"]
        compiled = peers[peers["mode"] == "compile"]["median_ms"]
        pair = pd.DataFrame([best, peer])
        loads = [pd.to_numeric(pair[c], errors="coerce") for c in ("load_before", "load_after") if c in pair]
        load = pd.concat(loads).max() if loads else float("nan")
        stamps = sorted(str(t) for t in g["timestamp"].dropna()) if "timestamp" in g else []
        cpu, cores = _first(g.get("env_cpu_model", [])) or "?", _first(g.get("env_cpu_count", []))
        versions = [f"keras {_first(g.get('env_keras_version', []))}"]
        versions += sorted({str(v) for v in g.get("runtime_version", pd.Series(dtype=str)).dropna()})
        versions += [f"torchvision {v}" for v in sorted({str(v) for v in peers.get("framework_version", []) if str(v) != "nan"})]
        ratio = float(best["median_ms"] / peer["median_ms"])
        out.append({
            "model": model, "device": " / ".join(dict.fromkeys(pair["device"].astype(str))), "dtype": dtype,
            "batch_size": int(batch), "archbench_fastest": best["stack"], "archbench_ms": float(best["median_ms"]),
            "archbench_ci_ms": ci_text(best["ci_low_ms"], best["ci_high_ms"]),
            "max_abs_diff": _number(best.get("max_abs_diff")), "tolerance": _number(best.get("tolerance")),
            "keras_default_ms": float(default.min()) if len(default) else "",
            "torchvision_best": peer["stack"], "torchvision_ms": float(peer["median_ms"]),
            "torch_compile_ms": float(compiled.min()) if len(compiled) else "",
            "ratio": ratio, "goal": goal, "met": ratio <= goal,
            "vs_compile": float(best["median_ms"] / compiled.min()) if len(compiled) else "",
            "throughput_ratio": float(best["images_per_s"] / peer["images_per_s"]),
            "noisy": bool(pair["noisy"].any()), "ways_measured": int(g["setting"].nunique()),
            "machine": f"{cpu}, {cores} logical cores" if cores else cpu,
            "load_max": round(float(load), 2) if load == load else "",
            "measured_from": stamps[0] if stamps else "", "measured_to": stamps[-1] if stamps else "",
            "versions": "; ".join(versions),
        })  # fmt: skip
    return out


def write(rows: list[dict], path: str) -> None:
    import csv

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()})
    print(f"wrote {path}")


def show(rows: list[dict]) -> None:
    for r in rows:
        flag = "  (noisy)" if r["noisy"] else ""
        compile_part = f", vs torch.compile {r['vs_compile']:.2f}" if r["vs_compile"] != "" else ""
        print(
            f"{r['model']:17s} {r['dtype']:14s} bs{r['batch_size']:<4d} archbench {r['archbench_fastest']} "
            f"{r['archbench_ms']:.3f} ms | {r['torchvision_best']} {r['torchvision_ms']:.3f} ms | "
            f"ratio {r['ratio']:.2f} (goal <= {r['goal']:g}: {'met' if r['met'] else 'not met'}){compile_part}, "
            f"throughput x{r['throughput_ratio']:.2f}{flag}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=SUBSET, help="archbench names, or 'peers' (every model with a counterpart)")
    parser.add_argument("--runtimes", default="keras,onnxruntime,openvino,litert")
    parser.add_argument("--backend", default="tensorflow", help="Keras backends of the keras runtime")
    parser.add_argument("--peer-modes", default="eager,compile")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", default="1")
    parser.add_argument("--min-time", type=float, default=1.0, help="minimum measuring time per timing, s")
    parser.add_argument("--timeout", type=float, default=None, help="limit per measurement, s")
    parser.add_argument("--out", default=os.path.join(ROOT, "results", "runtimes_cpu"), help="results folder")
    parser.add_argument("--csv", default=None, help="ratios file [default: <out>.csv]")
    parser.add_argument("--goal", type=float, default=0.5, help="largest acceptable ratio")
    parser.add_argument("--summarize", metavar="DIR", help="only read the ratios of an existing results folder")
    args = parser.parse_args()
    folder = args.summarize or args.out
    code = 0 if args.summarize else measure(args)
    if code not in (0, 1):
        raise SystemExit(code)
    rows = ratios(folder, args.goal)
    if not rows:
        raise SystemExit(f"{folder}: no model has both an archbench and a torchvision timing")
    show(rows)
    write(rows, args.csv or folder.rstrip(os.sep) + ".csv")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
