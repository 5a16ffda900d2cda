"""The peak probes, a way of the one pipeline: what :mod:`archbench.benchmark.machine_peaks` times to find
this machine's attainable FLOP/s and memory bandwidth per device and compute dtype.

A probe is named like a model (the way's ``kind`` is ``probes``, its ``backend`` the framework that
computes: ``tensorflow`` or ``jax``):

- ``matmul/<n>``: an ``n × n @ n × n`` matrix product in the compute dtype, compiled (``jax.jit`` /
  ``tf.function``); MACs = n³ (FLOPs = 2 n³);
- ``conv/<N>x<H>x<C>x<K>``: a 3×3, stride-1, ``SAME`` convolution ``N×H×W×C -> K`` (NHWC input, HWIO
  filter, W = H) compiled the way archbench's latency timer compiles models (``jax.jit`` /
  ``tf.function(jit_compile=True)``, XLA); MACs = the direct count ``N·H·W·9·C·K`` (padding taps
  counted, no Winograd or FFT saving assumed). A model's convolutions run through the conv path, not
  the matrix product's kernel, so where that path is the faster one a peak from the product alone
  would sit below what conv nets reach;
- ``stream/<count>``: ``y += x`` in place on two float32 arrays of ``count`` elements, far above the
  caches (JAX donates ``y``; TensorFlow ``Variable.assign_add`` without reading the sum back, which
  would copy ``y``); no MACs; bytes moved
  (``probe_bytes``) = 3 × 4 × ``count`` (``x`` read, ``y`` read and written).

Everything else is the pipeline's: the timer and its stop rule (first call apart, warm-up, the
median's interval; :mod:`archbench.benchmark.timing`), the device synchronised inside each timed
region, load and steal stamped around it, the process started by the one launcher. A probe's row is
an ordinary latency row at batch 1 (``macs`` per call, ``median_ms``) with ``probe``, ``probe_shape``
and ``probe_bytes``; ``path`` names the compiled kernel. The framework runs with its default threads;
float32 products on a GPU run as the framework runs them by default (TF32 tensor cores on Ampere and
newer), as models do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...errors import UsageError
from ..config import LatencyConfig
from . import Target

MATMUL_SIZES = {"cpu": (1024, 2048), "gpu": (4096, 8192, 16384)}
CONV_SHAPES = {
    "cpu": ((1, 56, 256, 256), (1, 28, 512, 512)),
    "gpu": ((64, 56, 256, 256), (64, 28, 512, 512)),
}
"""``(N, H=W, C, K)`` of the 3×3 stride-1 ``SAME`` convolutions of the conv probe, per device type."""
CONV_KERNEL = 3
STREAM_BYTES = {"cpu": 256 * 2**20, "gpu": 2 * 2**30}
KINDS = ("matmul", "conv", "stream")


@dataclass(frozen=True)
class Probe:
    """One probe: ``kind`` (matmul, conv, stream) and its ``shape`` (``(n,)``, ``(N, H, C, K)``, ``(count,)``)."""

    kind: str
    shape: tuple[int, ...]

    @classmethod
    def parse(cls, name: str) -> Probe:
        kind, _, dims = name.partition("/")
        sizes = {"matmul": 1, "conv": 4, "stream": 1}
        try:
            shape = tuple(int(d) for d in dims.split("x"))
        except ValueError:
            shape = ()
        if kind not in sizes or len(shape) != sizes[kind] or min(shape) < 1:
            raise UsageError(f"not a peak probe: {name!r} (matmul/<n>, conv/<N>x<H>x<C>x<K>, stream/<count>)")
        return cls(kind, shape)

    @property
    def name(self) -> str:
        return f"{self.kind}/{'x'.join(map(str, self.shape))}"

    @property
    def macs(self) -> int | None:
        """Multiply-adds of one call (the direct count for the convolution); ``None`` for the stream."""
        if self.kind == "matmul":
            return self.shape[0] ** 3
        if self.kind == "conv":
            n, size, c, k = self.shape
            return n * size * size * CONV_KERNEL**2 * c * k
        return None

    @property
    def bytes_moved(self) -> int | None:
        """Bytes the stream probe reads and writes in one call; ``None`` for the others."""
        return 3 * 4 * self.shape[0] if self.kind == "stream" else None

    @property
    def text(self) -> str:
        """``2048``, ``1×28×28×512 -> 512`` or ``268 MB`` (each stream array)."""
        if self.kind == "conv":
            n, size, c, k = self.shape
            return f"{n}×{size}×{size}×{c} -> {k}"
        if self.kind == "stream":
            return f"{self.shape[0] * 4 / 1e6:.0f} MB"
        return str(self.shape[0])


def probes_for(device_type: str) -> list[Probe]:
    """The probes of a device type (``cpu``/``gpu``): each matmul size, each conv shape, the stream."""
    return ([Probe("matmul", (n,)) for n in MATMUL_SIZES[device_type]]
            + [Probe("conv", shape) for shape in CONV_SHAPES[device_type]]
            + [Probe("stream", (STREAM_BYTES[device_type] // 4,))])  # fmt: skip


Call = tuple[Callable[[], Any], Callable[[Any], Any], Callable[[Any], tuple[str, int]], str]
"""``(fn, sync, locate, kernel)`` of a built probe."""


def _jax(probe: Probe, device_type: str, dtype: str) -> Call:
    import jax
    import jax.numpy as jnp

    try:
        device = jax.devices("gpu" if device_type == "gpu" else "cpu")[0]
    except RuntimeError:
        raise UsageError(f"jax sees no {device_type} device") from None
    key = jax.random.PRNGKey
    with jax.default_device(device):
        if probe.kind == "matmul":
            n = probe.shape[0]
            a, b = (jax.random.uniform(key(i), (n, n), dtype=dtype) for i in (1, 2))
            f = jax.jit(jnp.matmul)
            fn = lambda: f(a, b)  # noqa: E731
        elif probe.kind == "conv":
            n, size, c, k = probe.shape
            x = jax.random.uniform(key(4), (n, size, size, c), dtype=dtype)
            w = jax.random.uniform(key(5), (CONV_KERNEL, CONV_KERNEL, c, k), dtype=dtype)
            conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
                x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))  # fmt: skip
            fn = lambda: conv(x, w)  # noqa: E731
        else:
            x = jax.random.uniform(key(3), probe.shape, dtype=jnp.float32)
            state = {"y": jnp.zeros(probe.shape, jnp.float32)}
            add = jax.jit(lambda x, y: y + x, donate_argnums=1)

            def fn() -> Any:
                state["y"] = add(x, state["y"])
                return state["y"]

    def locate(out: Any) -> tuple[str, int]:
        d = next(iter(out.devices()))
        return ("gpu" if d.platform in ("gpu", "cuda", "rocm") else "cpu"), d.id

    return fn, lambda out: out.block_until_ready(), locate, "jax.jit"


def _tensorflow(probe: Probe, device_type: str, dtype: str) -> Call:
    import tensorflow as tf

    if device_type == "gpu" and not tf.config.list_physical_devices("GPU"):
        raise UsageError("tensorflow sees no gpu device")
    name = "/GPU:0" if device_type == "gpu" else "/CPU:0"
    kernel = "tf.function"
    with tf.device(name):
        if probe.kind == "matmul":
            n = probe.shape[0]
            a, b = (tf.cast(tf.random.uniform((n, n), seed=i), dtype) for i in (1, 2))
            f = tf.function(tf.linalg.matmul)
            fn = lambda: f(a, b)  # noqa: E731
        elif probe.kind == "conv":
            n, size, c, k = probe.shape
            x = tf.cast(tf.random.uniform((n, size, size, c), seed=4), dtype)
            w = tf.cast(tf.random.uniform((CONV_KERNEL, CONV_KERNEL, c, k), seed=5), dtype)
            conv = tf.function(lambda x, w: tf.nn.conv2d(x, w, 1, "SAME"), jit_compile=True)
            fn, kernel = (lambda: conv(x, w)), "tf.function(jit_compile=True)"
        else:
            x = tf.Variable(tf.random.uniform(probe.shape, seed=3))
            y = tf.Variable(tf.zeros(probe.shape))

            @tf.function
            def fn() -> Any:  # read_value=False: returning the sum would copy all of y, 2 more arrays moved
                y.assign_add(x, read_value=False)
                return y[:1]

    def call() -> Any:
        with tf.device(name):
            return fn()

    def sync(out: Any) -> None:
        with tf.device(name):
            out[(0,) * len(out.shape)].numpy()

    def locate(out: Any) -> tuple[str, int]:
        return ("gpu" if "GPU" in (out.device or "").upper() else "cpu"), 0

    return call, sync, locate, kernel


_FRAMEWORKS = {"jax": _jax, "tensorflow": _tensorflow}


class ProbesTarget(Target):
    """The peak probes through ``tensorflow`` or ``jax`` (the way's backend), Keras not involved."""

    def __init__(self, way: Any) -> None:
        super().__init__(way)
        if way.backend not in _FRAMEWORKS:
            raise UsageError(f"peaks are measured through tensorflow or jax, not {way.backend!r}")
        self.backend = way.backend
        self.environment_backend = way.backend

    @classmethod
    def preload(cls, way: Any) -> tuple[str, ...]:
        return (way.backend, "archbench.benchmark.targets.probes")

    def build(self, model: str, config: LatencyConfig) -> Any:
        if config.device not in ("cpu", "gpu"):
            raise UsageError(f"a peak probe runs on the cpu or the gpu, not {config.device!r}")
        probe = Probe.parse(model)
        return probe, _FRAMEWORKS[self.backend](probe, config.device, config.dtype.removeprefix("mixed_"))

    def prepare(self, built: Any, config: LatencyConfig, name: str) -> Any:
        from ..compilers import Compiled
        from ..measure import PreparedInference

        _probe, (fn, sync, locate, kernel) = built
        context = {"model": name, "backend": self.backend, "dtype_policy": config.dtype, "input_shape": ()}
        return PreparedInference(config, context, Compiled(fn, sync, kernel, locate, []))

    def analytic(self, built: Any, config: LatencyConfig, input_shape: tuple[int, ...]) -> Any:
        from ..measure import Analytic

        return Analytic(built[0].macs, None, None)

    def macs_source(self, model: str) -> str:
        return f"the {Probe.parse(model).kind} probe's closed form (direct count)"

    def columns(self, prepared: Any, result: Any = None) -> dict[str, Any]:
        from ...environment import versions

        out = {"framework": self.backend, "framework_version": versions().get(f"{self.backend}_version"),
               "runtime": self.backend, "mode": "peak probe"}  # fmt: skip
        if prepared is not None:
            probe = Probe.parse(prepared.context["model"])
            out.update(probe=probe.kind, probe_shape=probe.text, probe_bytes=probe.bytes_moved)
        return out
