"""Data-parallel training and evaluation on many devices and hosts, through the backends' own engines.

archbench implements no collectives: it hands the model to the distribution engine of the active Keras
backend and feeds it sharded input.

- ``jax``: ``keras.distribution.DataParallel``, a 1-D mesh over all local devices (or the first
  ``devices``), variables replicated and the batch axis sharded; XLA inserts the gradient all-reduce.
  Several hosts: one process per host joins through ``keras.distribution.initialize()`` /
  ``jax.distributed.initialize()`` and the mesh spans every process's devices.
- ``tensorflow``: ``tf.distribute.MirroredStrategy`` over the local GPUs (the logical CPUs where there
  is no GPU). Several hosts (``TF_CONFIG``) would need ``MultiWorkerMirroredStrategy``, under which
  Keras 3's ``fit`` fails (keras-team/keras#20585): a :class:`~archbench.errors.UsageError` says so.
- ``torch``: not supported (:class:`~archbench.errors.UsageError`).

:func:`cluster_from_env` reads which multi-host job a process belongs to:

- JAX: ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0) with ``JAX_NUM_PROCESSES`` and
  ``JAX_PROCESS_ID``; or Keras' own ``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
  ``KERAS_DISTRIBUTION_NUM_PROCESSES``, ``KERAS_DISTRIBUTION_PROCESS_ID``; or an ``srun`` step or
  ``mpirun`` job of more than one task (``SLURM_STEP_NUM_TASKS``, ``OMPI_COMM_WORLD_SIZE``), where
  ``jax.distributed`` finds coordinator, process count and index itself (and, on GPUs, gives each task
  the one GPU of its local rank unless ``JAX_LOCAL_DEVICE_IDS`` lists more).
- TensorFlow: ``TF_CONFIG`` (``{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}``).

Semantics. ``batch_size`` is always the *global* batch: one optimizer step consumes ``batch_size``
images, split evenly over the replicas (``per_replica = global / replicas``, which must divide), so a
data-parallel run takes the same steps as a single-device run with the same batch and differs from it
only by the order of floating-point reductions. Each host builds its own input pipeline over a
disjoint part of every global batch (host ``h`` of ``H`` reads the images at positions ``h, h+H, ...``
of the epoch's seeded order, before decoding), so no host decodes another's images. An incomplete last
batch cannot be split evenly across replicas and is dropped: each epoch runs ``n // batch_size`` steps
(the seeded order changes every epoch, so different images are left out each time). With augmentation,
a host's ``i``-th image draws the flip/shift a single host would draw for image ``i``: the same
distribution, not the same draws.

Evaluation is data-parallel too (:meth:`DataParallelPlan.evaluate`): every replica scores its slice of
each batch; the held-out split is padded to a whole number of batches with copies of an image weighted
0, and top-1/top-5 are read as exact counts from the accuracy metrics' totals, summed across replicas
and hosts by the engine, so the result equals :func:`archbench.evaluate.evaluate` on one device (but
for exact ties at the fifth place, which Keras' top-k counts as hits).

Batch normalisation: under JAX the batch statistics are those of the global batch (the mean over the
sharded axis is a global reduction); under ``MirroredStrategy`` each replica normalises with its own
slice's statistics (Keras' ``BatchNormalization(synchronized=True)`` would synchronise them), as in
most multi-GPU ImageNet training since Goyal et al. 2017.

Learning-rate scaling (:func:`scaled_lr`): ``"none"`` uses ``lr`` as given; ``"linear"`` multiplies it
by ``global_batch / base_batch`` (Goyal et al. 2017, "Accurate, Large Minibatch SGD: Training ImageNet
in 1 Hour", arXiv:1706.02677, section 2.1: ``lr = 0.1 * batch / 256``). Both and the resulting rate
are recorded with every training result (:func:`distribution_columns`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import keras_internals
from .errors import UsageError

__all__ = [
    "DISTRIBUTE_KINDS",
    "LR_SCALING_RULES",
    "Cluster",
    "DataParallelPlan",
    "cluster_from_env",
    "distribution_columns",
    "scaled_lr",
    "strategy_for",
]

DISTRIBUTE_KINDS = ("data-parallel",)
LR_SCALING_RULES = ("none", "linear")
BACKENDS = ("jax", "tensorflow")


# --------------------------------------------------------------------------------------- learning rate


def scaled_lr(lr: float, rule: str, global_batch: int, base_batch: int) -> float:
    """The learning rate a run uses: ``lr`` (``"none"``) or ``lr * global_batch / base_batch`` (``"linear"``)."""
    if rule not in LR_SCALING_RULES:
        raise UsageError(f"unknown lr scaling rule {rule!r}; choose from {', '.join(LR_SCALING_RULES)}")
    if global_batch < 1 or base_batch < 1:
        raise UsageError("batch sizes must be positive")
    return float(lr) * global_batch / base_batch if rule == "linear" else float(lr)


# --------------------------------------------------------------------------------------- cluster


@dataclass(frozen=True)
class Cluster:
    """How this process joins a multi-host job, as the environment describes it.

    ``source`` names the variables read; ``num_hosts``/``host_index`` are ``None`` where the engine
    detects them itself (Slurm, Open MPI under JAX).
    """

    source: str
    num_hosts: int | None = None
    host_index: int | None = None
    coordinator: str | None = None


def _int_env(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{name} must be an integer, got {value!r}") from None


def _checked(cluster: Cluster) -> Cluster | None:
    n, i = cluster.num_hosts, cluster.host_index
    if n is not None and n < 1:
        raise UsageError(f"{cluster.source}: the number of processes must be >= 1, got {n}")
    if n is not None and i is not None and not 0 <= i < n:
        raise UsageError(f"{cluster.source}: process index {i} is not in 0..{n - 1}")
    return None if n == 1 else cluster


def cluster_from_env(backend: str, environ: Mapping[str, str] | None = None) -> Cluster | None:
    """The multi-host setup the environment asks for on ``backend``, or ``None`` for one host.

    Reads nothing but ``environ`` (default ``os.environ``); see the module docstring for the variables.
    A one-process "cluster" (``JAX_NUM_PROCESSES=1``, a ``TF_CONFIG`` with one worker) is ``None``.
    """
    env = os.environ if environ is None else environ
    if backend == "tensorflow":
        raw = env.get("TF_CONFIG")
        if not raw:
            return None
        try:
            config = json.loads(raw)
            cluster = config["cluster"]
            task = config.get("task", {})
            workers = list(cluster.get("chief", [])) + list(cluster.get("worker", []))
            kind = task.get("type", "worker")
            index = int(task.get("index", 0)) + (len(cluster.get("chief", [])) if kind == "worker" else 0)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UsageError(f"TF_CONFIG is not a valid cluster description: {exc}") from None
        return _checked(Cluster("TF_CONFIG", len(workers), index, workers[0] if workers else None))
    if backend != "jax":
        return None
    if env.get("JAX_NUM_PROCESSES") or env.get("JAX_PROCESS_ID"):
        if not env.get("JAX_COORDINATOR_ADDRESS"):
            raise UsageError(
                "JAX_NUM_PROCESSES/JAX_PROCESS_ID need JAX_COORDINATOR_ADDRESS (host:port of process 0)"
            )
        n, i = _int_env(env, "JAX_NUM_PROCESSES"), _int_env(env, "JAX_PROCESS_ID")
        if n is None or i is None:
            raise UsageError("set both JAX_NUM_PROCESSES and JAX_PROCESS_ID (or neither)")
        return _checked(Cluster("JAX_COORDINATOR_ADDRESS", n, i, env["JAX_COORDINATOR_ADDRESS"]))
    if any(k.startswith("KERAS_DISTRIBUTION_") for k in env):
        n = _int_env(env, "KERAS_DISTRIBUTION_NUM_PROCESSES")
        i = _int_env(env, "KERAS_DISTRIBUTION_PROCESS_ID")
        address = env.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
        return _checked(Cluster("KERAS_DISTRIBUTION_*", n, i, address.split(",")[0] if address else None))
    for source, size_var, rank_var in (
        # the step's task count: inside an sbatch script but outside srun it is 1 (or unset)
        ("SLURM", "SLURM_STEP_NUM_TASKS", "SLURM_PROCID"),
        ("OMPI", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
    ):
        n = _int_env(env, size_var)
        if n is not None and n > 1:
            return _checked(Cluster(source, n, _int_env(env, rank_var)))
    return None


# --------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class DataParallelPlan:
    """A data-parallel setup: which engine, how many replicas on how many hosts, and this host's place.

    ``strategy`` is the engine object (a ``keras.distribution.DataParallel`` or a ``tf.distribute``
    strategy); build, compile, train and evaluate inside :meth:`scope`. ``devices`` are this host's.
    """

    backend: str
    replicas: int
    local_replicas: int
    num_hosts: int
    host_index: int
    devices: tuple[str, ...]
    engine: str
    cluster: Cluster | None = None
    strategy: Any = field(default=None, repr=False, compare=False)
    kind: str = "data-parallel"

    @property
    def is_chief(self) -> bool:
        """Whether this host writes files that all hosts would otherwise write (host 0)."""
        return self.host_index == 0

    def scope(self):
        """The context in which variables are created and models trained/evaluated."""
        return self.strategy.scope()

    def per_replica_batch(self, global_batch: int) -> int:
        """``global_batch / replicas``; a :class:`UsageError` when it does not divide evenly."""
        if global_batch < 1:
            raise UsageError(f"batch size must be positive, got {global_batch}")
        if global_batch % self.replicas:
            raise UsageError(
                f"global batch size {global_batch} is not divisible by the {self.replicas} replicas; "
                f"use a multiple of {self.replicas} (e.g. {self.replicas * max(1, global_batch // self.replicas)})"
            )
        return global_batch // self.replicas

    def steps_per_epoch(self, n_images: int, global_batch: int) -> int:
        """Full global batches in ``n_images`` (the incomplete last one is dropped)."""
        self.per_replica_batch(global_batch)
        steps = n_images // global_batch
        if steps < 1:
            raise UsageError(
                f"{n_images} training images make no full global batch of {global_batch}; lower --batch-size"
            )
        return steps

    def adapt_optimizer(self, optimizer):
        """Make gradient clipping act on the global gradient, as on one device; returns ``optimizer``.

        Under ``tf.distribute`` Keras clips each replica's share of the gradient *before* the
        all-reduce, so ``global_clipnorm`` caps ``R`` partial norms instead of one. With clipping on,
        this instance's clipping step (a Keras internal, replaced through
        :func:`archbench.keras_internals.set_clipping_step` and pinned by tests/test_distribute.py)
        all-reduces first, clips the sum and hands each replica ``1/R`` of it, which the optimizer's
        own all-reduce sums back: one extra all-reduce per step, only when clipping. JAX computes
        the global gradient before clipping already.
        """
        clipping = optimizer.clipnorm or optimizer.global_clipnorm or optimizer.clipvalue
        if self.backend != "tensorflow" or self.replicas == 1 or not clipping:
            return optimizer
        import tensorflow as tf

        clip = keras_internals.clipping_step(optimizer)

        def clip_global(grads):
            context = tf.distribute.get_replica_context()
            if context is None or context.num_replicas_in_sync == 1:
                return clip(grads)
            total = context.all_reduce(tf.distribute.ReduceOp.SUM, list(grads))
            share = 1.0 / context.num_replicas_in_sync
            return [None if g is None else g * share for g in clip(total)]

        keras_internals.set_clipping_step(optimizer, clip_global)
        return optimizer

    def columns(self, global_batch: int) -> dict[str, Any]:
        """The row columns describing this setup for one global batch size."""
        return distribution_columns(self, global_batch)

    # ----------------------------------------------------------------------------------- input

    def _host_view(self, dataset, split: str, host: int, hosts: int, pad_to: int | None = None):
        """``dataset`` whose ``split`` streams only positions ``host, host+hosts, ...`` (then padding)."""
        part = dataset.split(split)
        if hosts == 1 and pad_to is None:
            return dataset

        def make(index: np.ndarray):
            local = np.asarray(index)[host::hosts]
            if pad_to is not None and len(local) < pad_to:
                local = np.concatenate([local, np.repeat(np.asarray(index)[:1], pad_to - len(local))])
            return part.make(local)

        splits = {**dataset.splits, part.name: dataclasses.replace(part, make=make)}
        return dataclasses.replace(dataset, splits=splits)

    def train_data(
        self,
        dataset,
        split: str,
        global_batch: int,
        *,
        seed: int = 0,
        epoch: int = 0,
        augment: tuple[str, ...] = (),
        targets: int = 1,
    ):
        """One epoch of training input for ``model.fit``, sharded for this host and its replicas.

        ``targets > 1`` repeats the labels for a multi-output model (auxiliary classifiers).
        """
        import tensorflow as tf

        n = dataset.split(split).size
        steps = self.steps_per_epoch(n, global_batch)
        per_replica = self.per_replica_batch(global_batch)

        def repeat_labels(ds):
            return ds.map(lambda x, y: (x, tuple([y] * targets))) if targets > 1 else ds

        if self.backend == "jax":
            view = self._host_view(dataset, split, self.host_index, self.num_hosts)
            local = per_replica * self.local_replicas
            ds = view.batches(split, local, shuffle=True, seed=seed, epoch=epoch, augment=augment)
            return repeat_labels(ds.take(steps))

        def per_worker(ctx: tf.distribute.InputContext):
            view = self._host_view(dataset, split, ctx.input_pipeline_id, ctx.num_input_pipelines)
            b = ctx.get_per_replica_batch_size(global_batch)
            local_replicas = ctx.num_replicas_in_sync // ctx.num_input_pipelines
            ds = view.batches(split, b, shuffle=True, seed=seed, epoch=epoch, augment=augment)
            return repeat_labels(ds.take(steps * local_replicas))

        return self.strategy.distribute_datasets_from_function(per_worker)

    # ----------------------------------------------------------------------------------- evaluate

    def evaluate(self, model, dataset, *, split: str | None = None, batch_size: int = 128) -> dict[str, Any]:
        """Top-1/top-5 (percent) of ``model`` on one split, every replica scoring part of each batch.

        Returns the same dict as :func:`archbench.evaluate.evaluate`. ``batch_size`` is rounded up to a
        multiple of the replicas; padding images are weighted 0 and do not count.
        """
        import tensorflow as tf

        part = dataset.split(split)
        n = part.size
        if n == 0:
            raise UsageError(f"split {part.name!r} of {dataset.name!r} is empty")
        per_replica = max(1, math.ceil(batch_size / self.replicas))
        local = per_replica * self.local_replicas
        per_host = math.ceil(math.ceil(n / self.num_hosts) / local) * local
        k = 5 if dataset.num_classes > 5 else None
        scorer, metrics = _eval_model(model, self, k)
        if scorer.output_shape[-1] <= int(part.labels.max(initial=0)):
            raise UsageError(
                f"{model.name} has {scorer.output_shape[-1]} outputs but {dataset.name!r} has "
                f"{dataset.num_classes} classes"
            )

        def host_input(host: int, hosts: int, batch: int):
            view = self._host_view(dataset, part.name, host, hosts, pad_to=per_host)
            real = len(range(host, n, hosts))
            weights = np.r_[np.ones(real, np.float32), np.zeros(per_host - real, np.float32)]
            images = view.batches(part.name, batch)
            w = tf.data.Dataset.from_tensor_slices(weights).batch(batch)
            return tf.data.Dataset.zip((images, w)).map(lambda xy, w: (xy[0], xy[1], w))

        if self.backend == "jax":
            data = host_input(self.host_index, self.num_hosts, local)
        else:
            data = self.strategy.distribute_datasets_from_function(
                lambda ctx: host_input(ctx.input_pipeline_id, ctx.num_input_pipelines, per_replica)
            )
        with self.scope():
            scorer.evaluate(data, verbose=0)
        counts = [_total_and_count(m) for m in metrics]
        correct1, seen = counts[0]
        if seen != n:
            raise RuntimeError(f"data-parallel evaluation scored {seen} images of {n}")
        correct5 = counts[1][0] if k else None
        return {
            "split": part.name,
            "n": n,
            "top1": 100.0 * correct1 / n,
            "top5": 100.0 * correct5 / n if k else None,
            "correct_top1": correct1,
            "correct_top5": correct5,
        }


_EVAL_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _eval_model(model, plan: DataParallelPlan, k: int | None):
    """A model sharing ``model``'s layers that scores its first output with exact accuracy counters."""
    key = (plan, k)
    cached = _EVAL_MODELS.get(model, {}).get(key)
    if cached is not None:
        return cached
    import keras

    with plan.scope():
        outputs = model.outputs if isinstance(model.outputs, list | tuple) else [model.outputs]
        # a second model over the same layers: compiling it leaves ``model``'s optimizer untouched
        scorer = keras.Model(model.inputs, outputs[0], name=f"{model.name}_eval")
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="top1")]
        if k:
            metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=k, name="top5"))
        # the loss is never read; TensorFlow's evaluate wants one
        scorer.compile(
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), weighted_metrics=list(metrics)
        )
    _EVAL_MODELS.setdefault(model, {})[key] = (scorer, metrics)
    return scorer, metrics


