"""What swapping the convolution or the pooling does to a small network: params, MACs, CPU latency.

A fixed VGG-style network on 32 x 32 x 3 inputs (CIFAR-sized), three stages of two 3 x 3 convolutions
(32, 64, 128 filters, ReLU) each followed by a 2 x 2 pooling, then global average pooling and a
10-way dense layer. One thing is swapped at a time:

- ``conv``: every 3 x 3 convolution except the stem (3 input channels cannot be split into groups)
  becomes standard, depthwise-separable, grouped (4 groups), spatially separable (3x1 then 1x3),
  deformable (v1), sparse (50 % of the kernel pruned by magnitude) or dilated (rate 2);
- ``pool``: every pooling becomes max, average, L2 (Lp, p = 2), stochastic, fractional max (ratio
  sqrt(2), Graham 2014: the maps shrink more slowly, so the later stages cost more), generalised
  (mixed max-average with a learned weight) or a 3 x 3 stride-2 convolution ("strided conv", the
  all-convolutional net of Springenberg et al., ICLR 2015 workshop).

Params are ``archbench.params.count_params(model).paper``; MACs per image come from
``archbench.counting.count`` (a sparse kernel counts only its non-zeros, although the dense kernel is
what runs, so its latency does not drop). Latency is ``archbench.benchmark.measure``: a compiled
``tf.function`` (no XLA) on the CPU, random input, first call and warm-up excluded, ``time.perf_counter``
around call + ``.numpy()``, median of ``--iterations`` calls. Those calls are split into ``--rounds``
rounds that visit all variants in turn (A B C ... A B C ...), so load drifting on a shared machine hits
every variant alike; the samples of all rounds are pooled. Each row repeats the device, backend,
versions, threads, batch size and the 1-minute load average. Stochastic and fractional pooling run in inference mode
(probability-weighted average; the fixed fractional sequence).

    python benchmarks/variants.py [--out results/variants.csv] [--batch 1] [--iterations 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STAGES = ((32, 32), (64, 64), (128, 128))
INPUT_SHAPE = (32, 32, 3)
CLASSES = 10
COLUMNS = [
    "swap", "variant", "layer", "params", "macs", "ops_other", "final_map", "median_ms", "p90_ms", "min_ms",
    "iterations", "rounds", "warmup_iterations", "first_call_ms", "batch_size", "input_shape", "path",
    "backend", "device", "keras_version", "tensorflow_version", "numpy_version", "python_version",
    "cpu_count", "intra_op_threads", "tf_enable_onednn_opts", "loadavg_1m", "measured_at",
]  # fmt: skip


def conv_factories():
    """``variant -> (description, factory(filters, name) -> layer)`` for the swapped convolutions."""
    import keras

    from archbench.layers import DeformableConv2D, SparseConv2D, SpatiallySeparableConv2D

    L = keras.layers
    kw = dict(padding="same", activation="relu")
    return {
        "standard": ("Conv2D 3x3", lambda f, n: L.Conv2D(f, 3, name=n, **kw)),
        "depthwise-separable": ("SeparableConv2D 3x3", lambda f, n: L.SeparableConv2D(f, 3, name=n, **kw)),
        "grouped": ("Conv2D 3x3, 4 groups", lambda f, n: L.Conv2D(f, 3, groups=4, name=n, **kw)),
        "spatially-separable": ("3x1 then 1x3", lambda f, n: SpatiallySeparableConv2D(f, 3, name=n, **kw)),
        "deformable": ("DeformableConv2D 3x3", lambda f, n: DeformableConv2D(f, 3, name=n, **kw)),
        "sparse": (
            "SparseConv2D 3x3, 50% zeros",
            lambda f, n: SparseConv2D(f, 3, sparsity=0.5, name=n, **kw),
        ),
        "dilated": ("Conv2D 3x3, dilation 2", lambda f, n: L.Conv2D(f, 3, dilation_rate=2, name=n, **kw)),
    }


def pool_factories():
    """``variant -> (description, factory(channels, name) -> layer)`` for the swapped poolings."""
    import keras

    from archbench.layers import (
        FractionalMaxPooling2D,
        GeneralizedPooling2D,
        LpPooling2D,
        StochasticPooling2D,
    )

    L = keras.layers
    return {
        "max": ("MaxPooling2D 2", lambda c, n: L.MaxPooling2D(2, name=n)),
        "avg": ("AveragePooling2D 2", lambda c, n: L.AveragePooling2D(2, name=n)),
        "lp": ("LpPooling2D 2, p=2", lambda c, n: LpPooling2D(2, p=2, name=n)),
        "stochastic": ("StochasticPooling2D 2", lambda c, n: StochasticPooling2D(2, seed=0, name=n)),
        "fractional": ("FractionalMaxPooling2D sqrt(2)",
                       lambda c, n: FractionalMaxPooling2D(math.sqrt(2), seed=0, name=n)),
        "generalized": ("GeneralizedPooling2D 2, learned alpha",
                        lambda c, n: GeneralizedPooling2D(2, trainable_alpha=True, name=n)),
        "strided-conv": ("Conv2D 3x3 stride 2", lambda c, n: L.Conv2D(c, 3, strides=2, padding="same",
                                                                       activation="relu", name=n)),
    }  # fmt: skip


def build(conv=None, pool=None, name="vgg_small"):
    """The network with ``conv(filters, name)`` and ``pool(channels, name)`` factories (defaults: standard, max)."""
    import keras

    conv = conv or conv_factories()["standard"][1]
    pool = pool or pool_factories()["max"][1]
    inputs = keras.Input(INPUT_SHAPE, name="image")
    x = keras.layers.Conv2D(STAGES[0][0], 3, padding="same", activation="relu", name="stem")(inputs)
    for s, widths in enumerate(STAGES, 1):
        for b, filters in enumerate(widths, 1):
            if (s, b) != (1, 1):
                x = conv(filters, f"stage{s}_conv{b}")(x)
        x = pool(widths[-1], f"stage{s}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(CLASSES, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def count_variant(swap, variant, description, model):
    """The counted columns of one variant (MACs per image)."""
    from archbench.counting import count
    from archbench.params import count_params

    complexity = count(model)
    if complexity.uncounted:
        raise RuntimeError(f"{variant}: uncounted layers {complexity.uncounted}")
    final = model.get_layer("gap").input.shape[1:3]
    return dict(
        swap=swap,
        variant=variant,
        layer=description,
        params=count_params(model).paper,
        macs=complexity.macs,
        ops_other=complexity.ops_other_total,
        final_map=f"{final[0]}x{final[1]}",
    )


def time_round(model, name, config, macs):
    from archbench.benchmark import measure

    result = measure(model, config, name=name, macs=macs)
    if result.status != "ok":
        raise RuntimeError(f"{name}: {result.status} {result.message}")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "results", "variants.csv"))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=30, help="timed calls per variant, all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=None, help="comma-separated variant names (default: all)")
    args = parser.parse_args(argv)

    import keras

    from archbench.benchmark import LatencyConfig, summarize
    from archbench.environment import environment

    if keras.backend.backend() != "tensorflow":
        parser.error("this benchmark times a tf.function: run it with KERAS_BACKEND=tensorflow")
    if args.batch < 1 or args.rounds < 1 or args.iterations < args.rounds:
        parser.error("--batch and --rounds must be positive and --iterations at least --rounds")
    per_round = math.ceil(args.iterations / args.rounds)
    config = LatencyConfig(
        device="cpu",
        jit=False,
        batch_size=args.batch,
        warmup=3,
        warmup_s=0.0,
        min_iterations=per_round,
        max_iterations=per_round,
        min_time_s=0.0,
    )
    only = set(args.only.split(",")) if args.only else None
    plan = [("conv", v, d, dict(conv=f)) for v, (d, f) in conv_factories().items()]
    plan += [("pool", v, d, dict(pool=f)) for v, (d, f) in pool_factories().items()]
    plan = [p for p in plan if not only or p[1] in only]
    models, rows = [], []
    for swap, variant, description, kwargs in plan:
        keras.utils.set_random_seed(0)
        model = build(name=f"vgg_small_{swap}_{variant}".replace("-", "_"), **kwargs)
        models.append(model)
        rows.append(count_variant(swap, variant, description, model))
    results = [[] for _ in plan]
    for _ in range(args.rounds):
        for i, (model, row) in enumerate(zip(models, rows, strict=True)):
            results[i].append(time_round(model, f"{row['swap']}:{row['variant']}", config, row["macs"]))
    env = environment()
    env["loadavg_1m"] = round(os.getloadavg()[0], 2)
    for row, rounds in zip(rows, results, strict=True):
        first = rounds[0].as_row()
        stats = summarize([s for r in rounds for s in r.samples_ms])
        row.update(
            {
                k: first[k]
                for k in (
                    "first_call_ms",
                    "warmup_iterations",
                    "batch_size",
                    "input_shape",
                    "path",
                    "backend",
                    "device",
                )
            }
        )
        row.update({k: stats[k] for k in ("median_ms", "p90_ms", "min_ms", "iterations")})
        row.update(rounds=args.rounds, measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        row.update({k: env.get(k) for k in COLUMNS if k not in row})
        print(
            f"{row['swap']:5s} {row['variant']:20s} params {row['params']:>9,}  MACs {row['macs']:>12,}  "
            f"median {row['median_ms']:7.2f} ms  final map {row['final_map']}",
            flush=True,
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
