"""Every registered model: builds, has the right outputs, and counts exactly what the golden file says.

Parametrised over the registry, so a new model is tested (and must enter the golden file) by being
registered. Reference figures in each spec are checked against the builder; all mismatches are
collected before failing.
"""

import ast
import pathlib

import numpy as np
import pytest

import archbench
from archbench import golden
from archbench.models import FAMILY_MODULES
from archbench.params import count_params

ZOO = archbench.list_models()
GOLDEN = golden.read()


def _small_size(spec):
    return max(spec.min_input_size, 64) if spec.input_shape[0] >= 64 else spec.input_shape[0]


@pytest.mark.parametrize("name", ZOO)
def test_counts_match_golden_and_references(name, build):
    spec = archbench.get_spec(name)
    model = build(name)
    assert model.output_shape == (None, spec.num_classes)
    assert tuple(model.input_shape[1:]) == spec.input_shape
    row = golden.measure_model(name, model)
    drifts = golden.diff([row], GOLDEN, complete=False)
    assert not drifts, "\n".join(f"{d.file}:{d.column} golden {d.golden} != {d.current}" for d in drifts)
    counts = count_params(model)
    problems = []
    for ref in spec.params_refs:
        if abs(counts.paper - ref.value) > ref.rtol * ref.value:
            problems.append(f"params {counts.paper:,} vs {ref.value:,.0f} ({ref.source}, rtol {ref.rtol})")
    if "macs" in row:
        for ref in spec.macs_refs:
            if abs(row["macs"] - ref.value) > ref.rtol * ref.value:
                problems.append(f"MACs {row['macs']:,} vs {ref.value:,.0f} ({ref.source}, rtol {ref.rtol})")
    assert not problems, f"{name}: " + "; ".join(problems)


def _first_of_each_family(names):
    """The first model of each family (AlexNet, ..., SENet): one full-size forward pass a family is what the
    JAX smoke run can afford (each is op by op there); every model runs under JAX in the headless test."""
    first = {}
    for n in names:
        first.setdefault(archbench.get_spec(n).family, n)
    return set(first.values())


FAMILY_FIRSTS = _first_of_each_family(ZOO)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.smoke) if n in FAMILY_FIRSTS else n for n in ZOO]
)
def test_full_model_outputs_batch_by_classes(name, build):
    """(batch, classes) at the default input, for every model; under every backend (CI runs the smoke tests
    under JAX too) for the first model of each family."""
    spec = archbench.get_spec(name)
    model = build(name)
    assert model.output_shape == (None, spec.num_classes)
    x = np.random.default_rng(1).standard_normal((1, *spec.input_shape)).astype("float32")
    y = np.asarray(model(x, training=False))
    assert y.shape == (1, spec.num_classes) and np.isfinite(y).all()


@pytest.mark.smoke
@pytest.mark.parametrize("name", ZOO)
def test_headless_build_and_call_small_input(name):
    spec = archbench.get_spec(name)
    size = _small_size(spec)
    c = spec.input_shape[2]
    model = archbench.get_model(name, include_top=False, pooling="avg", input_shape=(size, size, c))
    assert len(model.output_shape) == 2
    x = np.random.default_rng(0).standard_normal((2, size, size, c)).astype("float32")
    y = np.asarray(model(x, training=False))
    assert y.shape == (2, model.output_shape[1]) and np.isfinite(y).all()


@pytest.mark.parametrize("name", ZOO)
def test_too_small_input_names_the_minimum(name):
    spec = archbench.get_spec(name)
    tiny = spec.min_input_size - 1
    with pytest.raises(archbench.InputTooSmallError, match=f"minimum {spec.min_input_size}x{spec.min_input_size}"):
        archbench.get_model(name, include_top=False, input_shape=(tiny, tiny, spec.input_shape[2]))


def _public_builders():
    """Functions in archbench/models/<family>.py that take ``include_top`` and are not private."""
    root = pathlib.Path(archbench.__file__).parent / "models"
    for module in FAMILY_MODULES:
        tree = ast.parse((root / f"{module}.py").read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                args = [a.arg for a in node.args.args + node.args.kwonlyargs]
                if "include_top" in args or node.args.kwarg is not None and node.decorator_list:
                    yield module, node.name


def test_every_builder_is_registered():
    import importlib

    unregistered = []
    for module, fn_name in _public_builders():
        fn = getattr(importlib.import_module(f"archbench.models.{module}"), fn_name)
        if getattr(fn, "spec", None) is None:
            unregistered.append(f"{module}.{fn_name}")
    assert not unregistered, f"builders not registered: {unregistered}"


def test_golden_file_lists_exactly_the_zoo():
    assert set(GOLDEN["params.csv"]) == set(ZOO)
