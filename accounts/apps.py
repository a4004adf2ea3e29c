from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import router
from django.db.models.signals import post_migrate


def _sync_beekeepers_group(*, using: str, **kwargs: Any) -> None:
    from django.contrib.auth.models import Group

    from accounts.services import beekeepers_group

    if not router.allow_migrate_model(using, Group):
        return
    # New apiary models (and their permissions) reach existing beekeepers on the next migrate.
    beekeepers_group(sync=True)


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401 - the user cache's invalidation

        post_migrate.connect(
            _sync_beekeepers_group, sender=self, dispatch_uid="accounts.sync_beekeepers_group"
        )
