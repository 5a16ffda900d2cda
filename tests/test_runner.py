"""Reliable runs: resumable store, isolated failures, interrupts, and one-line errors for bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from archbench import registry
from archbench.cli import cli
from archbench.errors import ResultsFileError, UsageError
from archbench.store import ResultStore, read_log

HERE = os.path.dirname(__file__)
MODEL_FILE = os.path.join(HERE, "data", "user_models.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


@pytest.fixture(scope="module")
def user_models():
    names = registry.load_model_file(MODEL_FILE)
    yield names
    for n in names:
        registry.unregister_model(n)


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _rows(out):
    return read_log(os.path.join(out, "results.jsonl"))


def test_run_resume_and_force(tmp_path, user_models):
    out = str(tmp_path / "o")
    r = invoke("run", "--models", "tiny1,tiny2", "--tasks", "params", "--out", out, "--no-report")
    assert r.exit_code == 0, r.output
    assert "2 measured, 0 already there, 0 failed" in r.output
    r = invoke("run", "--models", "tiny1,tiny2,tiny3", "--tasks", "params", "--out", out, "--no-report")
    assert "1 measured, 2 already there" in r.output
    r = invoke("run", "--models", "tiny1", "--tasks", "params", "--out", out, "--no-report", "--force")
    assert "1 measured, 0 already there" in r.output
    rows = _rows(out)
    assert [r["model"] for r in rows] == ["tiny1", "tiny2", "tiny3", "tiny1"]
    assert rows[0]["result"]["params_total"] == (3 * 3 * 3 + 1) * 1 + (1 + 1) * 10
    csv_text = open(os.path.join(out, "results.csv")).read()
    assert csv_text.count("\ntiny1,") == 1, "latest row per measurement in the CSV"


def test_results_from_another_machine_are_measured_again(tmp_path, user_models):
    out = tmp_path / "o"
    invoke("run", "--models", "tiny1", "--tasks", "params", "--out", str(out), "--no-report")
    log = out / "results.jsonl"
    row = json.loads(log.read_text().splitlines()[0])
    row["env"] = {**row["env"], "device": "gpu:0 (some other machine)", "cpu_model": "elsewhere"}
    log.write_text(json.dumps(row) + "\n")
    r = invoke("run", "--models", "tiny1", "--tasks", "params", "--out", str(out), "--no-report")
    assert "1 measured, 0 already there" in r.output
    assert len(_rows(str(out))) == 2
    r = invoke("run", "--models", "tiny1", "--tasks", "params", "--out", str(out), "--no-report")
    assert "0 measured, 1 already there" in r.output


def test_failing_model_is_recorded_and_sweep_goes_on(tmp_path, user_models):
    out = str(tmp_path / "o")
    result = CliRunner().invoke(cli, ["run", "--models", "tiny1,broken,tiny2", "--tasks", "params",
                                      "--out", out, "--no-report"])
    assert result.exit_code == 1
    assert "2 measured, 0 already there, 1 failed" in result.output
    rows = {r["model"]: r for r in _rows(out)}
    assert rows["broken"]["status"] == "error"
    assert "broken on purpose" in rows["broken"]["error"]
    assert rows["tiny2"]["status"] == "ok"


def test_timeout_is_recorded(tmp_path, user_models, monkeypatch):
    monkeypatch.setenv("ARCHBENCH_TEST_SLEEP", "2")
    out = str(tmp_path / "o")
    result = CliRunner().invoke(cli, ["run", "--models", "tiny4", "--tasks", "params", "--out", out,
                                      "--no-report", "--timeout", "0.3"])
    assert result.exit_code == 1
    assert _rows(out)[0]["status"] == "timeout"


def test_sigkill_mid_sweep_loses_nothing(tmp_path):
    out = str(tmp_path / "o")
    cmd = [sys.executable, "-m", "archbench.cli", "run", "--model-file", MODEL_FILE, "--models", "tiny*",
           "--tasks", "params", "--out", out, "--no-report"]
    env = {**ENV, "ARCHBENCH_TEST_SLEEP": "0.7"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = os.path.join(out, "results.jsonl")
    deadline = time.time() + 120
    while time.time() < deadline:
        if os.path.exists(log) and len(read_log(log)) >= 2:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = len(read_log(log))
    assert 2 <= before < 6
    subprocess.run(cmd, env={**ENV}, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    models = [r["model"] for r in read_log(log)]
    assert sorted(models) == [f"tiny{i}" for i in range(1, 7)], "every model measured exactly once"


def test_ctrl_c_stops_after_an_in_process_measurement_and_says_how_to_resume(tmp_path):
    out = str(tmp_path / "o")
    cmd = [sys.executable, "-m", "archbench.cli", "run", "--model-file", MODEL_FILE, "--models", "tiny*",
           "--tasks", "params", "--out", out, "--no-report"]
    proc = subprocess.Popen(cmd, env={**ENV, "ARCHBENCH_TEST_SLEEP": "0.7"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    log = os.path.join(out, "results.jsonl")
    deadline = time.time() + 120
    while time.time() < deadline and not (os.path.exists(log) and read_log(log)):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupt: stopping now" in stderr
    assert "rerun the same command to resume" in stderr
    assert "Traceback" not in stderr
    measured = [r["model"] for r in read_log(log)]
    assert 1 <= len(measured) < 6 and all(r["status"] == "ok" for r in read_log(log))
    assert os.path.exists(os.path.join(out, "results.csv")) and not os.path.exists(os.path.join(out, ".lock"))


def test_ctrl_c_to_the_process_group_mid_unit_exits_130_without_a_failed_row_and_resumes(tmp_path):
    """Ctrl-C at a terminal reaches the whole foreground process group: the sweep, its pre-imported
    worker and the unit's measuring process. The unit in progress is stopped and leaves no row; the
    same command afterwards measures every unit."""
    out = str(tmp_path / "o")
    cmd = [sys.executable, "-m", "archbench.cli", "run", "--model-file", MODEL_FILE, "--models", "tiny1,tiny2,tiny3",
           "--tasks", "latency", "--min-time", "1.5", "--max-time", "1.5", "--out", out, "--no-report"]
    env = {**ENV, "ARCHBENCH_TEST_SLEEP": "0.5"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    log = os.path.join(out, "results.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and not (os.path.exists(log) and read_log(log)):
        time.sleep(0.05)
    time.sleep(1.0)  # the next unit is measuring now
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "rerun the same command to resume" in stderr
    first = _rows(out)
    assert 1 <= len(first) < 3 and all(r["status"] == "ok" for r in first)
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    rows = [r for r in _rows(out) if not r.get("superseded")]  # a noisy first row is superseded by its re-measurement
    assert sorted(r["model"] for r in rows) == ["tiny1", "tiny2", "tiny3"]
    assert all(r["status"] == "ok" for r in rows)


def test_second_run_on_locked_folder_is_refused(tmp_path):
    with ResultStore(str(tmp_path)):
        with pytest.raises(UsageError, match="in use by another archbench run"):
            ResultStore(str(tmp_path)).open()


def test_stale_lock_of_dead_process_is_taken_over(tmp_path):
    (tmp_path / ".lock").write_text("999999999")
    with ResultStore(str(tmp_path)) as store:
        store.append({"key": "k", "status": "ok"})
    assert not (tmp_path / ".lock").exists()


def test_truncated_last_line_is_ignored_but_damage_is_an_error(tmp_path):
    log = tmp_path / "results.jsonl"
    good = json.dumps({"schema": "archbench.results/1", "key": "a", "status": "ok"})
    log.write_text(good + "\n" + good[:10])
    assert len(read_log(str(log))) == 1
    log.write_text(good[:10] + "\n" + good + "\n")
    with pytest.raises(ResultsFileError, match="line 1"):
        read_log(str(log))
    log.write_text(json.dumps({"foo": 1}) + "\n")
    with pytest.raises(ResultsFileError, match="not an archbench result"):
        read_log(str(log))


def test_shards_partition_the_grid(user_models):
    from archbench.runner import plan
    from archbench.tasks import RunSettings, resolve_tasks

    names = [f"tiny{i}" for i in range(1, 7)]
    tasks = resolve_tasks("params")
    full = {u.key for u in plan(names, tasks, RunSettings())}
    parts = [{u.key for u in plan(names, tasks, RunSettings(), (i, 3))} for i in (1, 2, 3)]
    assert set().union(*parts) == full and sum(len(p) for p in parts) == len(full)


BAD_INPUT = [
    (["run", "--models", "resnet5", "--tasks", "params"], "unknown model 'resnet5'; did you mean: resnet50"),
    (["run", "--models", "zzz*", "--tasks", "params"], "pattern 'zzz*' matches no registered model"),
    (["run", "--models", "lenet5", "--tasks", "nosuch"], "unknown task 'nosuch'"),
    (["run", "--models", "lenet5", "--batch", "0"], "batch size must be a positive integer"),
    (["run", "--models", "lenet5", "--batch", "a,b"], "bad batch list"),
    (["run", "--models", "lenet5", "--dtype", "float8"], "unknown dtype 'float8'"),
    (["run", "--models", "lenet5", "--backend", "mxnet"], "unknown backend 'mxnet'"),
    (["run", "--models", "lenet5", "--shard", "3/2"], "--shard must be I/N"),
    (["run", "--models", "lenet5", "--model-file", "/nonexistent.py"], "model file not found"),
    (["run", "--models", "lenet5", "--device", "tpu"], "Invalid value for '--device'"),
    (["run", "--models", "lenet5", "--tasks", "accuracy", "--weights", "/nonexistent.weights.h5"],
     "weights file not found: /nonexistent.weights.h5"),
    (["run", "--models", "lenet5", "--tasks", "accuracy", "--dataset", "imagefolder", "--data-dir", "/nonexistent"],
     "dataset path not found: /nonexistent"),
    (["run", "--models", "lenet5", "--tasks", "accuracy", "--dataset", "imagenet"], "--data-dir"),
    (["report", "--results", "/nonexistent"], "/nonexistent"),
    (["merge", "/nonexistent", "--out", "/tmp/archbench-merge-test"], "not an archbench results folder"),
    (["list", "nothing*"], "matches no registered model"),
]


@pytest.mark.parametrize("args,message", BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "o")] if args[0] == "run" else args)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output


def test_unwritable_output_folder(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(cli, ["run", "--models", "lenet5", "--tasks", "params", "--out", str(target / "o")])
    assert result.exit_code == 2 and "error: cannot create output folder" in result.output


def test_too_small_input_via_cli(tmp_path):
    result = CliRunner().invoke(cli, ["run", "--models", "alexnet", "--tasks", "params", "--input-size", "16",
                                      "--out", str(tmp_path / "o"), "--no-report"])
    assert result.exit_code == 2
    assert "error: --input-size 16 is smaller than alexnet's minimum" in result.output


def test_sharded_sweep_merged_equals_unsharded(tmp_path, user_models):
    names = "tiny1,tiny2,tiny3,tiny4,tiny5"
    for part in ("1/2", "2/2"):
        r = invoke("run", "--models", names, "--tasks", "params", "--out", str(tmp_path / part.replace("/", "of")),
                   "--shard", part, "--no-report")
        assert r.exit_code == 0, r.output
    invoke("run", "--models", names, "--tasks", "params", "--out", str(tmp_path / "full"), "--no-report")
    r = invoke("merge", str(tmp_path / "1of2"), str(tmp_path / "2of2"), "--out", str(tmp_path / "merged"))
    assert r.exit_code == 0, r.output

    def grid(folder):
        return sorted((row["model"], row["task"], row["key"]) for row in _rows(str(tmp_path / folder)))

    assert grid("merged") == grid("full")
    shard_rows = {len(_rows(str(tmp_path / p))) for p in ("1of2", "2of2")}
    assert 0 not in shard_rows


def test_merge_rejects_same_machine_duplicates(tmp_path, user_models):
    for folder in ("a", "b"):
        invoke("run", "--models", "tiny1", "--tasks", "params", "--out", str(tmp_path / folder), "--no-report")
    r = CliRunner().invoke(cli, ["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m")])
    assert r.exit_code == 2 and "conflict: tiny1:params" in r.output
    r = invoke("merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m2"), "--keep-latest")
    assert r.exit_code == 0 and len(_rows(str(tmp_path / "m2"))) == 1


def _weights_file(tmp_path, classes):
    import archbench

    path = str(tmp_path / f"lenet5_modern_{classes}.weights.h5")
    archbench.get_model("lenet5_modern", classes=classes).save_weights(path)
    return path


def test_weights_that_do_not_fit_name_the_first_mismatching_layer(tmp_path):
    import archbench
    from archbench.models._common import load_local_weights

    path = _weights_file(tmp_path, classes=10)
    with pytest.raises(archbench.WeightsError, match="first mismatching layer 'predictions' \\(Dense\\)"):
        load_local_weights(archbench.get_model("lenet5_modern", classes=5), path)
    corrupt = tmp_path / "corrupt.weights.h5"
    corrupt.write_bytes(b"not an hdf5 file" * 4)
    with pytest.raises(archbench.WeightsError, match="cannot load weights from"):
        load_local_weights(archbench.get_model("lenet5_modern"), str(corrupt))


def test_corrupt_weights_in_a_sweep_are_a_recorded_failure(tmp_path):
    corrupt = tmp_path / "corrupt.weights.h5"
    corrupt.write_bytes(b"not an hdf5 file" * 4)
    out = str(tmp_path / "o")
    result = CliRunner().invoke(cli, ["run", "--models", "lenet5", "--tasks", "accuracy", "--weights",
                                      str(corrupt), "--out", out, "--no-report"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    row = _rows(out)[0]
    assert row["status"] == "error" and "corrupt.weights.h5" in row["error"]


def test_doctor_reports_backends_and_devices():
    result = invoke("doctor")
    assert result.exit_code == 0
    assert "backend" in result.output and "keras_version" in result.output and "device" in result.output


def test_entry_point_models_are_registered(monkeypatch):
    import importlib.metadata as md

    from archbench import registry as reg

    class FakeEntryPoint:
        name, value = "fake", "tests.fake:models"

        def load(self):
            reg.register_model(name="ep_model", display_name="EP", family="test", year=2026,
                               paper=reg.Paper("p", "a", "v", 2026, "https://example.invalid"))(lambda **kw: None)

    monkeypatch.setattr(md, "entry_points", lambda group=None: [FakeEntryPoint()] if group == reg.ENTRY_POINT_GROUP else [])
    try:
        reg._load_entry_points()
        assert "ep_model" in reg.list_models("ep_*")
    finally:
        reg.unregister_model("ep_model")


# -- noisy units are measured once more, at the end of the sweep --------------------------------------


def _fake_latency_task(outcomes):
    """A task whose n-th measurement of a model returns ``outcomes[model][n]``: ``(median_ms, noisy)``,
    or an exception to raise."""
    from archbench.tasks import Task

    calls = []

    def measure(ctx):
        calls.append(ctx.spec.name)
        outcome = outcomes[ctx.spec.name][calls.count(ctx.spec.name) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        median, noisy = outcome
        return {"median_ms": median, "noisy": noisy}

    return Task("fake_latency", "latency with a noise flag", measure), calls


def _run(models, task, out, notes=None):
    from archbench import runner
    from archbench.tasks import RunSettings

    return runner.run(models, [task], RunSettings(), out, notify=(notes if notes is not None else []).append)


def test_a_noisy_unit_is_measured_again_at_the_end_and_the_first_row_superseded(tmp_path, user_models):
    out = str(tmp_path / "o")
    task, calls = _fake_latency_task({"tiny1": [(9.0, True), (5.0, False)], "tiny2": [(7.0, False)]})
    notes = []
    summary = _run(["tiny1", "tiny2"], task, out, notes)
    assert calls == ["tiny1", "tiny2", "tiny1"], "the rerun comes after every other unit"
    assert (summary.measured, summary.remeasured, summary.failed) == (2, 1, [])
    assert notes == ["re-measuring 1 noisy unit(s) once, now that the sweep is done"]
    rows = _rows(out)
    seen = [(r["model"], r["result"]["median_ms"], r["remeasured"], r.get("superseded", False)) for r in rows]
    assert seen == [
        ("tiny1", 9.0, False, True),
        ("tiny2", 7.0, False, False),
        ("tiny1", 5.0, True, False),
    ]
    assert rows[0]["key"] == rows[2]["key"] and rows[0]["run_id"] == rows[2]["run_id"]
    import csv

    with open(os.path.join(out, "results.csv")) as f:
        table = {r["model"]: r for r in csv.DictReader(f)}
    assert len(table) == 2 and table["tiny1"]["median_ms"] == "5.0" and table["tiny1"]["remeasured"] == "True"

    task, calls = _fake_latency_task({"tiny1": [], "tiny2": []})
    summary = _run(["tiny1", "tiny2"], task, out)
    assert calls == [] and (summary.measured, summary.skipped, summary.remeasured) == (0, 2, 0)
    assert len(_rows(out)) == 3


def test_a_rerun_that_is_noisy_again_is_not_measured_a_third_time(tmp_path, user_models):
    out = str(tmp_path / "o")
    task, calls = _fake_latency_task({"tiny1": [(9.0, True), (8.0, True)]})
    summary = _run(["tiny1"], task, out)
    assert calls == ["tiny1", "tiny1"] and summary.remeasured == 1
    task, calls = _fake_latency_task({"tiny1": []})
    assert _run(["tiny1"], task, out).remeasured == 0 and calls == []


def test_a_failed_rerun_leaves_the_first_measurement_in_effect(tmp_path, user_models):
    out = str(tmp_path / "o")
    task, calls = _fake_latency_task({"tiny1": [(9.0, True), RuntimeError("the machine fell over")]})
    summary = _run(["tiny1"], task, out)
    assert summary.remeasured == 1 and summary.failed == []
    first, rerun = _rows(out)
    assert not first.get("superseded") and rerun["superseded"] and rerun["remeasured"]
    assert rerun["status"] == "error" and "fell over" in rerun["error"]
    from archbench.store import ResultStore

    store = ResultStore(out)
    assert store.done_keys() == {first["key"]}
    with open(os.path.join(out, "results.csv")) as f:
        assert "9.0" in f.read()


def test_noisy_rows_left_by_an_interrupted_run_are_measured_again_on_resume(tmp_path, user_models):
    out = str(tmp_path / "o")
    task, _ = _fake_latency_task({"tiny1": [(9.0, True)], "tiny2": [(7.0, False)]})
    from archbench import runner
    from archbench.tasks import RunSettings

    stop = runner._StopFlag
    try:
        runner._StopFlag = _StopsBeforeReruns
        summary = runner.run(["tiny1", "tiny2"], [task], RunSettings(), out, notify=lambda m: None)
    finally:
        runner._StopFlag = stop
    assert summary.interrupted and summary.remeasured == 0 and len(_rows(out)) == 2
    task, calls = _fake_latency_task({"tiny1": [(6.0, False)], "tiny2": []})
    summary = _run(["tiny1", "tiny2"], task, out)
    assert calls == ["tiny1"] and (summary.skipped, summary.remeasured) == (2, 1)
    assert [r.get("superseded", False) for r in _rows(out)] == [True, False, False]


class _StopsBeforeReruns:
    """A stop flag that a Ctrl-C set during the last unit of the grid (read once per unit, then by the
    re-measuring loop)."""

    def __init__(self):
        self.reads = 0

    @property
    def requested(self):
        self.reads += 1
        return self.reads > 2