def _total_and_count(metric) -> tuple[int, int]:
    """Exact integers from a mean metric's ``total`` and ``count`` (float32 holds them up to 2**24)."""
    total, count = (float(v.numpy()) for v in metric.variables[:2])
    return int(round(total)), int(round(count))


# --------------------------------------------------------------------------------------- engines


def _jax_initialize(cluster: Cluster) -> None:
    import jax
    import keras

    # anything that touches devices (even jax.process_count) would initialise a one-process backend
    if jax.distributed.is_initialized():
        return
    if cluster.source == "JAX_COORDINATOR_ADDRESS":
        keras.distribution.initialize(cluster.coordinator, cluster.num_hosts, cluster.host_index)
    else:
        # Keras reads KERAS_DISTRIBUTION_*; with none set, jax.distributed detects Slurm / Open MPI
        keras.distribution.initialize()


def _jax_plan(devices: int | None, cluster: Cluster | None) -> DataParallelPlan:
    if cluster is not None:
        _jax_initialize(cluster)
    import jax
    import keras

    local = jax.local_devices()
    n_local = len(local) if devices is None else devices
    if n_local > len(local):
        raise UsageError(
            f"--devices {devices}: this host has only {len(local)} JAX devices ({local[0].platform})"
        )
    chosen = []
    by_process: dict[int, list] = {}
    for d in jax.devices():
        by_process.setdefault(d.process_index, []).append(d)
    for process in sorted(by_process):
        chosen.extend(by_process[process][:n_local])
    names = [f"{d.platform}:{d.id}" for d in chosen]
    distribution = keras.distribution.DataParallel(devices=names, auto_shard_dataset=False)
    mine = tuple(f"{d.platform}:{d.id}" for d in local[:n_local])
    return DataParallelPlan(
        backend="jax",
        replicas=len(chosen),
        local_replicas=n_local,
        num_hosts=jax.process_count(),
        host_index=jax.process_index(),
        devices=mine,
        engine="keras.distribution.DataParallel",
        cluster=cluster,
        strategy=distribution,
    )


