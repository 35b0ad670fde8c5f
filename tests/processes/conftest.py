"""The loopback SMTP server and payments provider the approvals tests use, for the processes'."""

from tests.approvals.conftest import payments, smtp  # noqa: F401
