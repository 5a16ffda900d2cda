"""archbench without TensorFlow: `import archbench` and `archbench run --backend jax --tasks
params,macs,latency` work where Keras and JAX are the only frameworks.

TensorFlow is hidden from the child process by a ``sitecustomize`` on ``PYTHONPATH`` that refuses every
``tensorflow*`` import (the children the run starts inherit it). ``.ci/run`` checks the same in a
virtual environment where TensorFlow is not installed at all.
"""

import csv
import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BLOCKER = textwrap.dedent(
    """
    import sys

    class _NoTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0].startswith("tensorflow"):
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
            return None

    sys.meta_path.insert(0, _NoTensorFlow())
    """
)


@pytest.fixture
def no_tf_env(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join([str(site), ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}


def test_the_blocker_hides_tensorflow(no_tf_env):
    code = "import sys\ntry:\n    import tensorflow\nexcept ModuleNotFoundError:\n    sys.exit(3)"
    assert subprocess.run([sys.executable, "-c", code], env=no_tf_env, check=False).returncode == 3


def test_import_archbench_and_build_a_model_without_tensorflow(no_tf_env):
    code = (
        "import sys, archbench, keras\n"
        "m = archbench.get_model('lenet5')\n"
        "print(keras.backend.backend(), archbench.count_params(m).total, "
        "any(k.startswith('tensorflow') for k in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=no_tf_env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["jax", "60840", "False"]


@pytest.mark.jax
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax")
def test_run_params_macs_latency_on_jax_without_tensorflow(tmp_path, no_tf_env):
    """About a minute on the 2-core development machine: two fresh processes time the latency."""
    out = tmp_path / "out"
    args = [
        sys.executable, "-m", "archbench.cli", "run", "--backend", "jax", "--models", "lenet5,resnet18",
        "--tasks", "params,macs,latency", "--min-time", "0.05", "--max-time", "0.2", "--out", str(out),
        "--no-report",
    ]  # fmt: skip
    proc = subprocess.run(args, env=no_tf_env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "results.csv", encoding="utf-8") as f:
        rows = {(r["model"], r["task"]): r for r in csv.DictReader(f)}
    assert len(rows) == 6 and {r["status"] for r in rows.values()} == {"ok"}
    assert int(rows["lenet5", "params"]["params_total"]) == 60840
    assert int(rows["resnet18", "params"]["params_trainable"]) == 11689512
    assert int(rows["lenet5", "macs"]["macs"]) == 326520
    assert int(rows["resnet18", "macs"]["macs"]) == 1814073344
    for model in ("lenet5", "resnet18"):
        lat = rows[model, "latency"]
        assert (lat["backend"], lat["framework"], lat["runtime"], lat["mode"]) == (
            "jax",
            "archbench",
            "keras",
            "jax jit",
        )
        assert float(lat["median_ms"]) > 0 and lat["device"].startswith(("cpu:0 (", "gpu:0 ("))
        assert lat["env_backend"] == "jax"
