"""What a model costs, counted: the public count API, above the layer walker and the tracer.

As fvcore splits ``jit_handles`` (per-op rules) / ``jit_analysis`` (the walker) / ``flop_count`` (the
API), archbench has the rules and the walker in :mod:`archbench.counting`, the traced program's op
rules and walkers in :mod:`archbench.tracing`, and here the API that chooses between them:

- :func:`count` (``archbench.count``): the inference count of a model, one record
  (:class:`ModelCount`) with ``method`` (walker or traced), ``status`` (``ok`` or ``partial``),
  ``reason``, ``uncounted``, the totals, :meth:`~ModelCount.by_operator` and
  :meth:`~ModelCount.by_layer`.
- :func:`count_training` (``archbench.count_training``): one training step, forward and backward,
  counted from the traced gradient program (:class:`TrainingCount`).
"""

from .choice import ModelCount, count
from .training import LayerTraining, TrainingCount, count_training

__all__ = ["LayerTraining", "ModelCount", "TrainingCount", "count", "count_training"]
