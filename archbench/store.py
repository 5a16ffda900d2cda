"""The result store: an append-only JSON-lines log per output folder, safe against crashes and races.

Layout of an output folder::

    results.jsonl   one JSON object per finished measurement, appended and fsync'ed (the source of truth)
    results.csv     a tidy table rebuilt from the log (written to a temporary file, then renamed)
    models.csv      registry metadata of the models measured (reference figures with sources)
    .lock           flock'ed while a run writes (the kernel releases it when the process dies, however
                    it dies); a second run gets a clear error

A SIGKILL loses at most the measurement in progress: a truncated last line is ignored when reading.
Every row carries ``key``, a hash of (model, task, settings that define the measurement); a rerun
skips keys already measured with status ``ok`` unless forced.

The log is only appended to, with one exception: a noisy measurement that the sweep measured again
at its end is flagged ``superseded: true`` where it stands (:meth:`ResultStore.supersede`: the log
is rewritten to a temporary file that then replaces it, so a crash leaves the old log or the new
one, never a mix). A superseded row is kept for the record but is never the one in effect:
``results.csv`` and resuming use, per key and machine, the latest row that is not superseded.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ResultsFileError, UsageError

LOG_NAME = "results.jsonl"
CSV_NAME = "results.csv"
LOCK_NAME = ".lock"
MODELS_NAME = "models.csv"
SCHEMA = "archbench.results/1"
FIRST_COLUMNS = ("model", "task", "status", "error", "run_id", "timestamp")


def measurement_key(model: str, task: str, settings: Mapping[str, Any]) -> str:
    """A stable hash of what defines a measurement (never the environment or the time)."""
    blob = json.dumps({"model": model, "task": task, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ResultStore:
    """An output folder of archbench results; use as a context manager to hold its lock."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = os.fspath(folder)
        self.log_path = os.path.join(self.folder, LOG_NAME)
        self.csv_path = os.path.join(self.folder, CSV_NAME)
        self.lock_path = os.path.join(self.folder, LOCK_NAME)
        self._lock_fd: int | None = None

    def __enter__(self) -> ResultStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        try:
            os.makedirs(self.folder, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create output folder {self.folder}: {exc.strerror}") from exc
        if not os.access(self.folder, os.W_OK):
            raise UsageError(f"output folder {self.folder} is not writable")
        self._acquire()

    def _acquire(self) -> None:
        """Take an exclusive ``flock`` on ``.lock`` and write this process's id into it.

        The lock belongs to the open file, so the kernel drops it when the holder exits or is killed:
        a leftover ``.lock`` of a dead run is simply locked again, and a reused pid cannot fool the
        check. The id in the file only serves the error message. A lock taken on a file that the
        previous holder unlinked meanwhile (its :meth:`close`) is dropped and taken again on the new file.
        """
        while True:
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o644)
            except OSError as exc:
                raise UsageError(f"cannot write to output folder {self.folder}: {exc.strerror}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                pid = _read_pid(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise UsageError(f"cannot lock {self.folder}: {exc.strerror}") from exc
                holder = f" (pid {pid})" if pid else ""
                raise UsageError(
                    f"{self.folder} is in use by another archbench run{holder}; "
                    "wait for it or use another --out folder"
                ) from None
            if _same_file(fd, self.lock_path):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def close(self) -> None:
        """Remove ``.lock`` and release it (unlink first, so that a waiting run never locks a removed file)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            os.unlink(self.lock_path)
        except FileNotFoundError:
            pass
        os.close(fd)

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one finished measurement durably (write, flush, fsync). A last line cut short by a
        killed writer (a measurement that never finished) is dropped first, so that the new row
        stands on a line of its own."""
        line = json.dumps({"schema": SCHEMA, **row}, default=_jsonable, allow_nan=True)
        with open(self.log_path, "a+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    f.seek(0)
                    f.truncate(f.read().rfind(b"\n") + 1)
            f.write((line + "\n").encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())

    def rows(self) -> list[dict[str, Any]]:
        return read_log(self.log_path) if os.path.exists(self.log_path) else []

    def in_effect(self, machine: str | None = None) -> dict[str, dict[str, Any]]:
        """Per key, the latest row that is not superseded (of ``machine`` only, when given)."""
        latest: dict[str, dict[str, Any]] = {}
        for r in self.rows():
            if "key" in r and not r.get("superseded") and (machine is None or machine_of(r) == machine):
                latest[r["key"]] = r
        return latest

    def done_keys(self, machine: str | None = None) -> set[str]:
        """Keys measured ``ok`` (on ``machine`` only, when given: another machine measures again);
        superseded rows do not count."""
        return {
            r["key"]
            for r in self.rows()
            if r.get("status") == "ok"
            and "key" in r
            and not r.get("superseded")
            and (machine is None or machine_of(r) == machine)
        }

    def supersede(self, key: str, run_id: str, remeasured: bool) -> int:
        """Flag ``superseded: true`` on the rows of ``key`` from run ``run_id`` whose ``remeasured``
        is ``remeasured``; returns how many. The log is rewritten atomically (see the module
        docstring); the other lines are kept byte for byte."""
        if not os.path.exists(self.log_path):
            return 0
        with open(self.log_path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        flagged = 0
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (
                isinstance(row, dict)
                and row.get("key") == key
                and row.get("run_id") == run_id
                and bool(row.get("remeasured")) == remeasured
                and not row.get("superseded")
            ):
                row["superseded"] = True
                lines[i] = json.dumps(row, default=_jsonable, allow_nan=True)
                flagged += 1
        if flagged:
            _write_atomic(self.log_path, "\n".join(lines))
        return flagged

    def write_csv(self) -> str:
        """Rebuild ``results.csv`` from the log atomically: per key and machine, the latest row that
        is not superseded."""
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in self.rows():
            if not row.get("superseded"):
                latest[(row.get("key", str(len(latest))), machine_of(row))] = row
        write_csv_atomic(self.csv_path, latest.values())
        return self.csv_path

    def write_models(self, names: list[str]) -> str:
        """Write ``models.csv``: the registry metadata (reference figures, sources) of the models measured."""
        from .catalog import spec_rows

        path = os.path.join(self.folder, MODELS_NAME)
        write_csv_atomic(path, spec_rows(names))
        return path


def _read_pid(fd: int) -> int:
    """The pid a lock holder wrote into ``.lock`` (0 when unreadable or not written yet)."""
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0)
    except (OSError, ValueError):
        return 0


def _same_file(fd: int, path: str) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def read_log(path: str) -> list[dict[str, Any]]:
    """Read a results log; a truncated last line (a killed writer) is skipped, other damage is an error."""
    rows = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                continue
            raise ResultsFileError(f"{path}: line {i + 1} is not valid JSON") from None
        if not isinstance(row, dict) or row.get("schema") != SCHEMA:
            raise ResultsFileError(f"{path}: line {i + 1} is not an archbench result (schema {SCHEMA})")
        rows.append(row)
    return rows


def _cell(key: str, value: Any) -> Any:
    if isinstance(value, list | tuple):
        if key in ("input_shape", "shape"):
            return "x".join(str(d) for d in value)
        return json.dumps(list(value))
    return value


def flatten(row: Mapping[str, Any]) -> dict[str, Any]:
    """One flat CSV row: ``settings`` and ``result`` keys as plain columns, ``env`` keys as ``env_*``."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k == "schema":
            continue
        if isinstance(v, Mapping):
            for k2, v2 in v.items():
                out[k2 if k in ("settings", "result") else f"{k}_{k2}"] = _cell(k2, v2)
        else:
            out[k] = _cell(k, v)
    return out


def write_csv_atomic(path: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write a tidy CSV through a temporary file and ``os.replace`` (never a half-written file)."""
    flat = [flatten(r) for r in rows]
    columns: list[str] = [c for c in FIRST_COLUMNS if any(c in r for r in flat)]
    for r in flat:
        for k in r:
            if k not in columns:
                columns.append(k)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in flat:
        writer.writerow(r)
    _write_atomic(path, buf.getvalue())


def _write_atomic(path: str, text: str) -> None:
    """Write ``text`` through a temporary file in the same folder and ``os.replace`` (never a
    half-written file)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
    try:
        os.fchmod(fd, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


MACHINE_KEYS = ("env_device", "env_cpu_model", "env_platform", "env_backend")


def machine_of(row: Mapping[str, Any]) -> str:
    """A row's machine description (device, CPU model, platform, backend)."""
    env = row.get("env") or {}
    return " | ".join(str(env.get(k[4:], "")) for k in MACHINE_KEYS)


def merge(sources: list[str], out: str, *, keep_latest: bool = False) -> dict[str, int]:
    """Combine result folders into ``out``: one row per (measurement, machine).

    The same measurement (same key) from different machines is kept once per machine, so a report
    shows the devices side by side. The same measurement on the same machine from two different runs
    is a conflict: an error naming it, unless ``keep_latest`` keeps the newest row.
    """
    if not sources:
        raise UsageError("merge needs at least one results folder")
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    origin: dict[tuple[str, str], str] = {}
    conflicts = 0
    for folder in sources:
        log = os.path.join(folder, LOG_NAME)
        if not os.path.isfile(log):
            raise UsageError(f"{folder}: no {LOG_NAME} (not an archbench results folder)")
        for row in read_log(log):
            if row.get("superseded"):
                continue
            ident = (row.get("key", ""), machine_of(row))
            old = chosen.get(ident)
            if old is not None and old.get("run_id") != row.get("run_id"):
                if not keep_latest:
                    raise UsageError(
                        f"conflict: {row.get('model')}:{row.get('task')} (key {ident[0]}) was measured on the "
                        f"same machine in {origin[ident]} and {folder}; pass --keep-latest to keep the newest"
                    )
                conflicts += 1
                if str(row.get("timestamp", "")) < str(old.get("timestamp", "")):
                    continue
            chosen[ident] = row
            origin[ident] = folder
    with ResultStore(out) as store:
        if os.path.exists(store.log_path) and store.rows():
            raise UsageError(f"{out} already holds results: merge into a new folder")
        for row in chosen.values():
            store.append({k: v for k, v in row.items() if k != "schema"})
        store.write_csv()
    return {"rows": len(chosen), "sources": len(sources), "conflicts_resolved": conflicts}
