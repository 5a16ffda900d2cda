"""The command line: one module per command, found lazily; one backend list shared by `run` and `bench`."""

import importlib
import os
import subprocess
import sys

from click.testing import CliRunner

from archbench import benchmark
from archbench.cli import cli

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


def error_line(args):
    result = CliRunner().invoke(cli, args)
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    return lines[0]


def test_every_command_is_a_module_of_its_own():
    names = cli.list_commands(None)
    assert {"bench", "check", "doctor", "explain", "list", "merge", "run", "summary"} <= set(names)
    for name in names:
        command = importlib.import_module(f"archbench._cli.{name}").command
        assert command.name == name and cli.get_command(None, name) is command


def test_run_and_bench_refuse_an_unknown_backend_with_the_same_message(tmp_path):
    run = error_line(["run", "--models", "lenet5", "--tasks", "params", "--backend", "mxnet",
                      "--out", str(tmp_path / "o"), "--no-report"])
    bench = error_line(["bench", "lenet5", "--backend", "mxnet"])
    assert run == bench and "unknown backend 'mxnet'" in run


def test_run_accepts_the_aliases_bench_accepts(tmp_path):
    aliases = [a for a, b in benchmark.BACKEND_ALIASES.items() if a != b]
    assert "pytorch" in aliases
    out = tmp_path / "o"
    result = CliRunner().invoke(cli, ["run", "--models", "lenet5", "--tasks", "params", "--backend",
                                      ",".join(aliases), "--out", str(out), "--no-report"])
    assert result.exit_code == 0, result.output
    assert "1 measured" in result.output


def test_help_of_every_command_imports_no_framework():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from archbench.cli import cli\n"
        "for name in [None, *cli.list_commands(None)]:\n"
        "    result = CliRunner().invoke(cli, ([name] if name else []) + ['--help'])\n"
        "    assert result.exit_code == 0, (name, result.output)\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
