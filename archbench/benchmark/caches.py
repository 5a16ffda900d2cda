"""Persistent compilation caches, in one folder: JAX's compilation cache and TorchInductor's caches.

A measurement's first call (tracing and compilation, ``first_call_ms``) is kept out of its statistics,
but a sweep pays it for every unit; JAX also compiles every weight initialiser while a model is built
(ResNet-18: 5.2 s to build without the cache, 0.9 s with it, on the 2-core CPU). With the cache on,
programs compiled by an earlier unit or run are read back instead.

- The folder is ``$ARCHBENCH_CACHE_DIR/compile`` (default ``~/.cache/archbench/compile``): ``jax/`` for
  JAX (``jax_compilation_cache_dir``, every program cached: minimum compile time 0 s, any size) and
  ``torchinductor/`` for torch (``TORCHINDUCTOR_CACHE_DIR``, FX graph cache on).
- ``LatencyConfig.compile_cache=False`` (``--no-compile-cache``) turns both off: JAX gets no cache
  folder and TorchInductor's FX graph cache is disabled.
- Every latency row says ``compile_cache`` (the folder, or ``off``, or ``none for <backend>``: the
  TensorFlow backend has no persistent cache here) and ``compile_cache_warm``: whether the compiling
  first call found everything it needed in the cache (it wrote no new entry), ``None`` without a cache.
"""

from __future__ import annotations

import os

__all__ = ["CACHED_BACKENDS", "cache_dir", "count_entries", "enable_jax", "process_env", "row_value"]

CACHED_BACKENDS = {"jax": "jax", "torch": "torchinductor"}


def cache_dir(backend: str | None = None) -> str:
    """The compilation cache folder (of one backend when given)."""
    root = os.environ.get("ARCHBENCH_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "archbench")
    folder = os.path.join(root, "compile")
    return os.path.join(folder, CACHED_BACKENDS[backend]) if backend in CACHED_BACKENDS else folder


def process_env(enabled: bool) -> tuple[tuple[str, str], ...]:
    """Variables a measuring process needs before torch is imported."""
    if not enabled:
        return (("TORCHINDUCTOR_FX_GRAPH_CACHE", "0"),)
    return (("TORCHINDUCTOR_CACHE_DIR", cache_dir("torch")), ("TORCHINDUCTOR_FX_GRAPH_CACHE", "1"))


def enable_jax(enabled: bool) -> None:
    """Point JAX at the cache folder (before its first compilation); nothing when off."""
    if not enabled:
        return
    import jax

    folder = cache_dir("jax")
    os.makedirs(folder, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def count_entries(backend: str, enabled: bool) -> int | None:
    """Files in a backend's cache folder (``None`` without a cache)."""
    if not enabled or backend not in CACHED_BACKENDS:
        return None
    total = 0
    for _, _, files in os.walk(cache_dir(backend)):
        total += len(files)
    return total


def row_value(backend: str, enabled: bool) -> str:
    """The row's ``compile_cache``."""
    if backend not in CACHED_BACKENDS:
        return f"none for {backend}"
    return cache_dir(backend) if enabled else "off"
