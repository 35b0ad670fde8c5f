"""Admin forms of the trigger layer: they validate input; services do the work."""

from __future__ import annotations

import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from integrations import services
from integrations.models import ApiKey, BindingAction, EventType, Schedule, Scope
from opscore import json_input


def _type_list(value: str) -> list[str]:
    return [item.strip() for item in value.replace("\n", ",").split(",") if item.strip()]


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    event_types = forms.CharField(
        initial="*",
        help_text="Comma-separated event types this key may send; * for every type.",
        required=False,
    )

    class Meta:
        model = ApiKey
        fields = ["integration", "name", "scopes", "event_types"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["event_types"] = ", ".join(self.instance.event_types)

    def clean_event_types(self) -> list[str]:
        types = _type_list(self.cleaned_data["event_types"])
        known = set(EventType.objects.values_list("name", flat=True))
        unknown = [name for name in types if name != "*" and name not in known]
        if unknown:
            raise ValidationError(f"unknown event types: {', '.join(unknown)}")
        return types


class EventTypeForm(forms.ModelForm):
    class Meta:
        model = EventType
        fields = ["name", "description", "schema", "is_active"]

    def clean_schema(self):
        schema = self.cleaned_data["schema"]
        if not isinstance(schema, dict):
            raise ValidationError("a JSON Schema is an object")
        try:
            services.check_schema(schema)
        except services.SchemaError as error:
            raise ValidationError(f"not a valid JSON Schema: {error.message}") from error
        return schema


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ["name", "event_type", "cron", "payload", "correlation_key", "is_active"]

    def clean_cron(self) -> str:
        cron = self.cleaned_data["cron"].strip()
        try:
            services.validate_cron(cron)
        except ValueError as error:
            raise ValidationError(str(error)) from error
        return cron


class ManualStartForm(forms.Form):
    """Start a workflow by hand: an event of a type bound to `start`, checked like any other."""

    event_type = forms.ModelChoiceField(
        queryset=EventType.objects.filter(
            is_active=True, binding__action=BindingAction.START, binding__is_active=True
        )
    )
    correlation_key = forms.CharField(
        required=False, max_length=200, help_text="Leave empty to have one generated."
    )
    payload = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80, "class": "vLargeTextField"}),
        help_text="JSON object; validated against the event type's schema.",
    )
    # Made when the form is shown: submitting the same form twice starts one instance.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, initial=lambda: uuid.uuid4().hex)
    opened_at = forms.DateTimeField(widget=forms.HiddenInput, initial=timezone.now)

    def clean_payload(self) -> dict:
        try:
            # The same strict rules as the API: deep nesting or a huge integer is a form
            # error here, not a crash.
            payload = json_input.parse_strict(self.cleaned_data["payload"].encode())
        except json_input.JSONInputError as error:
            raise ValidationError(error.detail) from error
        if not isinstance(payload, dict):
            raise ValidationError("the payload must be a JSON object")
        return payload


class RedeliverForm(forms.Form):
    new_key = forms.BooleanField(
        required=False,
        label="Deliver again under a new idempotency key",
        help_text="Unticked, deduplication applies and the first response comes back.",
    )
