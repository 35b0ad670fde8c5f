from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from django.core import checks
        from django.core.signals import request_finished, request_started

        from integrations import (
            lookups,
            schema,  # noqa: F401 - registers the Api-Key OpenAPI scheme
        )
        from integrations.api import record_edge_refusal
        from integrations.checks import check_trigger_bindings
        from integrations.selectors import instance_visibility_for
        from opscore.middleware import api_request_refused
        from workflows.api import CREDENTIAL_VISIBILITY

        checks.register(check_trigger_bindings)
        # The engine's checks compare the stored bindings with what declarations declare.
        from integrations.selectors import trigger_bindings_of
        from workflows import checks as workflow_checks

        workflow_checks.provide(workflow_checks.TRIGGER_BINDINGS, trigger_bindings_of)
        if instance_visibility_for not in CREDENTIAL_VISIBILITY:
            CREDENTIAL_VISIBILITY.append(instance_visibility_for)
        api_request_refused.connect(record_edge_refusal, dispatch_uid="integrations.edge")
        request_started.connect(lookups.request_started, dispatch_uid="integrations.lookups")
        request_finished.connect(lookups.request_finished, dispatch_uid="integrations.lookups")