def _tf_plan(devices: int | None, cluster: Cluster | None) -> DataParallelPlan:
    import tensorflow as tf

    if cluster is not None:
        # tf.distribute.MultiWorkerMirroredStrategy itself starts, but Keras 3's TensorFlow trainer
        # cannot fit under it: its first step reduces a nested data batch across workers and fails
        # ("Attempt to convert a value (PerReplica...)"), and its multi-worker log reduction takes a
        # mean over axis 0 of scalars (keras-team/keras#20585, tensorflow/tensorflow#72388; seen with
        # Keras 3.15 / TensorFlow 2.21)
        raise UsageError(
            f"{cluster.source} asks for {cluster.num_hosts} TensorFlow workers, but Keras 3 cannot train "
            "under tf.distribute.MultiWorkerMirroredStrategy (keras-team/keras#20585); run multi-host "
            "jobs with KERAS_BACKEND=jax (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID), "
            "or unset TF_CONFIG to train on this host's devices with MirroredStrategy"
        )
    available = _tf_local_devices()
    n = len(available) if devices is None else devices
    if n > len(available):
        kind = available[0].device_type if available else "CPU"
        raise UsageError(f"--devices {devices}: TensorFlow sees only {len(available)} {kind} devices")
    chosen = available[:n]
    strategy = tf.distribute.MirroredStrategy(devices=[d.name for d in chosen])
    return DataParallelPlan(
        backend="tensorflow",
        replicas=strategy.num_replicas_in_sync,
        local_replicas=strategy.num_replicas_in_sync,
        num_hosts=1,
        host_index=0,
        devices=tuple(f"{d.device_type.lower()}:{i}" for i, d in enumerate(chosen)),
        engine="tf.distribute.MirroredStrategy",
        cluster=None,
        strategy=strategy,
    )


