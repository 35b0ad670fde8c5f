
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0004_send_event_permission"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="apikey",
            options={
                "ordering": ["-created_at"],
                "permissions": [
                    ("rotate_apikey", "Can rotate an API key (and read the new key once)"),
                    ("revoke_apikey", "Can revoke an API key"),
                ],
                "verbose_name": "API key",
            },
        ),
    ]
