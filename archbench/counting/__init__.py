"""Analytic operation counts for Keras 3 models: MACs, other operations, depth, receptive field, memory.

Conventions (the numbers are per sample, i.e. for one image, whatever the batch size):

- **1 MAD = 1 MAC = one multiply-add.** ``macs`` counts the multiply-adds of convolutions (all
  kinds), dense and einsum-dense layers and matrix products (``Dot``) only: the convention of papers
  ("3.8 x 10^9 multiply-adds" for ResNet-50) and of torchvision's tables. ``flops = 2 * macs``; a
  figure labelled FLOPs that equals our MACs was counted in multiply-adds.
- A convolution costs ``prod(output spatial) * prod(kernel) * (C_in / groups) * C_out`` MACs: padding
  taps are counted as in the implementation, dilation changes which inputs are read, not how many.
  A transposed convolution scatters every input element through the whole kernel:
  ``prod(input spatial) * prod(kernel) * C_in * C_out / groups``. A depthwise-separable convolution
  is its depthwise part plus its 1 x 1 pointwise part.
- Everything else is counted in ``ops_other``, one operation per scalar result, by category:

  ``bias``           one add per output element of a layer with a bias;
  ``activation``     one per element, whatever the function (relu, sigmoid, softmax...), also for
                     the fused ``activation=`` of convolution and dense layers;
  ``batchnorm``      two per element (inference form ``x * a + b``, statistics folded);
  ``normalization``  LayerNormalization / GroupNormalization: five per element to normalise plus one
                     each for scale and centre; UnitNormalization three; LRN as its rule states;
  ``pooling``        max: ``window - 1`` comparisons per output element; average: ``window`` (adds
                     and one divide); windows at a "same" border are counted whole;
  ``elementwise``    Add / Subtract / Multiply / Maximum / Minimum: ``inputs - 1`` per output
                     element; Average: ``inputs``; keras.ops arithmetic recorded in a functional
                     graph (``x + y``, ``x * 2.0``): one; Concatenate, reshapes, padding, dropout: zero;
  ``resize``         interpolation taps per output element: nearest 0, (bi)linear 2^d, bicubic 4^d;
  ``preprocessing``  Rescaling and Normalization layers: two per element.

- A layer with no rule is listed in :attr:`Complexity.uncounted`, never silently zero; layers that
  truly cost nothing (InputLayer, Flatten, Reshape, Dropout, Concatenate, ZeroPadding2D, Identity...)
  have explicit zero rules.
- **Depth** is the number of weight layers (convolutions and dense layers, and any layer flagged with
  :func:`register_weight_layer` or a class attribute ``archbench_weight_layer = True``) on the longest
  input-to-output path of the graph: AlexNet 8, VGG-16 16, ResNet-152 152 (shortcut projections are
  not on that path). ``keras_depth`` is keras.applications' "depth": the number of layers holding
  weights, batch norm included (VGG16 16, ResNet50 107, MobileNetV2 105, InceptionV3 189). Keras'
  documentation calls it "topological depth", but its table's numbers are this count.
- The **receptive field** ``(size, jump, start)`` per spatial axis follows the arithmetic of
  Araujo, Norris & Sim (Distill 2019): ``size += (k_eff - 1) * jump``, ``jump *= stride``,
  ``start += ((k_eff - 1) / 2 - pad_before) * jump`` with ``k_eff = dilation * (k - 1) + 1``; ``start``
  is the input coordinate of the centre of the first output unit's field (input pixel i is centred
  at i). Where branches merge the largest field is kept. The model's field is the largest one of any
  spatial feature map (that of the last one before global pooling or flattening). Transposed
  convolutions and up-sampling divide the jump (their field is approximate); a layer that changes the
  spatial size in a way the walker does not know ends the field (None).
- **Activation memory** at ``batch_size`` and ``dtype``: ``activation_bytes_total`` sums every layer
  output and the inputs (what training keeps for the backward pass, an upper bound); the peak is the
  largest sum of live tensors while layers run in topological order, a tensor being freed after its
  last consumer (inference). Zero-copy layers (Reshape, Flatten, Dropout) count as new tensors.

Cross-check: on the TensorFlow backend, the convolution and matmul FLOPs that TensorFlow's v1
profiler finds in the model's concrete function are exactly ``2 * macs`` for every Keras layer here
except grouped convolutions (not visible to it) and dilated ones (it counts the space-to-batch
implementation), which are checked against closed forms instead (``tests/test_counting.py``).

Counting reads the graph and never calls, builds or changes the model. With ``input_shape`` the
shapes are re-inferred with each operation's ``compute_output_spec`` on symbolic tensors (no weights
are created), so a model built with ``None`` spatial sizes can be counted at any size.

The package, one job per module:

- :mod:`~archbench.counting.rules`: :class:`LayerCost`, :class:`UncountedLayer`, the rule table
  (:func:`register_rule`, :func:`register_weight_layer`); no Keras import.
- :mod:`~archbench.counting.formulas`: the pure formulas (shapes in, integers out); no Keras import.
- :mod:`~archbench.counting.keras_rules`: the rules of Keras' own layers, registered on import.
- :mod:`~archbench.counting.records`: :class:`CountRecord` (the record both the walker and the tracer
  fill), :class:`Complexity`, :class:`LayerRecord`, :class:`ReceptiveField` and the gap to a registry
  reference (:func:`reference_gap`).
- :mod:`~archbench.counting.receptive_field`: field propagation through one layer call.
- :mod:`~archbench.counting.walker`: the graph walker, :func:`count` and :func:`complexity_row`;
  Keras' graph is read through :mod:`archbench.keras_internals`.
The layers above: :mod:`archbench.tracing` counts the traced program with the same conventions;
:mod:`archbench.cost` (``archbench.count``, ``archbench.count_training``) chooses between the two.
This package never imports the layers above it.

The per-layer table of ``archbench summary`` is rendered in ``archbench/_cli/_render_counting.py``.
"""

from . import keras_rules  # noqa: F401  (registers the rules of Keras' layers)
from .formulas import (
    conv_macs,
    conv_output_size,
    conv_transpose_macs,
    dense_macs,
    depthwise_conv_macs,
    einsum_macs,
    global_pool_ops,
    merge_ops,
    pool_ops,
    resize_ops,
    same_padding,
    separable_conv_macs,
)
from .records import Complexity, CountRecord, LayerRecord, ReceptiveField, RefGap, reference_gap
from .rules import (
    RULES,
    LayerCost,
    UncountedLayer,
    find_rule,
    is_weight_layer,
    register_rule,
    register_weight_layer,
)
from .walker import complexity_row, count

__all__ = [
    "Complexity",
    "CountRecord",
    "LayerCost",
    "LayerRecord",
    "RULES",
    "ReceptiveField",
    "RefGap",
    "UncountedLayer",
    "complexity_row",
    "conv_macs",
    "conv_output_size",
    "conv_transpose_macs",
    "count",
    "dense_macs",
    "depthwise_conv_macs",
    "einsum_macs",
    "find_rule",
    "global_pool_ops",
    "is_weight_layer",
    "merge_ops",
    "pool_ops",
    "reference_gap",
    "register_rule",
    "register_weight_layer",
    "resize_ops",
    "same_padding",
    "separable_conv_macs",
]
