"""The migration that adds ``email_verified`` marks every existing account verified."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import User

BEFORE = [("accounts", "0002_email_lowercase")]
AFTER = [("accounts", "0003_user_email_verified")]


@pytest.mark.django_db(transaction=True)
def test_existing_users_are_verified_by_the_migration() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO users (password, is_superuser, email, name, is_active, is_staff,"
                " date_joined) VALUES ('!', false, 'old@example.com', '', true, true, now())"
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert User.objects.get(email="old@example.com").email_verified
    # New accounts are not: the field's default is unverified.
    assert not User.objects.create_user(email="new@example.com").email_verified
