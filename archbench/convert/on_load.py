"""Foreign weight files given to ``get_model(name, weights=...)``: recognised and converted on load.

:meth:`archbench.registry.ModelSpec.build` first loads a weights file as archbench's own. A file it
cannot load that is a keras.applications weight file of the model's keras counterpart
(:data:`~archbench.convert.KERAS_PEERS`: it loads into ``keras.applications.<Peer>``, with or without
its top) is converted as ``archbench convert --from keras`` would, into the model built with the
options given. A PyTorch checkpoint (``.pth``, ``.pt``) is read as a torchvision state dict and
converted likewise (:data:`~archbench.convert.TORCHVISION_MODELS`). PyTorch reads it in a process of
its own, so that it never shares one with TensorFlow. Where that cannot be done (no PyTorch here, a
file that does not fit the options given) the error is one line naming the ``archbench convert``
command that does the conversion once and for all.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import UsageError, WeightsError
from ._peers import APPROXIMATE, KERAS_PEERS, TORCHVISION_MODELS
from .from_keras import _load_keras_peer, transfer_from_keras
from .from_torchvision import load_state_dict, transfer_from_torchvision

__all__ = ["TORCH_SUFFIXES", "build_with_foreign_weights", "convert_command", "is_torch_checkpoint"]

TORCH_SUFFIXES = (".pth", ".pt")

# Run by a fresh interpreter that imports PyTorch and nothing of archbench (so no TensorFlow): the
# state dict as arrays in an .npz, the way archbench.convert.load_state_dict unwraps it.
_TORCH_TO_NPZ = """
import sys
import numpy as np
import torch
obj = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
for key in ("state_dict", "model"):
    if isinstance(obj, dict) and isinstance(obj.get(key), dict):
        obj = obj[key]
if not isinstance(obj, dict):
    sys.exit("it does not hold a state dict")
arrays = {str(k).removeprefix("module."): v.detach().cpu().numpy() for k, v in obj.items() if hasattr(v, "detach")}
np.savez(sys.argv[2], **arrays)
"""


def is_torch_checkpoint(path: str | os.PathLike) -> bool:
    return os.fspath(path).lower().endswith(TORCH_SUFFIXES)


def convert_command(source_format: str, path: str | os.PathLike, model_name: str) -> str:
    """The ``archbench convert`` command that writes ``path`` in archbench's layout, next to it."""
    path = os.fspath(path)
    stem = path[: -len(".weights.h5")] if path.endswith(".weights.h5") else os.path.splitext(path)[0]
    return f"archbench convert --from {source_format} {path} --model {model_name} --to {stem}-archbench.weights.h5"


def build_with_foreign_weights(spec: Any, kwargs: Mapping[str, Any], error: Exception | None = None):
    """Build ``spec`` with ``kwargs`` and fill it from the foreign file ``kwargs["weights"]``.

    A PyTorch checkpoint is converted from torchvision's layout; any other file from the keras
    counterpart's, and when it is not one, ``error`` (the failure to load it as archbench's own) is
    raised again.
    """
    path = os.fspath(kwargs["weights"])
    options = {**kwargs, "weights": None}
    if is_torch_checkpoint(path):
        return _from_torchvision(spec, options, path)
    if spec.name not in KERAS_PEERS or not path.endswith(".h5"):
        raise error or WeightsError(f"cannot load {path} into {spec.name}")
    try:
        peer = _load_keras_peer(spec.name, path)
    except (WeightsError, UsageError):
        raise error or WeightsError(f"cannot load {path} into {spec.name}") from None
    model = spec.builder(**options)
    try:
        transfer_from_keras(peer, model)
    except WeightsError as exc:
        raise WeightsError(
            f"{path} holds keras.applications.{KERAS_PEERS[spec.name]} weights that do not fit {spec.name} "
            f"built with these options ({exc}); convert them with: {convert_command('keras', path, spec.name)}"
        ) from exc
    return model


def _from_torchvision(spec: Any, options: dict[str, Any], path: str):
    if spec.name not in TORCHVISION_MODELS:
        raise UsageError(
            f"{path} is a PyTorch checkpoint; torchvision weights convert only into "
            f"{', '.join(TORCHVISION_MODELS)}, not {spec.name}"
        )
    if not os.path.isfile(path):
        raise WeightsError(f"weights file not found: {path}")
    if importlib.util.find_spec("torch") is None:
        raise WeightsError(
            f"{path} is a PyTorch checkpoint and reading it needs PyTorch, not installed here; convert it "
            f"where PyTorch is: {convert_command('torchvision', path, spec.name)}"
        )
    state = _read_in_torch_process(path)
    model = spec.builder(**options)
    try:
        transfer_from_torchvision(state, model, spec.name, source=path)
    except WeightsError as exc:
        raise WeightsError(
            f"{exc}; convert with explicit options instead: {convert_command('torchvision', path, spec.name)}"
        ) from exc
    if spec.name in APPROXIMATE:
        warnings.warn(f"{path} -> {spec.name}: an approximate conversion ({APPROXIMATE[spec.name]})", stacklevel=3)
    return model


def _read_in_torch_process(path: str) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "state.npz")
        proc = subprocess.run([sys.executable, "-c", _TORCH_TO_NPZ, path, out], capture_output=True, text=True,
                              timeout=600, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
        if proc.returncode != 0 or not os.path.isfile(out):
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            raise WeightsError(
                f"cannot read {path} with torch.load(weights_only=True): {lines[-1] if lines else proc.returncode}"
            )
        return load_state_dict(out)
