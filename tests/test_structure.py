"""The layout the project keeps: small modules, Keras-free analysis, TF-free imports under JAX."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "archbench"
MAX_LINES = 600


def test_no_module_over_the_line_limit():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


@pytest.mark.smoke
def test_library_packages_import_no_tensorflow_under_jax():
    code = (
        "import sys, archbench.counting, archbench.benchmark, archbench.analysis; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "False", out.stdout + out.stderr


def test_one_launcher_and_one_latency_config():
    """Every way of running a model goes through the one pipeline: the peers and the runtimes start no
    process of their own, and the timer settings are made in few places and passed whole."""
    for path in [PACKAGE / "peers.py", *(PACKAGE / "runtimes").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not any(word in text for word in ("import subprocess", "subprocess.", "Popen(", "os.fork(")), path.name
    made = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
            for line in p.read_text(encoding="utf-8").splitlines() if "LatencyConfig(" in line]
    assert len(made) <= 3, made
