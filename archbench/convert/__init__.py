"""Weight import: keras.applications and torchvision weight files into archbench's builders.

Only local files are read, each with its framework's safe loader: Keras weight files through
``model.load_weights`` (``.keras`` archives with ``safe_mode=True``), PyTorch state dicts with
``torch.load(weights_only=True)`` (PyTorch is needed only for ``.pth``), NumPy ``.npz`` state dicts
with ``allow_pickle=False``. Nothing is downloaded.

**keras.applications** (:data:`KERAS_PEERS`): the file is loaded into the keras.applications model
itself (built with ``weights=None``), whose layers are then copied into ours by name (by creation order
for ``inception_v3``, whose keras layer names are generated). VGG16/19 and InceptionV3 copy unchanged.
keras' ResNets put a bias in every convolution and use batch-norm epsilon 1.001e-5; ours have no
convolution bias and epsilon 1e-5. Both are exact rewrites of the following batch norm, since
``BN(conv(x) + b) = gamma (conv(x) + b - mean) / sqrt(var + eps) + beta``:

- the bias is folded into the moving mean: ``mean' = mean - b``;
- the epsilon difference moves into the moving variance: ``var' = var + eps_keras - eps_ours``,
  which leaves ``sqrt(var + eps)`` unchanged.

**torchvision** (:data:`TORCHVISION_MODELS`): parameter names are mapped onto our layer names and
tensors transposed to Keras' layout: convolution kernels OIHW -> HWIO, linear weights (out, in) ->
(in, out), batch norm (weight, bias, running_mean, running_var) -> (gamma, beta, moving_mean,
moving_variance), epsilons reconciled as above. The first fully connected layer after a flatten
(VGG, AlexNet) also has its inputs permuted from PyTorch's (C, H, W) order to Keras' (H, W, C).
``inception_v3`` is keras' network, whose batch norms have no scale: torchvision's gamma is folded into
the preceding convolution (``kernel' = gamma * kernel``, ``mean' = gamma * mean``). That conversion is
*approximate*: torchvision's 3x3 average pools count the zero padding (``count_include_pad=True``)
and keras' do not, so outputs differ near the borders. torchvision's GoogLeNet is not the paper's
network (batch norm, 3x3 in the "5x5" branch): it imports into ``googlenet_bn``, built from the same
table, module by module (its untrained auxiliary heads ``aux1``/``aux2`` are ignored).

``get_model(name, weights=FILE)`` recognises both kinds of file and converts them on load
(:mod:`archbench.convert.on_load`). The package: :mod:`~archbench.convert.from_keras`,
:mod:`~archbench.convert.from_torchvision`, :mod:`~archbench.convert.on_load` and :func:`convert`,
which writes a converted file once and for all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..registry import get_spec
from ._common import _layers_with_weights, _local_file
from ._peers import APPROXIMATE, KERAS_PEERS, TORCHVISION_BN_EPSILON, TORCHVISION_MODELS
from .from_keras import _load_keras_peer, keras_peer, transfer_from_keras
from .from_torchvision import (
    _tv_family,
    _tv_head,
    googlenet_unit,
    inception_v3_units,
    load_state_dict,
    transfer_from_torchvision,
)

__all__ = [
    "APPROXIMATE",
    "KERAS_PEERS",
    "TORCHVISION_BN_EPSILON",
    "TORCHVISION_MODELS",
    "ConversionReport",
    "convert",
    "googlenet_unit",
    "inception_v3_units",
    "keras_peer",
    "load_state_dict",
    "transfer_from_keras",
    "transfer_from_torchvision",
]

@dataclass
class ConversionReport:
    """What :func:`convert` did: layers written and every rewrite of the numbers (with the reason)."""

    source_format: str
    source: str
    model: str
    destination: str | None
    include_top: bool
    classes: int | None
    layers: int
    adjustments: list[str] = field(default_factory=list)
    exact: bool = True
    note: str = ""


def convert(
    source_format: str,
    source: str | os.PathLike,
    model_name: str,
    destination: str | os.PathLike | None = None,
    *,
    include_top: bool | None = None,
) -> tuple[Any, ConversionReport]:
    """Import ``source`` (``"keras"`` or ``"torchvision"`` weights) into our ``model_name``.

    Writes ``destination`` (a ``.weights.h5`` that ``get_model(model_name, weights=...)`` loads) when
    given, and returns ``(model, report)``. ``include_top`` defaults to what the file holds.
    """
    spec = get_spec(model_name)
    src = _local_file(source, "weights file")
    if destination is not None:
        destination = os.fspath(destination)
        if not destination.endswith(".weights.h5"):
            raise UsageError(f"the destination must end with .weights.h5, got {destination}")
        if os.path.abspath(destination) == os.path.abspath(src):
            raise UsageError("the destination must differ from the source")
    if source_format == "keras":
        peer = _load_keras_peer(spec.name, src)
        top = any(layer.name == "predictions" for layer in peer.layers)
        if include_top is not None and include_top != top:
            raise UsageError(
                f"{src} {'has' if top else 'has no'} classifier; include_top={include_top} does not fit"
            )
        classes = int(peer.output.shape[-1]) if top else None
        model = spec.build(include_top=top, classes=classes or 1000, classifier_activation=None)
        adjustments = transfer_from_keras(peer, model)
        exact, note = True, ""
    elif source_format == "torchvision":
        state = load_state_dict(src)
        _tv_family(spec.name)
        top, classes = _tv_head(state, spec.name)
        if include_top is not None:
            top = include_top
        model = spec.build(include_top=top, classes=classes or 1000, classifier_activation=None)
        adjustments = transfer_from_torchvision(state, model, spec.name, source=src)
        exact = spec.name not in APPROXIMATE
        note = APPROXIMATE.get(spec.name, "")
    else:
        raise UsageError(f"unknown source format {source_format!r}; choose keras or torchvision")
    report = ConversionReport(
        source_format=source_format,
        source=os.path.abspath(src),
        model=spec.name,
        destination=os.path.abspath(destination) if destination else None,
        include_top=top,
        classes=classes if top else None,
        layers=len(_layers_with_weights(model)),
        adjustments=adjustments,
        exact=exact,
        note=note,
    )
    if destination is not None:
        folder = os.path.dirname(os.path.abspath(destination))
        os.makedirs(folder, exist_ok=True)
        model.save_weights(destination)
    return model, report
