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


def _imports(path: Path) -> set[str]:
    """The archbench modules a file imports (relative imports resolved), as dotted names."""
    import ast

    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    here = parts if rel.name == "__init__" else parts[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out |= {module} | {f"{module}.{a.name}" for a in node.names}
    return {m for m in out if m == "archbench" or m.startswith("archbench.")}


def _room(module: str) -> str | None:
    """The unit of layering a module belongs to: a subpackage of archbench, or a module beside them."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    folder = PACKAGE / parts[1]
    return parts[1] if folder.is_dir() or (PACKAGE / f"{parts[1]}.py").exists() else None


def test_peers_and_runtimes_measure_nothing_and_sit_below_the_pipeline():
    """peers.py and runtimes/ hold tables, export code, loaders and conformance: a way's measuring is its
    target's (archbench.benchmark.targets), so they import nothing of the pipeline or above it."""
    above = {"benchmark", "tasks", "runner", "_cli", "cli"}
    for path in [PACKAGE / "peers.py", *(PACKAGE / "runtimes").glob("*.py")]:
        reached = {_room(m) for m in _imports(path)} & above
        assert not reached, f"{path.name} imports {sorted(reached)}"
        text = path.read_text(encoding="utf-8")
        assert not any(w in text for w in ("measure_way(", "measure_in_subprocess(", "Launcher(", "sweep(")), path.name


def test_at_most_two_imports_run_upward():
    """Between the package's subpackages and top-level modules, the imports form layers: at most two
    imports run against them (the fewest whose removal leaves no import circle)."""
    import itertools

    edges = {(a, b) for p in PACKAGE.rglob("*.py") for m in _imports(p)
             if (a := _room(f"archbench.{p.relative_to(PACKAGE).with_suffix('').parts[0]}")) and (b := _room(m))
             and a != b}  # fmt: skip

    def acyclic(kept: set[tuple[str, str]]) -> bool:
        nodes = {n for e in kept for n in e}
        while nodes:
            sinks = {n for n in nodes if not any(a == n and b in nodes for a, b in kept)}
            if not sinks:
                return False
            nodes -= sinks
        return True

    def reaches(a: str, b: str) -> bool:
        seen, todo = set(), [a]
        while todo:
            n = todo.pop()
            seen.add(n)
            todo += [y for x, y in edges if x == n and y not in seen]
        return b in seen

    on_circles = sorted((a, b) for a, b in edges if reaches(b, a))
    upward = next((set(cut) for k in range(4) for cut in itertools.combinations(on_circles, k)
                   if acyclic(edges - set(cut))), None)  # fmt: skip
    assert upward is not None and len(upward) <= 2, f"imports running upward: {upward or 'more than 3'}"
