"""Long checks that run in a process of their own, started when the session starts and run one at a time
on a thread beside the rest of the suite (which keeps one of two cores busy on average), so their minutes
overlap the suite's instead of adding to them.

A test module defines a job (:func:`define`) and marks the test that reads it
``@pytest.mark.background("name")``; ``conftest.py`` starts the jobs of the selected tests after
collection, and :func:`result` waits for one. Tests marked ``quiet`` (they time the machine) run at the
end of the session, after :func:`wait_all`.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Job:
    argv: Sequence[str]
    env: Mapping[str, str] | None
    timeout: float
    done: threading.Event = field(default_factory=threading.Event)
    outcome: subprocess.CompletedProcess | BaseException | None = None

    def run(self) -> None:
        try:
            self.outcome = subprocess.run(list(self.argv), env=None if self.env is None else dict(self.env),
                                          capture_output=True, text=True, timeout=self.timeout)  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - handed to the test that reads it
            self.outcome = exc
        finally:
            self.done.set()


JOBS: dict[str, Job] = {}
_started: list[str] = []
_thread: threading.Thread | None = None


def define(name: str, argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 3000) -> None:
    """A job ``name``: ``argv`` run with ``env``, killed after ``timeout`` seconds."""
    JOBS[name] = Job(argv, env, timeout)


def start(names: Sequence[str]) -> None:
    """Run the jobs ``names`` (defined, not yet started) one after the other on one thread."""
    global _thread
    todo = [n for n in dict.fromkeys(names) if n in JOBS and n not in _started]
    if not todo:
        return
    _started.extend(todo)
    _thread = threading.Thread(target=lambda: [JOBS[n].run() for n in todo], name="background-jobs", daemon=True)
    _thread.start()


def result(name: str) -> subprocess.CompletedProcess:
    """The finished process of job ``name`` (run now, in the foreground, if it was never started)."""
    job = JOBS[name]
    if name not in _started:
        _started.append(name)
        job.run()
    job.done.wait()
    if isinstance(job.outcome, BaseException):
        raise job.outcome
    return job.outcome


def wait_all() -> None:
    """Wait until every started job has finished."""
    for name in list(_started):
        JOBS[name].done.wait()
