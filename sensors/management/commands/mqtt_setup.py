from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from sensors import broker
from sensors.services import broker_reconcile


class Command(BaseCommand):
    help = (
        "Make the MQTT broker ready for BeeAPI (the devices' role, the ingest client, "
        "default access), delete device clients of hives that no longer exist, and list "
        "the hives that have no client (replace their device key to use MQTT)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not broker.enabled():
            raise CommandError(broker.MQTT_OFF)
        host, port = broker.endpoint()
        try:
            result = broker_reconcile()
        except broker.BrokerError as exc:
            raise CommandError(f"MQTT broker {host}:{port}: {exc.detail}") from exc
        self.stdout.write(f"MQTT broker {host}:{port}: devices' role and ingest client ready")
        for device_id in result.removed:
            self.stdout.write(f"  removed the client of {device_id}: no hive has this device_id")
        if result.missing:
            self.stdout.write(
                self.style.WARNING(
                    f"{len(result.missing)} hive(s) without an MQTT client; replace their "
                    "device key to use MQTT (BeeAPI keeps only the key's hash):"
                )
            )
            for hive in result.missing:
                self.stdout.write(f"  {hive.apiary.name} / {hive.name}: {hive.device_id}")
        else:
            self.stdout.write("Every hive has its MQTT client.")
