"""Every zoo model counts whole: params, ``archbench.count`` and ``archbench.count_training`` all ``ok``
(:mod:`archbench.completeness`), every failure collected and reported once; on TensorFlow for the
whole zoo, on the active backend for four models (CI's JAX smoke run walks them under JAX), and the
same training figures on JAX as on TensorFlow for those four."""

import json
import os
import subprocess
import sys

import background
import keras
import pytest

import archbench
from archbench.completeness import walk
from archbench.cost.training import COLUMNS

ZOO = archbench.list_models()
FOUR = ["lenet5", "alexnet", "googlenet", "nin"]


def _failures(names, build):
    return [f"{w.model}: {problem}" for w in walk(names, build=build) for problem in w.problems]


background.define(
    "zoo-completeness",
    [sys.executable, "-c", "from archbench.cli import cli; cli()", "check", "--completeness", "-m", ",".join(ZOO)],
    env={**os.environ, "KERAS_BACKEND": keras.backend.backend(), "TF_CPP_MIN_LOG_LEVEL": "3"},
)


@pytest.mark.slow
@pytest.mark.background("zoo-completeness")
def test_every_zoo_model_counts_whole():
    """All zoo models, through ``archbench check --completeness`` in a process of its own (count_training
    takes nearly all of it: 40 models 330 s on 2 shared cores, DenseNet-161 38 s, SENet-154 32 s,
    Inception-v4 29 s), each model dropped before the next: the tracing keeps buffers alive that this
    session's shared models must not be stacked upon. Started with the session, beside the other tests."""
    run = background.result("zoo-completeness")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1].startswith(f"ok: {len(ZOO)} models count whole on ")


@pytest.mark.smoke
def test_four_models_count_whole_on_the_active_backend(build):
    failures = _failures(FOUR, build)
    assert failures == [], "\n".join(failures)


_JAX_SCRIPT = """
import json, sys
import archbench
out = {"backend": __import__("keras").backend.backend(), "counts": {}}
for name in sys.argv[1:]:
    t = archbench.count_training(archbench.get_model(name))
    out["counts"][name] = {**t.columns(), "status": t.status}
print(json.dumps(out))
"""


@pytest.mark.jax
def test_training_counts_are_equal_on_jax(build):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("compares the JAX count with TensorFlow's, in this process")
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", _JAX_SCRIPT, *FOUR], env=env, capture_output=True, text=True,
                         timeout=900)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax"
    for name in FOUR:
        t = archbench.count_training(build(name))
        assert result["counts"][name] == {**t.columns(), "status": "ok"}, name
        assert set(result["counts"][name]) == {*COLUMNS, "status"}


def test_check_completeness_reports_every_failure_once_and_exits_1(monkeypatch):
    from click.testing import CliRunner

    from archbench.cli import cli
    from archbench.tracing import _handles

    ok = CliRunner().invoke(cli, ["check", "--completeness", "-m", "lenet5,lenet5_modern"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip().splitlines()[-1].startswith("ok: 2 models count whole on ")
    rules = _handles.TF_RULES if keras.backend.backend() == "tensorflow" else _handles.JAX_RULES
    monkeypatch.delitem(rules, "UnsortedSegmentSum" if rules is _handles.TF_RULES else "scatter-add")
    bad = CliRunner().invoke(cli, ["check", "--completeness", "-m", "lenet5,lenet5_modern"])
    assert bad.exit_code == 1, bad.output
    lines = [line for line in bad.output.splitlines() if line.startswith("lenet5")]
    assert len(lines) == 1 and lines[0].startswith("lenet5: count_training: partial: not counted: "), bad.output
    assert "(no rule)" in lines[0], "only LeNet-5's connection table has a gather, whose gradient lost its rule"
    refused = CliRunner().invoke(cli, ["check", "--completeness", "--update"])
    assert refused.exit_code != 0 and "does not go with --completeness" in refused.output
