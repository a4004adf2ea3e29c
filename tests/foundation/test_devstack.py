"""devtools/devstack.py: the project-local Redis that `make run` starts and `make manage`
finds, so live readings cross processes without REDIS_URL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devtools import devstack

pytestmark = pytest.mark.skipif(
    not shutil.which("redis-server"), reason="redis-server not installed"
)


def test_make_run_redis_is_found_by_make_manage_and_stopped_after(tmp_path: Path) -> None:
    run = devstack.RunRedis(tmp_path / "redis")
    url = run.up()
    try:
        assert url is not None and url.startswith("redis://127.0.0.1:")
        # What `make manage` does while `make run` is up: find the same server.
        assert devstack.RunRedis(tmp_path / "redis").running_url() == url
        # And a second `make run` reuses it rather than starting another.
        assert devstack.RunRedis(tmp_path / "redis").up() == url
    finally:
        run.down()
    assert devstack.RunRedis(tmp_path / "redis").running_url() is None
