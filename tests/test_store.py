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
