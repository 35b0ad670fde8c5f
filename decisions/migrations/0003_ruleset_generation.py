"""The published-version generation row and the triggers that change it (decisions.published)."""

from django.db import migrations, models

from opscore.generations import trigger_statements

TABLE = "decisions_ruleset_generation"
PREFIX = "decisions_published"
# What a published version's lookup reads: the slug, and which version is published with
# what content (a draft's edits move it too: rare, and harmless).
WATCHED = (
    ("decisions_ruleset", ("slug",)),
    ("decisions_rulesetversion", ("status", "content", "content_digest", "rule_set_id")),
)


def _run(schema_editor, *, install: bool) -> None:
    for statement in trigger_statements(
        vendor=schema_editor.connection.vendor,
        table=TABLE,
        prefix=PREFIX,
        watched=WATCHED,
        install=install,
    ):
        schema_editor.execute(statement)


def install(apps, schema_editor) -> None:
    _run(schema_editor, install=True)


def remove(apps, schema_editor) -> None:
    _run(schema_editor, install=False)


class Migration(migrations.Migration):
    dependencies = [("decisions", "0002_admin_action_permissions")]

    operations = [
        migrations.CreateModel(
            name="RuleSetGeneration",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("value", models.BigIntegerField()),
            ],
            options={"db_table": "decisions_ruleset_generation"},
        ),
        migrations.RunPython(install, remove),
    ]
