"""The result folder's lock: held by the kernel for a live run only, whatever pid the lock file names."""

import os
import signal
import subprocess
import sys

import pytest

from archbench.errors import UsageError
from archbench.store import LOCK_NAME, ResultStore

HOLD = (
    "import sys, time\n"
    "from archbench.store import ResultStore\n"
    "store = ResultStore(sys.argv[1])\n"
    "store.open()\n"
    "print('locked', flush=True)\n"
    "time.sleep(600)\n"
)


def test_lock_of_a_killed_run_is_free_at_once(tmp_path):
    folder = str(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, folder], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match=rf"in use by another archbench run \(pid {holder.pid}\)"):
            ResultStore(folder).open()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / LOCK_NAME).read_text() == str(holder.pid), "a killed run leaves its lock file behind"
    with ResultStore(folder) as store:
        store.append({"key": "k", "status": "ok"})
        assert (tmp_path / LOCK_NAME).read_text() == str(os.getpid())
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_live_pid_in_an_unlocked_file_does_not_block(tmp_path):
    (tmp_path / LOCK_NAME).write_text(str(os.getppid()))  # alive, but holds no lock: a reused pid
    with ResultStore(str(tmp_path)) as store:
        store.append({"key": "k", "status": "ok"})
    assert store.rows()[0]["key"] == "k"


def test_lock_is_released_on_close_and_can_be_taken_again(tmp_path):
    store = ResultStore(str(tmp_path))
    store.open()
    with pytest.raises(UsageError, match="in use by another archbench run"):
        ResultStore(str(tmp_path)).open()
    store.close()
    store.close()
    with ResultStore(str(tmp_path)):
        pass


# -- rows in effect: superseded rows stay in the log for the record only --------------------------------


def _row(key, run_id, remeasured, value):
    return {
        "key": key,
        "run_id": run_id,
        "status": "ok",
        "model": key,
        "task": "latency",
        "remeasured": remeasured,
        "result": {"median_ms": value, "noisy": not remeasured},
    }


def test_superseding_flags_the_first_row_in_place_and_keeps_the_others_byte_for_byte(tmp_path):
    from archbench.store import read_log

    with ResultStore(str(tmp_path)) as store:
        store.append(_row("a", "r1", False, 9.0))
        store.append(_row("b", "r1", False, 7.0))
        store.append(_row("a", "r1", True, 5.0))
        before = (tmp_path / "results.jsonl").read_text().splitlines()
        mode = os.stat(tmp_path / "results.jsonl").st_mode
        assert store.supersede("a", "r1", remeasured=False) == 1
        assert store.supersede("a", "r1", remeasured=False) == 0, "already flagged"
        after = (tmp_path / "results.jsonl").read_text().splitlines()
        assert after[1:] == before[1:] and after[0] != before[0]
        assert os.stat(tmp_path / "results.jsonl").st_mode == mode
        rows = read_log(store.log_path)
        assert [r.get("superseded", False) for r in rows] == [True, False, False]
        assert {k: r["result"]["median_ms"] for k, r in store.in_effect().items()} == {"a": 5.0, "b": 7.0}
        assert store.done_keys() == {"a", "b"}
        store.write_csv()
    import csv

    with open(tmp_path / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert sorted((r["key"], r["median_ms"]) for r in table) == [("a", "5.0"), ("b", "7.0")]
    assert "superseded" not in table[0]


def test_a_key_whose_only_ok_row_is_superseded_is_not_done(tmp_path):
    with ResultStore(str(tmp_path)) as store:
        store.append(_row("a", "r1", False, 9.0))
        store.append({**_row("a", "r1", True, None), "status": "error"})
        store.supersede("a", "r1", remeasured=False)
        assert store.done_keys() == set(), "the row in effect failed: resuming measures it again"


def test_merge_leaves_superseded_rows_out(tmp_path):
    from archbench.store import merge, read_log

    with ResultStore(str(tmp_path / "a")) as store:
        store.append(_row("a", "r1", False, 9.0))
        store.append(_row("a", "r1", True, 5.0))
        store.supersede("a", "r1", remeasured=False)
    merge([str(tmp_path / "a")], str(tmp_path / "m"))
    rows = read_log(str(tmp_path / "m" / "results.jsonl"))
    assert [r["result"]["median_ms"] for r in rows] == [5.0]


def test_append_after_a_killed_writer_drops_the_cut_line(tmp_path):
    from archbench.store import read_log

    with ResultStore(str(tmp_path)) as store:
        store.append(_row("a", "r1", False, 9.0))
        with open(store.log_path, "a") as f:
            f.write('{"schema": "archbench.results/1", "key": "b", "sta')
        store.append(_row("c", "r2", False, 3.0))
        assert [r["key"] for r in read_log(store.log_path)] == ["a", "c"]
