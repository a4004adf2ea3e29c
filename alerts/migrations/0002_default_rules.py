"""Existing beekeepers get the default rules new ones get at sign-up."""

from django.db import migrations

DEFAULTS = {
    "swarm": {"drop_kg": 1.5, "window_minutes": 30},
    "brood_temperature": {"min": 32.0, "max": 36.5, "for_minutes": 30},
    "no_data": {"minutes": 60},
}


def forwards(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    AlertRule = apps.get_model("alerts", "AlertRule")
    db = schema_editor.connection.alias
    rules = [
        AlertRule(user_id=user_id, kind=kind, params=params)
        for user_id in User.objects.using(db).values_list("pk", flat=True)
        for kind, params in DEFAULTS.items()
    ]
    AlertRule.objects.using(db).bulk_create(rules, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial"), ("accounts", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
