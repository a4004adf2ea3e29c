"""MQTT and single-reading HTTP ingest benchmark on the `make run` servers.

    python -m devtools.bench_mqtt [--devices 10000] [--skip http]

Like `make manage ARGS="bench_mqtt ..."`, and it also starts the project-local MQTT broker
and Redis when `make run` is not up (mqtt_ingest and daphne are separate processes: the
live stream crosses them through Redis). See devtools/management/commands/bench_mqtt.py
for what it measures.
"""

from __future__ import annotations

import os
import sys

from devtools import devstack

if __name__ == "__main__":
    redis, mqtt = devstack.RunRedis(), devstack.RunMqtt()
    try:
        if not os.environ.get("REDIS_URL"):
            url = redis.running_url() or redis.up()
            if url:
                os.environ["REDIS_URL"] = url
        if not os.environ.get("MQTT_URL"):
            os.environ.update(mqtt.running_env() or mqtt.up())
        code = devstack.cmd_manage(["bench_mqtt", *sys.argv[1:]])
    finally:
        mqtt.down()
        redis.down()
    sys.exit(code)
