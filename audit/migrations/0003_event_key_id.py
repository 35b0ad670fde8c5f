from django.db import migrations, models

from audit.triggers import install_append_only_guards, remove_append_only_guards


def lift_guards(apps, schema_editor):
    remove_append_only_guards(schema_editor.connection)


def restore_guards(apps, schema_editor):
    install_append_only_guards(schema_editor.connection)


class Migration(migrations.Migration):
    """Existing events get key id "": the legacy unkeyed SHA-256, which still verifies.

    SQLite adds a column by copying the table into a new one, and the copy has no triggers;
    the guards are lifted around the change and put back on both backends.
    """

    dependencies = [("audit", "0002_append_only_guards")]

    operations = [
        migrations.RunPython(lift_guards, restore_guards),
        migrations.AddField(
            model_name="event",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        migrations.RunPython(restore_guards, lift_guards),
    ]
