"""Per-unit overhead of a latency sweep, per way of running a model.

A latency unit's wall time (``elapsed_s`` in the log: from the unit's start in the sweep to its row)
is its compilation (the first call, ``first_call_ms``), its timing (the timer's warm-up calls,
``warmup_ms``, and its timed samples, ``measured_s``) and everything else: starting the measuring process, building the model, warm-up calls, counting,
stamping memory, load and energy, reading the row back. That rest is the **overhead**::

    overhead_s = elapsed_s - first_call_ms / 1000 - warmup_ms / 1000 - measured_s

(an exported runtime's export and conversion stages are reported apart, in ``export_s``, and not
counted as overhead). The script runs ``archbench run --tasks latency`` itself (or reads a results
folder with ``--summarize``) and prints, per way (``framework / runtime / mode``), the units, the median,
90th percentile and largest overhead, with the median wall time, and writes them to ``--csv``.

    python benchmarks/unit_overhead.py                                 # the zoo, Keras on TensorFlow
    python benchmarks/unit_overhead.py --models resnet18,vgg11 --runtime keras,onnxruntime --peers torchvision
    python benchmarks/unit_overhead.py --isolation fresh               # a fresh interpreter per unit
    python benchmarks/unit_overhead.py --summarize results/latest      # an existing run
    python benchmarks/unit_overhead.py --summarize DRY --project "jax+eager,compile:resnet50_v1_5:1" ...

``--project`` (repeatable: ``WAYS:MODELS:BATCHES``, ways ``jax``, ``jax-cb`` (command buffers) and torchvision
modes, joined by ``+`` or ``,``) projects the wall time of another call of the same steps from this folder's per-unit figures:
per unit, the way's median overhead and first call here, plus ``--project-min-time`` of timing. A model
without a torchvision counterpart costs its peer units nothing (they are ``skipped`` rows). The GPU
call's CPU dry run prints this for the real call: an estimate from CPU figures (a GPU compiles and
runs at other speeds), stated as such.

The goal (:file:`README.md`): a median overhead of at most 1 s per unit on the 2-core CPU machine for
``archbench run --models all --tasks latency``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COLUMNS = ["way", "units", "median_overhead_s", "p90_overhead_s", "max_overhead_s", "median_elapsed_s",
           "median_first_call_s", "median_measured_s", "median_export_s", "isolation", "load_max", "machine"]


def overheads(folder: str) -> list[dict]:
    """One dict per ``ok`` latency row of the folder's log (superseded rows included: each was a unit)."""
    out = []
    with open(os.path.join(folder, "results.jsonl"), encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            result = row.get("result") or {}
            if row.get("task") != "latency" or row.get("status") != "ok" or result.get("median_ms") is None:
                continue
            first = (result.get("first_call_ms") or 0.0) / 1e3
            measured = (result.get("measured_s") or 0.0) + (result.get("warmup_ms") or 0.0) / 1e3
            export = result.get("export_s") or 0.0
            way = " / ".join(str(result.get(k) or "") for k in ("framework", "runtime", "mode"))
            env = row.get("env") or {}
            out.append({
                "way": way, "elapsed_s": row["elapsed_s"], "first_call_s": first, "measured_s": measured,
                "export_s": export, "overhead_s": row["elapsed_s"] - first - measured - export,
                "isolation": result.get("isolation") or "", "load": max(result.get("load_before") or 0,
                                                                          result.get("load_after") or 0),
                "machine": f"{env.get('cpu_model')} x{env.get('cpu_count')}",
            })  # fmt: skip
    return out


def summarize(units: list[dict]) -> list[dict]:
    rows = []
    for way in sorted({u["way"] for u in units}):
        mine = [u for u in units if u["way"] == way]
        over = sorted(u["overhead_s"] for u in mine)

        def med(key: str, mine: list[dict] = mine) -> float:
            return round(statistics.median(u[key] for u in mine), 3)

        rows.append({
            "way": way, "units": len(mine), "median_overhead_s": round(statistics.median(over), 3),
            "p90_overhead_s": round(over[min(len(over) - 1, int(0.9 * len(over)))], 3),
            "max_overhead_s": round(over[-1], 3), "median_elapsed_s": med("elapsed_s"),
            "median_first_call_s": med("first_call_s"), "median_measured_s": med("measured_s"),
            "median_export_s": med("export_s"), "isolation": mine[0]["isolation"],
            "load_max": round(max(u["load"] for u in mine), 2), "machine": mine[0]["machine"],
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="all")
    parser.add_argument("--backend", default="tensorflow")
    parser.add_argument("--runtime", default="keras")
    parser.add_argument("--peers", default="none")
    parser.add_argument("--min-time", default="1.0", help="--min-time of the run (default: the run's own)")
    parser.add_argument("--isolation", default="fork", choices=("fork", "fresh"))
    parser.add_argument("--out", default=None, help="results folder of the run (default: a temporary one)")
    parser.add_argument("--summarize", default=None, help="read this results folder instead of running")
    parser.add_argument("--csv", default=os.path.join(ROOT, "results", "unit_overhead.csv"))
    parser.add_argument("--project", action="append", default=[], help="WAYS:MODELS:BATCHES of a call to project")
    parser.add_argument("--project-min-time", type=float, default=0.5)
    args = parser.parse_args(argv)
    folder = args.summarize
    if folder is None:
        folder = args.out or tempfile.mkdtemp(prefix="archbench-overhead-")
        cmd = [sys.executable, "-m", "archbench.cli", "run", "--models", args.models, "--tasks", "latency",
               "--backend", args.backend, "--runtime", args.runtime, "--peers", args.peers,
               "--min-time", args.min_time, "--isolation", args.isolation, "--out", folder, "--no-report"]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
        t0 = time.perf_counter()
        code = subprocess.call(cmd, env=env, stdout=subprocess.DEVNULL)
        print(f"{' '.join(cmd[2:])}: exit {code}, {time.perf_counter() - t0:.0f} s in all")
    rows = summarize(overheads(folder))
    if not rows:
        print(f"no ok latency rows in {folder}", file=sys.stderr)
        return 1
    width = max(len(r["way"]) for r in rows)
    print(f"{'way':<{width}}  units  median  p90    max    (overhead s)  median wall  isolation")
    for r in rows:
        print(f"{r['way']:<{width}}  {r['units']:>5}  {r['median_overhead_s']:>6.2f}  {r['p90_overhead_s']:>5.2f}  "
              f"{r['max_overhead_s']:>5.2f}                {r['median_elapsed_s']:>8.2f} s  {r['isolation']}")
    os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
    with open(args.csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"-> {args.csv}")
    if args.project:
        print(project(rows, args.project, args.project_min_time))
    return 0


def project(rows: list[dict], steps: list[str], min_time: float) -> str:
    """The projected wall time of the steps (see the module docstring), one line."""
    sys.path.insert(0, ROOT)
    from archbench.peers import peer_for

    per_way = {r["way"].split(" / ")[-1]: r["median_overhead_s"] + r["median_first_call_s"] for r in rows}
    archbench_ways = {"jax": "jax jit", "jax-cb": "jax jit (command-buffers)"}
    units, seconds, unknown, stand_in = 0, 0.0, set(), set()
    for step in steps:
        ways, models, batches = step.split(":")
        for way in ways.replace("+", ",").split(","):
            key = archbench_ways.get(way, way)
            if key not in per_way and way == "jax-cb" and "jax jit" in per_way:
                key = "jax jit"  # skipped on a CPU: plain jit's figures stand in
                stand_in.add(way)
            for model in models.split(","):
                if way not in archbench_ways and peer_for(model)[0] is None:
                    continue
                n = len(batches.split(","))
                units += n
                if key not in per_way:
                    unknown.add(way)
                    continue
                seconds += n * (per_way[key] + min_time)
    missing = f"; no figure here for {', '.join(sorted(unknown))} (not counted)" if unknown else ""
    missing += f"; {', '.join(sorted(stand_in))} taken as plain jit (not measured here)" if stand_in else ""
    return (f"projected time of the real call: {units} units, about {seconds / 60:.1f} min (per unit: this "
            f"run's median overhead + first call of its way + {min_time:g} s of timing; CPU figures, an estimate){missing}")


if __name__ == "__main__":
    sys.exit(main())
