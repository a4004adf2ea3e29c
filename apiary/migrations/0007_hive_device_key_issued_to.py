import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def issued_to_owner(apps, schema_editor):
    """Existing keys were issued under the apiary's owner of today: the best we know.

    On the migration's own connection: in single-database mode this may run on the
    telemetry alias, whose open transaction holds the table the update needs."""
    db = schema_editor.connection.alias
    Apiary = apps.get_model("apiary", "Apiary")
    Hive = apps.get_model("apiary", "Hive")
    owner = Apiary.objects.using(db).filter(pk=OuterRef("apiary_id")).values("owner_id")[:1]
    Hive.objects.using(db).update(device_key_issued_to=Subquery(owner))


class Migration(migrations.Migration):
    dependencies = [
        ("apiary", "0006_memberships"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="hive",
            name="device_key_issued_to",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(issued_to_owner, migrations.RunPython.noop),
    ]
