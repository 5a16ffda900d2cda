"""Shared fixtures: models are built once per session (building is the slow part of the suite)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import pytest  # noqa: E402

_CACHE: dict = {}


@pytest.fixture(scope="session")
def build():
    """``build(name, **kwargs)`` returns a cached model (never mutate it in a test)."""
    import archbench

    def _build(name, **kwargs):
        key = (name, tuple(sorted(kwargs.items())))
        if key not in _CACHE:
            _CACHE[key] = archbench.get_model(name, **kwargs)
        return _CACHE[key]

    return _build
