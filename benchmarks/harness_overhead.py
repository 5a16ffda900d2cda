"""Does the harness add time? archbench's reported median vs a hand-written best-practice loop.

For each backend (one process each, as Keras fixes its backend at import) and model, at batch 1:

- *ours*: ``archbench.benchmark.prepare(model, config).measure()`` (what ``measure`` reports), compiled
  once and timed every round;
- *hand*: the loop an expert would write for the same compiled program (same path: XLA or not, frozen
  weights or not) in the same process: TF ``f = tf.function(lambda x: model(x, training=False))`` then
  ``t0 = perf_counter(); f(x).numpy(); t1 = perf_counter()``; JAX ``jax.jit`` of ``stateless_call``,
  then ``block_until_ready``.

Each round lasts at least ``--rounds-s`` seconds and ``--iterations`` calls. Rounds alternate (ours,
hand, hand, ours, ...) so drifting load on a shared machine hits both alike. The result,
``ratio_paired``, is the median over rounds of ours / hand, each pair timed back to back (target: within
3 %); the ratios of the pooled medians and of the minima stand beside it. Writes
``results/bench_harness.csv`` with the machine, the load average before and after, and the versions.

    python benchmarks/harness_overhead.py                        # tensorflow,jax; resnet50, lenet5_modern
    python benchmarks/harness_overhead.py --backends jax --rounds 12 --rounds-s 1.0
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

from _harness import MachineStamp, child_rows, write_rows  # noqa: E402  (a sibling of this script)


def _hand_loop(model, backend: str, shape: tuple[int, ...], *, jit: bool, freeze: bool):
    """The hand-written best-practice timing loop, on the path archbench chose: ``run(n) -> seconds``."""
    if backend == "tensorflow":
        import tensorflow as tf

        f = tf.function(lambda x: model(x, training=False), jit_compile=jit)
        x = tf.random.uniform(shape)

        def run(n: int, seconds: float = 0.0) -> list[float]:
            out: list[float] = []
            start = time.perf_counter()
            while len(out) < n or time.perf_counter() - start < seconds:
                t0 = time.perf_counter()
                f(x).numpy()
                out.append(time.perf_counter() - t0)
            return out

    elif backend == "jax":
        import jax

        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        if freeze:
            f = jax.jit(lambda x: model.stateless_call(tv, ntv, x, training=False)[0])
        else:
            g = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])

            def f(x):
                return g(tv, ntv, x)

        x = jax.random.uniform(jax.random.key(0), shape)

        def run(n: int, seconds: float = 0.0) -> list[float]:
            out: list[float] = []
            start = time.perf_counter()
            while len(out) < n or time.perf_counter() - start < seconds:
                t0 = time.perf_counter()
                f(x).block_until_ready()
                out.append(time.perf_counter() - t0)
            return out

    else:
        raise SystemExit(f"no hand-written loop for backend {backend}")
    run(4)  # compile + warm-up, like the harness's first call and warm-up
    return run


def child(models: list[str], rounds: int, iterations: int, round_s: float, out_path: str) -> None:
    import keras

    import archbench
    from archbench.benchmark import LatencyConfig, prepare

    backend = keras.backend.backend()
    cfg = LatencyConfig(batch_size=1, warmup=3, min_iterations=iterations, min_time_s=round_s)
    rows = []
    for name in models:
        model = archbench.get_model(name)
        shape = (1, *model.input_shape[1:])
        ours = prepare(model, cfg, name=name)
        ours.measure()  # compile + warm-up once; every round below times the compiled function
        hand = _hand_loop(model, backend, shape, jit=ours.config.jit, freeze=ours.config.freeze_weights)
        ours_s: list[float] = []
        hand_s: list[float] = []
        ours_med, hand_med = [], []
        path = ""
        for r in range(rounds):
            order = ("ours", "hand") if r % 2 == 0 else ("hand", "ours")
            for who in order:
                if who == "ours":
                    res = ours.measure()
                    path = res.path
                    samples = [s / 1e3 for s in res.samples_ms]
                    ours_s += samples
                    ours_med.append(statistics.median(samples))
                else:
                    samples = hand(iterations, round_s)
                    hand_s += samples
                    hand_med.append(statistics.median(samples))
        rows.append(
            {
                "backend": backend,
                "model": name,
                "batch_size": 1,
                "path": path,
                "rounds": rounds,
                "min_iterations_per_round": iterations,
                "min_round_s": round_s,
                "iterations_ours": len(ours_s),
                "iterations_hand": len(hand_s),
                "ours_median_ms": statistics.median(ours_s) * 1e3,
                "hand_median_ms": statistics.median(hand_s) * 1e3,
                "ratio_paired": statistics.median(o / h for o, h in zip(ours_med, hand_med, strict=True)),
                "ratio_pooled_median": statistics.median(ours_s) / statistics.median(hand_s),
                "ours_min_ms": min(ours_s) * 1e3,
                "hand_min_ms": min(hand_s) * 1e3,
                "ratio_min": min(ours_s) / min(hand_s),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        del model
        keras.utils.clear_session()
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(rows, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--models", default="resnet50,lenet5_modern")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--rounds-s", type=float, default=0.5, help="minimum time of each round, s")
    parser.add_argument("--iterations", type=int, default=10, help="minimum iterations of each round")
    parser.add_argument("--out", default=os.path.join(ROOT, "results", "bench_harness.csv"))
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    if args.child_out:
        child(models, args.rounds, args.iterations, args.rounds_s, args.child_out)
        return

    stamp = MachineStamp("shared machine with other jobs running: compare the ratio, not the absolute times")
    child_args = ["--models", ",".join(models), "--rounds", str(args.rounds), "--iterations", str(args.iterations),
                  "--rounds-s", str(args.rounds_s)]
    rows = [r for backend in args.backends.split(",") if backend for r in child_rows(__file__, backend, child_args)]
    write_rows(rows, stamp.fields(), args.out)


if __name__ == "__main__":
    main()
