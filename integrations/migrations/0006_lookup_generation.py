"""The lookup generation row and the triggers that change it (see LookupGeneration)."""

from django.db import migrations, models

# (table, the UPDATE columns that matter to a lookup; None: any column)
WATCHED = (
    ("integrations_apikey", ("revoked_at", "scopes", "event_types", "digest", "integration_id")),
    ("integrations_integration", ("is_active", "name", "user_id")),
    ("auth_user", ("is_active", "username", "is_staff", "is_superuser")),
    ("integrations_eventtype", None),
    ("integrations_triggerbinding", None),
)
TABLE = "integrations_lookup_generation"
SEQUENCE = "integrations_lookup_generation_seq"
FUNCTION = "integrations_bump_lookup_generation"


def _postgres(install: bool) -> list[str]:
    if not install:
        return [
            *(f"DROP TRIGGER IF EXISTS {table}_lookup ON {table}" for table, _ in WATCHED),
            f"DROP FUNCTION IF EXISTS {FUNCTION}()",
            f"DROP SEQUENCE IF EXISTS {SEQUENCE}",
        ]
    statements = [
        # A sequence is never rolled back: a value once used is never seen again.
        f"CREATE SEQUENCE {SEQUENCE}",
        f"""CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE {TABLE} SET value = nextval('{SEQUENCE}') WHERE id = 1;
            RETURN NULL;
        END
        $$""",
    ]
    for table, columns in WATCHED:
        update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
        statements.append(
            f"CREATE TRIGGER {table}_lookup AFTER INSERT OR DELETE OR {update} ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )
    return statements


def _sqlite(install: bool) -> list[str]:
    statements = []
    for table, columns in WATCHED:
        for event in ("INSERT", "DELETE", f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"):
            name = f"{table}_lookup_{event.split()[0].lower()}"
            if install:
                # SQLite has no sequence; a random 63-bit value is as good as never reused.
                statements.append(
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                    f"BEGIN UPDATE {TABLE} SET value = abs(random()) WHERE id = 1; END"
                )
            else:
                statements.append(f"DROP TRIGGER IF EXISTS {name}")
    return statements


def _run(schema_editor, *, install: bool) -> None:
    vendor = schema_editor.connection.vendor
    statements = _postgres(install) if vendor == "postgresql" else _sqlite(install)
    for statement in statements:
        schema_editor.execute(statement)
    if install:
        schema_editor.execute(f"INSERT INTO {TABLE} (id, value) VALUES (1, 1)")


def install(apps, schema_editor) -> None:
    _run(schema_editor, install=True)


def remove(apps, schema_editor) -> None:
    _run(schema_editor, install=False)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("integrations", "0005_admin_action_permissions"),
    ]

    operations = [
        migrations.CreateModel(
            name="LookupGeneration",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("value", models.BigIntegerField()),
            ],
            options={"db_table": "integrations_lookup_generation"},
        ),
        migrations.RunPython(install, remove),
    ]
