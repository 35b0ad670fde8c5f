import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from integrations.models import ApiKey, Integration, WebhookSource

pytestmark = pytest.mark.django_db


def test_create_api_key_prints_a_working_key_on_its_last_line(capsys):
    call_command("create_api_key", "billing", "--scope", "inbound:read")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert Integration.objects.get().name == "billing"
    assert ApiKey.objects.get().scopes == ["inbound:read"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get("/api/v1/inbound-events/").status_code == 200
    assert client.get("/api/v1/executions/").status_code == 403


def test_seed_demo_creates_the_demo_integrations_once():
    call_command("seed_demo", "--password", "pw-for-tests-123")
    call_command("seed_demo", "--password", "pw-for-tests-123")
    assert Integration.objects.filter(name="demo-shop").count() == 1
    assert WebhookSource.objects.get(name="demo-carrier").secrets.count() == 1
