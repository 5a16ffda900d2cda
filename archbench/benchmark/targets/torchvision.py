"""torchvision's own build of a zoo architecture, in eager mode, ``torch.compile`` or CUDA graphs.

The network is ``torchvision.models.<builder>(weights=None, ...)`` in ``eval()`` mode, channels-last
(NHWC, Keras' layout, the one oneDNN and cuDNN run fastest); the input is one batch of uniform random
numbers in [0, 1) generated on the device. Modes (:data:`archbench.peers.MODES`): ``eager`` under
``torch.inference_mode()``; ``compile``: ``torch.compile(module)``; ``reduce-overhead``:
``torch.compile(module, mode="reduce-overhead")``, which replays CUDA graphs on a GPU (on a CPU it is
the default compiled code; the row notes it). ``mixed_bfloat16`` / ``mixed_float16`` run under
``torch.autocast`` with float32 weights, as Keras' mixed policies. On a GPU cuDNN's autotuner is on and
float32 may run as TF32, as JAX's default (noted in the row).

A way whose ``step`` is ``train`` (:mod:`archbench.benchmark.train_step`) puts the network in
``train()`` mode and times forward, cross-entropy on random labels, backward and ``torch.optim.SGD``
with momentum, eager or with the forward and loss ``torch.compile``'d.

Planned in the parent: a model without a counterpart (:func:`archbench.peers.peer_for`), or a machine
without torch and torchvision, gives a ``skipped`` row saying why. The row's ``macs`` and activation
bytes are archbench's count of the counterpart (the zoo model whose weights convert to torchvision's
with identical logits), counted in a Keras process (the ``count`` stage: torch's process never imports
Keras); its parameter bytes are the torch module's own.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ...errors import UsageError
from ...peers import MODES, peer_for
from ...registry import get_spec
from ..compilers import Compiled
from ..config import LatencyConfig
from ..train_step import COLUMNS as TRAIN_COLUMNS
from ..train_step import torch_train_step
from . import Stage, Target, Way, count_stage, missing_module

COMPUTE_DTYPES = {"float32": None, "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
PATHS = {
    "eager": "torch eager (inference_mode)",
    "compile": "torch.compile (inference_mode)",
    "reduce-overhead": "torch.compile(mode=reduce-overhead) (inference_mode)",
}


class TorchvisionTarget(Target):
    backend = "torch"
    environment_backend = "torch"

    @classmethod
    def skip_reason(cls, way: Way, model: str, config: LatencyConfig) -> tuple[str, str] | None:
        if way.mode not in MODES:
            raise UsageError(f"peer modes must be among {', '.join(MODES)}, got {way.mode or 'none'}")
        peer, reason = peer_for(get_spec(model).name)
        if peer is None:
            return "no torchvision counterpart", f"no torchvision counterpart: {reason}"
        missing = missing_module("torch", "torchvision")
        if missing:
            return "not installed", f"{missing} is not installed (pip install torch torchvision)"
        return None

    @classmethod
    def stages(cls, way: Way, model: str, config: LatencyConfig, work: str) -> list[Stage]:
        return [count_stage(way, get_spec(model).name, config)]

    @classmethod
    def describe(cls, way: Way) -> dict[str, Any]:
        return {"framework": "torchvision", "runtime": "torch", "mode": way.mode}

    @classmethod
    def preload(cls, way: Way) -> tuple[str, ...]:
        return ("torch", "torchvision", "archbench.benchmark.targets.torchvision")

    def __init__(self, way: Any) -> None:
        super().__init__(way)
        import torch

        self.torch = torch
        self.mode = way.mode
        self.train = way.train
        self.notes: list[str] = []
        self.where, self.name = None, ""

    def build_key(self, config: LatencyConfig) -> tuple:
        return (config.input_size, config.device)

    def _place(self, config: LatencyConfig) -> None:
        from ...environment import cpu_model

        torch, notes = self.torch, self.notes
        cuda = torch.cuda.is_available()
        if config.device == "gpu" and not cuda:
            notes.append("gpu requested, none visible: ran on cpu")
        if cuda and config.device in ("gpu", "auto"):
            torch.backends.cudnn.benchmark = True
            torch.set_float32_matmul_precision("high")
            notes.append("cuDNN autotuning on; float32 may run as TF32 (as JAX's default)")
            self.where, self.name = torch.device("cuda:0"), torch.cuda.get_device_name(0)
            return
        if self.mode == "reduce-overhead":
            notes.append("reduce-overhead replays CUDA graphs on a GPU only; on the CPU it is the default compiled code")
        self.where, self.name = torch.device("cpu"), cpu_model()

    def build(self, model: str, config: LatencyConfig) -> Any:
        import torchvision

        peer, reason = peer_for(model)
        if peer is None:
            raise ValueError(f"no torchvision counterpart: {reason}")
        self.peer = peer
        if peer.note and peer.note not in self.notes:
            self.notes.append(peer.note)
        if config.threads is not None:
            self.torch.set_num_threads(config.threads)
        self._place(config)
        net = getattr(torchvision.models, peer.builder)(weights=None, **peer.kwargs)
        return net.eval().to(self.where, memory_format=self.torch.channels_last)

    def prepare(self, built: Any, config: LatencyConfig, name: str) -> Any:
        from ..measure import PreparedInference

        torch, where = self.torch, self.where
        size = config.input_size
        generator = torch.Generator(device=where).manual_seed(config.seed)
        x = torch.rand((config.batch_size, 3, size, size), generator=generator, device=where)
        x = x.contiguous(memory_format=torch.channels_last)
        compute = COMPUTE_DTYPES[config.dtype]
        context = {"model": name, "backend": "torch", "dtype_policy": config.dtype, "input_shape": (3, size, size)}
        if self.train:
            classes = int(self.peer.kwargs.get("num_classes", 1000))  # torchvision's default head: ImageNet's
            labels = torch.randint(0, classes, (config.batch_size,), generator=generator, device=where)
            autocast = (lambda: torch.autocast(where.type, dtype=getattr(torch, compute))) if compute else None
            compiled = torch_train_step(built.train(), list(built.parameters()), x, labels,
                                        loss=torch.nn.functional.cross_entropy, notes=self.notes,
                                        compile_mode="eager" if self.mode == "eager" else
                                        "reduce-overhead" if self.mode == "reduce-overhead" else None,
                                        autocast=autocast or contextlib.nullcontext)  # fmt: skip
            return PreparedInference(config, context, compiled)
        call = built if self.mode == "eager" else torch.compile(
            built, mode="reduce-overhead" if self.mode == "reduce-overhead" else None
        )

        def fn() -> Any:
            autocast = torch.autocast(where.type, dtype=getattr(torch, compute)) if compute else contextlib.nullcontext()
            with torch.inference_mode(), autocast:
                return call(x)

        def sync(out: Any) -> None:
            if where.type == "cuda":
                torch.cuda.synchronize(where)

        def locate(out: Any) -> tuple[str, int]:
            return ("gpu" if where.type == "cuda" else "cpu"), where.index or 0

        compiled = Compiled(fn, sync, PATHS[self.mode], locate, self.notes)
        return PreparedInference(config, context, compiled)

    def analytic(self, built: Any, config: LatencyConfig, input_shape: tuple[int, ...]) -> Any:
        """The counterpart's count (``count`` stage), with the torch module's own weight bytes."""
        import dataclasses

        params = sum(p.numel() * p.element_size() for p in built.parameters())
        params += sum(b.numel() * b.element_size() for b in built.buffers())
        return dataclasses.replace(super().analytic(built, config, input_shape), params_bytes=int(params))

    def macs_source(self, model: str) -> str:
        return (f"{super().macs_source(model)}, the counterpart whose weights convert to identical logits "
                "(its activations too; parameters: the torch module's)")

    def columns(self, prepared: Any, result: Any = None) -> dict[str, Any]:
        import torchvision

        peer = getattr(self, "peer", None)
        return {
            **self.describe(self.way),
            "framework_version": torchvision.__version__,
            "runtime_version": f"torch {self.torch.__version__}",
            "peer_model": peer.qualified if peer else "",
            "memory_format": "channels_last",
            **(TRAIN_COLUMNS if self.train else {}),
        }
