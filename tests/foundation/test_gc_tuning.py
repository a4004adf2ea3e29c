"""The garbage collector of a server process (beeapi/gc_tuning.py)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from beeapi import gc_tuning
from tests.servers import ROOT, database_url


@pytest.fixture
def collector() -> Iterator[None]:
    """Put the test process's collector back as it was."""
    threshold = gc.get_threshold()
    frozen = gc.get_freeze_count()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    assert frozen == 0, "the suite itself must not run frozen (settings_test sets 0)"


def test_tune_freezes_startup_objects_and_raises_the_young_threshold(
    collector: None, settings: Any
) -> None:
    settings.SERVER_GC_GEN0 = 5_000
    _, gen1, gen2 = gc.get_threshold()
    assert gc_tuning.tune() is True
    assert gc.get_threshold() == (5_000, gen1, gen2)
    assert gc.get_freeze_count() > 10_000  # the modules, classes and registries loaded


def test_zero_leaves_the_collector_as_python_sets_it(collector: None, settings: Any) -> None:
    settings.SERVER_GC_GEN0 = 0
    before = gc.get_threshold()
    assert gc_tuning.tune() is False
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_cycles_made_after_tuning_are_still_collected(collector: None, settings: Any) -> None:
    settings.SERVER_GC_GEN0 = 5_000
    gc_tuning.tune()

    class Node:
        other: Any = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None


@pytest.mark.django_db(databases=["default", "telemetry"])
@pytest.mark.parametrize(("value", "expected"), [("", "10000 True"), ("0", "700 False")])
def test_the_server_entry_point_tunes_the_collector(value: str, expected: str) -> None:
    """Importing beeapi.asgi (what daphne loads) applies SERVER_GC_GEN0; default 10,000."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gc, beeapi.asgi; print(gc.get_threshold()[0], gc.get_freeze_count() > 0)",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "beeapi.settings",
            "SECRET_KEY": "test-only-secret-key-not-for-production-use-0123456789",
            "POSTGRES_URL": database_url("default"),
            "TIMESCALE_URL": database_url("telemetry"),
            "SERVER_GC_GEN0": value,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == expected


def test_a_negative_threshold_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "beeapi.settings",
            "SECRET_KEY": "test-only-secret-key-not-for-production-use-0123456789",
            "SERVER_GC_GEN0": "-1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SERVER_GC_GEN0 must be 0 or more, not -1" in result.stderr
