from django.db import migrations

from audit.hashing import GENESIS_HASH
from audit.triggers import install_append_only_guards, remove_append_only_guards


def install(apps, schema_editor):
    install_append_only_guards(schema_editor.connection)


def remove(apps, schema_editor):
    remove_append_only_guards(schema_editor.connection)


def create_chain_head(apps, schema_editor):
    apps.get_model("audit", "ChainHead").objects.get_or_create(
        pk=1, defaults={"last_seq": 0, "last_hash": GENESIS_HASH}
    )


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(install, remove),
        migrations.RunPython(create_chain_head, migrations.RunPython.noop),
    ]
