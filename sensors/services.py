"""Writes of the sensors app, shared by management commands and (later) the API."""

from __future__ import annotations

from dataclasses import dataclass

from apiary.models import Hive
from sensors import broker


@dataclass(frozen=True)
class Reconciled:
    removed: list[str]  # device clients of no hive, deleted at the broker
    missing: list[Hive]  # hives without a device client: their key must be replaced


def broker_reconcile() -> Reconciled:
    """Set the broker up (broker.broker_setup), delete the device clients whose device_id
    belongs to no hive, and name the hives that have no client.

    A hive has no client when it was created while MQTT was off or the broker was down,
    or its device_id changed; BeeAPI keeps only its key's hash, so only a new key (a
    replacement) gives it one. Raises BrokerError when the broker does not answer.
    """
    broker.broker_setup()
    clients = set(broker.device_clients())
    hives = list(Hive.objects.select_related("apiary").order_by("apiary__name", "name", "pk"))
    in_use = {hive.device_id for hive in hives}
    removed = sorted(clients - in_use)
    for device_id in removed:
        broker.device_client_delete(device_id=device_id)
    return Reconciled(
        removed=removed, missing=[hive for hive in hives if hive.device_id not in clients]
    )
