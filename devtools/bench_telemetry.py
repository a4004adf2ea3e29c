"""Telemetry benchmark on the `make run` servers (or POSTGRES_URL / TIMESCALE_URL).

    python -m devtools.bench_telemetry [--hives 100] [--days 30] [--clients 2] ...
    python -m devtools.bench_telemetry --cleanup

A thin wrapper: `make manage ARGS="bench_telemetry ..."` does the same. See
devtools/management/commands/bench_telemetry.py for what it measures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    sys.exit(
        subprocess.run(
            [sys.executable, "-m", "devtools.devstack", "manage", "bench_telemetry",
             *sys.argv[1:]],
            cwd=ROOT,
            check=False,
        ).returncode
    )  # fmt: skip
