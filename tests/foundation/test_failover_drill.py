"""The failover drill (devtools/failover_drill.py): a pg_auto_failover monitor and two
nodes for each database, the primary of each stopped under device ingest; nothing lost,
nothing stored twice, every device posting again within a minute.

Runs where pg_autoctl is installed (Debian: postgresql-15-auto-failover); elsewhere it
is skipped with the reason, and installs nothing (``python -m devtools.failover_drill``
installs it with apt-get when run by hand)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.failover_drill import pg_autoctl_missing

ROOT = Path(__file__).resolve().parent.parent.parent
SUMMARY = re.compile(
    r"^SUMMARY sent=(\d+) stored=(\d+) lost=(\d+) duplicated=(\d+) recovery_s=([\d.]+)$"
)


def test_failover_drill_loses_nothing_and_recovers() -> None:
    reason = pg_autoctl_missing()
    if reason:
        pytest.skip(reason)
    result = subprocess.run(
        [sys.executable, "-m", "devtools.failover_drill", "--no-install"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines, output
    match = SUMMARY.match(lines[-1])
    assert match, output
    sent, stored, lost, duplicated = (int(g) for g in match.groups()[:4])
    recovery_s = float(match.group(5))
    assert result.returncode == 0, output
    assert sent > 500 and stored == sent, output
    assert (lost, duplicated) == (0, 0), output
    assert recovery_s < 60, output
