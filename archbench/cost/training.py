"""One training step, counted: the multiply-adds of the forward and backward passes per sample, read
from the traced gradient program, and the optimizer update's operations.

Conventions (besides those of :mod:`archbench.counting` and :mod:`archbench.tracing`):

- **A training step** is the one :mod:`archbench.step` defines and ``archbench run --tasks train``
  times: the forward pass in training mode, the loss (by default sparse categorical cross-entropy on
  integer labels), the gradients of the loss **with respect to the trainable weights**, none with
  respect to the input image, and the optimizer's update of the weights (by default SGD with
  momentum). Its program is traced, not assumed: on JAX the jaxpr of ``jax.value_and_grad`` of the
  loss, on TensorFlow the graph of the ``tf.GradientTape``'s gradient (see
  :mod:`archbench.tracing._training`).
- ``forward_macs`` are the multiply-adds of the forward operations, ``backward_macs`` those of the
  gradient's, per sample (traced at batch 1); ``macs = forward_macs + backward_macs``. In the backward
  pass each weight layer computes its weight gradient (as many multiply-adds as its forward pass:
  each forward product has one counterpart) and, unless nothing before it has weights (the first
  layer on the input), its input gradient (as many again). An input gradient of a convolution is a
  transposed convolution: counted at its useful multiply-adds (every output-gradient element through
  the kernel), not at the zeros a strided convolution's gradient inserts. For a network without batch
  norm this makes ``macs = 3 x forward - (the first layers' forward)``: the "3x" rule of thumb, less
  the input gradient nobody computes. Dropout adds no multiply-adds (its random mask is drawn at no
  cost by rule; applying it is element-wise). A kernel assembled from fewer weights (LeNet-5's C3
  connection table) has its input gradient counted at the structural non-zeros, as its forward pass,
  but its weight gradient as computed: the gradient of the whole dense kernel, whose unconnected
  entries are then dropped when the gather's gradient (a segment sum, one add per element) sums it
  into the weights.
- ``forward_ops`` and ``backward_ops`` are the other operations per sample, by category.
- ``optimizer_ops`` are the operations of one update of all weights, **per step** (it runs once per
  batch, so it is not divided by the batch): plain SGD is ``w - lr * g``, two per weight, plus the
  few scalar operations of the step counter and learning rate; with momentum, more.
- ``status`` is ``ok`` when every operation was counted; a ``partial`` count keeps its figures (what
  was counted) and lists the rest in ``uncounted``.
- ``ratio`` is ``macs / forward_macs``, to set beside the rule of thumb of 3.
- Shown anywhere (``results.csv``, ``archbench summary --training``, the report), ``macs``,
  ``forward_macs``, ``backward_macs`` and ``ratio`` are the columns ``train_macs``,
  ``train_forward_macs``, ``train_backward_macs`` and ``train_mac_ratio`` (:data:`COLUMNS`), with
  ``train_count`` (:data:`STATUS_COLUMN`) beside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import step as train_step
from ..counting.records import CountStatus
from ..params import ParamCounts
from ..tracing import TracedCount, split_scope, trace_training

__all__ = ["COLUMNS", "STATUS_COLUMN", "LayerTraining", "TrainingCount", "count_training"]

RULE_OF_THUMB = 3
COLUMNS = ("train_macs", "train_forward_macs", "train_backward_macs", "train_mac_ratio")
"""The names of the training step's four figures wherever they are shown: per-sample MACs of the step
(forward + backward), of the forward pass, of the backward pass, and ``train_macs / train_forward_macs``."""
STATUS_COLUMN = "train_count"
"""The column beside them that says whether the count is ``ok`` or ``partial`` (and what it left out)."""


class _ForwardBackward:
    forward_macs: int
    backward_macs: int

    @property
    def macs(self) -> int:
        """Multiply-adds of one sample's training step: forward plus backward."""
        return self.forward_macs + self.backward_macs

    @property
    def ratio(self) -> float | None:
        """``macs / forward_macs`` (the rule of thumb says 3); None without forward multiply-adds."""
        return self.macs / self.forward_macs if self.forward_macs else None

    def columns(self) -> dict[str, Any]:
        """The four figures under their column names (:data:`COLUMNS`), as ``results.csv``,
        ``archbench summary --training`` and the report name them."""
        return dict(zip(COLUMNS, (self.macs, self.forward_macs, self.backward_macs, self.ratio), strict=True))


@dataclass(frozen=True)
class LayerTraining(_ForwardBackward):
    """One layer's (name scope's) multiply-adds in a training step, per sample."""

    name: str
    forward_macs: int
    backward_macs: int


