"""What the benchmark scripts share: one child process per Keras backend, and the machine stamp.

Keras fixes its backend at import, so each script re-runs itself once per backend with
``--child-out FILE`` (the child writes its rows there as JSON) and the parent collects the rows,
stamps them with the machine, versions and load, and writes one CSV.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time


def child_rows(script: str, backend: str, args: list[str], extra_env: dict[str, str] | None = None) -> list[dict]:
    """Run ``script args --child-out F`` under ``KERAS_BACKEND=backend``; its rows, or [] if it failed."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", **(extra_env or {}))
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.json")
        proc = subprocess.run([sys.executable, script, *args, "--child-out", out], env=env, check=False)
        if proc.returncode != 0 or not os.path.exists(out):
            print(f"{backend}: child failed with code {proc.returncode}", file=sys.stderr)
            return []
        with open(out, encoding="utf-8") as f:
            rows = json.load(f)
    return rows if isinstance(rows, list) else [rows]


class MachineStamp:
    """Start it before measuring; :meth:`fields` afterwards gives the columns every row repeats."""

    def __init__(self, note: str) -> None:
        self.note = note
        self.started = time.strftime("%Y-%m-%d %H:%M")
        self.load_before = os.getloadavg()[0]

    def fields(self, **extra: str) -> dict:
        from archbench.environment import cpu_model, versions

        return {
            **extra,
            "machine": f"{cpu_model()}, {len(os.sched_getaffinity(0))} logical cores, CPU only",
            "date": self.started,
            "load_avg_1min_before": round(self.load_before, 2),
            "load_avg_1min_after": round(os.getloadavg()[0], 2),
            "note": self.note,
            **{k: v for k, v in versions().items() if k in ("keras_version", "tensorflow_version", "jax_version")},
        }


def write_rows(rows: list[dict], stamp: dict, path: str, float_format: str = ".4f") -> None:
    """Write ``rows`` (each with ``stamp`` appended) to ``path`` as CSV; no rows is an error."""
    if not rows:
        raise SystemExit("no results")
    rows = [{**r, **stamp} for r in rows]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (format(v, float_format) if isinstance(v, float) else v) for k, v in r.items()})
    print(f"wrote {path}")