def _tf_local_devices():
    """The local logical GPUs, or the logical CPUs where there is no GPU."""
    import tensorflow as tf

    return tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")


def strategy_for(kind: str, backend: str | None = None, *, devices: int | None = None) -> DataParallelPlan:
    """The data-parallel plan for ``kind`` on ``backend`` (default: the active Keras backend).

    ``devices`` limits each host to its first N devices (default: all). A multi-host JAX job is joined
    as :func:`cluster_from_env` describes, through ``jax.distributed.initialize``, which must come
    before any JAX computation: call this first. Plans are cached: the same arguments return the same
    plan, so the engine is set up once per process.
    """
    if kind not in DISTRIBUTE_KINDS:
        raise UsageError(f"unknown distribution {kind!r}; choose from {', '.join(DISTRIBUTE_KINDS)}")
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise UsageError(
            f"--distribute {kind} is not supported on the {backend} backend; "
            "use KERAS_BACKEND=jax (keras.distribution) or tensorflow (tf.distribute)"
        )
    if devices is not None and devices < 1:
        raise UsageError(f"devices must be >= 1, got {devices}")
    return _cached_plan(kind, backend, devices)


@functools.cache
def _cached_plan(kind: str, backend: str, devices: int | None) -> DataParallelPlan:
    import keras

    if keras.backend.backend() != backend:
        raise UsageError(
            f"the active Keras backend is {keras.backend.backend()!r}, not {backend!r}; set KERAS_BACKEND={backend}"
        )
    cluster = cluster_from_env(backend)
    return _jax_plan(devices, cluster) if backend == "jax" else _tf_plan(devices, cluster)


def distribution_columns(plan: DataParallelPlan | None, global_batch: int) -> dict[str, Any]:
    """Columns recorded with a training result: how the global batch was spread (one device: ``none``)."""
    if plan is None:
        return {
            "distribute": "none",
            "replicas": 1,
            "hosts": 1,
            "global_batch_size": global_batch,
            "per_replica_batch_size": global_batch,
            "distribute_engine": None,
            "distribute_devices": None,
        }
    return {
        "distribute": plan.kind,
        "replicas": plan.replicas,
        "hosts": plan.num_hosts,
        "global_batch_size": global_batch,
        "per_replica_batch_size": plan.per_replica_batch(global_batch),
        "distribute_engine": plan.engine,
        "distribute_devices": ",".join(plan.devices)
        + (f" (x{plan.num_hosts} hosts)" if plan.num_hosts > 1 else ""),
    }


@contextlib.contextmanager
def maybe_scope(plan: DataParallelPlan | None):
    """``plan.scope()``, or nothing when ``plan`` is ``None``."""
    if plan is None:
        yield
    else:
        with plan.scope():
            yield