@dataclass(frozen=True)
class TrainingCount(_ForwardBackward, CountStatus):
    """What :func:`count_training` counted (see the module docstring for the conventions); ``status``
    is ``ok`` when every operation of the step and of the update was counted, else ``partial``."""

    model_name: str
    backend: str
    input_shapes: tuple[tuple[int, ...], ...]
    loss: str
    optimizer: str
    forward_macs: int
    backward_macs: int
    forward_ops: Mapping[str, int]
    backward_ops: Mapping[str, int]
    optimizer_ops: Mapping[str, int]
    params: ParamCounts
    layers: tuple[LayerTraining, ...]
    uncounted: tuple[str, ...] = ()

    def rows(self) -> list[dict[str, Any]]:
        """The per-layer table: name and the four figures (:data:`COLUMNS`) of each layer."""
        return [{"name": r.name, **r.columns()} for r in self.layers]

    def describe(self) -> str:
        """The :data:`STATUS_COLUMN` text: ``ok (backend)``, or ``partial (backend)`` and what was left out."""
        if self.complete:
            return f"ok ({self.backend})"
        return f"partial ({self.backend}): not counted: {'; '.join(self.uncounted)}"

    def totals(self) -> dict[str, Any]:
        """The model-level figures as a flat, JSON-friendly dict."""
        return {
            "input_shape": ";".join("x".join(str(d) for d in s) for s in self.input_shapes),
            "backend": self.backend,
            "loss": self.loss,
            "optimizer": self.optimizer,
            **self.columns(),
            "train_flops": self.flops,
            "forward_ops": sum(self.forward_ops.values()),
            "backward_ops": sum(self.backward_ops.values()),
            "optimizer_ops": sum(self.optimizer_ops.values()),
            "params_trainable": self.params.trainable,
            "status": self.status,
            STATUS_COLUMN: self.describe(),
            "uncounted": ";".join(self.uncounted),
        }


def _name(value: Any, default: str) -> str:
    if value is None:
        return default
    return value if isinstance(value, str) else type(value).__name__


def _split(step: TracedCount) -> tuple[dict[str, dict[str, int]], list[LayerTraining]]:
    """Per-sample MACs and other operations by phase, and MACs by layer and phase."""
    ops: dict[str, dict[str, int]] = {"forward": {}, "backward": {}}
    macs: dict[str, dict[str, int]] = {}
    for r in step.ops:
        if not r.per_sample:
            continue
        phase, layer = split_scope(r.scope)
        if r.ops:
            ops[phase][r.category] = ops[phase].get(r.category, 0) + r.ops
        if r.macs:
            macs.setdefault(layer, {"forward": 0, "backward": 0})[phase] += r.macs
    forward = sorted((name for name, m in macs.items() if m["forward"]), key=len, reverse=True)
    layers: dict[str, dict[str, int]] = {}
    for name, m in macs.items():
        # a gradient op's scope names the forward op it differentiates (TF: ``layer/convolution``)
        owner = next((f for f in forward if name == f or name.startswith(f + "/")), name)
        merged = layers.setdefault(owner, {"forward": 0, "backward": 0})
        merged["forward"] += m["forward"]
        merged["backward"] += m["backward"]
    rows = [LayerTraining(name, m["forward"], m["backward"]) for name, m in layers.items()]
    return {k: dict(sorted(v.items())) for k, v in ops.items()}, rows


def count_training(
    model: Any,
    optimizer: Any = None,
    input_shape: Any = None,
    *,
    loss: Any = None,
    dtype: str = "float32",
) -> TrainingCount:
    """Count one training step of ``model`` per sample: ``forward_macs``, ``backward_macs``, ``macs``
    (their sum), the other operations of each pass and the optimizer update's operations per step.

    ``optimizer`` and ``loss`` are anything ``keras.optimizers.get`` / ``keras.losses.get`` accept
    (``"sgd"``, ``"adam"``, an instance); None: the timed step's (:mod:`archbench.step`: SGD with
    momentum, sparse categorical cross-entropy). ``input_shape`` (per sample) is needed for a model without
    inputs of its own (subclassed) or built with ``None`` sizes. Runs on the active backend (JAX or
    TensorFlow); nothing is computed and the model is not changed. A step with an operation that has
    no rule is ``partial``, with what is missing in ``uncounted``.
    """
    step, update = trace_training(model, input_shape, loss=loss, optimizer=optimizer, dtype=dtype)
    ops, layers = _split(step)
    forward = sum(r.forward_macs for r in layers)
    backward = sum(r.backward_macs for r in layers)
    return TrainingCount(
        model_name=model.name,
        backend=step.backend,
        input_shapes=step.input_shapes,
        loss=_name(loss, train_step.LOSS),
        optimizer=_name(optimizer, train_step.OPTIMIZER),
        forward_macs=forward,
        backward_macs=backward,
        forward_ops=ops["forward"],
        backward_ops=ops["backward"],
        optimizer_ops={**update.static, **update.ops_other},
        params=step.params,
        layers=tuple(layers),
        uncounted=step.uncounted + update.uncounted,
    )
