"""Peers: the same architecture as torchvision ships it, the tables that pair it with archbench's.

A latency row of archbench answers "how fast does this network run here"; a reader asks next how that
compares with what PyTorch users get. The zoo models that torchvision also builds
(:data:`TORCHVISION_PEERS`, the architectures whose torchvision weights :mod:`archbench.convert`
imports) have a counterpart; every other model has the reason why not (:data:`NO_COUNTERPART`), so its
peer rows say so, never nothing.

This module holds the tables (which torchvision builder stands for which zoo model, which have none,
the modes) and parses the command line's choices. How a peer is planned, built and run is the
``torchvision`` target (:mod:`archbench.benchmark.targets.torchvision`), measured like every other way
of running a model through the one pipeline (``archbench.benchmark.measure_way``).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .convert import TORCHVISION_MODELS
from .errors import UsageError

__all__ = [
    "FRAMEWORKS",
    "MODES",
    "NO_COUNTERPART",
    "TORCHVISION_PEERS",
    "Peer",
    "default_modes",
    "parse_modes",
    "parse_peers",
    "peer_for",
]

MODES = ("eager", "compile", "reduce-overhead")
FRAMEWORKS = ("torchvision",)
"""The peer frameworks ``archbench run --peers`` knows."""
@dataclass(frozen=True)
class Peer:
    """A torchvision builder that constructs the same network as an archbench model."""

    builder: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def qualified(self) -> str:
        return f"torchvision.models.{self.builder}"


# Inference without auxiliary heads, and no truncated-normal initialisation (seconds per build, and
# irrelevant to timing: random weights either way).
_NO_AUX = {"aux_logits": False, "init_weights": False}
_PEER_NOTES = {
    "alexnet_onetower": "torchvision's AlexNet is the one-tower network of 'One weird trick' (arXiv 1404.5997)",
    "googlenet_bn": "torchvision's GoogLeNet: batch norm, and 3x3 convolutions in the '5x5' branch",
    "inception_v3": "torchvision's average pools count the zero padding, keras' do not (same cost)",
}

#: archbench name -> its torchvision counterpart (the mapping :mod:`archbench.convert` imports weights by).
TORCHVISION_PEERS: dict[str, Peer] = {
    name: Peer(
        builder, _NO_AUX if builder in ("googlenet", "inception_v3") else {}, _PEER_NOTES.get(name, "")
    )
    for name, builder in TORCHVISION_MODELS.items()
}

_V1 = "torchvision's ResNet-{0} is v1.5 (stride 2 in the 3x3 convolution, not the 1x1): its counterpart is resnet{0}_v1_5"

#: archbench name -> why torchvision builds no network equal to it.
NO_COUNTERPART: dict[str, str] = {
    "lenet5": "torchvision has no LeNet-5",
    "lenet5_modern": "torchvision has no LeNet-5",
    "zfnet": "torchvision has no ZFNet",
    "nin": "torchvision has no Network in Network",
    "bn_nin": "torchvision has no Network in Network",
    "alexnet": "torchvision's AlexNet is the one-tower 'One weird trick' network (alexnet_onetower), "
    "not the paper's two towers with LRN",
    "bn_alexnet": "torchvision's AlexNet has no batch norm",
    "inception_v4": "torchvision has no Inception-v4",
    "shufflenet_v1_g3": "torchvision has ShuffleNet v2 only",
    "googlenet": "torchvision's GoogLeNet has batch norm and 3x3 convolutions in the '5x5' branch "
    "(its counterpart is googlenet_bn)",
    "resnet50": _V1.format(50),
    "resnet101": _V1.format(101),
    "resnet152": _V1.format(152),
    "se_resnet50": "torchvision has no squeeze-and-excitation ResNet",
    "senet154": "torchvision has no SENet",
}


def peer_for(model: str) -> tuple[Peer | None, str]:
    """``(peer, "")`` for a model with a torchvision counterpart, else ``(None, reason)``."""
    if model in TORCHVISION_PEERS:
        return TORCHVISION_PEERS[model], ""
    if model in NO_COUNTERPART:
        return None, NO_COUNTERPART[model]
    if model.startswith("keras/"):
        return None, "a keras.applications wrapper; its archbench builder, where one exists, has the peer"
    return None, "not in archbench's table of torchvision peers"


def default_modes(device: str) -> tuple[str, ...]:
    """``eager`` and ``compile``; on a GPU also ``reduce-overhead`` (CUDA graphs): for ``gpu``, and for
    ``auto`` where the machine has a GPU device node (on a CPU it would time the compiled code twice)."""
    return MODES if device == "gpu" or (device == "auto" and _gpu_node()) else MODES[:2]


def _gpu_node() -> bool:
    """Whether an NVIDIA or AMD GPU device node exists (asked without importing a framework)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")


def parse_modes(value: str | None) -> tuple[str, ...] | None:
    """``"eager,compile"`` -> ``("eager", "compile")``; ``None`` or ``""`` -> ``None`` (the device's
    :func:`default_modes`). An unknown mode raises :class:`UsageError`."""
    names = [n.strip().lower() for n in (value or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in MODES]
    if unknown:
        raise UsageError(f"unknown peer mode {unknown[0]!r}; choose from {', '.join(MODES)}")
    return tuple(dict.fromkeys(names)) or None


def parse_peers(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"torchvision"`` (or a list) -> the peer frameworks, in order, without repeats; ``None``, ``""``
    and ``"none"`` are none. An unknown name raises :class:`UsageError`."""
    names = (value or "").split(",") if isinstance(value, str) or value is None else list(value)
    out: list[str] = []
    for name in (str(n).strip().lower() for n in names):
        if not name or name == "none":
            continue
        if name not in FRAMEWORKS:
            raise UsageError(f"unknown peer {name!r}; choose from {', '.join(FRAMEWORKS)} (or none)")
        if name not in out:
            out.append(name)
    return tuple(out)
