"""Alert events that members' private rules wrote into a shared hive's history go.

Only the apiary owner's rules write the hive's history now (alerts.services._raise).
Before, every member's rule did, so each member read the others' private thresholds in
those events. This removes the events of alerts whose user does not own the hive's
apiary; the alerts themselves stay, for their user. Account-wide rules apply only to
hives their user owns, so their events were written by an owner and are kept (also
after a handover). Events of a hive- or apiary-wide rule written while its user owned
the apiary, before handing it over, cannot be told apart and go too.
"""

from django.db import migrations
from django.db.models import F, Q


def forwards(apps, schema_editor):
    Alert = apps.get_model("alerts", "Alert")
    Event = apps.get_model("apiary", "Event")
    db = schema_editor.connection.alias
    members = (
        Alert.objects.using(db)
        .filter(event__isnull=False)
        .exclude(user_id=F("hive__apiary__owner_id"))
        .filter(Q(rule__isnull=True) | Q(rule__hive__isnull=False) | Q(rule__apiary__isnull=False))
    )
    # Alert.event is SET_NULL: the alerts lose the link, not their record.
    Event.objects.using(db).filter(
        pk__in=members.values_list("event_id", flat=True), type="alert"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0002_default_rules")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
