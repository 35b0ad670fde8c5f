import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.models import Event
from audit.triggers import install_append_only_guards, remove_append_only_guards
from tests.factories import start_order

pytestmark = pytest.mark.django_db


def _behind_the_triggers_back(sql: str, params: list) -> None:
    remove_append_only_guards(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    install_append_only_guards(connection)


def test_verify_reports_an_intact_chain(capsys):
    for _ in range(3):
        start_order()
    call_command("verify_audit", "--quiet")
    out = capsys.readouterr().out
    assert f"checked {Event.objects.count()} events" in out
    assert "chain intact" in out


def test_verify_names_the_first_altered_row():
    for _ in range(3):
        start_order()
    target = Event.objects.order_by("seq")[2]
    _behind_the_triggers_back(
        "UPDATE audit_event SET payload = %s WHERE seq = %s",
        ['{"context": {"value": 1}}', target.seq],
    )
    with pytest.raises(CommandError, match=f"broken at sequence {target.seq}:.*altered") as info:
        call_command("verify_audit", "--quiet")
    assert info.value.returncode == 1


def test_verify_catches_a_deleted_row():
    for _ in range(3):
        start_order()
    victim = Event.objects.order_by("seq")[1]
    _behind_the_triggers_back("DELETE FROM audit_event WHERE seq = %s", [victim.seq])
    with pytest.raises(CommandError, match=f"broken at sequence {victim.seq}: sequence gap"):
        call_command("verify_audit", "--quiet")


def test_verify_catches_the_last_row_removed():
    start_order()
    last = Event.objects.order_by("-seq").first()
    _behind_the_triggers_back("DELETE FROM audit_event WHERE seq = %s", [last.seq])
    with pytest.raises(CommandError, match="rows removed"):
        call_command("verify_audit", "--quiet")
