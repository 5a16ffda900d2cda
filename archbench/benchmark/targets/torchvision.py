"""torchvision's own build of a zoo architecture, in eager mode, ``torch.compile`` or CUDA graphs.

The network is ``torchvision.models.<builder>(weights=None, ...)`` in ``eval()`` mode, channels-last
(NHWC, Keras' layout, the one oneDNN and cuDNN run fastest); the input is one batch of uniform random
numbers in [0, 1) generated on the device. Modes (:data:`archbench.peers.MODES`): ``eager`` under
``torch.inference_mode()``; ``compile``: ``torch.compile(module)``; ``reduce-overhead``:
``torch.compile(module, mode="reduce-overhead")``, which replays CUDA graphs on a GPU (on a CPU it is
the default compiled code; the row notes it). ``mixed_bfloat16`` / ``mixed_float16`` run under
``torch.autocast`` with float32 weights, as Keras' mixed policies. On a GPU cuDNN's autotuner is on and
float32 may run as TF32, as JAX's default (noted in the row).

A way whose options select the training step (:mod:`archbench.benchmark.train_step`) puts the network in
``train()`` mode and times forward, cross-entropy on random labels, backward and ``torch.optim.SGD``
with momentum, eager or with the forward and loss ``torch.compile``'d.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..compilers import Compiled
from ..config import LatencyConfig
from ..train_step import COLUMNS as TRAIN_COLUMNS
from ..train_step import is_train, torch_train_step
from . import Target

COMPUTE_DTYPES = {"float32": None, "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
PATHS = {
    "eager": "torch eager (inference_mode)",
    "compile": "torch.compile (inference_mode)",
    "reduce-overhead": "torch.compile(mode=reduce-overhead) (inference_mode)",
}


class TorchvisionTarget(Target):
    backend = "torch"
    environment_backend = "torch"

    def __init__(self, way: Any) -> None:
        super().__init__(way)
        import torch

        self.torch = torch
        self.mode = way.mode
        self.train = is_train(way)
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

        from ...peers import peer_for

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
        from ..measure import Analytic

        params = sum(p.numel() * p.element_size() for p in built.parameters())
        params += sum(b.numel() * b.element_size() for b in built.buffers())
        return Analytic(None, None, int(params))

    def columns(self, prepared: Any, result: Any = None) -> dict[str, Any]:
        import torchvision

        peer = getattr(self, "peer", None)
        return {
            "framework": "torchvision",
            "framework_version": torchvision.__version__,
            "runtime": "torch",
            "runtime_version": f"torch {self.torch.__version__}",
            "mode": self.mode,
            "peer_model": peer.qualified if peer else "",
            "memory_format": "channels_last",
            **(TRAIN_COLUMNS if self.train else {}),
        }
