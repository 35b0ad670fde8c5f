"""Brute force on the admin login, through the real login form: django-axes' cool-off.

Staff users here hold no superuser flag: a reviewer logging in to work their queue.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.factories import reviewer

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "correct horse battery staple"


def log_in(client, username: str, password: str, address: str = "192.0.2.10"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def is_logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


@pytest.fixture
def now(time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    return time_machine


def test_the_sixth_attempt_after_five_wrong_passwords_is_refused_even_when_right(client, now):
    rita = reviewer("rita")

    for _ in range(4):
        response = log_in(client, "rita", "wrong")
        assert response.status_code == 200  # the form again, with its error
        assert b"correct username and password" in response.content
    # The fifth wrong password is still refused as wrong; its answer says a lock now holds.
    assert log_in(client, "rita", "wrong").status_code == 429
    assert not is_logged_in(client)

    response = log_in(client, "rita", PASSWORD)

    assert response.status_code == 429
    assert b"too many login attempts" in response.content.lower()
    assert not is_logged_in(client)

    # Still refused just before the cool-off ends (15 minutes by default); an attempt while
    # locked starts the cool-off again, so a patient attacker never gets a fresh five.
    now.shift(timedelta(minutes=14))
    assert log_in(client, "rita", PASSWORD).status_code == 429
    assert not is_logged_in(client)

    # Let in once a full cool-off has passed with no attempt.
    now.shift(timedelta(minutes=16))
    response = log_in(client, "rita", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert is_logged_in(client)
    assert client.session["_auth_user_id"] == str(rita.pk)


def test_a_successful_login_resets_the_count(client, now):
    reviewer("rita")

    for _ in range(4):
        log_in(client, "rita", "wrong")
    assert log_in(client, "rita", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        log_in(client, "rita", "wrong")

    assert log_in(client, "rita", PASSWORD).status_code == 302


def test_one_address_spraying_passwords_over_usernames_is_locked_out(client, now):
    for name in ("ann", "bob", "cat", "dan", "eve"):
        reviewer(name)
        log_in(client, name, "wrong", address="198.51.100.20")
    reviewer("fay")

    assert log_in(client, "fay", PASSWORD, address="198.51.100.20").status_code == 429
    # Fay from her own address is not held back by someone else's spraying.
    assert log_in(client, "fay", PASSWORD, address="192.0.2.77").status_code == 302


def test_an_operator_unlocks_a_user_with_axes_reset_username(client, now):
    reviewer("rita")
    for _ in range(5):
        log_in(client, "rita", "wrong")
    assert log_in(client, "rita", PASSWORD).status_code == 429

    call_command("axes_reset_username", "rita")
    # The address is locked too (same one for all five), so rita comes back from another.
    response = log_in(client, "rita", PASSWORD, address="192.0.2.11")

    assert response.status_code == 302
    assert is_logged_in(client)
