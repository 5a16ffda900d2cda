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


def test_the_end_of_run_table_shows_the_training_step_and_counts_what_does_not_apply(tmp_path):
    from archbench.catalog import not_applicable, results_table

    header = "model,task,status,run_id,key,framework,backend,mode,batch_size,median_ms,images_per_s,train_macs,params_paper,reason,error"
    lines = [
        "resnet18,params,ok,r,1,,,,,,,,11689512,,",
        "resnet18,latency,ok,r,2,archbench,tensorflow,xla,2,10.0,200,,,,",
        "resnet18,train,ok,r,3,archbench,tensorflow,xla train step,2,40.0,50,5324206080,,,",
        "resnet18,train,ok,r,4,torchvision,torch,eager,2,30.0,66.7,5324206080,,,",
        "nin,latency,ok,r,5,archbench,tensorflow,xla,2,5.0,400,,,,",
        "nin,latency,skipped,r,6,torchvision,torch,eager,2,,,,,no torchvision counterpart,no torchvision counterpart: nin",
        "nin,latency,skipped,r,7,torchvision,torch,compile,2,,,,,no torchvision counterpart,no torchvision counterpart: nin",
        "nin,train,skipped,r,8,torchvision,torch,eager,2,,,,,no torchvision counterpart,no torchvision counterpart: nin",
        "nin,macs,error,r,9,,,,,,,,,,boom",
    ]
    csv = tmp_path / "results.csv"
    csv.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    table = results_table(str(csv)).splitlines()
    columns = ["train (ms/step)", "train images/s", "train G-MACs", "failures"]
    assert all(c in table[0] for c in columns) and "train setting" not in table[0]
    resnet18 = next(line.split() for line in table if line.startswith("resnet18"))
    assert resnet18[-3:] == ["40.00", "50.00", "5.324"]  # archbench's step, not the peer's faster one
    nin = next(line for line in table if line.startswith("nin"))
    assert nin.endswith("macs: error") and "skipped" not in nin and "nan" not in nin
    assert not_applicable(str(csv)) == "3 not applicable: no torchvision counterpart (nin latency x2, nin train)"
