"""The demo's own mail sink on loopback, and demo users made as seed_demo makes them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth.models import Group, Permission, User

from demo.mail_sink import MailSink
from demo.seed import GROUP_PERMISSIONS, MAILBOX_GROUP
from tests.conftest import free_port

# aiosmtpd logs every SMTP command at INFO; a failing test's output should show the test.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@pytest.fixture
def mail_sink(live_db, settings) -> Iterator[MailSink]:
    """The demo's SMTP sink on a free loopback port; Django's mail goes to it over SMTP.

    It stores mail from its own thread and connection, so the test needs committed data."""
    sink = MailSink(port=free_port()).start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = sink.host
    settings.EMAIL_PORT = sink.port
    settings.OPSCORE_BASE_URL = "https://ops.example.test"
    yield sink
    sink.stop()


@pytest.fixture
def demo_user() -> Callable[..., User]:
    """A staff user in the named demo groups (and their own mailbox), password 'pw'."""

    def make(username: str, *groups: str) -> User:
        user = User.objects.create_user(
            username=username, email=f"{username}@opscore.invalid", password="pw", is_staff=True
        )
        for name in (*groups, MAILBOX_GROUP):
            group, _ = Group.objects.get_or_create(name=name)
            for dotted in GROUP_PERMISSIONS[name]:
                app_label, codename = dotted.split(".")
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )
            user.groups.add(group)
        return user

    return make
