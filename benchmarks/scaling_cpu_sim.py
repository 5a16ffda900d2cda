"""Data-parallel scaling on a *simulated* multi-device CPU: a correctness check, not a performance figure.

Trains ``lenet5_modern`` on the digits data set (1,438 training images, 22 steps of a global batch of
64 per epoch, 4 epochs) once on one device without any distribution and then data-parallel on 1, 2 and
4 devices, each in its own process: JAX with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``,
TensorFlow with four logical CPUs. The "devices" share the machine's cores, so throughput cannot grow
with them; what the table shows is that the data-parallel path runs at every device count with the
same global batch, the same number of steps and the same loss (``loss_last_epoch``), and what the
simulated all-reduce costs. Timing: every epoch after the first (which compiles), from the end of its
first step to the end of its last, each step synchronised by reading its loss; ``steps_per_s`` over
those steps, ``images_per_s = steps_per_s * global batch``. Writes ``results/scaling_cpu_sim.csv`` stating
the machine, its load and the versions.

    python benchmarks/scaling_cpu_sim.py
    python benchmarks/scaling_cpu_sim.py --backends jax --devices 1,2,4 --batch 64
"""

from __future__ import annotations

import argparse
import json
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

from _harness import MachineStamp, child_rows, write_rows  # noqa: E402  (a sibling of this script)

MODEL = "lenet5_modern"
SIMULATED_DEVICES = 4


def child(devices: int | None, batch: int, epochs: int, out_path: str) -> None:
    """One configuration in this process: ``devices=None`` is a plain single-device run."""
    if os.environ["KERAS_BACKEND"] == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        logical = [tf.config.LogicalDeviceConfiguration()] * SIMULATED_DEVICES
        tf.config.set_logical_device_configuration(cpu, logical)

    import keras

    from archbench import data
    from archbench.distribute import distribution_columns, maybe_scope, strategy_for
    from archbench.evaluate import TrainConfig, _compile, build_for_dataset

    plan = strategy_for("data-parallel", devices=devices) if devices else None
    ds = data.load_dataset("digits", MODEL)
    split = ds.train_split
    n = ds.split(split).size
    config = TrainConfig(epochs=epochs, batch_size=batch, lr_schedule="constant")
    steps = n // batch

    class StepClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends: dict[int, list[float]] = {}
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            float((logs or {})["loss"])  # waits for the step
            self.ends.setdefault(self.epoch, []).append(time.perf_counter())

    with maybe_scope(plan):
        keras.utils.set_random_seed(config.seed)
        model = build_for_dataset(MODEL, ds, training=True)
        _compile(model, config, steps)
        if plan is not None:
            plan.adapt_optimizer(model.optimizer)
        clock = StepClock()
        losses = []
        for epoch in range(epochs):
            if plan is None:
                # the same steps as data-parallel: full batches only
                batches = ds.batches(split, batch, shuffle=True, seed=config.seed, epoch=epoch).take(steps)
            else:
                batches = plan.train_data(ds, split, batch, seed=config.seed, epoch=epoch)
            fit = model.fit(
                batches,
                epochs=epoch + 1,
                initial_epoch=epoch,
                steps_per_epoch=steps,
                verbose=0,
                callbacks=[clock],
                shuffle=False,
            )
            losses.append(float(fit.history["loss"][-1]))
    timed = [clock.ends[e] for e in range(1, epochs)]
    steps_timed = sum(len(ends) - 1 for ends in timed)
    steps_per_s = steps_timed / sum(ends[-1] - ends[0] for ends in timed)
    columns = distribution_columns(plan, batch)
    row = {
        "backend": keras.backend.backend(),
        "model": MODEL,
        "dataset": "digits",
        "n_train": n,
        "distribute": columns["distribute"],
        "devices": columns["replicas"],
        "global_batch_size": batch,
        "per_replica_batch_size": columns["per_replica_batch_size"],
        "steps_per_epoch": steps,
        "epochs": epochs,
        "steps_timed": steps_timed,
        "steps_per_s": steps_per_s,
        "images_per_s": steps_per_s * batch,
        "loss_epoch1": losses[0],
        "loss_last_epoch": losses[-1],
        "engine": columns["distribute_engine"] or "none (one device)",
        "device_names": columns["distribute_devices"] or "cpu:0",
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(row, f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="jax,tensorflow")
    parser.add_argument(
        "--devices", default="1,2,4", help=f"data-parallel device counts (<= {SIMULATED_DEVICES})"
    )
    parser.add_argument("--batch", type=int, default=64, help="global batch size")
    parser.add_argument("--epochs", type=int, default=4, help="the first is not timed (compilation)")
    parser.add_argument("--out", default=os.path.join(ROOT, "results", "scaling_cpu_sim.csv"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2:
        raise SystemExit("--epochs must be >= 2: the first epoch compiles and is not timed")
    if args.child_out:
        child(int(args.child) or None, args.batch, args.epochs, args.child_out)
        return

    stamp = MachineStamp("correctness check on a simulated multi-device CPU, NOT a performance figure")
    xla_flags = f"--xla_force_host_platform_device_count={SIMULATED_DEVICES}"
    rows = []
    for backend in [b for b in args.backends.split(",") if b]:
        extra_env = {"JAX_PLATFORMS": "cpu", **({"XLA_FLAGS": xla_flags} if backend == "jax" else {})}
        for devices in [0] + [int(d) for d in args.devices.split(",") if d]:
            child_args = ["--child", str(devices), "--batch", str(args.batch), "--epochs", str(args.epochs)]
            for row in child_rows(__file__, backend, child_args, extra_env):
                print(json.dumps(row), flush=True)
                rows.append(row)
    simulation = (
        f"{SIMULATED_DEVICES} simulated CPU devices (JAX: XLA_FLAGS={xla_flags}; TensorFlow: "
        f"{SIMULATED_DEVICES} logical CPUs) sharing the physical cores"
    )
    write_rows(rows, stamp.fields(simulation=simulation), args.out, float_format=".6g")


if __name__ == "__main__":
    main()
