"""Live-stream latency benchmark on the `make run` servers (or POSTGRES_URL / TIMESCALE_URL).

    python -m devtools.bench_live [--sockets 500] [--posts 100]

A thin wrapper: `make manage ARGS="bench_live ..."` does the same. See
devtools/management/commands/bench_live.py for what it measures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    command = [
        sys.executable,
        "-m",
        "devtools.devstack",
        "manage",
        "bench_live",
        *sys.argv[1:],
    ]
    sys.exit(subprocess.run(command, cwd=ROOT, check=False).returncode)
