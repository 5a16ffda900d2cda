"""Are archbench's builders as fast as keras.applications for the same architecture?

Pairs (same network, same backend, same harness, batch 1 at 224x224, weights random):
vgg16 / keras VGG16, vgg19 / VGG19, resnet50 / ResNet50, resnet101 / ResNet101, resnet152 / ResNet152.
Each pair's parameter counts are recorded side by side (equal = same architecture). Within a pair both
models are compiled once (``archbench.benchmark.prepare``) and timed in alternating rounds (A B B A ...)
so that load drifting on a shared machine hits both alike. The result, ``ratio_paired``, is the median
over rounds of ours / keras, each pair timed back to back (target <= 1.02); the ratio of the pooled
medians and of the minima stand beside it. Writes ``results/bench_builders.csv``
stating the machine and its load.

    python benchmarks/builders_vs_keras.py                                 # tensorflow, all five pairs
    python benchmarks/builders_vs_keras.py --backends tensorflow,jax --pairs resnet50 --rounds 6
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

from _harness import MachineStamp, child_rows, write_rows  # noqa: E402  (a sibling of this script)

PAIRS = {
    "vgg16": "VGG16",
    "vgg19": "VGG19",
    "resnet50": "ResNet50",
    "resnet101": "ResNet101",
    "resnet152": "ResNet152",
}


def child(pairs: list[str], rounds: int, iterations: int, min_time_s: float, out_path: str) -> None:
    import keras

    import archbench
    from archbench.benchmark import LatencyConfig, prepare

    backend = keras.backend.backend()
    cfg = LatencyConfig(batch_size=1, warmup=2, min_iterations=iterations, min_time_s=min_time_s)
    rows = []
    for name in pairs:
        ours = archbench.get_model(name)
        theirs = getattr(keras.applications, PAIRS[name])(weights=None)
        p_ours, p_theirs = ours.count_params(), theirs.count_params()
        prepared = {"ours": prepare(ours, cfg, name=name), "keras": prepare(theirs, cfg, name=name)}
        for p in prepared.values():
            p.measure()  # compile + warm-up once; the rounds time the compiled functions
        samples: dict[str, list[float]] = {"ours": [], "keras": []}
        medians: dict[str, list[float]] = {"ours": [], "keras": []}
        paths = {}
        for r in range(rounds):
            order = ("ours", "keras") if r % 2 == 0 else ("keras", "ours")
            for who in order:
                res = prepared[who].measure()
                if res.status != "ok":
                    raise SystemExit(f"{name} ({who}): {res.status} {res.message}")
                samples[who] += res.samples_ms
                medians[who].append(res.median_ms)
                paths[who] = res.path
        row = {
            "backend": backend,
            "model": name,
            "keras_application": f"keras.applications.{PAIRS[name]}",
            "params_ours": p_ours,
            "params_keras": p_theirs,
            "path": paths["ours"],
            "rounds": rounds,
            "iterations_ours": len(samples["ours"]),
            "iterations_keras": len(samples["keras"]),
            "ours_median_ms": statistics.median(samples["ours"]),
            "keras_median_ms": statistics.median(samples["keras"]),
            "ratio_paired": statistics.median(
                o / k for o, k in zip(medians["ours"], medians["keras"], strict=True)
            ),
            "ratio_pooled_median": statistics.median(samples["ours"]) / statistics.median(samples["keras"]),
            "ours_min_ms": min(samples["ours"]),
            "keras_min_ms": min(samples["keras"]),
            "ratio_min": min(samples["ours"]) / min(samples["keras"]),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        del ours, theirs, prepared
        keras.utils.clear_session()
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(rows, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow")
    parser.add_argument("--pairs", default=",".join(PAIRS), help=f"from {', '.join(PAIRS)}")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--iterations", type=int, default=5, help="minimum timed iterations per round")
    parser.add_argument("--min-time", type=float, default=1.0, help="minimum measuring time per round, s")
    parser.add_argument("--out", default=os.path.join(ROOT, "results", "bench_builders.csv"))
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    pairs = [p for p in args.pairs.split(",") if p]
    unknown = [p for p in pairs if p not in PAIRS]
    if unknown:
        raise SystemExit(f"unknown pair(s) {unknown}; choose from {', '.join(PAIRS)}")
    if args.child_out:
        child(pairs, args.rounds, args.iterations, args.min_time, args.child_out)
        return

    stamp = MachineStamp("shared machine with other jobs running: compare the ratio, not the absolute times")
    child_args = ["--pairs", ",".join(pairs), "--rounds", str(args.rounds), "--iterations", str(args.iterations),
                  "--min-time", str(args.min_time)]
    rows = [r for backend in args.backends.split(",") if backend for r in child_rows(__file__, backend, child_args)]
    write_rows(rows, stamp.fields(), args.out)


if __name__ == "__main__":
    main()
