"""Keep the MQTT broker's device clients in step with the hives' device keys.

A revocation never depends on a message getting through: the old client is deleted at
the broker inside the change's transaction, and a broker that cannot be reached or does
not confirm it raises BrokerError (503), which rolls the change back as a whole (the old
key stays, in the database and at the broker). This holds for a replaced key, a deleted
hive (also by cascade: an apiary, an account) and a hive whose device_id changed.

The client with the new key is made once the change commits, so a change that rolls
back never leaves a client of a key nobody got. A broker that fails then, or at a hive's
creation, fails nothing: the hive has no client (logged), and ``manage.py mqtt_setup``
names it; its key must be replaced to use MQTT (BeeAPI keeps only the key's hash). A hive
whose device_id changed likewise has no client until its key is replaced.

With MQTT_URL empty, nothing here talks to a broker.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save

from apiary.models import Hive
from apiary.notices import device_key_issued
from sensors import broker

logger = logging.getLogger("sensors.signals")


def _not_changed(hive: Hive, what: str) -> str:
    return (
        f"Nothing was changed: the MQTT broker did not confirm removing {what} of hive "
        f"{hive.name} ({hive.device_id}). Try again."
    )


def _revoke(device_id: str, detail: str) -> None:
    try:
        broker.device_client_delete(device_id=device_id)
    except broker.BrokerUnavailable as exc:
        raise broker.BrokerUnavailable(detail) from exc
    except broker.BrokerCommandError as exc:
        raise broker.BrokerCommandError(exc.command, exc.error, detail) from exc


def _client_set_on_commit(device_id: str, key: str) -> None:
    def client_set() -> None:
        try:
            broker.device_client_set(device_id=device_id, key=key)
        except broker.BrokerError as exc:
            logger.warning(
                "MQTT client of device %s not set (%s): its key must be replaced to use MQTT",
                device_id,
                exc.detail,
            )

    transaction.on_commit(client_set)


def _key_issued(sender: Any, hive: Hive, key: str, replaced: bool = False, **kwargs: Any) -> None:
    if not broker.enabled():
        return
    if replaced:
        _revoke(hive.device_id, _not_changed(hive, "the old device key"))
    _client_set_on_commit(hive.device_id, key)


def _remember_device_id(sender: Any, instance: Hive, raw: bool = False, **kwargs: Any) -> None:
    if not broker.enabled() or raw or instance.pk is None:
        return
    instance._mqtt_stored_device_id = (  # type: ignore[attr-defined]
        Hive.objects.filter(pk=instance.pk).values_list("device_id", flat=True).first()
    )


def _device_id_changed(sender: Any, instance: Hive, created: bool, **kwargs: Any) -> None:
    stored = getattr(instance, "_mqtt_stored_device_id", None)
    instance._mqtt_stored_device_id = None  # type: ignore[attr-defined]
    if created or stored is None or stored == instance.device_id or not broker.enabled():
        return
    _revoke(stored, _not_changed(instance, f"the client of its old device_id {stored}"))


def _hive_deleted(sender: Any, instance: Hive, **kwargs: Any) -> None:
    if broker.enabled():
        _revoke(instance.device_id, _not_changed(instance, "the device key"))


def connect() -> None:
    """Connect the receivers (SensorsConfig.ready)."""
    device_key_issued.connect(_key_issued, dispatch_uid="sensors.mqtt_key_issued")
    pre_save.connect(_remember_device_id, sender=Hive, dispatch_uid="sensors.mqtt_pre_save")
    post_save.connect(_device_id_changed, sender=Hive, dispatch_uid="sensors.mqtt_post_save")
    post_delete.connect(_hive_deleted, sender=Hive, dispatch_uid="sensors.mqtt_post_delete")
