"""``python manage.py mqtt_ingest``: store the readings devices publish to the MQTT broker
(sensors.mqtt_ingest). Several may run: they share the subscription. Each needs a client
id of its own that stays the same across restarts (the broker keeps its unacknowledged
messages under it): ``--client-id``, default ``beeapi-ingest-<host name>``."""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sensors import broker
from sensors.mqtt_ingest import Consumer


class Command(BaseCommand):
    help = "Store the readings that devices publish over MQTT (runs until stopped)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--client-id",
            default=None,
            help="MQTT client id, stable across restarts (default beeapi-ingest-<host name>).",
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Most messages stored per transaction."
        )
        parser.add_argument(
            "--batch-wait",
            type=float,
            default=0.05,
            help="Seconds a batch waits for more messages after its first (default 0.05).",
        )
        parser.add_argument(
            "--heartbeat",
            type=Path,
            default=None,
            help="Touch this file after every round while connected to the broker.",
        )

    def handle(
        self,
        *args: Any,
        client_id: str | None,
        batch_size: int,
        batch_wait: float,
        heartbeat: Path | None,
        **options: Any,
    ) -> None:
        if not broker.enabled():
            raise CommandError(broker.MQTT_OFF)
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if batch_wait < 0:
            raise CommandError("--batch-wait must not be negative.")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        client_id = client_id or f"beeapi-ingest-{socket.gethostname()}"
        consumer = Consumer(
            client_id=client_id,
            batch_size=batch_size,
            batch_wait=batch_wait,
            log=lambda line: self.stdout.write(line),
        )
        self.stdout.write(
            f"mqtt_ingest: {client_id}, batches of up to {batch_size} message(s) (Ctrl-C to stop)"
        )
        consumer.run(stop, heartbeat=(heartbeat.touch if heartbeat else None))
        self.stdout.write(f"mqtt_ingest: stopped, {consumer.stored} reading(s) stored")
