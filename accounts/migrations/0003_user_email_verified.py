from typing import Any

from django.db import migrations, models


def _existing_users_are_verified(apps: Any, schema_editor: Any) -> None:
    # Accounts made before addresses were proven keep working as they did, memberships
    # included: nobody is asked to verify an address they have used all along.
    User = apps.get_model("accounts", "User")
    User.objects.using(schema_editor.connection.alias).update(email_verified=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_email_lowercase"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_verified",
            field=models.BooleanField(
                default=False,
                help_text="The owner of the address followed the link sent to it. Invitations "
                "to the address become memberships only then.",
            ),
        ),
        migrations.RunPython(_existing_users_are_verified, migrations.RunPython.noop),
    ]
