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


@pytest.mark.skipif(
    not shutil.which("mosquitto_ctrl"), reason="mosquitto (dynamic security) not installed"
)
def test_make_run_mqtt_broker_is_kept_found_by_make_manage_and_keeps_its_password(
    tmp_path: Path,
) -> None:
    import stat

    run = devstack.RunMqtt(tmp_path / "mosquitto")
    env = run.up()
    try:
        assert env["MQTT_URL"].startswith("mqtt://127.0.0.1:")
        assert env["MQTT_ADMIN_USERNAME"] == "beeapi-admin" and len(env["MQTT_ADMIN_PASSWORD"]) > 30
        secret = tmp_path / "mosquitto" / "admin_password"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert "127.0.0.1" in (tmp_path / "mosquitto" / "mosquitto.conf").read_text()
        # `make manage` while `make run` is up, and a second `make run`: the same broker.
        assert devstack.RunMqtt(tmp_path / "mosquitto").running_env() == env
        assert devstack.RunMqtt(tmp_path / "mosquitto").up() == env
    finally:
        run.down()
    assert devstack.RunMqtt(tmp_path / "mosquitto").running_env() == {}
    # Started again, it keeps its dynamic-security file and so its admin password.
    again = devstack.RunMqtt(tmp_path / "mosquitto")
    try:
        assert again.up()["MQTT_ADMIN_PASSWORD"] == env["MQTT_ADMIN_PASSWORD"]
    finally:
        again.down()
